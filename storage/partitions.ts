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
import { rowLayout, walkChunks, walkRows } from './row-walker.ts';
import type { InsertTable } from './schema.ts';

export { columnTypes, skipperOf, type Skip } from './row-walker.ts';

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

/**
 * How each partitioned table's partition follows from its columns (mirrors storage/schema.ts):
 * a number per partition (cheap to compare) and its label as the server prints `partition`.
 */
interface PartitionRule {
  columns: string[];
  key(values: readonly number[], months: MonthOfDay): number;
  label(key: number): string;
}

const PARTITION_OF: Partial<Record<InsertTable, PartitionRule>> = {
  trend_realtime: { columns: ['ts'], key: ([ts]) => Math.floor(ts! / DAY_MS), label: (day) => utcPeriod(day * DAY_MS, 'day') },
  trend_average: {
    columns: ['window_minutes', 'ts'],
    key: ([w, ts], months) => w! * 1_000_000 + months.of(Math.floor(ts! / DAY_MS)),
    label: (k) => `(${Math.floor(k / 1_000_000)},${k % 1_000_000})`,
  },
  alarm_events: { columns: ['ts'], key: ([ts], months) => months.of(Math.floor(ts! / DAY_MS)), label: (month) => String(month) },
};

/** Whether rows of a table fall into several partitions (else one insert is always one partition). */
export function isPartitioned(table: InsertTable): boolean {
  return PARTITION_OF[table] !== undefined;
}

/** The partition key of the row whose key columns are in `values` (the rule's columns, in order). */
function keyOf(table: InsertTable, columns: readonly string[]) {
  const rule = PARTITION_OF[table];
  if (rule === undefined) throw new Error(`${table} has no partitions`);
  return { rule, layout: rowLayout(table, columns, rule.columns), months: new MonthOfDay() };
}

/** What a scan found: the number of distinct partitions, and with `collect` each row's end and key. */
interface Scan {
  partitions: number;
  ends: number[];
  keys: number[];
  rule: PartitionRule;
}

function scan(table: InsertTable, columns: readonly string[], body: Buffer, collect: boolean): Scan {
  const { rule, layout, months } = keyOf(table, columns);
  const values = new Array<number>(rule.columns.length).fill(0);
  const seen = new Set<number>();
  const ends: number[] = [];
  const keys: number[] = [];
  let last = NaN;
  const whole = walkRows(layout, body, values, (end) => {
    const key = rule.key(values, months);
    if (key !== last) seen.add((last = key));
    if (collect) {
      ends.push(end);
      keys.push(key);
    }
  });
  if (whole < body.length) throw new RangeError(`RowBinary body of ${table} ends inside a row at byte ${whole}`);
  return { partitions: seen.size, ends, keys, rule };
}

/**
 * The number of partitions the rows of one body span, the body given as chunks (row-walker.ts
 * walkChunks: no copy; a batch of 32 MiB used to be joined into one buffer for this, per insert).
 * Throws RangeError when the chunks do not hold whole rows of those columns, Error for a table
 * without partitions.
 */
export function countPartitions(table: InsertTable, columns: readonly string[], chunks: readonly Buffer[]): number {
  const { rule, layout, months } = keyOf(table, columns);
  const seen = new Set<number>();
  let last = NaN;
  walkChunks(layout, chunks, (values) => {
    const key = rule.key(values, months);
    if (key !== last) seen.add((last = key));
  });
  return seen.size;
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
  table: InsertTable,
  columns: readonly string[],
  chunks: readonly Buffer[],
  maxPartitions = MAX_PARTITIONS_PER_INSERT,
): Generator<Buffer> {
  if (maxPartitions < 1) throw new RangeError('maxPartitions must be at least 1');
  const { rule, layout, months } = keyOf(table, columns);
  const byPartition = new Map<number, Run[]>();
  walkChunks(layout, chunks, (values, chunk, start, end, own) => {
    const key = rule.key(values, months);
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
export function rowPartitions(table: InsertTable, columns: readonly string[], body: Buffer): RowSpan[] {
  const { ends, keys, rule } = scan(table, columns, body, true);
  return ends.map((end, i) => ({ start: i === 0 ? 0 : ends[i - 1]!, end, partition: rule.label(keys[i]!) }));
}

/**
 * The insert bodies for one RowBinary body of `table`: the body itself when it spans at most
 * `maxPartitions` partitions (the common case: one scan, no copy), else several of whole
 * partitions (partitionBodies). Throws like rowPartitions.
 */
export function insertBodies(
  table: InsertTable,
  columns: readonly string[],
  body: Buffer,
  maxPartitions = MAX_PARTITIONS_PER_INSERT,
): Buffer[] {
  if (!isPartitioned(table)) return [body];
  if (scan(table, columns, body, false).partitions <= maxPartitions) return [body];
  return [...partitionBodies(table, columns, [body], maxPartitions)];
}
