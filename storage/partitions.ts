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

type Skip = (buf: Buffer, pos: number) => number;

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

/** A function that returns the position after one value of a ClickHouse type in RowBinary. */
function skipperOf(type: string): Skip {
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

interface Step {
  skip: Skip;
  /** Index into the partition columns' values, or -1. */
  read: number;
  type: string;
}

const LAYOUTS = new Map<string, Step[]>();

/** Per column of the body: how to skip it and whether the partition key reads it (cached). */
function layoutOf(table: TableName, columns: readonly string[], keyColumns: readonly string[]): Step[] {
  const id = `${table}(${columns.join(',')})`;
  let steps = LAYOUTS.get(id);
  if (steps === undefined) {
    const types = columnTypes(table);
    steps = columns.map((c) => {
      const type = types.get(c);
      if (type === undefined) throw new Error(`${table} has no column ${c}`);
      return { skip: skipperOf(type), read: keyColumns.indexOf(c), type };
    });
    LAYOUTS.set(id, steps);
  }
  return steps;
}

/** Row ends and partition keys of a body, in row order. */
interface Scan {
  ends: number[];
  keys: number[];
  rule: PartitionRule;
}

function scan(table: TableName, columns: readonly string[], body: Buffer): Scan {
  const rule = PARTITION_OF[table];
  if (rule === undefined) throw new Error(`${table} has no partitions`);
  const steps = layoutOf(table, columns, rule.columns);
  const months = new MonthOfDay();
  const values = new Array<number>(rule.columns.length).fill(0);
  const ends: number[] = [];
  const keys: number[] = [];
  let pos = 0;
  while (pos < body.length) {
    const start = pos;
    for (const s of steps) {
      if (s.read >= 0) values[s.read] = s.type === 'UInt16' ? body.readUInt16LE(pos) : readUInt64(body, pos);
      pos = s.skip(body, pos);
    }
    if (pos > body.length) throw new RangeError(`RowBinary body of ${table} ends inside a row at byte ${start}`);
    ends.push(pos);
    keys.push(rule.key(values, months));
  }
  return { ends, keys, rule };
}

/**
 * Every row of a RowBinary body of a partitioned table, in order, with its partition as the
 * server prints it (system.parts.partition). `columns`: the body's column list (as in its
 * INSERT). Throws RangeError when the body does not hold whole rows of those columns, Error for
 * a table without partitions.
 */
export function rowPartitions(table: TableName, columns: readonly string[], body: Buffer): RowSpan[] {
  const { ends, keys, rule } = scan(table, columns, body);
  return ends.map((end, i) => ({ start: i === 0 ? 0 : ends[i - 1]!, end, partition: rule.label(keys[i]!) }));
}

/**
 * Groups rows into bodies of at most `maxPartitions` partitions each (pure). Rows of one
 * partition keep their order and stay in one body; bodies come in the order their partitions
 * first appear. A body spanning at most `maxPartitions` already is returned as is (no copy).
 */
export function splitByPartition(body: Buffer, rows: readonly RowSpan[], maxPartitions = MAX_PARTITIONS_PER_INSERT): Buffer[] {
  if (maxPartitions < 1) throw new RangeError('maxPartitions must be at least 1');
  const byPartition = new Map<string, RowSpan[]>();
  for (const r of rows) {
    const list = byPartition.get(r.partition);
    if (list === undefined) byPartition.set(r.partition, [r]);
    else list.push(r);
  }
  if (byPartition.size <= maxPartitions) return body.length === 0 ? [] : [body];
  const groups = [...byPartition.values()];
  const out: Buffer[] = [];
  for (let g = 0; g < groups.length; g += maxPartitions) {
    const spans = groups.slice(g, g + maxPartitions).flat();
    const part = Buffer.allocUnsafe(spans.reduce((n, s) => n + s.end - s.start, 0));
    let p = 0;
    for (const s of spans) p += body.copy(part, p, s.start, s.end);
    out.push(part);
  }
  return out;
}

/**
 * The insert bodies for one RowBinary body of `table`: the body itself when it spans at most
 * `maxPartitions` partitions (the common case: one scan, no copy), else several of whole
 * partitions. Throws like rowPartitions.
 */
export function insertBodies(
  table: TableName,
  columns: readonly string[],
  body: Buffer,
  maxPartitions = MAX_PARTITIONS_PER_INSERT,
): Buffer[] {
  if (!isPartitioned(table)) return [body];
  const { ends, keys } = scan(table, columns, body);
  if (new Set(keys).size <= maxPartitions) return [body];
  const spans = ends.map((end, i) => ({ start: i === 0 ? 0 : ends[i - 1]!, end, partition: String(keys[i]) }));
  return splitByPartition(body, spans, maxPartitions);
}
