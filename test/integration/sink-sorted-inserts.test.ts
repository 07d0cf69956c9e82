/**
 * Trend rows reach ClickHouse in its sorting key order (real broker, real database), so the
 * server skips its own sort of each inserted block (MergeTreeDataWriter `isAlreadySorted`,
 * counted as ProfileEvents `MergeTreeDataWriterBlocksAlreadySorted`): the order the Sink makes
 * (ingest/sink/sort-trend-rows.ts) must be exactly the server's, for every key type, or the
 * server quietly sorts again and the saving is lost.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { batchMessage } from '../../ingest/kafka/message.ts';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { readSinkConfig } from '../../ingest/sink/config.ts';
import { averageEncoder, realtimeEncoder } from '../../ingest/sink/encoders.ts';
import { RowChunks } from '../../ingest/sink/row-chunks.ts';
import { Sink } from '../../ingest/sink/sink.ts';
import { sortTrendRows, type TrendLayout } from '../../ingest/sink/sort-trend-rows.ts';
import type { TrendPoint } from '../../schemas/records.ts';
import { insertRowBinary } from '../../storage/insert.ts';
import { RowBinaryWriter } from '../../storage/rowbinary-writer.ts';
import { metricTotal } from '../support/metrics.ts';
import { averagePoint, trendPoint } from '../support/records.ts';
import {
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

const quiet = { info: () => undefined, warn: () => undefined, error: (m: string) => console.error(m) };
const INT32_MAX = 2 ** 31 - 1;
const DAY = Date.UTC(2026, 0, 5);

function body(rows: readonly TrendPoint[], layout: TrendLayout): Buffer {
  const w = new RowBinaryWriter();
  for (const p of rows) (layout === 'realtime' ? realtimeEncoder : averageEncoder).write(w, p);
  return Buffer.from(w.result());
}

/** The server's count of inserted blocks it found already sorted (all queries since it started). */
async function blocksAlreadySorted(database: TestDatabase): Promise<number> {
  const rows = await queryRows<{ value: Int64Json }>(
    database.client,
    "SELECT value FROM system.events WHERE event = 'MergeTreeDataWriterBlocksAlreadySorted'",
  );
  return rows.length === 0 ? 0 : int64(rows[0]!.value);
}

/**
 * Whether the server found the block of insert `queryId` already sorted (its query_log entry, once
 * there: the entry of a finished query may land after its answer, even past SYSTEM FLUSH LOGS).
 */
async function foundSorted(database: TestDatabase, queryId: string): Promise<boolean> {
  let sorted: Int64Json | undefined;
  await until(`the query log entry of ${queryId}`, async () => {
    await database.client.command({ query: 'SYSTEM FLUSH LOGS' });
    const logged = await queryRows<{ sorted: Int64Json }>(
      database.client,
      `SELECT ProfileEvents.Values[indexOf(ProfileEvents.Names, 'MergeTreeDataWriterBlocksAlreadySorted')] AS sorted
       FROM system.query_log WHERE query_id = '${queryId}' AND type = 2`,
    );
    sorted = logged[0]?.sorted;
    return sorted !== undefined;
  });
  return int64(sorted!) === 1;
}

describe('sorted trend inserts (real database)', () => {
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => database?.drop());

  it('the server finds every block the Sink sorted already sorted, for any key values', async () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'B', '/', '0', 'é', '\u{1F600}'), maxLength: 140 });
    const point = (layout: TrendLayout) =>
      fc.record({
        dmsId: fc.constantFrom(0, 3, INT32_MAX),
        dmaId: fc.constantFrom(0, 101, INT32_MAX),
        elementId: fc.constantFrom(0, 7, 70_000, INT32_MAX),
        parameterId: fc.constantFrom(-1, 0, 2, 65_536, INT32_MAX),
        index: fc.oneof(fc.constant(''), text),
        timestamp: fc.integer({ min: 0, max: 86_399 }).map((s) => DAY + s * 1000),
        windowMinutes: layout === 'realtime' ? fc.constant(0) : fc.constantFrom(5, 60, 120),
        value: fc.constant(1.5),
        discreteValue: fc.constant(null),
        min: layout === 'realtime' ? fc.constant(null) : fc.constant(1),
        max: layout === 'realtime' ? fc.constant(null) : fc.constant(2),
        discreteMax: fc.constant(null),
        samples: layout === 'realtime' ? fc.constant(0) : fc.constant(3),
        status: fc.constant(0),
      });
    let run = 0;
    for (const layout of ['realtime', 'average'] as const) {
      const table = layout === 'realtime' ? 'trend_realtime' : 'trend_average';
      const columns = layout === 'realtime' ? realtimeEncoder.columns : averageEncoder.columns;
      await fc.assert(
        fc.asyncProperty(fc.array(point(layout), { minLength: 2, maxLength: 200 }), async (rows) => {
          const sorted = new RowChunks();
          sortTrendRows([body(rows, layout)], layout, sorted);
          const queryId = `sorted-inserts-${process.pid}-${run++}`;
          // One partition per request (trend_average's is (window, month)): one block each.
          const oneWindow = layout === 'average' ? rows.filter((r) => r.windowMinutes === rows[0]!.windowMinutes) : rows;
          const oneSorted = oneWindow === rows ? sorted : new RowChunks();
          if (oneWindow !== rows) sortTrendRows([body(oneWindow, layout)], layout, oneSorted);
          await insertRowBinary(database.client, database.db, table, columns, oneSorted.views(), {
            queryId,
            settings: { log_queries: 1 },
          });
          assert.ok(await foundSorted(database, queryId), `the server sorted ${oneWindow.length} rows again`);
        }),
        { numRuns: 20 },
      );
    }
  });

  it('checks: rows in arrival order are sorted by the server (the counter tells the two apart)', async () => {
    const rows = Array.from({ length: 100 }, (_, i) => trendPoint(i, { elementId: 100 - i, timestamp: DAY + i }));
    const queryId = `unsorted-insert-${process.pid}`;
    await insertRowBinary(database.client, database.db, 'trend_realtime', realtimeEncoder.columns, body(rows, 'realtime'), {
      queryId,
      settings: { log_queries: 1 },
    });
    assert.equal(await foundSorted(database, queryId), false);
  });
});

describe('the Sink sorts the trend rows it inserts (real broker, real database)', () => {
  let kafka: Kafka;
  let topics: Topics;
  let database: TestDatabase;
  let sink: Sink | undefined;

  before(async () => {
    kafka = testKafka();
    topics = await createTestTopics(kafka, 3);
    database = await createTestDatabase();
  });

  after(async () => {
    await sink?.stop();
    await deleteTestTopics(kafka, topics);
    await database?.drop();
  });

  it('stores every point, and ClickHouse sorts none of its trend blocks', async () => {
    // Times of the last minute: a day that ended would add late-write marker inserts, which the
    // server's counter would count too.
    const now = Math.floor(Date.now() / 1000) * 1000 - 60_000;
    // As agents write: time-major (each tick, every element and parameter), several DMSs, some
    // table cells, averages of three windows, and one series whose times go back (a spool
    // replayed after newer points).
    const realtime: TrendPoint[] = [];
    for (let tick = 0; tick < 40; tick++)
      for (let e = 0; e < 25; e++)
        for (let p = 0; p < 4; p++)
          realtime.push(
            trendPoint(0, {
              dmsId: 1 + (e % 3),
              elementId: 1000 - e,
              parameterId: p === 3 ? -1 : 10 + p,
              index: p === 2 ? `row ${e % 5}` : '',
              timestamp: now + tick * 1000 + (e === 7 && tick >= 20 ? -30_000 : 0),
              value: tick,
              discreteValue: null,
            }),
          );
    const averages = Array.from({ length: 300 }, (_, i) => ({
      ...averagePoint(0, [5, 60, 120][i % 3]),
      elementId: 50 - (i % 10),
      timestamp: now - (i % 30) * 1000,
    }));
    const producer = kafka.producer();
    await producer.connect();
    const messages = [];
    for (let m = 0; m < 20; m++) {
      const slice = realtime.slice(m * 200, (m + 1) * 200);
      const dms = slice[0]!.dmsId;
      messages.push(
        batchMessage(
          'trend',
          slice.map((p) => ({ ...p, dmsId: dms })),
          `dms-${dms}`,
        ),
      );
    }
    messages.push(batchMessage('trend', averages, 'dms-7'));
    await producer.send({ topic: topics.trend, acks: -1, messages });
    await producer.disconnect();
    const stored = realtime.length + averages.length;

    const registry = new Registry();
    const conn = { ...connections, clickhouse: { ...connections.clickhouse, database: database.db } };
    const config = readSinkConfig(process.env, {
      retentionIntervalMs: 0,
      topicPrefix: topics.trend.replace(/\.trend$/, ''),
      groupId: uniqueName('sink-sorted'),
      batchAgeMs: 300,
    });
    const before = await blocksAlreadySorted(database);
    sink = await Sink.create(config, conn, { registry, log: quiet });
    await sink.start();
    await until(
      'the sink storing every point',
      async () => (await metricTotal(registry, 'staas_sink_rows_inserted_total')) >= stored,
      60_000,
    );
    const counts = await queryRows<{ n: Int64Json }>(
      database.client,
      `SELECT count() AS n FROM ${database.db}.trend_realtime UNION ALL SELECT count() AS n FROM ${database.db}.trend_average`,
    );
    assert.deepEqual(
      counts.map((r) => int64(r.n)).sort((a, b) => a - b),
      [averages.length, realtime.length].sort((a, b) => a - b),
    );
    // One block per partition of each insert (trend_average's 300 points fall in three (window,
    // month) partitions); every one was found sorted.
    const inserts = (await registry.getSingleMetric('staas_sink_insert_seconds')!.get()).values
      .filter((v) => (v as { metricName?: string }).metricName === 'staas_sink_insert_seconds_count')
      .reduce((n, v) => n + v.value, 0);
    assert.ok(inserts >= 2, `${inserts} inserts`);
    const found = (await blocksAlreadySorted(database)) - before;
    assert.ok(found >= inserts, `${found} blocks found sorted by the server for ${inserts} inserts`);
  });
});
