/**
 * Inserts spanning more partitions than one insert may touch on current ClickHouse (100) are
 * split into several inserts of whole partitions; on the real server every row arrives, and the
 * partitions the server cut are the ones storage/partitions.ts computes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { averageEncoder, encodeForTables, realtimeEncoder } from '../../ingest/sink/encoders.ts';
import { storeBatch } from '../../ingest/sink/store.ts';
import { insertBodies, rowPartitions } from '../../storage/partitions.ts';
import { averagePoint, trendPoint } from '../support/records.ts';
import { createTestDatabase, queryRows, type TestDatabase } from '../support/services.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

describe('inserts split by partition (real ClickHouse)', () => {
  let database: TestDatabase;
  before(async () => (database = await createTestDatabase()));
  after(async () => database?.drop());

  it('stores a 250-day real-time batch and a 30-month average batch whole, partitioned as computed', async () => {
    const { client, db } = database;
    const points = [];
    for (let i = 0; i < 1000; i++) points.push(trendPoint(i, { timestamp: T0 + (i % 250) * DAY + i * 1000 - 3600_000 }));
    for (let i = 0; i < 300; i++) points.push({ ...averagePoint(i, i % 2 === 0 ? 5 : 60), timestamp: T0 + (i % 30) * 31 * DAY });
    const tables = encodeForTables('trend', points);
    const rt = tables.find((t) => t.encoder === realtimeEncoder)!;
    const avg = tables.find((t) => t.encoder === averageEncoder)!;
    assert.equal(insertBodies('trend_realtime', rt.encoder.columns, rt.body).length, 5, '250 days -> 5 inserts');

    await storeBatch(client, db, 'trend', points);

    const [counts] = await queryRows<{ rt: string | number; avg: string | number }>(
      client,
      `SELECT (SELECT count() FROM ${db}.trend_realtime) AS rt, (SELECT count() FROM ${db}.trend_average) AS avg`,
    );
    assert.equal(Number(counts!.rt), 1000);
    assert.equal(Number(counts!.avg), 300);
    const serverParts = async (table: string) =>
      (
        await queryRows<{ partition: string }>(
          client,
          `SELECT DISTINCT partition FROM system.parts WHERE active AND database = '${db}' AND table = '${table}'`,
        )
      )
        .map((r) => r.partition)
        .sort();
    const computed = (table: 'trend_realtime' | 'trend_average', body: Buffer, columns: readonly string[]) =>
      [...new Set(rowPartitions(table, columns, body).map((r) => r.partition))].sort();
    assert.deepEqual(await serverParts('trend_realtime'), computed('trend_realtime', rt.body, rt.encoder.columns));
    assert.equal((await serverParts('trend_realtime')).length, 250);
    assert.deepEqual(await serverParts('trend_average'), computed('trend_average', avg.body, avg.encoder.columns));
  });
});
