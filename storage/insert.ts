/** Inserts rows into one table. */
import type { ClickHouseClient } from '@clickhouse/client';
import { assertIdentifier } from './identifier.ts';
import type { Row } from './rows.ts';
import type { TableName } from './schema.ts';

/**
 * JSONEachRow: the simple path (the client's default JSONCompactEachRow does not exist on 18.16).
 * Non-finite doubles do not survive JSON; the sink's bulk path uses RowBinary instead.
 */
export async function insertRows(client: ClickHouseClient, db: string, table: TableName, rows: Row[]): Promise<void> {
  if (rows.length === 0) return;
  await client.insert({ table: `${assertIdentifier(db)}.${table}`, values: rows, format: 'JSONEachRow' });
}
