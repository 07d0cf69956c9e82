/**
 * Writer throughput against the local broker, for several batch sizes, beside a naive producer
 * (one JSON message per point). Run with the stack up:
 *   npx tsx bench/writer.ts [--records 1000000]
 * Prints records/s and bytes per record (on the wire, Avro batch values) per configuration.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { logLevel } from 'kafkajs';
import { Registry } from 'prom-client';
import { readConnections } from '../config/connections.ts';
import { benchPoint } from './points.ts';
import { createKafka } from '../ingest/kafka/client.ts';
import { ensureTopics, topicsFor } from '../ingest/kafka/topics.ts';
import { readWriterConfig } from '../ingest/writer/config.ts';
import { Writer } from '../ingest/writer/writer.ts';

const { values } = parseArgs({
  options: { records: { type: 'string', default: '1000000' }, 'naive-records': { type: 'string', default: '200000' } },
});
const N = Number(values.records);
const conn = readConnections();
const kafka = createKafka(conn.kafka, { logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();

async function freshPrefix(name: string): Promise<string> {
  const prefix = `bench-${name}-${Date.now().toString(36)}`;
  await ensureTopics(admin, topicsFor(prefix), { partitions: 4, replicationFactor: 1 });
  return prefix;
}

async function dropTopics(prefix: string): Promise<void> {
  const t = topicsFor(prefix);
  await admin.deleteTopics({ topics: [t.trend, t.alarm, t.element, t.dlq] }).catch(() => undefined);
}

async function writerRun(batchRecords: number): Promise<{ rate: number; bytesPerRecord: number; batches: number }> {
  const prefix = await freshPrefix(`w${batchRecords}`);
  const spoolDir = mkdtempSync(join(tmpdir(), 'staas-bench-spool-'));
  const registry = new Registry();
  const writer = await Writer.create(
    readWriterConfig(process.env, {
      topicPrefix: prefix,
      spoolDir,
      batchRecords,
      batchBytes: 8 * 1024 * 1024,
      maxMemoryBytes: 256 * 1024 * 1024,
    }),
    conn.kafka,
    {
      kafka,
      registry,
      log: { info: () => undefined, warn: (m) => console.warn(m) },
    },
  );
  const started = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    await writer.trend(benchPoint(i));
  }
  await writer.flush();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await writer.close();
  const sumOf = async (metric: string, series: string) =>
    (await registry.getSingleMetric(metric)!.get()).values.find((v) => (v as { metricName?: string }).metricName === series)!.value;
  const bytes = await sumOf('staas_writer_batch_bytes', 'staas_writer_batch_bytes_sum');
  const batches = await sumOf('staas_writer_batch_records', 'staas_writer_batch_records_count');
  rmSync(spoolDir, { recursive: true, force: true });
  await dropTopics(prefix);
  return { rate: N / seconds, bytesPerRecord: bytes / N, batches };
}

async function naiveRun(n: number): Promise<{ rate: number; bytesPerRecord: number }> {
  const prefix = await freshPrefix('naive');
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let bytes = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i += 1000) {
    const messages = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      const value = JSON.stringify(benchPoint(j));
      bytes += value.length;
      messages.push({ key: `1:${1 + (j % 4)}/${j % 1000}`, value });
    }
    await producer.send({ topic: topicsFor(prefix).trend, acks: -1, messages });
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await producer.disconnect();
  await dropTopics(prefix);
  return { rate: n / seconds, bytesPerRecord: bytes / n };
}

console.log(`writer benchmark: ${N} trend points per run, broker ${conn.kafka.brokers.join(',')}, node ${process.version}`);
console.log('config                         records/s   bytes/record   batches');
const naive = await naiveRun(Number(values['naive-records']));
console.log(
  `naive (1 JSON msg per point)  ${Math.round(naive.rate).toString().padStart(10)}   ${naive.bytesPerRecord.toFixed(1).padStart(12)}   -`,
);
for (const batchRecords of [100, 1000, 10_000, 50_000]) {
  const r = await writerRun(batchRecords);
  console.log(
    `writer batch ${String(batchRecords).padEnd(6)}            ${Math.round(r.rate).toString().padStart(10)}   ${r.bytesPerRecord.toFixed(1).padStart(12)}   ${r.batches}`,
  );
}
await admin.disconnect();
