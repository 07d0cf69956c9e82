/**
 * The naive pipeline a team might write first, end to end on the same broker and server: one JSON
 * Kafka message per point (kafkajs, 1,000 messages per send, acks=all), a consumer group that
 * inserts each consumed batch as JSONEachRow and then commits. Producer and consumer run in this
 * process, at full speed; the figure is points stored per second from the first send to the last
 * row stored, and the CPU-seconds per million points of this process, Kafka and ClickHouse.
 */
import { logLevel } from 'kafkajs';
import type { Connections } from '../../config/connections.ts';
import { createKafka } from '../../ingest/kafka/client.ts';
import { createTopicsWaiting } from '../../ingest/kafka/topics.ts';
import { createClickHouse } from '../../storage/client.ts';
import { cleanUpAtEnd, stopIfInterrupted } from '../interrupt.ts';
import { cpuMs } from '../procs.ts';
import { BASELINE_DB, countRows, freshTable, jsonRow } from './rows.ts';

export interface NaiveResult {
  rows: number;
  pointsPerS: number;
  /** CPU-seconds per million points: this process (producer + consumer), Kafka, ClickHouse, total. */
  cpuSPerMillion: { client: number; kafka: number; clickhouse: number; total: number };
  /** Rows missing in ClickHouse after the run (should be 0). */
  lost: number;
}

export async function naivePipeline(conn: Connections, rows: number, pids: { kafka: number; clickhouse: number }): Promise<NaiveResult> {
  const kafka = createKafka(conn.kafka, { logLevel: logLevel.NOTHING });
  const ch = createClickHouse(conn.clickhouse);
  const topic = `bench-naive-${Date.now().toString(36)}`;
  const admin = kafka.admin();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const consumer = kafka.consumer({ groupId: `${topic}-group` });
  // Ctrl-C ends the process without running `finally`: the topic and the table would stay.
  const end = cleanUpAtEnd(async () => {
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await ch.command({ query: `DROP DATABASE IF EXISTS ${BASELINE_DB}` }).catch(() => undefined);
    await ch.close();
  });
  try {
    await admin.connect();
    await createTopicsWaiting(admin, [{ topic, numPartitions: 4, replicationFactor: 1 }]);
    stopIfInterrupted();
    await freshTable(ch);
    stopIfInterrupted();
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let stored = 0;
    await consumer.run({
      autoCommit: false,
      eachBatch: async (payload) => {
        const { batch } = payload;
        if (batch.messages.length === 0) return;
        const values = batch.messages.map((m) => m.value!.toString()).join('\n');
        await ch.exec({ query: `INSERT INTO ${BASELINE_DB}.trend_realtime FORMAT JSONEachRow\n${values}` });
        stored += batch.messages.length;
        payload.resolveOffset(batch.messages.at(-1)!.offset);
        await payload.commitOffsetsIfNecessary({
          topics: [
            { topic: batch.topic, partitions: [{ partition: batch.partition, offset: String(Number(batch.messages.at(-1)!.offset) + 1) }] },
          ],
        });
      },
    });
    const cpu0 = { client: process.cpuUsage(), kafka: cpuMs(pids.kafka) ?? 0, clickhouse: cpuMs(pids.clickhouse) ?? 0 };
    const started = performance.now();
    for (let i = 0; i < rows; i += 1000) {
      stopIfInterrupted();
      const messages = [];
      for (let j = i; j < Math.min(rows, i + 1000); j++) messages.push({ key: String(j % 1000), value: jsonRow(j) });
      await producer.send({ topic, acks: -1, messages });
    }
    const deadline = Date.now() + 300_000;
    while (stored < rows && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu0.client);
    const perMillion = (ms: number) => Math.round((ms / 1000 / (rows / 1e6)) * 100) / 100;
    const client = perMillion((used.user + used.system) / 1000);
    const k = perMillion((cpuMs(pids.kafka) ?? cpu0.kafka) - cpu0.kafka);
    const c = perMillion((cpuMs(pids.clickhouse) ?? cpu0.clickhouse) - cpu0.clickhouse);
    const inTable = await countRows(ch);
    return {
      rows,
      pointsPerS: Math.round(Math.min(stored, rows) / seconds),
      cpuSPerMillion: { client, kafka: k, clickhouse: c, total: Math.round((client + k + c) * 100) / 100 },
      lost: Math.max(0, rows - inTable),
    };
  } finally {
    await end();
  }
}
