/** Query API settings from environment variables (validated once at start-up). */
import { EnvReader, type Env } from '../config/env.ts';

const DAY_MS = 86_400_000;

export interface QueryConfig {
  host: string;
  port: number;
  /** Longest time range one request may ask for (ms). */
  maxRangeMs: number;
  /** Upper bound of a trend request's `maxPoints` (points per series). */
  maxPointsLimit: number;
  /** `maxPoints` when a request gives none: a month of 5-minute averages (8,640) fits. */
  defaultMaxPoints: number;
  /** Series (parameter, table index) one trend request may return, wildcards expanded. */
  maxSeries: number;
  /** Largest page of alarms or table rows, and the page size when a request gives none. */
  maxPageSize: number;
  defaultPageSize: number;
  /** ClickHouse `max_execution_time` of every read (s): a query past it answers 503. */
  maxExecutionTimeS: number;
  /** Requests per token (or per address without one) per minute. */
  rateLimitPerMinute: number;
  /**
   * Failed authentications (unknown, expired or revoked tokens) per client address per minute;
   * past it the address is answered 429 for the rest of the minute, before any token lookup.
   */
  authFailuresPerMinute: number;
  /** Longest lifetime of a share token (ms). */
  maxShareLifetimeMs: number;
  /**
   * Trend graphs (shapes) whose last plan is remembered, so that their next request reads its
   * data beside the tier counts (trends/plan-memory.ts); 0 turns the early read off.
   */
  trendPlanMemory: number;
  /**
   * Memory for sealed trend days (bytes; STAAS_QUERY_TREND_CACHE_MB): a graph over weeks reads
   * only its edges from ClickHouse (trends/day-cache.ts); 0 turns the cache off.
   */
  trendCacheBytes: number;
  /** Appends every SQL statement (NDJSON: label, sql) to this file, for debugging and compatibility checks. */
  sqlLogFile: string | undefined;
}

export function readQueryConfig(env: Env = process.env, overrides: Partial<QueryConfig> = {}): QueryConfig {
  const r = new EnvReader(env);
  const config: QueryConfig = {
    host: r.string('STAAS_QUERY_HOST', '127.0.0.1'),
    port: r.int('STAAS_QUERY_PORT', 8080, { min: 0, max: 65535 }),
    maxRangeMs: r.int('STAAS_QUERY_MAX_RANGE_DAYS', 3660, { min: 1, max: 36_600 }) * DAY_MS,
    maxPointsLimit: r.int('STAAS_QUERY_MAX_POINTS', 100_000, { min: 10, max: 10_000_000 }),
    defaultMaxPoints: r.int('STAAS_QUERY_DEFAULT_MAX_POINTS', 10_000, { min: 10, max: 10_000_000 }),
    maxSeries: r.int('STAAS_QUERY_MAX_SERIES', 100, { min: 1, max: 10_000 }),
    maxPageSize: r.int('STAAS_QUERY_MAX_PAGE_SIZE', 10_000, { min: 1, max: 1_000_000 }),
    defaultPageSize: r.int('STAAS_QUERY_DEFAULT_PAGE_SIZE', 500, { min: 1, max: 1_000_000 }),
    maxExecutionTimeS: r.int('STAAS_QUERY_MAX_EXECUTION_TIME_S', 10, { min: 1, max: 3600 }),
    rateLimitPerMinute: r.int('STAAS_QUERY_RATE_LIMIT_PER_MINUTE', 6000, { min: 1 }),
    authFailuresPerMinute: r.int('STAAS_QUERY_AUTH_FAILURES_PER_MINUTE', 120, { min: 1 }),
    maxShareLifetimeMs: r.int('STAAS_QUERY_MAX_SHARE_DAYS', 90, { min: 1, max: 3660 }) * DAY_MS,
    trendPlanMemory: r.int('STAAS_QUERY_TREND_PLAN_MEMORY', 4096, { min: 0, max: 1_000_000 }),
    trendCacheBytes: r.int('STAAS_QUERY_TREND_CACHE_MB', 256, { min: 0, max: 1_048_576 }) * 1024 * 1024,
    sqlLogFile: r.optionalString('STAAS_QUERY_SQL_LOG'),
    ...overrides,
  };
  if (config.defaultMaxPoints > config.maxPointsLimit)
    r.problem(`STAAS_QUERY_DEFAULT_MAX_POINTS=${config.defaultMaxPoints} is above STAAS_QUERY_MAX_POINTS=${config.maxPointsLimit}`);
  if (config.defaultPageSize > config.maxPageSize)
    r.problem(`STAAS_QUERY_DEFAULT_PAGE_SIZE=${config.defaultPageSize} is above STAAS_QUERY_MAX_PAGE_SIZE=${config.maxPageSize}`);
  r.done();
  return config;
}
