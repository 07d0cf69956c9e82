/**
 * Late-write markers (trend_late_writes) against the real broker and database: trend points of
 * UTC days that ended long ago, written through the Writer and stored by the Sink, leave markers
 * naming their DMS and days (counted by the sink's metric); points of today leave none; and
 * retention that drops an old trend partition leaves a marker of every DMS over its days, and
 * drops markers older than 2 days.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { readSinkConfig } from '../../ingest/sink/config.ts';
import { Sink } from '../../ingest/sink/sink.ts';
import { storeBatch } from '../../ingest/sink/store.ts';
import { readWriterConfig } from '../../ingest/writer/config.ts';
import { Writer } from '../../ingest/writer/writer.ts';
import type { TrendPoint } from '../../schemas/records.ts';
import { DAY_MS } from '../../storage/late-writes.ts';
import { applyRetention } from '../../storage/retention.ts';
import { averagePoint, trendPoint } from '../support/records.ts';
import {
  committedToEnd,
  connections,
  createTestDatabase,
  createTestTopics,
  deleteTestTopics,
  int64,
  queryRows,
  testKafka,
  uniqueName,
  type Int64Json,
  type TestDatabase,
} from '../support/services.ts';
import { until } from '../support/wait.ts';
import { metricTotal } from '../support/metrics.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: (m: string) => console.error(m) };
const TODAY = Math.floor(Date.now() / DAY_MS);
/** A time of the UTC day `daysAgo` days before today, at `hour`:00 UTC. */
const dayAt = (daysAgo: number, hour = 12) => (TODAY - daysAgo) * DAY_MS + hour * 3_600_000;

interface Marker {
  dmsId: number;
  firstDay: number;
  lastDay: number;
  markerId: string;
  writtenAt: number;
}

async function markers(database: TestDatabase): Promise<Marker[]> {
  const rows = await queryRows<{ dms_id: number; first_day: number; last_day: number; marker_id: string; written_at: Int64Json }>(
    database.client,
    `SELECT dms_id, first_day, last_day, marker_id, toUInt64(written_at) AS written_at FROM ${database.db}.trend_late_writes ORDER BY written_at, dms_id, first_day`,
  );
  return rows.map((r) => ({
    dmsId: r.dms_id,
    firstDay: r.first_day,
    lastDay: r.last_day,
    markerId: r.marker_id,
    writtenAt: int64(r.written_at) * 1000,
  }));
}

const covers = (ms: readonly Marker[], dmsId: number, day: number) =>
  ms.some((m) => m.dmsId === dmsId && m.firstDay <= day && day <= m.lastDay);

describe('late-write markers (real broker, real database)', () => {
  let kafka: Kafka;
  let topics: Topics;
  let database: TestDatabase;
  let sink: Sink;
  let writer: Writer;
  const registry = new Registry();
  const spoolDir = mkdtempSync(join(tmpdir(), 'staas-late-writes-spool-'));
  const groupId = uniqueName('late-writes-test');

  before(async () => {
    kafka = testKafka();
    topics = await createTestTopics(kafka, 3);
    database = await createTestDatabase();
    const prefix = topics.trend.replace(/\.trend$/, '');
    writer = await Writer.create(readWriterConfig(process.env, { topicPrefix: prefix, spoolDir, batchRecords: 500 }), connections.kafka, {
      registry: new Registry(),
      log: quiet,
    });
    const conn = { ...connections, clickhouse: { ...connections.clickhouse, database: database.db } };
    sink = await Sink.create(readSinkConfig(process.env, { retentionIntervalMs: 0, topicPrefix: prefix, groupId, batchAgeMs: 200 }), conn, {
      registry,
      log: quiet,
    });
    void sink.start();
  });

  after(async () => {
    await writer?.close();
    await sink?.stop();
    await deleteTestTopics(kafka, topics);
    await database?.drop();
    rmSync(spoolDir, { recursive: true, force: true });
  });

  /** Writes `points` through the Writer and waits until the sink stored and committed them. */
  async function writeAndStore(points: TrendPoint[]): Promise<void> {
    for (const p of points) await writer.trend(p);
    await writer.flush();
    await until('the sink committed everything', () => committedToEnd(kafka, groupId, [topics.trend]), 60_000);
  }

  const markerMetric = () => metricTotal(registry, 'staas_sink_late_write_markers_total');

  it("leaves no marker for points of today's UTC day", async () => {
    // Now and the last minutes: today's day, whatever the hour (never before today's midnight).
    const now = Date.now();
    const points = Array.from({ length: 300 }, (_, i) =>
      trendPoint(i, { dmsId: 31, elementId: i % 7, timestamp: Math.max(TODAY * DAY_MS, now - i * 1000) }),
    );
    await writeAndStore(points);
    const [stored] = await queryRows<{ n: Int64Json }>(database.client, `SELECT count() AS n FROM ${database.db}.trend_realtime`);
    assert.equal(int64(stored!.n), 300);
    assert.deepEqual(await markers(database), []);
    assert.equal(await markerMetric(), 0);
  });

  it('marks the DMS and UTC days of points of days that ended long ago, once their rows are stored', async () => {
    const started = Math.floor(Date.now() / 1000) * 1000;
    const points = [
      ...Array.from({ length: 200 }, (_, i) => trendPoint(i, { dmsId: 32, elementId: i % 5, timestamp: dayAt(5) + i * 1000 })),
      ...Array.from({ length: 200 }, (_, i) => trendPoint(i, { dmsId: 32, elementId: i % 5, timestamp: dayAt(3, 23) + i })),
      ...Array.from({ length: 50 }, (_, i) => ({ ...averagePoint(i, 60), dmsId: 33, elementId: i % 3, timestamp: dayAt(40) + i * 60_000 })),
    ];
    await writeAndStore(points);
    const got = await markers(database);
    // Every (DMS, day) written is covered by a marker of that DMS (the points name their DMS: never -1).
    for (const day of [TODAY - 5, TODAY - 3]) assert.ok(covers(got, 32, day), `DMS 32, day ${day}: ${JSON.stringify(got)}`);
    assert.ok(covers(got, 33, TODAY - 40), `DMS 33, day ${TODAY - 40}: ${JSON.stringify(got)}`);
    for (const m of got) {
      assert.ok([32, 33].includes(m.dmsId), `only the DMSs written: ${JSON.stringify(m)}`);
      assert.ok(m.firstDay >= TODAY - 40 && m.lastDay <= TODAY - 3, `only the days written: ${JSON.stringify(m)}`);
      assert.match(m.markerId, /^[0-9a-f-]{36}$/);
      assert.ok(m.writtenAt >= started - 1000 && m.writtenAt <= Date.now() + 1000, 'written_at: the server clock at the insert');
    }
    assert.equal(new Set(got.map((m) => m.markerId)).size, got.length, 'every marker its own id');
    assert.equal(await markerMetric(), got.length, 'the metric counts the marker rows');
    // And the rows they mark are there.
    const [rows] = await queryRows<{ rt: Int64Json; avg: Int64Json }>(
      database.client,
      `SELECT (SELECT count() FROM ${database.db}.trend_realtime WHERE dms_id = 32) AS rt, (SELECT count() FROM ${database.db}.trend_average WHERE dms_id = 33) AS avg`,
    );
    assert.deepEqual([int64(rows!.rt), int64(rows!.avg)], [400, 50]);
  });
});

describe('late-write markers of retention (real database)', () => {
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => database?.drop());

  it('marks every DMS over the days of each trend partition it drops, and drops markers older than 2 days', async () => {
    const { client, db } = database;
    await storeBatch(client, db, 'trend', [
      trendPoint(1, { dmsId: 41, timestamp: dayAt(30) }), // past 7 days: dropped
      trendPoint(2, { dmsId: 41, timestamp: dayAt(1) }), // kept
      { ...averagePoint(3, 5), dmsId: 42, timestamp: Date.UTC(2026, 1, 10) }, // 5-minute averages of 2026-02: past 92 days
    ]);
    // A marker of 5 days ago (its partition expired) and one of yesterday (kept).
    const oldAt = Math.floor((Date.now() - 5 * DAY_MS) / 1000);
    const recentAt = Math.floor((Date.now() - DAY_MS) / 1000);
    await client.command({
      query: `INSERT INTO ${db}.trend_late_writes (dms_id, first_day, last_day, marker_id, written_at) VALUES (1, 1, 1, 'old', ${oldAt}), (2, 2, 2, 'recent', ${recentAt})`,
    });
    const started = Math.floor(Date.now() / 1000) * 1000;
    const dropped = await applyRetention(client, db);
    assert.deepEqual(dropped.map((p) => `${p.table}:${p.partition.replace(/'/g, '')}`).sort(), [
      `trend_average:(5,202602)`,
      `trend_late_writes:${new Date(oldAt * 1000).toISOString().slice(0, 10)}`,
      `trend_realtime:${new Date(dayAt(30)).toISOString().slice(0, 10).replaceAll('-', '')}`,
    ]);
    const got = (await markers(database)).filter((m) => m.writtenAt >= started - 1000);
    const feb = { first: Date.UTC(2026, 1, 1) / DAY_MS, last: Date.UTC(2026, 1, 28) / DAY_MS };
    // Written before the drops and again after them: two of each, every DMS.
    assert.deepEqual(
      got.map(({ dmsId, firstDay, lastDay }) => ({ dmsId, firstDay, lastDay })).sort((a, b) => a.firstDay - b.firstDay),
      [
        { dmsId: -1, firstDay: feb.first - 1, lastDay: feb.last + 1 },
        { dmsId: -1, firstDay: feb.first - 1, lastDay: feb.last + 1 },
        { dmsId: -1, firstDay: TODAY - 31, lastDay: TODAY - 29 },
        { dmsId: -1, firstDay: TODAY - 31, lastDay: TODAY - 29 },
      ],
    );
    assert.deepEqual(
      (await markers(database)).filter((m) => m.writtenAt < started - 1000).map((m) => m.markerId),
      ['recent'],
      'the 5-day-old marker dropped, yesterday’s kept',
    );
    assert.deepEqual(await applyRetention(client, db), [], 'nothing more to drop: no more markers');
    assert.equal((await markers(database)).length, 5);
  });
});
