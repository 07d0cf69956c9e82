/**
 * The Sink against the real broker and database: exact counts for every record type, garbage
 * to the dead-letter topic with its reason while the messages around it are stored, and
 * committed offsets at the end of what was stored.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import avro from 'avsc';
import type { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { batchMessage } from '../../ingest/kafka/message.ts';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { readSinkConfig } from '../../ingest/sink/config.ts';
import { Sink } from '../../ingest/sink/sink.ts';
import { readWriterConfig } from '../../ingest/writer/config.ts';
import { Writer } from '../../ingest/writer/writer.ts';
import { encodeBatch } from '../../schemas/container.ts';
import { alarmEvent, averagePoint, elementRow, trendPoint } from '../support/records.ts';
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
  int64,
  type Int64Json,
} from '../support/services.ts';
import { until } from '../support/wait.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: (m: string) => console.error(m) };
const N = { realtime: 30_000, average: 2000, alarm: 3000, element: 2500 };
const CLEARED = 100;

async function count(database: TestDatabase, table: string, final = true): Promise<number> {
  const [row] = await queryRows<{ n: Int64Json }>(
    database.client,
    `SELECT count() AS n FROM ${database.db}.${table}${final ? ' FINAL' : ''}`,
  );
  return Number(row!.n);
}

describe('Sink (real broker, real database)', () => {
  let kafka: Kafka;
  let topics: Topics;
  let database: TestDatabase;
  let sink: Sink;
  const spoolDir = mkdtempSync(join(tmpdir(), 'staas-sink-test-spool-'));
  const groupId = uniqueName('sink-test');

  before(async () => {
    kafka = testKafka();
    topics = await createTestTopics(kafka, 3);
    database = await createTestDatabase();
    const prefix = topics.trend.replace(/\.trend$/, '');
    const writer = await Writer.create(
      readWriterConfig(process.env, { topicPrefix: prefix, spoolDir, batchRecords: 1000 }),
      connections.kafka,
      {
        registry: new Registry(),
        log: quiet,
      },
    );
    for (let i = 0; i < N.realtime; i++) await writer.trend(trendPoint(i, { elementId: i % 40, timestamp: Date.UTC(2026, 0, 1) + i }));
    for (let i = 0; i < N.average; i++) await writer.trend(averagePoint(i, i % 2 === 0 ? 5 : 60));
    for (let i = 0; i < N.alarm; i++) await writer.alarm(alarmEvent(i));
    // Clear the first CLEARED trees (roots 5000, 5003, ...): a later event id of type Cleared (11).
    for (let k = 0; k < CLEARED; k++)
      await writer.alarm(alarmEvent(3 * k, { alarmId: 10_000_000 + k, previousAlarmId: 5000 + 3 * k + 2, alarmType: 11, severity: 5 }));
    for (let i = 0; i < N.element; i++) await writer.elementRow(elementRow(i));
    await writer.close();

    // Garbage between valid messages on the trend topic, all on partition 0.
    const foreign = avro.Type.forSchema({ type: 'record', name: 'acme.Thing', fields: [{ name: 'x', type: 'int' }] });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: topics.trend,
      acks: -1,
      messages: [
        { partition: 0, ...batchMessage('trend', [trendPoint(0, { elementId: 900, timestamp: Date.UTC(2026, 1, 1) })], 'ok-1') },
        { partition: 0, key: 'junk', value: Buffer.from('random bytes, not avro') },
        { partition: 0, key: 'foreign', value: encodeBatch('trend', [{ x: 1 }] as never, { writerType: foreign }) },
        { partition: 0, ...batchMessage('trend', [trendPoint(1, { value: Number.NaN, timestamp: 5 })], 'out-of-range') },
        { partition: 0, ...batchMessage('trend', [trendPoint(2, { elementId: 901, timestamp: Date.UTC(2026, 1, 2) })], 'ok-2') },
      ],
    });
    await producer.disconnect();

    const conn = { ...connections, clickhouse: { ...connections.clickhouse, database: database.db } };
    sink = await Sink.create(readSinkConfig(process.env, { retentionIntervalMs: 0, topicPrefix: prefix, groupId, batchAgeMs: 200 }), conn, {
      registry: new Registry(),
      log: quiet,
    });
    await sink.start();
  });

  after(async () => {
    await sink?.stop();
    await deleteTestTopics(kafka, topics);
    await database?.drop();
    rmSync(spoolDir, { recursive: true, force: true });
  });

  it('stores N records of each type as exactly N distinct rows', async () => {
    await until(
      'all rows stored',
      async () =>
        (await count(database, 'trend_realtime', false)) >= N.realtime + 2 &&
        (await count(database, 'element_rows', false)) >= N.element &&
        (await count(database, 'alarm_events', false)) >= N.alarm + CLEARED &&
        (await count(database, 'trend_average', false)) >= N.average,
    );
    assert.equal(
      await count(database, 'trend_realtime'),
      N.realtime + 2,
      'real-time points, plus the two valid messages around the garbage',
    );
    assert.equal(await count(database, 'trend_average'), N.average);
    assert.equal(await count(database, 'alarm_events'), N.alarm + CLEARED);
    assert.equal(await count(database, 'element_rows'), N.element);
    assert.equal(await count(database, 'trend_realtime', false), N.realtime + 2, 'no duplicate was even written');
  });

  it('keeps the current alarm view: one row per tree, cleared trees leave the active set', async () => {
    // Aliases differ from column names: 18.16 would resolve `cleared` to the alias inside countIf.
    const [r] = await queryRows<{ n_trees: Int64Json; n_active: Int64Json; n_cleared: Int64Json }>(
      database.client,
      `SELECT count() AS n_trees, countIf(cleared = 0) AS n_active, countIf(cleared = 1) AS n_cleared FROM ${database.db}.alarm_active FINAL`,
    );
    const trees = new Set(
      Array.from({ length: N.alarm }, (_, i) => {
        const a = alarmEvent(i);
        return `${a.dmaId}/${a.elementId}/${a.rootAlarmId}`;
      }),
    ).size;
    assert.deepEqual(
      { n_trees: int64(r!.n_trees), n_active: int64(r!.n_active), n_cleared: int64(r!.n_cleared) },
      { n_trees: trees, n_active: trees - CLEARED, n_cleared: CLEARED },
    );
  });

  it('sends garbage to the DLQ with where it came from and why', async () => {
    const dlq = (await consumeMessages(kafka, [topics.dlq], 3)).map((m) => ({
      reason: m.headers?.['dlq-reason']?.toString(),
      source: `${m.headers?.['dlq-source-topic']?.toString()}[${m.headers?.['dlq-source-partition']?.toString()}]`,
      key: m.key,
      detail: m.headers?.['dlq-detail']?.toString() ?? '',
    }));
    dlq.sort((a, b) => String(a.key).localeCompare(String(b.key)));
    assert.deepEqual(
      dlq.map((d) => [d.key, d.reason, d.source]),
      [
        ['foreign', 'unknown-schema', `${topics.trend}[0]`],
        ['junk', 'not-avro', `${topics.trend}[0]`],
        ['out-of-range', 'invalid-record', `${topics.trend}[0]`],
      ],
    );
    assert.match(dlq[2]!.detail, /timestamp must be epoch milliseconds.*value must be a finite number/);
  });

  it('commits the offsets of everything it stored', async () => {
    await until('offsets committed', () => committedToEnd(kafka, groupId, [topics.trend, topics.alarm, topics.element]), 20_000);
  });
});

describe('Sink DLQ guard (real broker, real database)', () => {
  it('stops loudly instead of dead-lettering a stream of garbage, committing nothing past it', async () => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 1);
    const database = await createTestDatabase();
    const groupId = uniqueName('sink-guard');
    try {
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({
        topic: topics.alarm,
        acks: -1,
        messages: Array.from({ length: 300 }, (_, i) => ({ key: `k${i}`, value: Buffer.from(`garbage ${i}`) })),
      });
      await producer.disconnect();
      const conn = { ...connections, clickhouse: { ...connections.clickhouse, database: database.db } };
      const sink = await Sink.create(
        readSinkConfig(process.env, {
          retentionIntervalMs: 0,
          topicPrefix: topics.trend.replace(/\.trend$/, ''),
          groupId,
          dlqMinInvalid: 50,
          dlqMaxRatio: 0.5,
        }),
        conn,
        { registry: new Registry(), log: quiet },
      );
      await sink.start();
      await assert.rejects(sink.finished, /50 of the last 50 messages were invalid \(limit 50%\)/);
      const dlq = await consumeMessages(kafka, [topics.dlq], 49);
      assert.equal(dlq.length, 49, 'the messages before the limit went to the DLQ');
      const committed = await withAdmin(kafka, (a) => a.fetchOffsets({ groupId, topics: [topics.alarm] }));
      assert.ok(
        Number(committed[0]!.partitions[0]!.offset) <= 49,
        `committed ${committed[0]!.partitions[0]!.offset}: nothing past the guard`,
      );
    } finally {
      await deleteTestTopics(kafka, topics);
      await database.drop();
    }
  });
});
