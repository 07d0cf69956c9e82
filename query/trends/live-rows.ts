/**
 * The rows of the days not sealed yet, for a trend request answered from the cache of sealed days
 * (trends/sealed-read.ts): two flat statements (`liveRealtimeQuery`, `liveAverageQuery`, run side
 * by side) give the raw columns, and this module writes them as rows of the data query's shape
 * (`TREND_DATA_SHAPE`: ord, agg 0, the point's JSON fields as text, the discrete strings) in the
 * answer's order, so that counting, splicing and the answer's writer treat them as any other
 * rows. The server no longer writes their text: on 18.16 the expressions that did cost more CPU
 * to analyse than the live day's few hundred rows cost to read (see sql.ts).
 */
import { buffer } from 'node:stream/consumers';
import type { ClickHouseReader } from '../reader.ts';
import { RowBinaryWriter } from '../../storage/rowbinary-writer.ts';
import type { Sql } from '../../storage/sql.ts';
import { decodeRowBinary, type RowShape } from '../rowbinary.ts';
import {
  LIVE_AVERAGE_SHAPE,
  LIVE_ORD_STEP,
  LIVE_REALTIME_SHAPE,
  liveAverageQuery,
  liveRealtimeQuery,
  type LiveAverageRow,
  type LiveRealtimeRow,
  type LiveSeries,
  type TrendScope,
} from './sql.ts';

/**
 * JSON text of a stored double, byte for byte as ClickHouse's `jsonNumber` (sql.ts) writes it:
 * null for NULL, NaN and ±Infinity; -0 as 0; otherwise the shortest text that reads back as the
 * same double — JavaScript's, whose only difference from ClickHouse's (18.16 and current
 * versions alike) is the sign of a positive exponent: `1e+21` there is `1e21`. Property-tested
 * against the real server (test/integration/trend-json-numbers.test.ts).
 */
export function jsonNumberText(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return 'null';
  const text = String(v); // String(-0) is '0'
  return text.includes('e+') ? text.replace('e+', 'e') : text;
}

/** The end of each run of rows with one `o`, in a list ordered by `o`. */
function runsOf(rows: readonly { o: number }[]): number[] {
  const ends: number[] = [];
  for (let i = 1; i <= rows.length; i++) if (i === rows.length || rows[i]!.o !== rows[i - 1]!.o) ends.push(i);
  return ends;
}

/**
 * Reads the live rows of `series` over `scope.ranges` (the days not sealed): every tier the plan
 * could still choose, at most `cap` points each (the earliest), and the element status rows with
 * `ord` = `series.length` × LIVE_ORD_STEP; returns them as RowBinary rows of `TREND_DATA_SHAPE`
 * with `ord` = series index × LIVE_ORD_STEP + window minutes (0 real-time), ordered by `ord`,
 * then time in `order`. Throws what the reader throws (ClickHouse unreachable, a refused read) or
 * a RowBinaryError for a truncated answer.
 */
export async function readLiveRows(
  reader: Pick<ClickHouseReader, 'binaryChunks'>,
  scope: TrendScope,
  series: readonly LiveSeries[],
  cap: number,
  order: 'asc' | 'desc',
): Promise<Buffer> {
  const read = async <T>(statement: Sql | undefined, label: string, shape: RowShape) =>
    statement === undefined ? [] : decodeRowBinary<T>(await buffer(await reader.binaryChunks(statement, { label, maxThreads: 1 })), shape);
  const [realtime, averages] = await Promise.all([
    read<LiveRealtimeRow>(liveRealtimeQuery(scope, series, cap), 'trend.live', LIVE_REALTIME_SHAPE),
    read<LiveAverageRow>(liveAverageQuery(scope, series, cap), 'trend.live-averages', LIVE_AVERAGE_SHAPE),
  ]);
  const statusOrd = series.length * LIVE_ORD_STEP;
  const out = new RowBinaryWriter(16 * 1024);
  /** One raw row of TREND_DATA_SHAPE: ord, agg 0, the point's JSON fields, the discrete strings. */
  const row = (ord: number, json: string, valueDiscrete: string, maxDiscrete: string) => {
    out.uint32(ord);
    out.uint8(0);
    out.string(json);
    out.string(valueDiscrete);
    out.string(maxDiscrete);
  };
  const writeRealtime = (r: LiveRealtimeRow) => {
    if (r.o === statusOrd) row(r.o, `"time":${r.t},"status":${r.s}`, '', '');
    else row(r.o, `"time":${r.t},"status":${r.s},"value":${jsonNumberText(r.v)},"min":null,"max":null,"samples":null`, r.vd, '');
  };
  const writeAverage = (r: LiveAverageRow) =>
    row(
      r.o,
      `"time":${r.t},"status":${r.s},"value":${jsonNumberText(r.v)},"min":${jsonNumberText(r.lo)},"max":${jsonNumberText(r.hi)},"samples":${r.sm}`,
      r.vd,
      r.md,
    );
  // Both lists are ordered by (o, t): their runs of one `o` interleave by `o`, each written in `order`.
  const writeRun = <T>(rows: readonly T[], start: number, end: number, write: (r: T) => void) => {
    if (order === 'asc') for (let i = start; i < end; i++) write(rows[i]!);
    else for (let i = end - 1; i >= start; i--) write(rows[i]!);
  };
  const rtEnds = runsOf(realtime);
  const avgEnds = runsOf(averages);
  let a = 0;
  let b = 0;
  while (a < rtEnds.length || b < avgEnds.length) {
    const rtStart = a === 0 ? 0 : rtEnds[a - 1]!;
    const avgStart = b === 0 ? 0 : avgEnds[b - 1]!;
    if (b >= avgEnds.length || (a < rtEnds.length && realtime[rtStart]!.o < averages[avgStart]!.o)) {
      writeRun(realtime, rtStart, rtEnds[a]!, writeRealtime);
      a++;
    } else {
      writeRun(averages, avgStart, avgEnds[b]!, writeAverage);
      b++;
    }
  }
  return out.result();
}
