/** Bulk inserts in RowBinary, the one way rows reach ClickHouse. */
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import { assertIdentifier } from './identifier.ts';
import { insertBodies } from './partitions.ts';
import type { TableName } from './schema.ts';

/**
 * Sends one RowBinary body (`INSERT ... FORMAT RowBinary` through `exec`: the client's own
 * `insert` refuses RowBinary) and waits for the server's answer. A body whose rows span more
 * than MAX_PARTITIONS_PER_INSERT partitions is sent as several inserts of whole partitions
 * (storage/partitions.ts: current servers refuse more than 100 per insert), one after the other.
 * Each request is stored whole or not at all; when a later one fails, the earlier ones stay
 * stored, and the caller's retry of the whole body stores them again, which the
 * ReplacingMergeTree tables collapse (alarm_active too, by version).
 */
export async function insertRowBinary(
  client: ClickHouseClient,
  db: string,
  table: TableName,
  columns: readonly string[],
  body: Buffer,
  opts: { queryId?: string } = {},
): Promise<void> {
  let bodies: Buffer[];
  try {
    bodies = insertBodies(table, columns, body);
  } catch {
    // Not whole rows of these columns: send it as it is and let the server name the problem
    // (a data error), rather than failing here in a way the caller would retry.
    bodies = [body];
  }
  for (let i = 0; i < bodies.length; i++) {
    const queryId = opts.queryId === undefined ? undefined : bodies.length === 1 ? opts.queryId : `${opts.queryId}-${i + 1}`;
    const result = await client.exec({
      query: `INSERT INTO ${assertIdentifier(db)}.${table} (${columns.join(', ')}) FORMAT RowBinary`,
      values: Readable.from([bodies[i]!]),
      ...(queryId === undefined ? {} : { query_id: queryId }),
    });
    result.stream.resume();
    await finished(result.stream);
  }
}
