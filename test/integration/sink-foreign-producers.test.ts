/**
 * Messages other producers write, through the real broker and the Sink into ClickHouse:
 * containers written by fastavro in codecs snappy and zstandard (test/fixtures/avro), and a newer
 * writer whose cell-value union gained `long` and `boolean`. Known values are stored; a message
 * holding a value of a branch this reader lacks goes to the DLQ with its reason; every offset is
 * committed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type avro from 'avsc';
import type { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { readSinkConfig } from '../../ingest/sink/config.ts';
import { Sink } from '../../ingest/sink/sink.ts';
import { encodeBatch } from '../../schemas/container.ts';
import { parseWriter } from '../../schemas/evolution.ts';
import { READER_TYPES, type ElementRow } from '../../schemas/records.ts';
import { elementRow } from '../support/records.ts';
import {
  committedToEnd,
  connections,
  consumeMessages,
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

const FIXTURES = new URL('../fixtures/avro/', import.meta.url);
const EXPECTED = JSON.parse(readFileSync(new URL('records.json', FIXTURES), 'utf8')) as {
  trend: { windowMinutes: number; timestamp: number; value: number | null }[];
  alarm: { alarmId: number }[];
  element: { primaryKey: string }[];
};
const quiet = { info: () => undefined, warn: () => undefined, error: (m: string) => console.error(m) };

/** The element-row schema whose Cell.value union gained `long` and `boolean` (wrapped unions: values name their branch). */
function newerElementWriter(): avro.Type {
  const schema = structuredClone(READER_TYPES.element.schema()) as { fields: { name: string; type: unknown }[] };
  const cell = (schema.fields.find((f) => f.name === 'columns')!.type as { items: { fields: { name: string; type: unknown }[] } }).items;
  cell.fields.find((f) => f.name === 'value')!.type = ['null', 'double', 'string', 'long', 'boolean'];
  return parseWriter(schema as avro.Schema);
}

describe('Sink: containers of other producers (real broker, real database)', () => {
  let kafka: Kafka;
  let topics: Topics;
  let database: TestDatabase;
  let sink: Sink;
  const groupId = uniqueName('sink-foreign');

  before(async () => {
    kafka = testKafka();
    topics = await createTestTopics(kafka, 2);
    database = await createTestDatabase();
    sink = await Sink.create(
      readSinkConfig(process.env, { retentionIntervalMs: 0, topicPrefix: topics.trend.replace(/\.trend$/, ''), groupId, batchAgeMs: 100 }),
      { ...connections, clickhouse: { ...connections.clickhouse, database: database.db } },
      { registry: new Registry(), log: quiet },
    );
    await sink.start();
  });

  after(async () => {
    await sink?.stop();
    await database?.drop();
    await deleteTestTopics(kafka, topics);
  });

  it('stores snappy and zstandard containers written by fastavro (no staas headers), every record once', async () => {
    const producer = kafka.producer();
    await producer.connect();
    for (const codec of ['snappy', 'zstandard']) {
      for (const [type, topic] of [
        ['trend', topics.trend],
        ['alarm', topics.alarm],
        ['element', topics.element],
      ] as const) {
        await producer.send({
          topic,
          acks: -1,
          messages: [{ key: `${type}-${codec}`, value: readFileSync(new URL(`${type}-${codec}.avro`, FIXTURES)) }],
        });
      }
    }
    await producer.disconnect();
    await until('every offset committed', () => committedToEnd(kafka, groupId, [topics.trend, topics.alarm, topics.element]), 60_000);
    const db = database.db;
    const [counts] = await queryRows<Record<'rt' | 'avg' | 'alarms' | 'rows' | 'sum_ts', Int64Json>>(
      database.client,
      `SELECT (SELECT count() FROM ${db}.trend_realtime FINAL) AS rt, (SELECT count() FROM ${db}.trend_average FINAL) AS avg,
        (SELECT count() FROM ${db}.alarm_events FINAL) AS alarms, (SELECT count() FROM ${db}.element_rows FINAL) AS rows,
        (SELECT sum(ts) FROM ${db}.trend_realtime FINAL) AS sum_ts`,
    );
    const realtime = EXPECTED.trend.filter((p) => p.windowMinutes === 0);
    assert.deepEqual(
      Object.fromEntries(Object.entries(counts!).map(([k, v]) => [k, int64(v)])),
      {
        rt: realtime.length,
        avg: EXPECTED.trend.length - realtime.length,
        alarms: EXPECTED.alarm.length,
        rows: EXPECTED.element.length,
        sum_ts: realtime.reduce((s, p) => s + p.timestamp, 0),
      },
      'both codecs carried the same records: stored once each',
    );
  });

  it("stores a newer writer's long and double cells and dead-letters the message holding a boolean", async () => {
    const writer = newerElementWriter();
    const wrap = (r: ElementRow, values: unknown[]) => ({ ...r, columns: values.map((value, i) => ({ columnId: 2000 + i, value })) });
    const good = [wrap(elementRow(500, { primaryKey: 'newer-1' }), [{ long: 2 ** 40 }, { double: 1.5 }, { string: 'up' }, null])];
    const bad = [wrap(elementRow(501, { primaryKey: 'newer-2' }), [{ boolean: true }])];
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: topics.element,
      acks: -1,
      messages: [
        { key: 'newer', value: encodeBatch('element', good as never, { writerType: writer }) },
        { key: 'newer', value: encodeBatch('element', bad as never, { writerType: writer }) },
      ],
    });
    await producer.disconnect();
    const [dlq] = await consumeMessages(kafka, [topics.dlq], 1);
    assert.equal(dlq!.headers!['dlq-reason']!.toString(), 'unsupported-branch');
    assert.match(dlq!.headers!['dlq-detail']!.toString(), /record 0: columns\.0\.value holds a boolean/);
    await until('every offset committed', () => committedToEnd(kafka, groupId, [topics.element]), 60_000);
    const rows = await queryRows<{ primary_key: string; cell_numbers: (number | null)[]; cell_texts: (string | null)[] }>(
      database.client,
      `SELECT primary_key, cell_numbers, cell_texts FROM ${database.db}.element_rows FINAL WHERE primary_key LIKE 'newer-%'`,
    );
    assert.deepEqual(rows, [{ primary_key: 'newer-1', cell_numbers: [2 ** 40, 1.5, null, null], cell_texts: [null, null, 'up', null] }]);
  });
});
