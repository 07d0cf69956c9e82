/** Access to the real Kafka broker and ClickHouse server for integration tests. */
import { randomBytes } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { logLevel, type Admin, type IHeaders, type Kafka } from 'kafkajs';
import { readConnections, type Connections } from '../../config/connections.ts';
import { createKafka } from '../../ingest/kafka/client.ts';
import { readBatchMessage } from '../../ingest/kafka/message.ts';
import { ensureTopics, topicsFor, type Topics } from '../../ingest/kafka/topics.ts';
import { createClickHouse } from '../../storage/client.ts';
import { ensureSchema } from '../../storage/schema.ts';

export const connections: Connections = readConnections();

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export function testKafka(): Kafka {
  return createKafka(connections.kafka, { logLevel: logLevel.NOTHING });
}

export async function withAdmin<T>(kafka: Kafka, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Fresh topics under a unique prefix, so tests never see each other's messages. */
export async function createTestTopics(kafka: Kafka, partitions = 3): Promise<Topics> {
  const topics = topicsFor(uniqueName('test'));
  await withAdmin(kafka, (admin) => ensureTopics(admin, topics, { partitions, replicationFactor: 1 }));
  return topics;
}

export async function deleteTestTopics(kafka: Kafka, topics: Topics): Promise<void> {
  await withAdmin(kafka, (admin) => admin.deleteTopics({ topics: [topics.trend, topics.alarm, topics.element, topics.dlq] })).catch(
    () => undefined,
  );
}

export interface TestDatabase {
  client: ClickHouseClient;
  db: string;
  drop(): Promise<void>;
}

/** A fresh database with the staas tables. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const client = createClickHouse(connections.clickhouse);
  const db = uniqueName('staas_test');
  await ensureSchema(client, db);
  return {
    client,
    db,
    async drop() {
      await client.command({ query: `DROP DATABASE IF EXISTS ${db}` });
      await client.close();
    },
  };
}

/**
 * A UInt64/Int64 value read as JSON: a string from 18.16 and from current servers before 25.8
 * (output_format_json_quote_64bit_integers=1 was the default), a number since 25.8.
 */
export type Int64Json = string | number;

/** A 64-bit integer read as JSON, as a number (exact up to 2^53, enough for ids, times and counts). */
export function int64(v: Int64Json): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`not a safe integer: ${v}`);
  return n;
}

export async function queryRows<T = Record<string, unknown>>(client: ClickHouseClient, query: string): Promise<T[]> {
  const rs = await client.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}

export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: IHeaders | undefined;
}

/** Consumes from the beginning of `topicNames` with a fresh group until `count` messages arrived. */
export async function consumeMessages(kafka: Kafka, topicNames: string[], count: number, timeoutMs = 30_000): Promise<ConsumedMessage[]> {
  const groupId = uniqueName('test-group');
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  await consumer.connect();
  const out: ConsumedMessage[] = [];
  try {
    await consumer.subscribe({ topics: topicNames, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed ${out.length} of ${count} messages in ${timeoutMs} ms`)), timeoutMs);
      consumer
        .run({
          eachMessage: ({ topic, partition, message }) => {
            out.push({
              topic,
              partition,
              offset: message.offset,
              key: message.key?.toString() ?? null,
              value: message.value,
              headers: message.headers,
            });
            if (out.length >= count) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** Every record on a topic, decoded, in partition/offset order. */
export async function readAllRecords<T>(kafka: Kafka, topic: string): Promise<T[]> {
  const offsets = await withAdmin(kafka, (a) => a.fetchTopicOffsets(topic));
  const count = offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  const got = await consumeMessages(kafka, [topic], count, 60_000);
  got.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
  return got.flatMap((m) => readBatchMessage(m.value, m.headers).records as T[]);
}

/** Whether the group's committed offset of every partition of these topics is the partition's end. */
export async function committedToEnd(
  kafka: Kafka,
  groupId: string,
  topicNames: string[],
  /** Only these partitions (all by default). */
  partitions: (partition: number) => boolean = () => true,
): Promise<boolean> {
  return withAdmin(kafka, async (admin) => {
    const committed = await admin.fetchOffsets({ groupId, topics: topicNames });
    for (const name of topicNames) {
      const ends = await admin.fetchTopicOffsets(name);
      const got = committed.find((t) => t.topic === name)?.partitions ?? [];
      for (const end of ends.filter((e) => partitions(e.partition))) {
        // A partition that never held a message has no committed offset (-1): it is at its end.
        const offset = got.find((p) => p.partition === end.partition)?.offset;
        if (offset !== end.high && !(end.high === '0' && offset === '-1')) return false;
      }
    }
    return true;
  });
}
