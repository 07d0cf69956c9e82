/**
 * The two statements of a trend request, built with storage/sql.ts only:
 * - `tierCountsQuery`: distinct timestamps per (series, tier) in the range — this also expands
 *   wildcard table indices to the series that have data;
 * - `trendDataQuery`: the points of every series from its chosen tier (raw rows, or time buckets
 *   for aggregated tiers) and the element-level status rows, in one UNION ALL.
 * Rows are read with FINAL, with only sorting-key columns in the WHERE of the FINAL subquery
 * (18.16 may move other conditions to PREWHERE, before rows collapse); non-key filters (status)
 * are applied outside. Every branch casts its columns to one row shape (18.16 refuses UNION ALL
 * branches of different types).
 */
import { join, likeWildcard, sql, type Sql } from '../../storage/sql.ts';
import { castColumns, type RowShape } from '../rowbinary.ts';
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
 * A row of `trendDataQuery`. Raw rows have `agg` 0 and `n` 1; bucket rows (`agg` 1, time = bucket
 * start) carry per (bucket, discrete value, discrete max) group: `value` = sum of values, `nv` =
 * values counted, `min`/`max` = extremes, `samples` = real-time points or the windows' samples.
 */
export interface TrendDataRow {
  /** Position of the row's series in the planned reads; the reads' count for element status rows. */
  ord: number;
  parameter_id: number;
  idx: string;
  window_minutes: number;
  ts: number;
  status: number;
  agg: number;
  value: number | null;
  min: number | null;
  max: number | null;
  value_discrete: string;
  max_discrete: string;
  samples: number;
  n: number;
  nv: number;
}

/** The wire types of `TrendDataRow`: the data query is read as RowBinary (thousands of rows). */
export const TREND_DATA_SHAPE: RowShape = [
  ['ord', 'UInt32'],
  ['parameter_id', 'Int32'],
  ['idx', 'String'],
  ['window_minutes', 'UInt16'],
  ['ts', 'UInt64'],
  ['status', 'Int16'],
  ['agg', 'UInt8'],
  ['value', 'Nullable(Float64)'],
  ['min', 'Nullable(Float64)'],
  ['max', 'Nullable(Float64)'],
  ['value_discrete', 'String'],
  ['max_discrete', 'String'],
  ['samples', 'UInt64'],
  ['n', 'UInt64'],
  ['nv', 'UInt64'],
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

function elementRange(scope: TrendScope): Sql {
  return sql`${scope.tenant} AND dma_id = ${scope.dmaId} AND element_id = ${scope.elementId} AND ts >= ${scope.from} AND ts < ${scope.to}`;
}

/**
 * Distinct timestamps per (parameter_id, idx, window_minutes) in the range, for the given specs
 * (wildcards as LIKE). Counting distinct key values needs no FINAL: repeats share a key.
 * `tables` limits the read to the tiers the request can use.
 */
export function tierCountsQuery(scope: TrendScope, specs: readonly SeriesSpec[], tables: { realtime: boolean; average: boolean }): Sql {
  const where = sql`${elementRange(scope)} AND (${join(specs.map(specCondition), ' OR ')})`;
  const branches: Sql[] = [];
  if (tables.realtime)
    branches.push(sql`SELECT parameter_id, idx, toUInt16(0) AS window_minutes, uniqExact(ts) AS points, min(ts) AS first
      FROM ${scope.db}.trend_realtime WHERE ${where} GROUP BY parameter_id, idx`);
  if (tables.average)
    branches.push(sql`SELECT parameter_id, idx, window_minutes, uniqExact(ts) AS points, min(ts) AS first
      FROM ${scope.db}.trend_average WHERE ${where} GROUP BY parameter_id, idx, window_minutes`);
  return join(branches, ' UNION ALL ');
}

const NULL_FLOAT = sql`CAST(NULL AS Nullable(Float64))`;

/*
 * The FINAL subqueries rename their columns (p, i, w, t, s, v, lo, hi, vd, md, sm) so that the
 * outer SELECT's aliases (parameter_id, ts, status, value, …) never shadow a source column:
 * ClickHouse resolves aliases in WHERE and in aggregate arguments too.
 */

/** Real-time rows of the element (FINAL), renamed; `keys` are sorting-key conditions only. */
function realtimeRows(scope: TrendScope, keys: readonly Sql[]): Sql {
  return sql`SELECT parameter_id AS p, idx AS i, ts AS t, status AS s, value AS v, value_discrete AS vd
    FROM ${scope.db}.trend_realtime FINAL
    WHERE ${elementRange(scope)} AND (${join(keys, ' OR ')})`;
}

/** Average rows of the element (FINAL), renamed. */
function averageRows(scope: TrendScope, series: readonly SeriesRead[]): Sql {
  return sql`SELECT parameter_id AS p, idx AS i, window_minutes AS w, ts AS t, status AS s, value AS v, min AS lo, max AS hi,
      value_discrete AS vd, max_discrete AS md, samples AS sm
    FROM ${scope.db}.trend_average FINAL
    WHERE ${elementRange(scope)} AND (${join(series.map(keyWindowCondition), ' OR ')})`;
}

const REALTIME_RAW_COLUMNS = sql`p AS parameter_id, i AS idx, toUInt16(0) AS window_minutes, t AS ts, s AS status, toUInt8(0) AS agg,
      v AS value, ${NULL_FLOAT} AS min, ${NULL_FLOAT} AS max, vd AS value_discrete, '' AS max_discrete,
      toUInt64(0) AS samples, toUInt64(1) AS n, toUInt64(isNotNull(v)) AS nv`;

const AVERAGE_RAW_COLUMNS = sql`p AS parameter_id, i AS idx, w AS window_minutes, t AS ts, s AS status, toUInt8(0) AS agg,
      v AS value, lo AS min, hi AS max, vd AS value_discrete, md AS max_discrete,
      toUInt64(sm) AS samples, toUInt64(1) AS n, toUInt64(isNotNull(v)) AS nv`;

function bucketOf(scope: TrendScope, bucketMs: number): Sql {
  return sql`toUInt64(${scope.from} + intDiv(t - ${scope.from}, ${bucketMs}) * ${bucketMs})`;
}

/** The raw rows of real-time series. */
function realtimeRaw(scope: TrendScope, series: readonly SeriesRead[]): Sql {
  return sql`SELECT ${REALTIME_RAW_COLUMNS} FROM (${realtimeRows(scope, series.map(keyCondition))}) AS rt`;
}

/**
 * The element-level status rows, one per timestamp. Read without FINAL, grouped by time: a
 * repeat of at-least-once delivery is the same row again, and FINAL over the many parts of a
 * day being written cost about three times the grouping here (measured on 18.16: 17 vs 6 ms of
 * server CPU for a 30-day range).
 */
function statusRows(scope: TrendScope): Sql {
  return sql`SELECT p AS parameter_id, i AS idx, toUInt16(0) AS window_minutes, t AS ts, s AS status, toUInt8(0) AS agg,
      ${NULL_FLOAT} AS value, ${NULL_FLOAT} AS min, ${NULL_FLOAT} AS max, '' AS value_discrete, '' AS max_discrete,
      toUInt64(0) AS samples, toUInt64(1) AS n, toUInt64(0) AS nv
    FROM (SELECT parameter_id AS p, idx AS i, ts AS t, any(status) AS s FROM ${scope.db}.trend_realtime
      WHERE ${elementRange(scope)} AND parameter_id = ${ELEMENT_STATUS_PARAMETER}
      GROUP BY p, i, t) AS st`;
}

/** The raw rows of average series, each from its window. */
function averageRaw(scope: TrendScope, series: readonly SeriesRead[]): Sql {
  return sql`SELECT ${AVERAGE_RAW_COLUMNS} FROM (${averageRows(scope, series)}) AS av`;
}

/**
 * Real-time series in buckets of `bucketMs` aligned to `from`: rows with a status >= 0 are
 * grouped per (bucket, discrete value); a series' own negative-status rows stay raw points.
 */
function realtimeBuckets(scope: TrendScope, series: readonly SeriesRead[], bucketMs: number): Sql {
  const rows = realtimeRows(scope, series.map(keyCondition));
  return sql`SELECT p AS parameter_id, i AS idx, toUInt16(0) AS window_minutes, ${bucketOf(scope, bucketMs)} AS bucket,
      toInt16(0) AS status, toUInt8(1) AS agg,
      CAST(sum(v) AS Nullable(Float64)) AS value, CAST(min(v) AS Nullable(Float64)) AS min, CAST(max(v) AS Nullable(Float64)) AS max,
      vd AS value_discrete, '' AS max_discrete, toUInt64(count()) AS samples, toUInt64(count()) AS n, toUInt64(count(v)) AS nv
    FROM (${rows}) AS rb WHERE s >= 0
    GROUP BY p, i, bucket, vd
    UNION ALL
    SELECT ${REALTIME_RAW_COLUMNS} FROM (${rows}) AS rs WHERE s < 0`;
}

/**
 * Average series in buckets: the mean of the windows' averages (equal windows weigh equally),
 * min of minima, max of maxima, sum of samples, per (bucket, discrete value, discrete max).
 * Negative-status rows stay raw points.
 */
function averageBuckets(scope: TrendScope, series: readonly SeriesRead[], bucketMs: number): Sql {
  const rows = averageRows(scope, series);
  return sql`SELECT p AS parameter_id, i AS idx, w AS window_minutes, ${bucketOf(scope, bucketMs)} AS bucket,
      toInt16(w) AS status, toUInt8(1) AS agg,
      CAST(sum(v) AS Nullable(Float64)) AS value, CAST(min(lo) AS Nullable(Float64)) AS min, CAST(max(hi) AS Nullable(Float64)) AS max,
      vd AS value_discrete, md AS max_discrete, toUInt64(sum(sm)) AS samples, toUInt64(count()) AS n, toUInt64(count(v)) AS nv
    FROM (${rows}) AS ab WHERE s >= 0
    GROUP BY p, i, w, bucket, vd, md
    UNION ALL
    SELECT ${AVERAGE_RAW_COLUMNS} FROM (${rows}) AS an WHERE s < 0`;
}

/**
 * Every point of the planned series and the element's status rows, in the order of the answer:
 * series in `reads` order (`ord`), then the status rows; in each, time in the requested `order`
 * (ties: status, then discrete values, so bucket groups come in one order). `bucketMs` is used
 * by aggregated series only.
 */
export function trendDataQuery(scope: TrendScope, reads: readonly SeriesRead[], bucketMs: number, order: 'asc' | 'desc'): Sql {
  const pick = (realtime: boolean, aggregated: boolean) =>
    reads.filter((r) => (r.windowMinutes === 0) === realtime && r.aggregated === aggregated);
  const branches = [statusRows(scope)];
  const rtRaw = pick(true, false);
  if (rtRaw.length > 0) branches.push(realtimeRaw(scope, rtRaw));
  const avgRaw = pick(false, false);
  if (avgRaw.length > 0) branches.push(averageRaw(scope, avgRaw));
  const rtAgg = pick(true, true);
  if (rtAgg.length > 0) branches.push(realtimeBuckets(scope, rtAgg, bucketMs));
  const avgAgg = pick(false, true);
  if (avgAgg.length > 0) branches.push(averageBuckets(scope, avgAgg, bucketMs));
  const ord =
    reads.length === 0
      ? sql`0`
      : sql`multiIf(${join(
          reads.map((r, n) => sql`${keyWindowCondition(r)}, ${n}`),
          ', ',
        )}, ${reads.length})`;
  const dir = order === 'desc' ? sql`DESC` : sql`ASC`;
  return sql`SELECT ${castColumns(TREND_DATA_SHAPE)}
    FROM (SELECT ${ord} AS ord, * FROM (${join(branches, ' UNION ALL ')}) AS points) AS ordered
    ORDER BY ord, ts ${dir}, status ${dir}, value_discrete, max_discrete`;
}
