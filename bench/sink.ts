/**
 * Sink throughput from a pre-filled topic, against the local broker and ClickHouse:
 *   npx tsx bench/sink.ts [--records 2000000] [--per-message 10000] [--process]
 * Fills fresh topics through the Writer (`--per-message`: points per Kafka message, the Writer's
 * batch records), then starts a Sink on them and times until ClickHouse holds every row; reports
 * records/s, the process's CPU seconds per million points while sinking, and its peak RSS
 * (sampled every 100 ms, and the kernel's high-water mark of the whole run). With `--process`
 * the Sink runs as its own process (ingest/sink/cli.ts, as deployed): its RSS and CPU are then
 * the sink's alone (CPU counted from when it joined the group, so tsx's start-up is left out).
 */
import { spawn } from 'node:child_process';
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
import { readSinkConfig } from '../ingest/sink/config.ts';
import { Sink } from '../ingest/sink/sink.ts';
import { readWriterConfig } from '../ingest/writer/config.ts';
import { Writer } from '../ingest/writer/writer.ts';
import { createClickHouse } from '../storage/client.ts';
import { procUsage } from './procs.ts';
import { serviceArgs, serviceEnv } from '../ops/build.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '2000000' },
    'per-message': { type: 'string', default: '10000' },
    process: { type: 'boolean', default: false },
  },
});
const N = Number(values.records);
const perMessage = Number(values['per-message']);
const conn = readConnections();
const prefix = `bench-sink-${Date.now().toString(36)}`;
const db = `bench_sink_${Date.now().toString(36)}`;
const kafka = createKafka(conn.kafka, { logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
await ensureTopics(admin, topicsFor(prefix), { partitions: 4, replicationFactor: 1 });

const spoolDir = mkdtempSync(join(tmpdir(), 'staas-bench-spool-'));
const writer = await Writer.create(readWriterConfig(process.env, { topicPrefix: prefix, spoolDir, batchRecords: perMessage }), conn.kafka, {
  registry: new Registry(),
  kafka,
});
for (let i = 0; i < N; i++) {
  await writer.trend(benchPoint(i));
}
await writer.close();
rmSync(spoolDir, { recursive: true, force: true });
console.log(`sink benchmark: ${N} trend points (${perMessage} per message) pre-filled in ${prefix}.trend (4 partitions); database ${db}`);
if (global.gc !== undefined) global.gc(); // the writer's garbage is not the sink's

const ch = createClickHouse(conn.clickhouse);

/** Rows stored so far. */
async function stored(): Promise<number> {
  const rs = await ch.query({ query: `SELECT count() AS n FROM ${db}.trend_realtime`, format: 'JSONEachRow' });
  const [row] = await rs.json<{ n: string | number }>();
  return Number(row!.n);
}

if (values.process) {
  const child = spawn(process.execPath, serviceArgs('sink'), {
    env: {
      ...serviceEnv('sink'),
      STAAS_TOPIC_PREFIX: prefix,
      STAAS_SINK_GROUP: `${prefix}-group`,
      STAAS_CLICKHOUSE_DATABASE: db,
      STAAS_SINK_METRICS_PORT: '0',
      STAAS_SINK_RETENTION_INTERVAL_S: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) => child.stdout.on('data', (c: Buffer) => c.toString().includes('consuming as group') && resolve()));
  const started = process.hrtime.bigint();
  const cpuStart = procUsage(child.pid!).cpuSeconds;
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, procUsage(child.pid!).rss)), 100);
  while ((await stored()) < N) await new Promise((r) => setTimeout(r, 100));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const end = procUsage(child.pid!);
  clearInterval(sampler);
  const cpuSeconds = end.cpuSeconds - cpuStart;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  console.log(
    `sink process: ${N} rows in ${seconds.toFixed(2)} s = ${Math.round(N / seconds)} rows/s; CPU ${cpuSeconds.toFixed(2)} s = ${((cpuSeconds * 1e6) / N).toFixed(2)} CPU-s per million points; peak RSS ${(peak / 1048576).toFixed(0)} MiB sampled, high-water mark ${(end.hwm / 1048576).toFixed(0)} MiB`,
  );
} else {
  const baseRss = process.memoryUsage().rss;
  let peakRss = baseRss;
  const sink = await Sink.create(
    readSinkConfig(process.env, { retentionIntervalMs: 0, topicPrefix: prefix, groupId: `${prefix}-group`, metricsPort: 0 }),
    { ...conn, clickhouse: { ...conn.clickhouse, database: db } },
    {
      registry: new Registry(),
      log: { info: () => undefined, warn: (m) => console.warn(m), error: (m) => console.error(m) },
    },
  );
  const started = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  await sink.start();
  for (;;) {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    const rs = await ch.query({ query: `SELECT count() AS n FROM ${db}.trend_realtime`, format: 'JSONEachRow' });
    const [row] = await rs.json<{ n: string | number }>();
    if (Number(row!.n) >= N) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  await sink.stop();
  const hwm = procUsage(process.pid).hwm;
  console.log(
    `sink: ${N} rows in ${seconds.toFixed(2)} s = ${Math.round(N / seconds)} rows/s; CPU ${cpuSeconds.toFixed(2)} s = ${((cpuSeconds * 1e6) / N).toFixed(2)} CPU-s per million points; peak RSS ${(peakRss / 1048576).toFixed(0)} MiB (${((peakRss - baseRss) / 1048576).toFixed(0)} MiB above the start; process high-water mark ${(hwm / 1048576).toFixed(0)} MiB)`,
  );
}
await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
await ch.close();
const t = topicsFor(prefix);
await admin.deleteTopics({ topics: [t.trend, t.alarm, t.element, t.dlq] }).catch(() => undefined);
await admin.disconnect();
