/** What every route module receives: settings and the shared read-side services. */
import type { Sql } from '../storage/sql.ts';
import type { TokenStore } from './auth/tokens.ts';
import type { QueryConfig } from './config.ts';
import type { ElementDirectory } from './elements.ts';
import type { QueryMetrics } from './metrics.ts';
import type { ClickHouseReader } from './reader.ts';
import type { TrendDayCache } from './trends/day-cache.ts';
import type { PlanMemory } from './trends/plan-memory.ts';

export interface QueryContext {
  config: QueryConfig;
  /** The staas database as an SQL identifier: `sql\`SELECT … FROM ${ctx.db}.trend_realtime\``. */
  db: Sql;
  reader: ClickHouseReader;
  tokens: TokenStore;
  elements: ElementDirectory;
  metrics: QueryMetrics;
  /** The last plan of each trend graph (early data reads). */
  trendPlans: PlanMemory;
  /** Sealed trend days in memory (trends/day-cache.ts), kept current by trends/late-writes.ts. */
  dayCache: TrendDayCache;
}
