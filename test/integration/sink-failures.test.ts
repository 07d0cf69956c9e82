/**
 * The Sink when things fail, with the real services: ClickHouse stopped for 30 s mid-stream,
 * the sink killed with -9 and restarted, and two sink instances sharing one group.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import type { Connections } from '../../config/connections.ts';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { readSinkConfig } from '../../ingest/sink/config.ts';
import { Sink } from '../../ingest/sink/sink.ts';
import { readWriterConfig } from '../../ingest/writer/config.ts';
import { Writer } from '../../ingest/writer/writer.ts';
import { clickhouseFiles, startClickHouse } from '../../ops/clickhouse.ts';
import { stopService } from '../../ops/process.ts';
import { createClickHouse } from '../../storage/client.ts';
import { ensureSchema } from '../../storage/schema.ts';
import { alarmEvent } from '../support/records.ts';
import {
  connections,
  committedToEnd,
  consumeMessages,
  createTestDatabase,
  createTestTopics,
  deleteTestTopics,
  queryRows,
  testKafka,
  uniqueName,
  withAdmin,
  type TestDatabase,
  type Int64Json,
} from '../support/services.ts';
import { until } from '../support/wait.ts';
import { privateStack, type PrivateStack } from '../support/stack.ts';
import { startSinkProcess, stopSinkProcess } from '../../bench/sink-process.ts';
import { metricTotal } from '../support/metrics.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const BASE = Date.UTC(2026, 3, 1);

/** Writes trend points [from, to) with value = seq through a Writer on `topics`. */
async function writePoints(topics: Topics, from: number, to: number): Promise<void> {
  const spoolDir = mkdtempSync(join(tmpdir(), 'staas-spool-'));
  const writer = await Writer.create(
    readWriterConfig(process.env, { topicPrefix: topics.trend.replace(/\.trend$/, ''), spoolDir, batchRecords: 500 }),
    connections.kafka,
    {
      registry: new Registry(),
      log: quiet,
    },
  );
  for (let i = from; i < to; i++)
    await writer.trend({ dmsId: 4, dmaId: 1, elementId: i % 30, parameterId: 1, timestamp: BASE + i, value: i });
  await writer.close();
  rmSync(spoolDir, { recursive: true, force: true });
}

async function stats(client: ReturnType<typeof createClickHouse>, db: string) {
  const [r] = await queryRows<{ n: Int64Json; raw: Int64Json; total: number }>(
    client,
    `SELECT (SELECT count() FROM ${db}.trend_realtime FINAL) AS n, (SELECT count() FROM ${db}.trend_realtime) AS raw, (SELECT sum(value) FROM ${db}.trend_realtime FINAL) AS total`,
  );
  return { n: Number(r!.n), raw: Number(r!.raw), total: r!.total };
}

const sumTo = (n: number) => (n * (n - 1)) / 2;

describe('Sink under failure (real broker, real database)', () => {
  let kafka: Kafka;
  const cleanup: (() => Promise<void>)[] = [];
  before(() => {
    kafka = testKafka();
  });
  after(async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  it('pauses while ClickHouse is down for 30 s, keeps memory bounded, and stores everything after', async () => {
    const stack: PrivateStack = await privateStack();
    await startClickHouse(stack.cfg);
    cleanup.push(async () => {
      await stopService(clickhouseFiles(stack.cfg), 20_000);
      rmSync(stack.cfg.stateDir, { recursive: true, force: true });
    });
    const topics = await createTestTopics(kafka, 3);
    cleanup.push(() => deleteTestTopics(kafka, topics));
    const conn: Connections = { kafka: connections.kafka, clickhouse: { ...stack.conn.clickhouse, database: 'staas' } };
    const ch = createClickHouse(conn.clickhouse);
    cleanup.push(() => ch.close());
    await ensureSchema(ch, 'staas');
    const sink = await Sink.create(
      readSinkConfig(process.env, {
        retentionIntervalMs: 0,
        topicPrefix: topics.trend.replace(/\.trend$/, ''),
        groupId: uniqueName('sink-ch-down'),
        batchRows: 5000,
        batchAgeMs: 100,
        maxBufferedBytes: 2 * 1024 * 1024,
      }),
      conn,
      { registry: new Registry(), log: quiet },
    );
    await sink.start();
    cleanup.push(() => sink.stop());

    await writePoints(topics, 0, 20_000);
    await until('the first points stored', async () => (await stats(ch, 'staas')).n === 20_000);

    await stopService(clickhouseFiles(stack.cfg), 20_000);
    const downAt = Date.now();
    await writePoints(topics, 20_000, 120_000);
    await until('the partitions paused', () => Promise.resolve(sink.state.paused > 0), 20_000);
    let maxBuffered = 0;
    while (Date.now() - downAt < 30_000) {
      maxBuffered = Math.max(maxBuffered, sink.state.buffered);
      await new Promise((r) => setTimeout(r, 200));
    }
    // The cap (2 MiB) is checked before each message: at most one message's rows and chunk past it.
    assert.ok(maxBuffered <= 3 * 1024 * 1024, `buffered ${maxBuffered} bytes while ClickHouse was down`);
    assert.ok(maxBuffered > 0, 'the batches that could not be stored are counted');
    await startClickHouse(stack.cfg);
    await until('everything stored', async () => (await stats(ch, 'staas')).n === 120_000);
    const s = await stats(ch, 'staas');
    assert.equal(s.total, sumTo(120_000), 'every value once');
    assert.equal(sink.state.paused, 0, 'resumed');
  });

  it('loses nothing and shows no duplicate when killed with -9 mid-stream and restarted', async () => {
    const topics = await createTestTopics(kafka, 3);
    cleanup.push(() => deleteTestTopics(kafka, topics));
    const database: TestDatabase = await createTestDatabase();
    cleanup.push(() => database.drop());
    const env = {
      STAAS_TOPIC_PREFIX: topics.trend.replace(/\.trend$/, ''),
      STAAS_SINK_GROUP: uniqueName('sink-killed'),
      STAAS_CLICKHOUSE_DATABASE: database.db,
      STAAS_SINK_METRICS_PORT: '0',
      STAAS_SINK_BATCH_ROWS: '2000',
      STAAS_SINK_COMMIT_INTERVAL_MS: '700',
      STAAS_SINK_RETENTION_INTERVAL_S: '0', // the test data is older than the real-time retention
    };
    const N = 200_000;
    await writePoints(topics, 0, N);
    const run = () => startSinkProcess(env);

    const first = run();
    await until('part of the stream stored', async () => (await stats(database.client, database.db)).raw > N / 4);
    first.child.kill('SIGKILL');
    await first.exited;
    const mid = await stats(database.client, database.db);
    assert.ok(mid.raw < N, 'killed mid-stream');

    const second = run();
    cleanup.push(() => stopSinkProcess(second));
    await until('everything stored', async () => (await stats(database.client, database.db)).n === N);
    const s = await stats(database.client, database.db);
    assert.equal(s.n, N, 'no record lost, none shown twice');
    assert.equal(s.total, sumTo(N), 'sums unchanged by the redelivery');
  });

  it('shares the partitions between two sinks in one group and survives members joining and leaving mid-stream', async () => {
    const topics = await createTestTopics(kafka, 4);
    cleanup.push(() => deleteTestTopics(kafka, topics));
    const database = await createTestDatabase();
    cleanup.push(() => database.drop());
    const conn = { ...connections, clickhouse: { ...connections.clickhouse, database: database.db } };
    const groupId = uniqueName('sink-pair');
    const registries = [new Registry(), new Registry()];
    const [a, b] = await Promise.all(
      registries.map((registry) =>
        Sink.create(
          readSinkConfig(process.env, {
            retentionIntervalMs: 0,
            topicPrefix: topics.trend.replace(/\.trend$/, ''),
            groupId,
            batchAgeMs: 100,
            batchRows: 5000,
          }),
          conn,
          {
            registry,
            log: quiet,
          },
        ),
      ),
    );
    cleanup.push(
      () => a!.stop(),
      () => b!.stop(),
    );
    const N = 150_000;
    await a!.start();
    // Ten slices over several seconds, so that data keeps flowing while members join and leave.
    const writing = (async () => {
      for (let k = 0; k < 10; k++) {
        await writePoints(topics, (k * N) / 10, ((k + 1) * N) / 10);
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    await until('a first part stored', async () => (await stats(database.client, database.db)).raw > N / 5);
    await b!.start(); // rebalance while data flows
    await until('more stored by both', async () => (await stats(database.client, database.db)).raw > N / 2);
    await a!.stop(); // and another: b takes over a's partitions from their committed offsets
    await writing;
    await until('everything stored', async () => (await stats(database.client, database.db)).n === N);
    assert.equal((await stats(database.client, database.db)).total, sumTo(N), 'every value once');
    const consumed = await Promise.all(registries.map((r) => metricTotal(r, 'staas_sink_messages_total')));
    assert.ok(
      consumed.every((n) => n > 0),
      `both sinks consumed: ${consumed.join(', ')}`,
    );
  });

  it('dead-letters the messages of a batch ClickHouse rejects as bad data, and keeps storing the rest', async () => {
    const topics = await createTestTopics(kafka, 2);
    cleanup.push(() => deleteTestTopics(kafka, topics));
    const database = await createTestDatabase();
    cleanup.push(() => database.drop());
    // A column the sink's rows no longer fit: every real-time insert fails with "Cannot read all data".
    await database.client.command({ query: `ALTER TABLE ${database.db}.trend_realtime MODIFY COLUMN status UInt64` });
    const conn = { ...connections, clickhouse: { ...connections.clickhouse, database: database.db } };
    const groupId = uniqueName('sink-rejected');
    const sink = await Sink.create(
      readSinkConfig(process.env, {
        retentionIntervalMs: 0,
        topicPrefix: topics.trend.replace(/\.trend$/, ''),
        groupId,
        batchAgeMs: 100,
        dlqMinInvalid: 1000,
      }),
      conn,
      { registry: new Registry(), log: quiet },
    );
    await sink.start();
    cleanup.push(() => sink.stop());
    await writePoints(topics, 0, 2000);
    const spoolDir = mkdtempSync(join(tmpdir(), 'staas-spool-'));
    const writer = await Writer.create(
      readWriterConfig(process.env, { topicPrefix: topics.trend.replace(/\.trend$/, ''), spoolDir }),
      connections.kafka,
      { registry: new Registry(), log: quiet },
    );
    for (let i = 0; i < 50; i++) await writer.alarm(alarmEvent(i));
    await writer.close();
    rmSync(spoolDir, { recursive: true, force: true });

    const trendMessages = await withAdmin(kafka, async (a) =>
      (await a.fetchTopicOffsets(topics.trend)).reduce((n, p) => n + Number(p.high), 0),
    );
    const dlq = await consumeMessages(kafka, [topics.dlq], trendMessages);
    assert.ok(
      dlq.every(
        (m) => m.headers?.['dlq-reason']?.toString() === 'insert-rejected' && m.headers['dlq-source-topic']?.toString() === topics.trend,
      ),
    );
    assert.match(dlq[0]!.headers!['dlq-detail']!.toString(), /Code: 33/);
    await until(
      'the alarms stored',
      async () =>
        Number((await queryRows<{ n: Int64Json }>(database.client, `SELECT count() AS n FROM ${database.db}.alarm_events FINAL`))[0]!.n) ===
        50,
    );
    await until('every offset committed', () => committedToEnd(kafka, groupId, [topics.trend, topics.alarm]));
  });
});
