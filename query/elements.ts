/**
 * Whether an element exists in a DMS: an element any table holds data of. Element routes answer
 * 404 for an element the caller's DMS does not have, so a foreign tenant's element looks the same
 * as one that never existed. Found elements are remembered for a minute (elements are not
 * un-created often, and an element with no rows left answers empty results, not someone
 * else's); misses are never remembered, so a new element is found at once.
 */
import { ident, sql } from '../storage/sql.ts';
import { mayReadElement, type Principal } from './auth/access.ts';
import { notFound } from './http/problem.ts';
import type { ClickHouseReader } from './reader.ts';

const REMEMBER_MS = 60_000;
const MAX_REMEMBERED = 100_000;

export class ElementDirectory {
  private readonly seen = new Map<string, number>();

  constructor(private readonly reader: ClickHouseReader) {}

  /** Throws a 404 HttpProblem unless the caller may read the element and it exists in their DMS. */
  async require(p: Principal, dmaId: number, elementId: number): Promise<void> {
    // The problem is built only when thrown: an Error captures a stack (tens of µs per request).
    if (!mayReadElement(p, dmaId, elementId) || !(await this.exists(p.dmsId, dmaId, elementId)))
      throw notFound(`element ${dmaId}/${elementId} not found`);
  }

  async exists(dmsId: number, dmaId: number, elementId: number): Promise<boolean> {
    const key = `${dmsId}/${dmaId}/${elementId}`;
    const until = this.seen.get(key);
    if (until !== undefined && until > Date.now()) return true;
    const db = ident(this.reader.database);
    const where = sql`dms_id = ${dmsId} AND dma_id = ${dmaId} AND element_id = ${elementId}`;
    // Each branch selects a column, not a constant: through a Distributed table (cluster mode)
    // 18.16 refuses a constant that comes back from the shards as a column (code 171).
    const rows = await this.reader.rows<{ found: number }>(
      sql`SELECT 1 AS found FROM (
        SELECT dms_id AS x FROM (SELECT dms_id FROM ${db}.trend_realtime WHERE ${where} LIMIT 1)
        UNION ALL SELECT dms_id AS x FROM (SELECT dms_id FROM ${db}.trend_average WHERE ${where} LIMIT 1)
        UNION ALL SELECT dms_id AS x FROM (SELECT dms_id FROM ${db}.alarm_events WHERE ${where} LIMIT 1)
        UNION ALL SELECT dms_id AS x FROM (SELECT dms_id FROM ${db}.element_rows WHERE ${where} LIMIT 1)
      ) LIMIT 1`,
      { label: 'element.exists' },
    );
    if (rows.length === 0) return false;
    if (this.seen.size >= MAX_REMEMBERED) this.seen.clear();
    this.seen.set(key, Date.now() + REMEMBER_MS);
    return true;
  }
}
