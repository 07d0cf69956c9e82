/**
 * The Sink keeping up with a live fleet, as its own process:
 *   npx tsx bench/sink-keepup.ts [rate]   (records/s, default 50000; 30 s)
 * Creates fresh topics, starts the Sink on them (ingest/sink/cli.ts), runs the fleet simulator
 * (ingest/writer/cli.ts) at `rate` for 30 s, and reports the sink's RSS idle, its peak while
 * keeping up, and the rows stored; then drops the scratch database and deletes the topics.
 */
import { spawn } from 'node:child_process';
import { logLevel } from 'kafkajs';
import { readConnections } from '../config/connections.ts';
import { createKafka } from '../ingest/kafka/client.ts';
import { ensureTopics, topicsFor } from '../ingest/kafka/topics.ts';
import { createClickHouse } from '../storage/client.ts';
import { procUsage } from './procs.ts';
import { serviceArgs, serviceEnv } from '../ops/build.ts';
const rate = process.argv[2] ?? '50000';
const prefix = `keepup-${Date.now().toString(36)}`;
const db = prefix.replace('-', '_');
const conn = readConnections();
const kafka = createKafka(conn.kafka, { logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const topics = topicsFor(prefix);
await ensureTopics(admin, topics, { partitions: 4, replicationFactor: 1 });
const env = {
  ...process.env,
  STAAS_TOPIC_PREFIX: prefix,
  STAAS_SINK_GROUP: `${prefix}-g`,
  STAAS_CLICKHOUSE_DATABASE: db,
  STAAS_SINK_METRICS_PORT: '0',
  STAAS_SINK_RETENTION_INTERVAL_S: '0',
  STAAS_WRITER_SPOOL_DIR: `/tmp/${prefix}-spool`,
};
const sink = spawn(process.execPath, serviceArgs('sink'), { env: serviceEnv('sink', env), stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise<void>((r) => sink.stdout.on('data', (c: Buffer) => c.toString().includes('consuming') && r()));
const rss = () => procUsage(sink.pid!).rss / 1048576;
const idle = rss();
let peak = 0;
const t = setInterval(() => (peak = Math.max(peak, rss())), 100);
const sim = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    'ingest/writer/cli.ts',
    '--agents',
    '4',
    '--elements',
    '250',
    '--parameters',
    '20',
    '--rate',
    rate,
    '--duration',
    '30',
  ],
  { env, stdio: ['ignore', 'pipe', 'pipe'] },
);
let simOut = '';
sim.stdout.on('data', (c: Buffer) => (simOut += c.toString()));
await new Promise((r) => sim.once('exit', r));
await new Promise((r) => setTimeout(r, 3000));
clearInterval(t);
const hwm = procUsage(sink.pid!).hwm / 1048576;
sink.kill('SIGTERM');
await new Promise((r) => sink.once('exit', r));
const ch = createClickHouse(conn.clickhouse);
const [row] = await (
  await ch.query({ query: `SELECT count() AS n FROM ${db}.trend_realtime`, format: 'JSONEachRow' })
).json<{ n: string }>();
console.log(
  `keep-up at ${rate}/s for 30 s: sink RSS idle ${idle.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB sampled, high-water ${hwm.toFixed(0)} MiB; real-time rows stored ${row!.n}`,
);
console.log(simOut.trim().split('\n').slice(-2).join('\n'));
await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
await ch.close();
await admin.deleteTopics({ topics: [topics.trend, topics.alarm, topics.element, topics.dlq] }).catch(() => undefined);
await admin.disconnect();
