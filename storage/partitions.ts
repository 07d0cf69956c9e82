/**
 * Splitting a RowBinary insert so that no request touches more than a bounded number of
 * partitions. Current ClickHouse refuses an INSERT block spanning more than
 * `max_partitions_per_insert_block` partitions (default 100, code 252 "Too many partitions for
 * single INSERT block"); 18.16 has no such limit, so a back-fill or a replay that mixes many days
 * passed here and failed there.
 *
 * The partition of a row follows the tables' PARTITION BY (storage/schema.ts), computed in UTC:
 * trend_realtime by day, trend_average by (window, month), alarm_events by month; other tables
 * have one partition. Rows are walked with the column types of the DDL, so the split needs only
 * the body and its column list.
 */
import { ddl, type TableName } from './schema.ts';

/** At most this many partitions per insert request (see MAX_PARTITIONS_PER_INSERT's comment). */
export const MAX_PARTITIONS_PER_INSERT = 50;
// Why 50 and not 100: a table created by an older staas on a server outside UTC is partitioned in
// the server's time zone (storage/schema.ts: legacy keys). One UTC day or month overlaps at most
// two local ones, so 50 UTC partitions stay within 100 local ones. The number of parts written is
// the same either way (one per partition), only requests are more.

/** One row of a RowBinary body: where it lies and which partition it belongs to. */
export interface RowSpan {
  start: number;
  end: number;
  partition: string;
}

/** Returns the position after one RowBinary value that starts at `pos`. */
export type Skip = (buf: Buffer, pos: number) => number;

function leb128(buf: Buffer, pos: number): [value: number, next: number] {
  let value = 0;
  let shift = 1;
  for (;;) {
    if (pos >= buf.length) throw new RangeError('RowBinary body ends inside a length');
    const b = buf[pos++]!;
    value += (b & 0x7f) * shift;
    if (b < 0x80) return [value, pos];
    shift *= 128;
  }
}

const FIXED: Record<string, number> = {
  Int8: 1,
  UInt8: 1,
  Int16: 2,
  UInt16: 2,
  Int32: 4,
  UInt32: 4,
  Float32: 4,
  Int64: 8,
  UInt64: 8,
  Float64: 8,
};

/** A function that returns the position after one value of a ClickHouse type in RowBinary (throws for a type it has no layout for). */
export function skipperOf(type: string): Skip {
  const fixed = FIXED[type];
  if (fixed !== undefined) return (_buf, pos) => pos + fixed;
  if (type === 'String')
    return (buf, pos) => {
      const [n, next] = leb128(buf, pos);
      return next + n;
    };
  const nullable = /^Nullable\((.+)\)$/.exec(type);
  if (nullable !== null) {
    const inner = skipperOf(nullable[1]!);
    return (buf, pos) => (buf[pos] === 1 ? pos + 1 : inner(buf, pos + 1));
  }
  const array = /^Array\((.+)\)$/.exec(type);
  if (array !== null) {
    const inner = skipperOf(array[1]!);
    return (buf, pos) => {
      let [n, p] = leb128(buf, pos);
      while (n-- > 0) p = inner(buf, p);
      return p;
    };
  }
  throw new Error(`no RowBinary layout for type ${type}`);
}

/** Column name -> type of a table, as its CREATE TABLE statement declares them. */
export function columnTypes(table: TableName): Map<string, string> {
  const statement = ddl('staas')[table];
  const open = statement.indexOf('(');
  let depth = 0;
  let close = open;
  for (let i = open; i < statement.length; i++) {
    if (statement[i] === '(') depth++;
    else if (statement[i] === ')' && --depth === 0) {
      close = i;
      break;
    }
  }
  const types = new Map<string, string>();
  let item = '';
  depth = 0;
  for (const ch of `${statement.slice(open + 1, close)},`) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      const m = /^\s*(\w+)\s+(.+?)\s*$/s.exec(item);
      if (m !== null) types.set(m[1]!, m[2]!);
      item = '';
    } else item += ch;
  }
  return types;
}

/** UTC YYYYMMDD (day) or YYYYMM (month) of an epoch-ms time, as ClickHouse's toYYYYMMDD/toYYYYMM print it. */
export function utcPeriod(ms: number, unit: 'day' | 'month'): string {
  const d = new Date(ms);
  const ym = d.getUTCFullYear() * 100 + d.getUTCMonth() + 1;
  return String(unit === 'day' ? ym * 100 + d.getUTCDate() : ym);
}

const DAY_MS = 86_400_000;

/** YYYYMM of a UTC day number, remembering the last answer (rows come mostly in time order). */
class MonthOfDay {
  private day = NaN;
  private month = 0;
  of(day: number): number {
    if (day !== this.day) {
      const d = new Date(day * DAY_MS);
      this.day = day;
      this.month = d.getUTCFullYear() * 100 + d.getUTCMonth() + 1;
    }
    return this.month;
  }
}

function readUInt64(buf: Buffer, pos: number): number {
  return buf.readUInt32LE(pos) + buf.readUInt32LE(pos + 4) * 0x1_0000_0000;
}

/**
 * How each partitioned table's partition follows from its columns (mirrors storage/schema.ts):
 * a number per partition (cheap to compare) and its label as the server prints `partition`.
 */
interface PartitionRule {
  columns: string[];
  key(values: number[], months: MonthOfDay): number;
  label(key: number): string;
}

const PARTITION_OF: Partial<Record<TableName, PartitionRule>> = {
  trend_realtime: { columns: ['ts'], key: ([ts]) => Math.floor(ts! / DAY_MS), label: (day) => utcPeriod(day * DAY_MS, 'day') },
  trend_average: {
    columns: ['window_minutes', 'ts'],
    key: ([w, ts], months) => w! * 1_000_000 + months.of(Math.floor(ts! / DAY_MS)),
    label: (k) => `(${Math.floor(k / 1_000_000)},${k % 1_000_000})`,
  },
  alarm_events: { columns: ['ts'], key: ([ts], months) => months.of(Math.floor(ts! / DAY_MS)), label: (month) => String(month) },
};

/** Whether rows of a table fall into several partitions (else one insert is always one partition). */
export function isPartitioned(table: TableName): boolean {
  return PARTITION_OF[table] !== undefined;
}

/**
 * A body's row layout compiled to op codes (one tight loop per row instead of a call per column;
 * the scan runs on every insert): >= 0 skip that many bytes (adjacent fixed widths merged),
 * STRING, NULLABLE_STRING, NULLABLE_FIXED - n, KEY_U64 - slot, KEY_U16 - slot, COMPLEX - index.
 */
const STRING = -1;
const NULLABLE_STRING = -2;
const NULLABLE_FIXED = -1000;
const KEY_U64 = -2000;
const KEY_U16 = -3000;
const COMPLEX = -4000;

interface Layout {
  ops: Int32Array;
  /** Skippers of types without an op code (arrays), by index. */
  complex: Skip[];
}

const LAYOUTS = new Map<string, Layout>();

/** The compiled layout of a body's columns (cached per table and column list). */
function layoutOf(table: TableName, columns: readonly string[], keyColumns: readonly string[]): Layout {
  const id = `${table}(${columns.join(',')})`;
  let layout = LAYOUTS.get(id);
  if (layout !== undefined) return layout;
  const types = columnTypes(table);
  const ops: number[] = [];
  const complex: Skip[] = [];
  const skip = (n: number) => {
    if (ops.length > 0 && ops[ops.length - 1]! >= 0) ops[ops.length - 1]! += n;
    else ops.push(n);
  };
  for (const c of columns) {
    const type = types.get(c);
    if (type === undefined) throw new Error(`${table} has no column ${c}`);
    const slot = keyColumns.indexOf(c);
    const nullable = /^Nullable\((.+)\)$/.exec(type)?.[1];
    if (slot >= 0 && type === 'UInt64') ops.push(KEY_U64 - slot);
    else if (slot >= 0 && type === 'UInt16') ops.push(KEY_U16 - slot);
    else if (slot >= 0) throw new Error(`partition column ${table}.${c} has type ${type}`);
    else if (FIXED[type] !== undefined) skip(FIXED[type]);
    else if (type === 'String') ops.push(STRING);
    else if (nullable === 'String') ops.push(NULLABLE_STRING);
    else if (nullable !== undefined && FIXED[nullable] !== undefined) ops.push(NULLABLE_FIXED - FIXED[nullable]);
    else {
      ops.push(COMPLEX - complex.length);
      complex.push(skipperOf(type));
    }
  }
  layout = { ops: Int32Array.from(ops), complex };
  LAYOUTS.set(id, layout);
  return layout;
}

/** The position after a LEB128-prefixed string at `pos`. */
function afterString(buf: Buffer, pos: number): number {
  const b = buf[pos];
  if (b !== undefined && b < 0x80) return pos + 1 + b;
  const [n, next] = leb128(buf, pos);
  return next + n;
}

/** What a scan found: the number of distinct partitions, and with `collect` each row's end and key. */
interface Scan {
  partitions: number;
  ends: number[];
  keys: number[];
  rule: PartitionRule;
}

/** A scan's state, kept across the chunks of one body (countPartitions). */
interface ScanState {
  rule: PartitionRule;
  layout: Layout;
  months: MonthOfDay;
  values: number[];
  seen: Set<number>;
  last: number;
}

function scanState(table: TableName, columns: readonly string[]): ScanState {
  const rule = PARTITION_OF[table];
  if (rule === undefined) throw new Error(`${table} has no partitions`);
  const layout = layoutOf(table, columns, rule.columns);
  return { rule, layout, months: new MonthOfDay(), values: new Array<number>(rule.columns.length).fill(0), seen: new Set(), last: NaN };
}

/**
 * Walks the whole rows of `body` from byte 0, adding their partitions to `state.seen` and calling
 * `onRow(end, key)` after each. Returns where the first row that does not end inside `body`
 * starts (`body.length` when every row is whole), or stops after `maxRows` rows.
 */
function scanRows(state: ScanState, body: Buffer, onRow?: (end: number, key: number) => void, maxRows = Infinity): number {
  const { ops, complex } = state.layout;
  const { values, rule, months, seen } = state;
  let pos = 0;
  for (let rows = 0; pos < body.length && rows < maxRows; rows++) {
    const start = pos;
    try {
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        if (op >= 0) pos += op;
        else if (op === STRING) pos = afterString(body, pos);
        else if (op === NULLABLE_STRING) pos = body[pos] === 1 ? pos + 1 : afterString(body, pos + 1);
        else if (op > KEY_U64) pos = body[pos] === 1 ? pos + 1 : pos + 1 + (NULLABLE_FIXED - op);
        else if (op > KEY_U16) {
          if (pos + 8 > body.length) return start;
          values[KEY_U64 - op] = readUInt64(body, pos);
          pos += 8;
        } else if (op > COMPLEX) {
          if (pos + 2 > body.length) return start;
          values[KEY_U16 - op] = body.readUInt16LE(pos);
          pos += 2;
        } else pos = complex[COMPLEX - op]!(body, pos);
      }
    } catch (err) {
      if (err instanceof RangeError) return start; // a length or an array cut at the end
      throw err;
    }
    if (pos > body.length) return start;
    const key = rule.key(values, months);
    if (key !== state.last) {
      seen.add(key);
      state.last = key;
    }
    onRow?.(pos, key);
  }
  return pos;
}

function scan(table: TableName, columns: readonly string[], body: Buffer, collect: boolean): Scan {
  const state = scanState(table, columns);
  const ends: number[] = [];
  const keys: number[] = [];
  const whole = scanRows(
    state,
    body,
    collect
      ? (end, key) => {
          ends.push(end);
          keys.push(key);
        }
      : undefined,
  );
  if (whole < body.length) throw new RangeError(`RowBinary body of ${table} ends inside a row at byte ${whole}`);
  return { partitions: state.seen.size, ends, keys, rule: state.rule };
}

/** How much of the next chunk is joined to a row cut at a chunk's end at first (the whole chunk if the row is longer). */
const STRADDLE_WINDOW = 4096;

/**
 * A row found by walkChunks: its partition key and its bytes, `chunks[chunk]` from `start` to
 * `end`, or `own` (a copy) for a row that straddles chunks (chunk -1).
 */
type OnRow = (key: number, chunk: number, start: number, end: number, own?: Buffer) => void;

/**
 * Walks the rows of one body given as consecutive chunks in which rows may straddle chunk
 * boundaries (a table batch's RowChunks): each chunk in place, joining only the bytes of a
 * straddling row, so no copy of the body is made. Throws RangeError when the chunks do not hold
 * whole rows of the state's columns.
 */
function walkChunks(state: ScanState, table: TableName, chunks: readonly Buffer[], onRow?: OnRow): void {
  let carry: Buffer | undefined; // the start of a row cut at the previous chunk's end
  for (let c = 0; c < chunks.length; c++) {
    const chunk = chunks[c]!;
    let from = 0;
    if (carry !== undefined) {
      // The straddling row: carry + the start of this chunk (more while the row is not whole).
      const carried = carry.length;
      for (let window = STRADDLE_WINDOW; ; window *= 4) {
        const joined = Buffer.concat([carry, chunk.subarray(0, window)]);
        let key = 0;
        const end = scanRows(state, joined, (_, k) => (key = k), 1);
        if (end > 0) {
          onRow?.(key, -1, 0, end, joined.subarray(0, end));
          carry = undefined;
          from = end - carried;
          break;
        }
        if (window >= chunk.length) {
          carry = joined; // still inside the row: it straddles the next chunk too
          break;
        }
      }
      if (carry !== undefined) continue;
    }
    const body = from === 0 ? chunk : chunk.subarray(from);
    let start = from;
    const whole = scanRows(
      state,
      body,
      onRow &&
        ((end, key) => {
          onRow(key, c, start, from + end);
          start = from + end;
        }),
    );
    if (whole < body.length) carry = Buffer.from(body.subarray(whole));
  }
  if (carry !== undefined) throw new RangeError(`RowBinary body of ${table} ends inside a row (${carry.length} bytes of a row left)`);
}

/**
 * The number of partitions the rows of one body span, the body given as chunks (see walkChunks:
 * no copy; a batch of 32 MiB used to be joined into one buffer for this, per insert). Throws
 * RangeError when the chunks do not hold whole rows of those columns, Error for a table without
 * partitions.
 */
export function countPartitions(table: TableName, columns: readonly string[], chunks: readonly Buffer[]): number {
  const state = scanState(table, columns);
  walkChunks(state, table, chunks);
  return state.seen.size;
}

/** Consecutive rows of one partition: bytes of one chunk, or a straddling row's own copy. */
interface Run {
  chunk: number;
  start: number;
  end: number;
  own?: Buffer;
}

/**
 * The insert bodies of one body (given as chunks, see walkChunks), each of whole partitions and
 * at most `maxPartitions` of them, made one at a time as the caller iterates (an insert sends
 * one before the next is made: memory holds the batch plus one body, not two copies of the
 * batch). Rows of one partition keep their order and stay in one body; bodies come in the order
 * their partitions first appear. Throws RangeError like countPartitions, before yielding.
 */
export function* partitionBodies(
  table: TableName,
  columns: readonly string[],
  chunks: readonly Buffer[],
  maxPartitions = MAX_PARTITIONS_PER_INSERT,
): Generator<Buffer> {
  if (maxPartitions < 1) throw new RangeError('maxPartitions must be at least 1');
  const byPartition = new Map<number, Run[]>();
  walkChunks(scanState(table, columns), table, chunks, (key, chunk, start, end, own) => {
    let runs = byPartition.get(key);
    if (runs === undefined) byPartition.set(key, (runs = []));
    const last = runs.at(-1);
    if (own === undefined && last !== undefined && last.own === undefined && last.chunk === chunk && last.end === start) last.end = end;
    else runs.push(own === undefined ? { chunk, start, end } : { chunk, start, end, own });
  });
  const groups = [...byPartition.values()];
  for (let g = 0; g < groups.length; g += maxPartitions) {
    const runs = groups.slice(g, g + maxPartitions).flat();
    const body = Buffer.allocUnsafe(runs.reduce((n, r) => n + r.end - r.start, 0));
    let p = 0;
    for (const r of runs) p += (r.own ?? chunks[r.chunk]!).copy(body, p, r.start, r.end);
    yield body;
  }
}

/**
 * Every row of a RowBinary body of a partitioned table, in order, with its partition as the
 * server prints it (system.parts.partition). `columns`: the body's column list (as in its
 * INSERT). Throws RangeError when the body does not hold whole rows of those columns, Error for
 * a table without partitions.
 */
export function rowPartitions(table: TableName, columns: readonly string[], body: Buffer): RowSpan[] {
  const { ends, keys, rule } = scan(table, columns, body, true);
  return ends.map((end, i) => ({ start: i === 0 ? 0 : ends[i - 1]!, end, partition: rule.label(keys[i]!) }));
}

/**
 * The insert bodies for one RowBinary body of `table`: the body itself when it spans at most
 * `maxPartitions` partitions (the common case: one scan, no copy), else several of whole
 * partitions (partitionBodies). Throws like rowPartitions.
 */
export function insertBodies(
  table: TableName,
  columns: readonly string[],
  body: Buffer,
  maxPartitions = MAX_PARTITIONS_PER_INSERT,
): Buffer[] {
  if (!isPartitioned(table)) return [body];
  if (scan(table, columns, body, false).partitions <= maxPartitions) return [body];
  return [...partitionBodies(table, columns, [body], maxPartitions)];
}
