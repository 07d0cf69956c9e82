/**
 * The two statements of a trend request, built with storage/sql.ts only:
 * - `tierCountsQuery`: distinct timestamps per (series, tier) in the range — this also expands
 *   wildcard table indices to the series that have data;
 * - `trendDataQuery`: the points of every series from its chosen tier (raw rows, or time buckets
 *   for aggregated tiers) and the element-level status rows, in one UNION ALL.
 * Repeats of at-least-once delivery (rows with one sorting key) collapse to the copy of the newest
 * part, as FINAL would keep (ReplacingMergeTree without a version column keeps the last inserted
 * row), but by `ORDER BY key, _part_index DESC LIMIT 1 BY key`: parts are numbered in insertion
 * order within a partition, and a key's copies share a partition. Measured on 18.16 for a 1-year
 * read of 1-hour averages (13 monthly partitions): 14 ms of server CPU against 31 ms with FINAL,
 * which merges every partition's parts in one stream. Only sorting-key columns are filtered
 * before the collapse (a non-key condition could drop the newest copy and keep an older one);
 * non-key filters (status) are applied outside. Every branch casts its columns to one row shape (18.16 refuses UNION ALL
 * branches of different types).
 */
import { ident, join, likeWildcard, sql, typeName, type Sql } from '../../storage/sql.ts';
import { castColumns, type RowShape } from '../rowbinary.ts';
import type { TimeRange } from './sealed-days.ts';
import type { SeriesKey, SeriesSpec } from './series.ts';

/** Element, tenant and time range shared by every branch. */
export interface TrendScope {
  db: Sql;
  /** `tenantFilter(principal)`: dms_id (and a share token's elements). */
  tenant: Sql;
  dmaId: number;
  elementId: number;
  /** Range [from, to) in epoch ms. */
  from: number;
  to: number;
  /**
   * When set, only these parts of [from, to) are read (the rest comes from the API's cache of
   * sealed days, trends/day-cache.ts); an empty list reads nothing.
   */
  ranges?: readonly TimeRange[];
}

/** A row of `tierCountsQuery`. */
export interface TierCountRow {
  parameter_id: number;
  idx: string;
  /** 0 = real-time. */
  window_minutes: number;
  points: number;
  /** Earliest timestamp of the tier in the range (epoch ms). */
  first: number;
}

/** One series read from one tier. */
export interface SeriesRead extends SeriesKey {
  windowMinutes: number;
  aggregated: boolean;
}

/**
 * A row of `trendDataQuery`: text written by ClickHouse, so that Node neither decodes nor formats
 * numbers per point (see `pointJson` below).
 * - raw point (`agg` 0): `json` = `"time":…,"status":…,"value":…,"min":…,"max":…,"samples":…`,
 *   the point's JSON fields up to the discrete values, which follow from `value_discrete` /
 *   `max_discrete` (escaped in Node: ClickHouse 18.16 has no JSON string escaping);
 * - element status row (`ord` = number of series): `json` = `"time":…,"status":…`;
 * - bucket group (`agg` 1): `json` = a `BucketStats` object for one (bucket, discrete value,
 *   discrete max) group, merged per bucket by points.ts.
 */
export interface TrendDataRow {
  /** Position of the row's series in the planned reads; the reads' count for element status rows. */
  ord: number;
  agg: number;
  json: string;
  value_discrete: string;
  max_discrete: string;
}

/**
 * The statistics of one bucket group (`json` of a bucket row): `time` = bucket start (epoch ms),
 * `sum` of the values (null when none), `nv` values counted, `min`/`max` extremes, `samples` =
 * real-time points or the windows' samples, `n` rows.
 */
export interface BucketStats {
  time: number;
  status: number;
  sum: number | null;
  min: number | null;
  max: number | null;
  samples: number;
  n: number;
  nv: number;
}

/** The wire types of `TrendDataRow`: the data query is read as RowBinary (thousands of rows). */
export const TREND_DATA_SHAPE: RowShape = [
  ['ord', 'UInt32'],
  ['agg', 'UInt8'],
  ['json', 'String'],
  ['value_discrete', 'String'],
  ['max_discrete', 'String'],
];

/** The parameter id of element-level status rows (element start, pause, timeout, …). */
export const ELEMENT_STATUS_PARAMETER = -1;

function specCondition(s: SeriesSpec): Sql {
  return s.wildcard
    ? sql`(parameter_id = ${s.parameterId} AND idx LIKE ${likeWildcard(s.index)})`
    : sql`(parameter_id = ${s.parameterId} AND idx = ${s.index})`;
}

function keyCondition(s: SeriesKey): Sql {
  return sql`(parameter_id = ${s.parameterId} AND idx = ${s.index})`;
}

function keyWindowCondition(s: SeriesRead): Sql {
  return sql`(parameter_id = ${s.parameterId} AND idx = ${s.index} AND window_minutes = ${s.windowMinutes})`;
}

function timeCondition(scope: TrendScope): Sql {
  if (scope.ranges === undefined) return sql`ts >= ${scope.from} AND ts < ${scope.to}`;
  if (scope.ranges.length === 0) return sql`0`;
  return sql`(${join(
    scope.ranges.map((r) => sql`(ts >= ${r.from} AND ts < ${r.to})`),
    ' OR ',
  )})`;
}

function elementRange(scope: TrendScope): Sql {
  return sql`${scope.tenant} AND dma_id = ${scope.dmaId} AND element_id = ${scope.elementId} AND ${timeCondition(scope)}`;
}

/**
 * Distinct timestamps per (parameter_id, idx, window_minutes) in the range, for the given specs
 * (wildcards as LIKE). Counting distinct key values needs no FINAL: repeats share a key.
 * `tables` limits the read to the tiers the request can use. The element's status rows
 * (parameter -1, real-time table) are always counted too, in the same read: when there are none
 * in the range, the data query leaves out their branch (`hasStatusRows`), which on its own cost
 * about as much server CPU as the count (every part of the range is opened).
 */
export function tierCountsQuery(scope: TrendScope, specs: readonly SeriesSpec[], tables: { realtime: boolean; average: boolean }): Sql {
  const series = join(specs.map(specCondition), ' OR ');
  const realtimeKeys = tables.realtime
    ? sql`(${series}) OR parameter_id = ${ELEMENT_STATUS_PARAMETER}`
    : sql`parameter_id = ${ELEMENT_STATUS_PARAMETER}`;
  const branches: Sql[] = [
    sql`SELECT parameter_id, idx, toUInt16(0) AS window_minutes, uniqExact(ts) AS points, min(ts) AS first
      FROM ${scope.db}.trend_realtime WHERE ${elementRange(scope)} AND (${realtimeKeys}) GROUP BY parameter_id, idx`,
  ];
  if (tables.average)
    branches.push(sql`SELECT parameter_id, idx, window_minutes, uniqExact(ts) AS points, min(ts) AS first
      FROM ${scope.db}.trend_average WHERE ${elementRange(scope)} AND (${series}) GROUP BY parameter_id, idx, window_minutes`);
  return join(branches, ' UNION ALL ');
}

/** A row of `dayCountsQuery`: a `TierCountRow` of one UTC day (the index as `series_idx`: '' for status rows). */
export interface DayCountRow extends Omit<TierCountRow, 'idx'> {
  series_idx: string;
  /** UTC day number (epoch ms / 86,400,000). */
  day: number;
}

/**
 * Distinct timestamps and the earliest per (series, tier, UTC day) in [from, to) for the given
 * series (no wildcards) and the element's status rows, from both tables whatever the request
 * asks: what the cache of sealed days stores (trends/day-cache.ts).
 */
export function dayCountsQuery(scope: TrendScope, series: readonly SeriesKey[]): Sql {
  const keys = join(series.map(keyCondition), ' OR ');
  // Status rows count per time whatever their index, as `statusRows` reads them.
  const realtime = sql`SELECT parameter_id, if(parameter_id = ${ELEMENT_STATUS_PARAMETER}, '', idx) AS series_idx,
      toUInt16(0) AS window_minutes, intDiv(ts, 86400000) AS day, uniqExact(ts) AS points, min(ts) AS first
    FROM ${scope.db}.trend_realtime WHERE ${elementRange(scope)} AND (${series.length > 0 ? sql`(${keys}) OR ` : sql``}parameter_id = ${ELEMENT_STATUS_PARAMETER})
    GROUP BY parameter_id, series_idx, day`;
  if (series.length === 0) return realtime;
  return sql`${realtime} UNION ALL SELECT parameter_id, idx AS series_idx, window_minutes, intDiv(ts, 86400000) AS day,
      uniqExact(ts) AS points, min(ts) AS first
    FROM ${scope.db}.trend_average WHERE ${elementRange(scope)} AND (${keys})
    GROUP BY parameter_id, series_idx, window_minutes, day`;
}

/** Whether `tierCountsQuery` found element status rows in the range. */
export function hasStatusRows(counts: readonly TierCountRow[]): boolean {
  return counts.some((c) => c.parameter_id === ELEMENT_STATUS_PARAMETER && c.points > 0);
}

/*
 * Points are written as JSON text by ClickHouse rather than decoded and formatted in Node: Node
 * then builds no object per point and formats no number (profiled on a 30-day trend of 8,640
 * points: Node's decoding and text fell from 18 to 7 ms). What the server pays depends on its
 * version: current ClickHouse (measured on chdb 26.x) formats them in about 3 ms, 18.16 (whose
 * float printing is slow) in about 15 — a cost on the local stack, accepted for the versions users
 * run and because the API's one Node thread is the scarcer CPU. toString of a Float64 is the
 * shortest text that reads back as the same double (double-conversion in 18.16, dragonbox in
 * current versions), a valid JSON number either way (an exponent may read `1e+21` or `1e21`);
 * non-finite values and NULL become null, and `+ 0` turns -0 into 0 as JSON.stringify writes it.
 * Property-tested against the real server (test/integration/trend-json-numbers.test.ts).
 */

/** JSON text of a (Nullable) Float64 expression: the number, or null when NULL, NaN or infinite. */
export function jsonNumber(expr: Sql): Sql {
  return sql`if(isFinite(ifNull(${expr}, nan)), toString(assumeNotNull(${expr}) + 0), 'null')`;
}

/** The `BucketStats` JSON of a bucket group, from its aggregates. */
function bucketJson(status: Sql, sum: Sql, min: Sql, max: Sql, samples: Sql): Sql {
  return sql`concat('{"time":', toString(ts), ',"status":', toString(${status}), ',"sum":', ${jsonNumber(sum)},
      ',"min":', ${jsonNumber(min)}, ',"max":', ${jsonNumber(max)}, ',"samples":', toString(${samples}),
      ',"n":', toString(count()), ',"nv":', toString(count(v)), '}')`;
}

const REALTIME_JSON = sql`concat('"time":', toString(t), ',"status":', toString(s), ',"value":', ${jsonNumber(sql`v`)},
      ',"min":null,"max":null,"samples":null')`;

const AVERAGE_JSON = sql`concat('"time":', toString(t), ',"status":', toString(s), ',"value":', ${jsonNumber(sql`v`)},
      ',"min":', ${jsonNumber(sql`lo`)}, ',"max":', ${jsonNumber(sql`hi`)}, ',"samples":', toString(sm))`;

/*
 * The collapsing subqueries rename their columns (o, w, t, s, v, lo, hi, vd, md, sm) so that the
 * outer SELECT's aliases (ord, ts, status, …) never shadow a source column:
 * ClickHouse resolves aliases in WHERE and in aggregate arguments too. Every branch names its
 * columns alike, a bucket's start too (`ts`): a UNION ALL takes its names from its first branch,
 * and the outer ORDER BY names them (a first branch of buckets once named it `bucket`, and an
 * aggregated trend with no raw series and no status rows failed).
 */

/** One planned series with its position in the answer (`ord`). */
interface OrderedRead extends SeriesRead {
  ord: number;
}

/**
 * `o`: the position of the row's series among `series`, from sorting-key conditions only. The
 * collapse sorts and groups by (o, t), not by (parameter_id, idx, window_minutes, ts): with the
 * table index string in the sort and LIMIT BY keys, 18.16 spent about twice the CPU on a 30-day
 * read (measured with query_log's ProfileEvents: 31 vs 17 ms), and the answer needs `o` anyway.
 */
function seriesOrdinal(series: readonly OrderedRead[], condition: (r: OrderedRead) => Sql): Sql {
  if (series.length === 1) return sql`toUInt32(${series[0]!.ord})`;
  return sql`toUInt32(multiIf(${join(
    series.map((r) => sql`${condition(r)}, ${r.ord}`),
    ', ',
  )}, ${series[series.length - 1]!.ord}))`;
}

/** Real-time rows of the series, one per key (newest part's copy), renamed, with `o`. */
function realtimeRows(scope: TrendScope, series: readonly OrderedRead[]): Sql {
  return sql`SELECT ${seriesOrdinal(series, keyCondition)} AS o, ts AS t, status AS s, value AS v, value_discrete AS vd
    FROM ${scope.db}.trend_realtime
    WHERE ${elementRange(scope)} AND (${join(series.map(keyCondition), ' OR ')})
    ORDER BY o, t, _part_index DESC LIMIT 1 BY o, t`;
}

/** Average rows of the series, each from its window, one per key (newest part's copy), renamed, with `o`. */
function averageRows(scope: TrendScope, series: readonly OrderedRead[]): Sql {
  return sql`SELECT ${seriesOrdinal(series, keyWindowCondition)} AS o, window_minutes AS w, ts AS t, status AS s, value AS v,
      min AS lo, max AS hi, value_discrete AS vd, max_discrete AS md, samples AS sm
    FROM ${scope.db}.trend_average
    WHERE ${elementRange(scope)} AND (${join(series.map(keyWindowCondition), ' OR ')})
    ORDER BY o, t, _part_index DESC LIMIT 1 BY o, t`;
}

const REALTIME_RAW_COLUMNS = sql`o AS ord, t AS ts, s AS status, toUInt8(0) AS agg, ${REALTIME_JSON} AS json, vd AS value_discrete,
      '' AS max_discrete`;

const AVERAGE_RAW_COLUMNS = sql`o AS ord, t AS ts, s AS status, toUInt8(0) AS agg, ${AVERAGE_JSON} AS json, vd AS value_discrete,
      md AS max_discrete`;

function bucketOf(scope: TrendScope, bucketMs: number): Sql {
  return sql`toUInt64(${scope.from} + intDiv(t - ${scope.from}, ${bucketMs}) * ${bucketMs})`;
}

/** The raw rows of real-time series. */
function realtimeRaw(scope: TrendScope, series: readonly OrderedRead[]): Sql {
  return sql`SELECT ${REALTIME_RAW_COLUMNS} FROM (${realtimeRows(scope, series)}) AS rt`;
}

/**
 * The element-level status rows, one per timestamp. Read without FINAL, grouped by time: a
 * repeat of at-least-once delivery is the same row again, and FINAL over the many parts of a
 * day being written cost about three times the grouping here (measured on 18.16: 17 vs 6 ms of
 * server CPU for a 30-day range).
 */
function statusRows(scope: TrendScope, ord: number): Sql {
  return sql`SELECT toUInt32(${ord}) AS ord, t AS ts, s AS status, toUInt8(0) AS agg,
      concat('"time":', toString(t), ',"status":', toString(s)) AS json, '' AS value_discrete, '' AS max_discrete
    FROM (SELECT ts AS t, any(status) AS s FROM ${scope.db}.trend_realtime
      WHERE ${elementRange(scope)} AND parameter_id = ${ELEMENT_STATUS_PARAMETER}
      GROUP BY t) AS st`;
}

/** The raw rows of average series, each from its window. */
function averageRaw(scope: TrendScope, series: readonly OrderedRead[]): Sql {
  return sql`SELECT ${AVERAGE_RAW_COLUMNS} FROM (${averageRows(scope, series)}) AS av`;
}

/**
 * Real-time series in buckets of `bucketMs` aligned to `from`: rows with a status >= 0 are
 * grouped per (bucket, discrete value); a series' own negative-status rows stay raw points.
 */
function realtimeBuckets(scope: TrendScope, series: readonly OrderedRead[], bucketMs: number): Sql {
  const rows = realtimeRows(scope, series);
  return sql`SELECT o AS ord, ${bucketOf(scope, bucketMs)} AS ts,
      toInt16(0) AS status, toUInt8(1) AS agg, ${bucketJson(sql`0`, sql`sum(v)`, sql`min(v)`, sql`max(v)`, sql`count()`)} AS json,
      vd AS value_discrete, '' AS max_discrete
    FROM (${rows}) AS rb WHERE s >= 0
    GROUP BY o, ts, vd
    UNION ALL
    SELECT ${REALTIME_RAW_COLUMNS} FROM (${rows}) AS rs WHERE s < 0`;
}

/**
 * Average series in buckets: the mean of the windows' averages (equal windows weigh equally),
 * min of minima, max of maxima, sum of samples, per (bucket, discrete value, discrete max).
 * Negative-status rows stay raw points.
 */
function averageBuckets(scope: TrendScope, series: readonly OrderedRead[], bucketMs: number): Sql {
  const rows = averageRows(scope, series);
  return sql`SELECT o AS ord, ${bucketOf(scope, bucketMs)} AS ts,
      toInt16(any(w)) AS status, toUInt8(1) AS agg, ${bucketJson(sql`any(w)`, sql`sum(v)`, sql`min(lo)`, sql`max(hi)`, sql`sum(sm)`)} AS json,
      vd AS value_discrete, md AS max_discrete
    FROM (${rows}) AS ab WHERE s >= 0
    GROUP BY o, ts, vd, md
    UNION ALL
    SELECT ${AVERAGE_RAW_COLUMNS} FROM (${rows}) AS an WHERE s < 0`;
}

/**
 * Every point of the planned series and the element's status rows (when `withStatusRows`), in
 * the order of the answer: series in `reads` order (`ord`), then the status rows; in each, time
 * in the requested `order` (ties: status, then discrete values, so bucket groups come in one
 * order). `bucketMs` is used by aggregated series only.
 */
export function trendDataQuery(
  scope: TrendScope,
  reads: readonly SeriesRead[],
  bucketMs: number,
  order: 'asc' | 'desc',
  withStatusRows = true,
): Sql {
  const ordered: OrderedRead[] = reads.map((r, ord) => ({ ...r, ord }));
  const pick = (realtime: boolean, aggregated: boolean) =>
    ordered.filter((r) => (r.windowMinutes === 0) === realtime && r.aggregated === aggregated);
  const branches = withStatusRows ? [statusRows(scope, reads.length)] : [];
  const rtRaw = pick(true, false);
  if (rtRaw.length > 0) branches.push(realtimeRaw(scope, rtRaw));
  const avgRaw = pick(false, false);
  if (avgRaw.length > 0) branches.push(averageRaw(scope, avgRaw));
  const rtAgg = pick(true, true);
  if (rtAgg.length > 0) branches.push(realtimeBuckets(scope, rtAgg, bucketMs));
  const avgAgg = pick(false, true);
  if (avgAgg.length > 0) branches.push(averageBuckets(scope, avgAgg, bucketMs));
  // No series (a wildcard matched nothing) and no status rows: the status branch still makes a
  // valid statement, with no rows.
  if (branches.length === 0) branches.push(statusRows(scope, reads.length));
  const dir = order === 'desc' ? sql`DESC` : sql`ASC`;
  return sql`SELECT ${castColumns(TREND_DATA_SHAPE)}
    FROM (${join(branches, ' UNION ALL ')}) AS points
    ORDER BY ord, ts ${dir}, status ${dir}, value_discrete, max_discrete`;
}

/** One series of the live reads (`liveRealtimeQuery`, `liveAverageQuery`) and the tiers to read of it. */
export interface LiveSeries extends SeriesKey {
  realtime: boolean;
  averages: boolean;
  /** Average windows to leave out (their count already exceeds the budget). */
  skipWindows: readonly number[];
}

/**
 * `ord` of the live reads' rows: series index × LIVE_ORD_STEP + window (0 = real-time); the
 * element status rows get `series.length × LIVE_ORD_STEP`.
 */
export const LIVE_ORD_STEP = 65_537;

/** A row of `liveRealtimeQuery`: one real-time point or element status row (newest part's copy). */
export interface LiveRealtimeRow {
  /** Series index × LIVE_ORD_STEP (real-time), or the status rows' `ord`. */
  o: number;
  /** Epoch ms. */
  t: number;
  s: number;
  v: number | null;
  vd: string;
}

/** A row of `liveAverageQuery`: one average window (newest part's copy). */
export interface LiveAverageRow {
  /** Series index × LIVE_ORD_STEP + window minutes. */
  o: number;
  /** Epoch ms (window start). */
  t: number;
  s: number;
  v: number | null;
  lo: number | null;
  hi: number | null;
  sm: number;
  vd: string;
  md: string;
}

/** The wire types of `LiveRealtimeRow`. */
export const LIVE_REALTIME_SHAPE: RowShape = [
  ['o', 'UInt32'],
  ['t', 'UInt64'],
  ['s', 'Int16'],
  ['v', 'Nullable(Float64)'],
  ['vd', 'String'],
];

/** The wire types of `LiveAverageRow`. */
export const LIVE_AVERAGE_SHAPE: RowShape = [
  ['o', 'UInt32'],
  ['t', 'UInt64'],
  ['s', 'Int16'],
  ['v', 'Nullable(Float64)'],
  ['lo', 'Nullable(Float64)'],
  ['hi', 'Nullable(Float64)'],
  ['sm', 'UInt32'],
  ['vd', 'String'],
  ['md', 'String'],
];

/**
 * The columns of the newest part's copy among a key's repeats: `pick(column, type)` is that
 * copy's value of `column`, cast to its wire type. One argMax over the whole row as a tuple
 * (computed once: the expressions are identical): argMax of a Nullable column alone skips NULL
 * (ClickHouse docs, argMax) and would answer an older copy's value beside the newest copy's status.
 */
function newestRow(row: readonly string[]): (column: string, type: string) => Sql {
  const whole = sql`argMax(tuple(${join(row.map(ident), ', ')}), _part_index)`;
  return (column, type) => {
    const at = row.indexOf(column);
    if (at < 0) throw new Error(`newestRow: ${column} is not one of ${row.join(', ')}`);
    return sql`CAST(tupleElement(${whole}, ${at + 1}) AS ${typeName(type)})`;
  };
}

const newestRealtime = newestRow(['status', 'value', 'value_discrete']);
const newestAverage = newestRow(['status', 'value', 'min', 'max', 'samples', 'value_discrete', 'max_discrete']);

/*
 * The live reads are flat statements (one SELECT, no subquery, no text built by the server): 18.16
 * spends most of a small read's CPU analysing the statement, not reading rows. Measured on the
 * bench element (query_log ProfileEvents, 100 runs each, max_threads 1): the former single
 * statement (two collapsing subqueries, UNION ALL, JSON text) cost 7.6–8.2 ms of server CPU, 5.2
 * of them with a range holding no row at all; the two flat statements 1.0–1.5 and 1.6–1.8 ms.
 * Repeats collapse by GROUP BY (o, t) to the newest part's copy (argMax of the row by
 * _part_index), as the data query's ORDER BY … _part_index DESC LIMIT 1 BY keeps; the Query API
 * writes the JSON text (trends/live-rows.ts).
 */

/** `multiIf` cases of the live reads' `ord`: each picked series' key, then its index × LIVE_ORD_STEP. */
function liveOrdCases(picked: readonly { s: LiveSeries; i: number }[]): Sql {
  return join(
    picked.map(({ s, i }) => sql`${keyCondition(s)}, ${i * LIVE_ORD_STEP}`),
    ', ',
  );
}

/**
 * The days not sealed yet of a request answered from the cache of sealed days, real-time table:
 * the points of every series whose real-time tier the plan could still choose (at most `cap`,
 * the earliest: a tier with more cannot fit a budget of `cap - 1`), and the element status rows
 * (`ord` = `series.length` × LIVE_ORD_STEP, never capped), one per (ord, time), ordered by ord
 * then time ascending. The plan is made from these rows' counts (trends/sealed-read.ts), so no
 * count is read beforehand.
 */
export function liveRealtimeQuery(scope: TrendScope, series: readonly LiveSeries[], cap: number): Sql {
  const statusOrd = series.length * LIVE_ORD_STEP;
  const picked = series.map((s, i) => ({ s, i })).filter(({ s }) => s.realtime);
  const ord =
    picked.length === 0
      ? sql`toUInt32(${statusOrd})`
      : sql`toUInt32(multiIf(parameter_id = ${ELEMENT_STATUS_PARAMETER}, ${statusOrd}, ${liveOrdCases(picked)}, 0))`;
  const keys = [...picked.map(({ s }) => keyCondition(s)), sql`parameter_id = ${ELEMENT_STATUS_PARAMETER}`];
  const newest = newestRealtime;
  return sql`SELECT ${ord} AS o, ts AS t, ${newest('status', 'Int16')} AS s, ${newest('value', 'Nullable(Float64)')} AS v,
      ${newest('value_discrete', 'String')} AS vd
    FROM ${scope.db}.trend_realtime
    WHERE ${elementRange(scope)} AND (${join(keys, ' OR ')})
    GROUP BY o, t ORDER BY o, t LIMIT ${cap} BY o, if(o = ${statusOrd}, t, 0)`;
}

/**
 * The days not sealed yet, average table: every window of every series with averages wanted
 * (less its `skipWindows`), at most `cap` points per (series, window), the earliest; `ord` =
 * series index × LIVE_ORD_STEP + window minutes; ordered by ord then time ascending. Undefined
 * when no series wants averages.
 */
export function liveAverageQuery(scope: TrendScope, series: readonly LiveSeries[], cap: number): Sql | undefined {
  const picked = series.map((s, i) => ({ s, i })).filter(({ s }) => s.averages);
  if (picked.length === 0) return undefined;
  const base = picked.length === 1 ? sql`${picked[0]!.i * LIVE_ORD_STEP}` : sql`multiIf(${liveOrdCases(picked)}, 0)`;
  const conditions = picked.map(({ s }) =>
    s.skipWindows.length === 0
      ? keyCondition(s)
      : sql`(${keyCondition(s)} AND window_minutes NOT IN (${join(
          s.skipWindows.map((w) => sql`${w}`),
          ', ',
        )}))`,
  );
  const newest = newestAverage;
  return sql`SELECT toUInt32(${base} + window_minutes) AS o, ts AS t, ${newest('status', 'Int16')} AS s,
      ${newest('value', 'Nullable(Float64)')} AS v, ${newest('min', 'Nullable(Float64)')} AS lo, ${newest('max', 'Nullable(Float64)')} AS hi,
      ${newest('samples', 'UInt32')} AS sm, ${newest('value_discrete', 'String')} AS vd, ${newest('max_discrete', 'String')} AS md
    FROM ${scope.db}.trend_average
    WHERE ${elementRange(scope)} AND (${join(conditions, ' OR ')})
    GROUP BY o, t ORDER BY o, t LIMIT ${cap} BY o`;
}
