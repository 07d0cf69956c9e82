/** Stores one decoded batch directly (no batching across messages): the smoke test's path. */
import type { ClickHouseClient } from '@clickhouse/client';
import type { RecordType } from '../../schemas/records.ts';
import { insertRowBinary } from '../../storage/insert.ts';
import type { TableName } from '../../storage/schema.ts';
import { encodeForTables } from './encoders.ts';

export async function storeBatch(
  client: ClickHouseClient,
  db: string,
  type: RecordType,
  records: readonly unknown[],
): Promise<TableName[]> {
  const tables: TableName[] = [];
  for (const t of encodeForTables(type, records)) {
    await insertRowBinary(client, db, t.encoder.table, t.encoder.columns, t.body);
    tables.push(t.encoder.table);
  }
  return tables;
}
