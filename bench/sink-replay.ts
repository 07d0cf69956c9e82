/**
 * The Sink replaying existing topics from the start, as its own process, into a scratch database:
 *   npx tsx bench/sink-replay.ts [--prefix staas] [--seconds 300]
 * Reads what is on `<prefix>.trend|alarm|element` (the local stack's topics hold what
 * `bash ops/start.sh` and the simulator wrote: many small messages of every type) with a fresh
 * consumer group, until the group's committed offsets reach the ends it saw at start (or
 * `--seconds`); reports messages, CPU seconds and the sink's peak RSS, then drops the scratch
 * database and deletes the group. The topics themselves are only read.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { logLevel } from 'kafkajs';
import { readConnections } from '../config/connections.ts';
import { createKafka } from '../ingest/kafka/client.ts';
import { topicsFor } from '../ingest/kafka/topics.ts';
import { createClickHouse } from '../storage/client.ts';
import { procUsage } from './procs.ts';
import { serviceArgs, serviceEnv } from '../ops/build.ts';

const { values } = parseArgs({ options: { prefix: { type: 'string', default: 'staas' }, seconds: { type: 'string', default: '300' } } });
const topics = topicsFor(values.prefix);
const names = [topics.trend, topics.alarm, topics.element];
const conn = readConnections();
const kafka = createKafka(conn.kafka, { logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const ends = new Map<string, string>();
let messages = 0;
for (const t of names) {
  for (const p of await admin.fetchTopicOffsets(t)) {
    ends.set(`${t}:${p.partition}`, p.high);
    messages += Number(p.high) - Number(p.low);
  }
}
const suffix = Date.now().toString(36);
const groupId = `bench-replay-${suffix}`;
const db = `bench_replay_${suffix}`;

async function caughtUp(): Promise<boolean> {
  const committed = await admin.fetchOffsets({ groupId, topics: names });
  for (const t of committed)
    for (const p of t.partitions) {
      const end = ends.get(`${t.topic}:${p.partition}`);
      if (end !== undefined && end !== '0' && Number(p.offset) < Number(end)) return false;
    }
  return committed.every((t) => t.partitions.length > 0);
}

const child = spawn(process.execPath, serviceArgs('sink'), {
  env: {
    ...serviceEnv('sink'),
    STAAS_TOPIC_PREFIX: values.prefix,
    STAAS_SINK_GROUP: groupId,
    STAAS_CLICKHOUSE_DATABASE: db,
    STAAS_SINK_METRICS_PORT: '0',
    STAAS_SINK_RETENTION_INTERVAL_S: '0',
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise<void>((resolve) => child.stdout.on('data', (c: Buffer) => c.toString().includes('consuming as group') && resolve()));
const started = Date.now();
const cpuStart = procUsage(child.pid!).cpuSeconds;
let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, procUsage(child.pid!).rss)), 100);
let done = await caughtUp();
while (!done && Date.now() - started < Number(values.seconds) * 1000) {
  await new Promise((r) => setTimeout(r, 500));
  done = await caughtUp();
}
const end = procUsage(child.pid!);
clearInterval(sampler);
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
const seconds = (Date.now() - started) / 1000;
console.log(
  `sink replay of ${values.prefix}.*: ${messages} messages ${done ? 'caught up' : 'NOT caught up'} in ${seconds.toFixed(1)} s; CPU ${(end.cpuSeconds - cpuStart).toFixed(2)} s; peak RSS ${(peak / 1048576).toFixed(0)} MiB sampled, high-water mark ${(end.hwm / 1048576).toFixed(0)} MiB`,
);
const ch = createClickHouse(conn.clickhouse);
await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
await ch.close();
await admin.deleteGroups([groupId]).catch(() => undefined);
await admin.disconnect();
