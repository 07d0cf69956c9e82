/**
 * Sink throughput from a pre-filled topic, against the local broker and ClickHouse:
 *   npx tsx bench/sink.ts [--records 2000000]
 * Fills fresh topics through the Writer, then starts a Sink on them and times until ClickHouse
 * holds every row; reports records/s and the process's peak RSS while sinking.
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
import { readSinkConfig } from '../ingest/sink/config.ts';
import { Sink } from '../ingest/sink/sink.ts';
import { readWriterConfig } from '../ingest/writer/config.ts';
import { Writer } from '../ingest/writer/writer.ts';
import { createClickHouse } from '../storage/client.ts';

const { values } = parseArgs({ options: { records: { type: 'string', default: '2000000' } } });
const N = Number(values.records);
const conn = readConnections();
const prefix = `bench-sink-${Date.now().toString(36)}`;
const db = `bench_sink_${Date.now().toString(36)}`;
const kafka = createKafka(conn.kafka, { logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
await ensureTopics(admin, topicsFor(prefix), { partitions: 4, replicationFactor: 1 });

const spoolDir = mkdtempSync(join(tmpdir(), 'staas-bench-spool-'));
const writer = await Writer.create(readWriterConfig(process.env, { topicPrefix: prefix, spoolDir }), conn.kafka, {
  registry: new Registry(),
  kafka,
});
for (let i = 0; i < N; i++) {
  await writer.trend(benchPoint(i));
}
await writer.close();
rmSync(spoolDir, { recursive: true, force: true });
console.log(`sink benchmark: ${N} trend points pre-filled in ${prefix}.trend (4 partitions); database ${db}`);

const ch = createClickHouse(conn.clickhouse);
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
await sink.start();
for (;;) {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const rs = await ch.query({ query: `SELECT count() AS n FROM ${db}.trend_realtime`, format: 'JSONEachRow' });
  const [row] = await rs.json<{ n: string | number }>();
  if (Number(row!.n) >= N) break;
  await new Promise((r) => setTimeout(r, 100));
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
await sink.stop();
console.log(
  `sink: ${N} rows in ${seconds.toFixed(2)} s = ${Math.round(N / seconds)} rows/s; peak RSS ${(peakRss / 1048576).toFixed(0)} MiB (${((peakRss - baseRss) / 1048576).toFixed(0)} MiB above the start)`,
);
await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
await ch.close();
const t = topicsFor(prefix);
await admin.deleteTopics({ topics: [t.trend, t.alarm, t.element, t.dlq] }).catch(() => undefined);
await admin.disconnect();
