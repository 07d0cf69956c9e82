/** Retention on the real ClickHouse: expired partitions are dropped, the rest is untouched. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { storeBatch } from '../../ingest/sink/store.ts';
import { applyRetention } from '../../storage/retention.ts';
import { alarmEvent, averagePoint, elementRow, trendPoint } from '../support/records.ts';
import { createTestDatabase, queryRows, type Int64Json, type TestDatabase } from '../support/services.ts';

const NOW = Date.UTC(2026, 10, 24, 12, 0);
const DAY = 86_400_000;

describe('retention (real ClickHouse)', () => {
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase();
    const { client, db } = database;
    await storeBatch(client, db, 'trend', [
      trendPoint(1, { timestamp: NOW - 10 * DAY }),
      trendPoint(2, { timestamp: NOW - 3 * DAY }),
      { ...averagePoint(3, 5), timestamp: NOW - 200 * DAY },
      { ...averagePoint(4, 5), timestamp: NOW - 10 * DAY },
      { ...averagePoint(5, 60), timestamp: NOW - 3 * 365 * DAY },
      { ...averagePoint(6, 60), timestamp: NOW - 365 * DAY },
      { ...averagePoint(7, 120), timestamp: NOW - 11 * 365 * DAY },
      { ...averagePoint(8, 120), timestamp: NOW - 5 * 365 * DAY },
    ]);
    await storeBatch(client, db, 'alarm', [
      alarmEvent(1, { timestamp: NOW - 2 * 365 * DAY }),
      alarmEvent(2, { timestamp: NOW - 30 * DAY }),
    ]);
    await storeBatch(client, db, 'element', [elementRow(1, { timestamp: NOW - 20 * 365 * DAY })]);
  });
  after(async () => database?.drop());

  it('drops each data type past its retention and keeps everything younger', async () => {
    const { client, db } = database;
    const dry = await applyRetention(client, db, NOW, { dryRun: true });
    assert.equal(dry.length, 5);
    const dropped = await applyRetention(client, db, NOW);
    assert.deepEqual(dropped.map((p) => p.table).sort(), [
      'alarm_events',
      'trend_average',
      'trend_average',
      'trend_average',
      'trend_realtime',
    ]);
    const left = await queryRows<{ t: string; ts: Int64Json }>(
      client,
      `SELECT 'rt' AS t, ts FROM ${db}.trend_realtime UNION ALL SELECT concat('avg', toString(window_minutes)) AS t, ts FROM ${db}.trend_average
       UNION ALL SELECT 'alarm' AS t, ts FROM ${db}.alarm_events UNION ALL SELECT 'element' AS t, ts FROM ${db}.element_rows`,
    );
    const ages = left.map((r) => `${r.t}:${Math.round((NOW - Number(r.ts)) / DAY)}d`).sort();
    assert.deepEqual(ages, ['alarm:30d', 'avg120:1825d', 'avg5:10d', 'avg60:365d', 'element:7300d', 'rt:3d']);
    assert.deepEqual(await applyRetention(client, db, NOW), [], 'idempotent');
  });
});
