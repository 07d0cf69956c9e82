/** The Query API's Prometheus metrics (prom-client), one registry per app instance. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TrendDayCache } from './trends/day-cache.ts';

export interface QueryMetrics {
  registry: Registry;
  /** Labels: route (the route's URL pattern), method, status. */
  requestSeconds: Histogram<'route' | 'method' | 'status'>;
  /** Labels: query (what the statement is for, e.g. `trend.data`). */
  clickhouseSeconds: Histogram<'query'>;
  clickhouseRowsRead: Counter<'query'>;
  clickhouseErrors: Counter<'query' | 'code'>;
  /** Reads moved to the next ClickHouse server because the current one was unreachable (cluster mode). */
  clickhouseFailovers: Counter;
  /**
   * Trend requests by what their early data read did (trends/plan-memory.ts): `used` (the
   * remembered plan was right), `cancelled` (the counts gave another plan), `none` (no plan known).
   */
  trendEarlyReads: Counter<'outcome'>;
  trendSealedReads: Counter<'outcome'>;
}

export function createQueryMetrics(registry = new Registry(), defaults = false): QueryMetrics {
  if (defaults) collectDefaultMetrics({ register: registry, prefix: 'staas_query_' });
  const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  return {
    registry,
    requestSeconds: new Histogram({
      name: 'staas_query_http_request_duration_seconds',
      help: 'HTTP request duration per route',
      labelNames: ['route', 'method', 'status'],
      buckets,
      registers: [registry],
    }),
    clickhouseSeconds: new Histogram({
      name: 'staas_query_clickhouse_query_duration_seconds',
      help: 'ClickHouse query duration (request to last byte) per kind of query',
      labelNames: ['query'],
      buckets,
      registers: [registry],
    }),
    clickhouseRowsRead: new Counter({
      name: 'staas_query_clickhouse_rows_read_total',
      help: 'Rows ClickHouse read to answer queries (its own statistics)',
      labelNames: ['query'],
      registers: [registry],
    }),
    clickhouseErrors: new Counter({
      name: 'staas_query_clickhouse_errors_total',
      help: 'Failed ClickHouse queries by server error code (none: connection or client error)',
      labelNames: ['query', 'code'],
      registers: [registry],
    }),
    clickhouseFailovers: new Counter({
      name: 'staas_query_clickhouse_failovers_total',
      help: 'Times reads moved to the next ClickHouse server because the current one was unreachable',
      registers: [registry],
    }),
    trendEarlyReads: new Counter({
      name: 'staas_query_trend_early_reads_total',
      help: 'Trend requests by what their data read started beside the tier counts did: used, cancelled (another plan), none',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    trendSealedReads: new Counter({
      name: 'staas_query_trend_sealed_reads_total',
      help: 'Trend requests read through the cache of sealed days: spliced (raw tiers, sealed days from the cache), live (no sealed day in the range: the live reads only), aggregated (read whole from ClickHouse)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}

/** Gauges of the cache of sealed trend days, read when scraped: bytes, days held, whether it serves. */
export function trendCacheGauges(metrics: QueryMetrics, cache: TrendDayCache): void {
  const gauge = (name: string, help: string, value: () => number) =>
    new Gauge({
      name,
      help,
      registers: [metrics.registry],
      collect() {
        this.set(value());
      },
    });
  gauge('staas_query_trend_cache_bytes', 'Bytes held by the cache of sealed trend days', () => cache.bytes);
  gauge('staas_query_trend_cache_days', 'Series-days held by the cache of sealed trend days', () => cache.size);
  gauge('staas_query_trend_cache_serving', '1 while the cache of sealed trend days serves (its late-write polls succeed)', () =>
    cache.serving() ? 1 : 0,
  );
}
