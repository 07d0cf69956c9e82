/**
 * Retention against a ClickHouse 18.16 server whose time zone is America/Chicago (a private
 * server: the shared one runs in UTC). New tables are partitioned in UTC whatever the server's
 * zone; a table an earlier staas created there is partitioned in Chicago days, and retention
 * computes those days' ends in Chicago. Either way a 166-hour-old row survives 7-day retention.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { ClickHouseClient } from '@clickhouse/client';
import { storeBatch } from '../../ingest/sink/store.ts';
import { clickhouseFiles, startClickHouse } from '../../ops/clickhouse.ts';
import { stopService } from '../../ops/process.ts';
import { createClickHouse } from '../../storage/client.ts';
import { applyRetention, partitionZones } from '../../storage/retention.ts';
import { ensureSchema } from '../../storage/schema.ts';
import { trendPoint } from '../support/records.ts';
import { queryRows } from '../support/services.ts';
import { privateStack, type PrivateStack } from '../support/stack.ts';

const HOUR = 3_600_000;
// Local 2026-11-17 23:00 in Chicago (CST, UTC-6): UTC day 11-18, Chicago day 11-17.
const ROW = Date.UTC(2026, 10, 18, 5);
const NOW = ROW + 166 * HOUR;

/** trend_realtime as staas created it before partitions were cut in UTC. */
const LEGACY_REALTIME = (db: string) => `CREATE TABLE ${db}.trend_realtime (
  dms_id Int32, dma_id Int32, element_id Int32, parameter_id Int32, idx String,
  ts UInt64, value Nullable(Float64), value_discrete String, status Int16
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(toDateTime(intDiv(ts, 1000)))
ORDER BY (dms_id, dma_id, element_id, parameter_id, idx, ts)`;

describe('retention on a server in America/Chicago (private ClickHouse 18.16)', () => {
  let stack: PrivateStack;
  let client: ClickHouseClient;

  before(async () => {
    stack = await privateStack({ STAAS_CLICKHOUSE_TIMEZONE: 'America/Chicago' });
    await startClickHouse(stack.cfg);
    client = createClickHouse(stack.conn.clickhouse);
  });

  after(async () => {
    await client?.close();
    if (stack !== undefined) {
      await stopService(clickhouseFiles(stack.cfg), 20_000);
      rmSync(stack.cfg.stateDir, { recursive: true, force: true });
    }
  });

  const rowsLeft = async (db: string) =>
    (await queryRows<{ ts: string | number }>(client, `SELECT ts FROM ${db}.trend_realtime ORDER BY ts`)).map((r) => Number(r.ts));
  const partitions = async (db: string) =>
    (
      await queryRows<{ partition: string }>(
        client,
        `SELECT DISTINCT partition FROM system.parts WHERE active AND database = '${db}' AND table = 'trend_realtime'`,
      )
    )
      .map((r) => r.partition)
      .sort();

  it('runs in Chicago time', async () => {
    const [row] = await queryRows<{ tz: string }>(client, 'SELECT timezone() AS tz');
    assert.equal(row!.tz, 'America/Chicago');
  });

  it('partitions new tables by UTC day and keeps the 166-hour-old row', async () => {
    await ensureSchema(client, 'staas');
    const old = ROW - 2 * 24 * HOUR; // 214 hours old: its UTC day ended more than 7 days ago
    await storeBatch(client, 'staas', 'trend', [trendPoint(1, { timestamp: ROW }), trendPoint(2, { timestamp: old })]);
    assert.deepEqual(await partitions('staas'), ['20261116', '20261118']);
    assert.deepEqual(await partitionZones(client, 'staas'), {
      trend_realtime: 'UTC',
      trend_average: 'UTC',
      alarm_events: 'UTC',
      trend_late_writes: 'America/Chicago', // by the server's date of written_at
    });
    const dropped = await applyRetention(client, 'staas', NOW);
    assert.deepEqual(
      dropped.map((p) => p.partition),
      ['20261116'],
    );
    assert.deepEqual(await rowsLeft('staas'), [ROW]);
  });

  it("computes the ends of an older table's Chicago days in Chicago, and keeps the row", async () => {
    await client.command({ query: 'CREATE DATABASE legacy' });
    await client.command({ query: LEGACY_REALTIME('legacy') });
    await ensureSchema(client, 'legacy'); // idempotent: keeps the existing table and its key
    const [key] = await queryRows<{ k: string }>(
      client,
      "SELECT partition_key AS k FROM system.tables WHERE database = 'legacy' AND name = 'trend_realtime'",
    );
    assert.doesNotMatch(key!.k, /UTC/);
    const old = ROW - 2 * 24 * HOUR;
    await storeBatch(client, 'legacy', 'trend', [trendPoint(1, { timestamp: ROW }), trendPoint(2, { timestamp: old })]);
    assert.deepEqual(await partitions('legacy'), ['20261115', '20261117'], 'Chicago days');
    assert.equal((await partitionZones(client, 'legacy')).trend_realtime, 'America/Chicago');
    const dropped = await applyRetention(client, 'legacy', NOW);
    assert.deepEqual(
      dropped.map((p) => p.partition),
      ['20261115'],
    );
    assert.deepEqual(await rowsLeft('legacy'), [ROW]);
    // 7 days after the Chicago day ended (11-18 06:00 UTC), it goes.
    assert.deepEqual(
      (await applyRetention(client, 'legacy', Date.UTC(2026, 10, 25, 6))).map((p) => p.partition),
      ['20261117'],
    );
  });
});
