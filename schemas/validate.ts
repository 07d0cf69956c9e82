/**
 * The record contract: what a valid record is, for both ends of Kafka. The Writer runs these at
 * its door (caller input -> complete, valid records; optional fields get their schema defaults)
 * and the Sink runs them again on what it decodes (another producer, or an older writer, may
 * have sent anything). Anything the pipeline could not carry or store faithfully is refused with
 * every problem named: values out of range (also of what avsc can encode), strings that are not
 * valid Unicode (a lone surrogate would be stored as U+FFFD, a silent change) and fields the
 * schema does not have (a typo such as `windowMinute` would otherwise vanish).
 */
import { READER_TYPES, type AlarmEvent, type Cell, type ElementRow, type RecordType, type TrendPoint } from './records.ts';

type Required<T, K extends keyof T> = Pick<T, K> & Partial<Omit<T, K>>;

export type TrendInput = Required<TrendPoint, 'dmsId' | 'dmaId' | 'elementId' | 'parameterId' | 'timestamp'>;
export type AlarmInput = Required<
  AlarmEvent,
  'dmsId' | 'dmaId' | 'elementId' | 'alarmId' | 'rootAlarmId' | 'severity' | 'alarmType' | 'status' | 'timestamp'
>;
export type ElementRowInput = Required<ElementRow, 'dmsId' | 'dmaId' | 'elementId' | 'tableParameterId' | 'primaryKey' | 'timestamp'>;

export class RecordValidationError extends Error {
  constructor(
    readonly recordType: string,
    readonly problems: string[],
  ) {
    super(`invalid ${recordType} record: ${problems.join('; ')}`);
    this.name = 'RecordValidationError';
  }
}

/** Epoch ms bounds: 2000-01-01 .. 2100-01-01. Anything outside is a unit mistake (s, µs). */
export const MIN_TS = 946_684_800_000;
export const MAX_TS = 4_102_444_800_000;
/** DataMiner keeps the first 768 bytes of a row key unique. */
const MAX_KEY_BYTES = 768;
const MAX_TEXT_BYTES = 65_536;
/** Avro `int`; also the bound of ids decoded from a varint of up to 5 bytes (a hostile message). */
export const INT32_MAX = 2_147_483_647;
const INT32 = [-2_147_483_648, INT32_MAX] as const;
/**
 * The largest Avro `long` this pipeline carries as a number: avsc encodes a number long only when
 * its zig-zag form is a safe integer, so 2^53 - 1 (Number.MAX_SAFE_INTEGER) throws inside
 * `encode` (avsc 5.7, LongType) and would fail the whole batch it is in.
 */
export const MAX_LONG = 2 ** 53 - 2;
const LONG_ID = [0, MAX_LONG] as const;

/** The field names of each record type's schema: anything else in an input is refused. */
const FIELDS: Record<RecordType, ReadonlySet<string>> = {
  trend: fieldsOf('trend'),
  alarm: fieldsOf('alarm'),
  element: fieldsOf('element'),
};
const CELL_FIELDS: ReadonlySet<string> = new Set(['columnId', 'value']);

function fieldsOf(type: RecordType): ReadonlySet<string> {
  return new Set((READER_TYPES[type] as unknown as { fields: { name: string }[] }).fields.map((f) => f.name));
}
const INT16 = [-32_768, 32_767] as const;

class Check {
  readonly problems: string[] = [];

  int(name: string, v: unknown, [min, max]: readonly [number, number]): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.problems.push(`${name} must be an integer in [${min}, ${max}], got ${show(v)}`);
      return 0;
    }
    return v;
  }

  time(name: string, v: unknown): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < MIN_TS || v >= MAX_TS) {
      this.problems.push(`${name} must be epoch milliseconds between 2000 and 2100, got ${show(v)}`);
      return 0;
    }
    return v;
  }

  double(name: string, v: unknown): number | null {
    if (v === null || v === undefined) return null;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.problems.push(`${name} must be a finite number or null, got ${show(v)}`);
      return null;
    }
    return v;
  }

  text(name: string, v: unknown, fallback: string, maxBytes = MAX_TEXT_BYTES): string {
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string') {
      this.problems.push(`${name} must be a string, got ${show(v)}`);
      return fallback;
    }
    if (v.length * 3 > maxBytes && Buffer.byteLength(v) > maxBytes)
      this.problems.push(`${name} is ${Buffer.byteLength(v)} bytes, at most ${maxBytes} allowed`);
    if (!v.isWellFormed()) this.problems.push(`${name} is not valid Unicode: it holds a lone surrogate at index ${loneSurrogateAt(v)}`);
    return v;
  }

  optionalText(name: string, v: unknown): string | null {
    return v === undefined || v === null ? null : this.text(name, v, '');
  }

  /** Refuses the keys of `input` that `allowed` does not name (`where`: the path, e.g. `columns[2].`). */
  known(input: object, allowed: ReadonlySet<string>, where = ''): void {
    // for…in, not Object.keys: no array per record (measured: half the cost at the Writer's door).
    // It also walks inherited enumerable keys (avsc's decoded records have methods such as
    // `clone` on their prototype): only own keys count, checked for the rare unknown key alone.
    for (const key in input)
      if (!allowed.has(key) && Object.hasOwn(input, key))
        this.problems.push(`${where}${key} is not a field of the schema (allowed: ${[...allowed].join(', ')})`);
  }

  done<T>(recordType: string, record: T): T {
    if (this.problems.length > 0) throw new RecordValidationError(recordType, this.problems);
    return record;
  }
}

function loneSurrogateAt(v: string): number {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < v.length && (v.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
    else if (c >= 0xd800 && c <= 0xdfff) return i;
  }
  return -1;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  return typeof v;
}

function notObject(recordType: string, input: unknown): RecordValidationError | undefined {
  return typeof input === 'object' && input !== null && !Array.isArray(input)
    ? undefined
    : new RecordValidationError(recordType, [`expected an object, got ${show(input)}`]);
}

/** 1 when a field holds a value (plain path's key count). */
const has = (v: unknown): number => (v === undefined ? 0 : 1);

/** A non-negative int32 id (plain path). */
const isId = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= INT32_MAX;
/** A finite number, null or absent (plain path). */
const isDouble = (v: unknown): boolean => v === undefined || v === null || (typeof v === 'number' && Number.isFinite(v));
/** Absent, null, or a well-formed string of at most 256 UTF-16 units (so at most 768 UTF-8 bytes: within every limit). */
const isShortText = (v: unknown): boolean =>
  v === undefined || v === null || (typeof v === 'string' && v.length <= 256 && v.isWellFormed());

/**
 * The common trend point without a Check (no object but the record, measured at the Writer's
 * door: the Check and its problem list per point were a third of the validation's cost): every
 * field present is of its type and well within its bounds. Undefined otherwise — then the full
 * check decides and names the problems.
 */
function plainTrendPoint(input: TrendInput): TrendPoint | undefined {
  let keys = 0;
  for (const _key in input) keys++;
  const {
    dmsId,
    dmaId,
    elementId,
    parameterId,
    index,
    timestamp,
    windowMinutes,
    value,
    discreteValue,
    min,
    max,
    discreteMax,
    samples,
    status,
  } = input;
  // No key but the known fields: as many keys as known fields that hold a value (an unknown key,
  // or a known one set to undefined, takes the full check, which decides). Counting, rather than
  // looking every key up in FIELDS.trend, measured 94 -> ~25 ns per record.
  const known =
    has(dmsId) +
    has(dmaId) +
    has(elementId) +
    has(parameterId) +
    has(index) +
    has(timestamp) +
    has(windowMinutes) +
    has(value) +
    has(discreteValue) +
    has(min) +
    has(max) +
    has(discreteMax) +
    has(samples) +
    has(status);
  if (keys !== known) return undefined;
  if (
    !(
      isId(dmsId) &&
      isId(dmaId) &&
      isId(elementId) &&
      typeof parameterId === 'number' &&
      Number.isInteger(parameterId) &&
      parameterId >= -1 &&
      parameterId <= INT32_MAX &&
      typeof timestamp === 'number' &&
      Number.isInteger(timestamp) &&
      timestamp >= MIN_TS &&
      timestamp < MAX_TS &&
      (windowMinutes === undefined ||
        (typeof windowMinutes === 'number' && Number.isInteger(windowMinutes) && windowMinutes >= 0 && windowMinutes <= 65_535)) &&
      (samples === undefined || isId(samples)) &&
      (status === undefined || (typeof status === 'number' && Number.isInteger(status) && status >= INT16[0] && status <= INT16[1])) &&
      (index === undefined || index === null || (typeof index === 'string' && index.length <= 256 && index.isWellFormed())) &&
      isDouble(value) &&
      isDouble(min) &&
      isDouble(max) &&
      isShortText(discreteValue) &&
      isShortText(discreteMax)
    )
  )
    return undefined;
  const p: TrendPoint = {
    dmsId,
    dmaId,
    elementId,
    parameterId,
    index: index ?? '',
    timestamp,
    windowMinutes: windowMinutes ?? 0,
    value: value ?? null,
    discreteValue: discreteValue ?? null,
    min: min ?? null,
    max: max ?? null,
    discreteMax: discreteMax ?? null,
    samples: samples ?? 0,
    status: status ?? 0,
  };
  if (p.value === null && p.discreteValue === null && p.status === 0) return undefined;
  if (p.windowMinutes === 0 && (p.min !== null || p.max !== null || p.samples !== 0)) return undefined;
  return p;
}

/**
 * A complete, valid trend point from caller input (optional fields get their schema defaults).
 * Throws RecordValidationError naming every problem.
 */
export function toTrendPoint(input: TrendInput): TrendPoint {
  const bad = notObject('trend', input);
  if (bad) throw bad;
  return plainTrendPoint(input) ?? checkTrendPoint(input);
}

/** `toTrendPoint` by the full check alone (exported for the test that compares both ways). */
export function checkTrendPoint(input: TrendInput): TrendPoint {
  const bad = notObject('trend', input);
  if (bad) throw bad;
  const c = new Check();
  c.known(input, FIELDS.trend);
  const p: TrendPoint = {
    dmsId: c.int('dmsId', input.dmsId, [0, INT32[1]]),
    dmaId: c.int('dmaId', input.dmaId, [0, INT32[1]]),
    elementId: c.int('elementId', input.elementId, [0, INT32[1]]),
    parameterId: c.int('parameterId', input.parameterId, [-1, INT32[1]]),
    index: c.text('index', input.index, '', MAX_KEY_BYTES),
    timestamp: c.time('timestamp', input.timestamp),
    windowMinutes: input.windowMinutes === undefined ? 0 : c.int('windowMinutes', input.windowMinutes, [0, 65_535]),
    value: c.double('value', input.value),
    discreteValue: c.optionalText('discreteValue', input.discreteValue),
    min: c.double('min', input.min),
    max: c.double('max', input.max),
    discreteMax: c.optionalText('discreteMax', input.discreteMax),
    samples: input.samples === undefined ? 0 : c.int('samples', input.samples, [0, INT32[1]]),
    status: input.status === undefined ? 0 : c.int('status', input.status, INT16),
  };
  if (p.value === null && p.discreteValue === null && p.status === 0)
    c.problems.push('a normal trend point needs a value or a discreteValue');
  if (p.windowMinutes === 0 && (p.min !== null || p.max !== null || p.samples !== 0))
    c.problems.push('min, max and samples belong to averages (windowMinutes > 0)');
  return c.done('trend', p);
}

export function toAlarmEvent(input: AlarmInput): AlarmEvent {
  const bad = notObject('alarm', input);
  if (bad) throw bad;
  const c = new Check();
  c.known(input, FIELDS.alarm);
  const id = (name: string, v: unknown) => c.int(name, v, LONG_ID);
  const a: AlarmEvent = {
    dmsId: c.int('dmsId', input.dmsId, [0, INT32[1]]),
    dmaId: c.int('dmaId', input.dmaId, [0, INT32[1]]),
    elementId: c.int('elementId', input.elementId, [0, INT32[1]]),
    parameterId: input.parameterId === undefined ? -1 : c.int('parameterId', input.parameterId, [-1, INT32[1]]),
    index: c.text('index', input.index, '', MAX_KEY_BYTES),
    displayKey: c.text('displayKey', input.displayKey, ''),
    alarmId: id('alarmId', input.alarmId),
    rootAlarmId: id('rootAlarmId', input.rootAlarmId),
    previousAlarmId: input.previousAlarmId === undefined ? 0 : id('previousAlarmId', input.previousAlarmId),
    severity: c.int('severity', input.severity, INT16),
    severityRange: input.severityRange === undefined ? 0 : c.int('severityRange', input.severityRange, INT16),
    alarmType: c.int('alarmType', input.alarmType, INT16),
    status: c.int('status', input.status, INT16),
    userStatus: input.userStatus === undefined ? 0 : c.int('userStatus', input.userStatus, INT16),
    value: c.text('value', input.value, ''),
    displayValue: c.text('displayValue', input.displayValue, ''),
    timestamp: c.time('timestamp', input.timestamp),
    createdAt: input.createdAt === undefined ? input.timestamp : c.time('createdAt', input.createdAt),
    rootCreatedAt: input.rootCreatedAt === undefined ? (input.createdAt ?? input.timestamp) : c.time('rootCreatedAt', input.rootCreatedAt),
    owner: c.optionalText('owner', input.owner),
    comment: c.optionalText('comment', input.comment),
    elementName: c.text('elementName', input.elementName, ''),
    parameterName: c.text('parameterName', input.parameterName, ''),
  };
  return c.done('alarm', a);
}

export function toElementRow(input: ElementRowInput): ElementRow {
  const bad = notObject('element', input);
  if (bad) throw bad;
  const c = new Check();
  c.known(input, FIELDS.element);
  const columns: Cell[] = [];
  if (input.columns !== undefined) {
    if (!Array.isArray(input.columns)) c.problems.push(`columns must be an array, got ${show(input.columns)}`);
    else
      input.columns.forEach((cell: unknown, i) => {
        if (typeof cell !== 'object' || cell === null) {
          c.problems.push(`columns[${i}] must be {columnId, value}`);
          return;
        }
        c.known(cell, CELL_FIELDS, `columns[${i}].`);
        const { columnId, value } = cell as { columnId?: unknown; value?: unknown };
        const v = typeof value === 'string' ? c.text(`columns[${i}].value`, value, '') : c.double(`columns[${i}].value`, value);
        columns.push({ columnId: c.int(`columns[${i}].columnId`, columnId, [0, INT32[1]]), value: v });
      });
  }
  const e: ElementRow = {
    dmsId: c.int('dmsId', input.dmsId, [0, INT32[1]]),
    dmaId: c.int('dmaId', input.dmaId, [0, INT32[1]]),
    elementId: c.int('elementId', input.elementId, [0, INT32[1]]),
    tableParameterId: c.int('tableParameterId', input.tableParameterId, [0, INT32[1]]),
    primaryKey: c.text('primaryKey', input.primaryKey, '', MAX_KEY_BYTES),
    displayKey: c.text('displayKey', input.displayKey, ''),
    columns,
    timestamp: c.time('timestamp', input.timestamp),
    version: input.version === undefined ? 0 : c.int('version', input.version, LONG_ID),
    deleted: input.deleted === undefined ? false : input.deleted === true,
  };
  if (input.deleted !== undefined && typeof input.deleted !== 'boolean')
    c.problems.push(`deleted must be a boolean, got ${show(input.deleted)}`);
  // A standalone saved parameter (DataMiner's elementdata with key "") is a row with an empty
  // primary key holding exactly one cell, whose column id is the parameter id itself.
  if (e.primaryKey === '' && (columns.length !== 1 || columns[0]!.columnId !== e.tableParameterId))
    c.problems.push('primaryKey is empty: a standalone parameter needs exactly one cell whose columnId equals tableParameterId');
  return c.done('element', e);
}
