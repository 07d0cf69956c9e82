/**
 * The foundation path against the real broker and the real database: Avro batches produced to
 * Kafka, consumed, decoded, inserted into ClickHouse, selected back exactly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kafka, Producer } from 'kafkajs';
import { batchMessage, elementKey, readBatchMessage } from '../../ingest/kafka/message.ts';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { AvroDecodeError } from '../../schemas/errors.ts';
import type { RecordOf, RecordType } from '../../schemas/records.ts';
import { storeBatch } from '../../ingest/sink/store.ts';
import { alarmEvent, averagePoint, elementRow, trendPoint } from '../support/records.ts';
import {
  consumeMessages,
  createTestDatabase,
  createTestTopics,
  deleteTestTopics,
  queryRows,
  testKafka,
  type ConsumedMessage,
  type TestDatabase,
  int64,
  type Int64Json,
} from '../support/services.ts';

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

/** Batches per element key, as the Writer will send them: each batch holds one element's records. */
function byElement<T extends { dmsId: number; dmaId: number; elementId: number }>(records: T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of records) {
    const k = elementKey(r);
    out.set(k, [...(out.get(k) ?? []), r]);
  }
  return out;
}

describe('Kafka -> ClickHouse round trip (real broker, real database)', () => {
  let kafka: Kafka;
  let producer: Producer;
  let topics: Topics;
  let database: TestDatabase;
  const sent: { [T in RecordType]: RecordOf[T][] } = {
    trend: [
      ...Array.from({ length: 300 }, (_, i) => trendPoint(i)),
      ...Array.from({ length: 40 }, (_, i) => averagePoint(i, i % 2 === 0 ? 5 : 60)),
    ],
    alarm: Array.from({ length: 60 }, (_, i) => alarmEvent(i)),
    element: Array.from({ length: 30 }, (_, i) => elementRow(i)),
  };
  let messages: ConsumedMessage[] = [];
  let messageCount = 0;

  before(async () => {
    kafka = testKafka();
    topics = await createTestTopics(kafka, 3);
    database = await createTestDatabase();
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (const type of ['trend', 'alarm', 'element'] as const) {
      const groups = byElement<RecordOf[typeof type]>(sent[type]);
      // Two messages per key, to check order within a key across messages.
      const batch = [...groups].flatMap(([key, records]) => {
        const half = Math.ceil(records.length / 2);
        return [batchMessage(type, records.slice(0, half), key), batchMessage(type, records.slice(half), key, 'deflate')];
      });
      messageCount += batch.length;
      await producer.send({ topic: topics[type], acks: -1, messages: batch });
    }
    messages = await consumeMessages(kafka, [topics.trend, topics.alarm, topics.element], messageCount);
  });

  after(async () => {
    await producer?.disconnect();
    await deleteTestTopics(kafka, topics);
    await database?.drop();
  });

  it('consumes every batch with its headers, and each element key stays on one partition in order', () => {
    assert.equal(messages.length, messageCount);
    for (const type of ['trend', 'alarm', 'element'] as const) {
      const mine = messages.filter((m) => m.topic === topics[type]);
      const received = new Map<string, unknown[]>();
      const partitionOf = new Map<string, number>();
      for (const m of mine.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset))) {
        const batch = readBatchMessage(m.value, m.headers);
        assert.equal(batch.type, type);
        assert.equal(m.headers?.['staas-type']?.toString(), type);
        assert.equal(Number(m.headers?.['staas-count']?.toString()), batch.records.length);
        const key = m.key!;
        assert.ok(!partitionOf.has(key) || partitionOf.get(key) === m.partition, `key ${key} on two partitions`);
        partitionOf.set(key, m.partition);
        received.set(key, [...(received.get(key) ?? []), ...batch.records]);
      }
      for (const [key, records] of byElement<RecordOf[typeof type]>(sent[type])) {
        assert.deepEqual(plain(received.get(key)), plain(records), `records of ${key} arrive complete and in order`);
      }
      assert.ok(new Set(partitionOf.values()).size > 1, 'keys spread over partitions');
    }
  });

  it('stores what was consumed in ClickHouse and selects it back exactly', async () => {
    for (const m of messages) {
      const batch = readBatchMessage(m.value, m.headers);
      await storeBatch(database.client, database.db, batch.type, batch.records);
    }
    const db = database.db;
    // 64-bit integers come as JSON strings from 18.16 and as numbers since 25.8: compare as numbers.
    const realtime = await queryRows<{ ts: Int64Json; value: number | null; value_discrete: string; idx: string }>(
      database.client,
      `SELECT ts, value, value_discrete, idx FROM ${db}.trend_realtime FINAL ORDER BY ts`,
    );
    const rt = sent.trend.filter((p) => p.windowMinutes === 0).sort((a, b) => a.timestamp - b.timestamp);
    assert.deepEqual(
      realtime.map((r) => ({ ...r, ts: int64(r.ts) })),
      rt.map((p) => ({ ts: p.timestamp, value: p.value, value_discrete: p.discreteValue ?? '', idx: p.index })),
    );

    const avg = await queryRows<{ n: Int64Json; windows: number[]; sum_samples: Int64Json; min_min: number }>(
      database.client,
      `SELECT count() AS n, groupUniqArray(window_minutes) AS windows, sum(samples) AS sum_samples, min(min) AS min_min FROM ${db}.trend_average FINAL`,
    );
    assert.deepEqual(
      { ...avg[0]!, n: int64(avg[0]!.n), sum_samples: int64(avg[0]!.sum_samples) },
      { n: 40, windows: avg[0]!.windows, sum_samples: 40 * 30, min_min: 5 },
    );
    assert.deepEqual(
      [...avg[0]!.windows].sort((a, b) => a - b),
      [5, 60],
    );

    const alarms = await queryRows<{
      alarm_id: Int64Json;
      root_alarm_id: Int64Json;
      severity: number;
      comment: string | null;
      owner: string | null;
    }>(database.client, `SELECT alarm_id, root_alarm_id, severity, comment, owner FROM ${db}.alarm_events FINAL ORDER BY alarm_id`);
    assert.deepEqual(
      alarms.map((a) => ({ ...a, alarm_id: int64(a.alarm_id), root_alarm_id: int64(a.root_alarm_id) })),
      sent.alarm.map((a) => ({
        alarm_id: a.alarmId,
        root_alarm_id: a.rootAlarmId,
        severity: a.severity,
        comment: a.comment,
        owner: a.owner,
      })),
    );

    const rows = await queryRows<{
      primary_key: string;
      cell_ids: number[];
      cell_numbers: (number | null)[];
      cell_texts: (string | null)[];
      version: Int64Json;
    }>(database.client, `SELECT primary_key, cell_ids, cell_numbers, cell_texts, version FROM ${db}.element_rows FINAL ORDER BY version`);
    assert.deepEqual(
      rows.map((r) => ({ ...r, version: int64(r.version) })),
      sent.element.map((e) => ({
        primary_key: e.primaryKey,
        cell_ids: e.columns.map((c) => c.columnId),
        cell_numbers: e.columns.map((c) => (typeof c.value === 'number' ? c.value : null)),
        cell_texts: e.columns.map((c) => (typeof c.value === 'string' ? c.value : null)),
        version: e.version,
      })),
    );
  });

  it('collapses a redelivered batch: storing the same messages again changes no count and no value', async () => {
    const db = database.db;
    const snapshot = async () =>
      queryRows(
        database.client,
        `SELECT 'rt' AS t, count() AS n, sum(value) AS s FROM ${db}.trend_realtime FINAL
         UNION ALL SELECT 'avg' AS t, count() AS n, sum(value) AS s FROM ${db}.trend_average FINAL
         UNION ALL SELECT 'alarm' AS t, count() AS n, toFloat64(sum(severity)) AS s FROM ${db}.alarm_events FINAL
         UNION ALL SELECT 'element' AS t, count() AS n, toFloat64(sum(version)) AS s FROM ${db}.element_rows FINAL`,
      );
    const before = (await snapshot()).sort((a, b) => String(a.t).localeCompare(String(b.t)));
    for (const m of messages.slice(0, Math.ceil(messages.length / 2))) {
      const batch = readBatchMessage(m.value, m.headers);
      await storeBatch(database.client, database.db, batch.type, batch.records);
    }
    const afterRedelivery = (await snapshot()).sort((a, b) => String(a.t).localeCompare(String(b.t)));
    assert.deepEqual(afterRedelivery, before);
    const raw = await queryRows<{ n: Int64Json }>(database.client, `SELECT count() AS n FROM ${db}.alarm_events`);
    assert.ok(Number(raw[0]!.n) >= sent.alarm.length, 'the duplicates are physically there until a merge; FINAL hides them');
  });

  it('hands garbage on the topic to the consumer as a typed decode error, and decodes the messages around it', async () => {
    const good = (i: number) => batchMessage('alarm', [alarmEvent(1000 + i)], 'k');
    await producer.send({
      topic: topics.dlq,
      acks: -1,
      messages: [
        good(0),
        { key: 'k', value: Buffer.from('definitely not avro') },
        { key: 'k', value: good(1).value, headers: { 'staas-type': 'alarm', 'staas-count': '5' } },
        good(2),
      ],
    });
    const got = (await consumeMessages(kafka, [topics.dlq], 4)).sort((a, b) => Number(a.offset) - Number(b.offset));
    const outcome = got.map((m) => {
      try {
        return readBatchMessage(m.value, m.headers).records.length;
      } catch (err) {
        assert.ok(err instanceof AvroDecodeError);
        return err.failure;
      }
    });
    assert.deepEqual(outcome, [1, 'not-avro', 'truncated', 1]);
  });
});
