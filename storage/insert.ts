/** Bulk inserts in RowBinary, the one way rows reach ClickHouse. */
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import { assertIdentifier } from './identifier.ts';
import type { TableName } from './schema.ts';

/**
 * Sends one RowBinary body (`INSERT ... FORMAT RowBinary` through `exec`: the client's own
 * `insert` refuses RowBinary) and waits for the server's answer. One request is one insert
 * block, so a batch is stored whole or not at all.
 */
export async function insertRowBinary(
  client: ClickHouseClient,
  db: string,
  table: TableName,
  columns: readonly string[],
  /** The rows: one buffer, or several sent one after another as one body. */
  body: Buffer | readonly Buffer[],
  opts: { queryId?: string } = {},
): Promise<void> {
  const result = await client.exec({
    query: `INSERT INTO ${assertIdentifier(db)}.${table} (${columns.join(', ')}) FORMAT RowBinary`,
    values: Readable.from(Buffer.isBuffer(body) ? [body] : body),
    ...(opts.queryId === undefined ? {} : { query_id: opts.queryId }),
  });
  result.stream.resume();
  await finished(result.stream);
}
