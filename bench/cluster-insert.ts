/**
 * The same rows stored by the Sink on the single server and on the 2 x 2 cluster, both ways:
 *   STAAS_STATE_DIR=... npx tsx bench/cluster-insert.ts [--points 1000000] [--tenants 8] [--modes single,direct,distributed]
 * Writes `--points` trend points (DMS 1..tenants, value = sequence number) once to fresh topics,
 * then per mode runs the sink (ingest/sink/cli.ts, its own process, a fresh group and scratch
 * database) from the start until its committed offsets reach the ends, and reports rows/s, the
 * sink's CPU seconds and the ClickHouse servers' CPU seconds per million rows (from /proc: every
 * server of the mode, summed; on the cluster also once every replica synced), after checking that
 * count() FINAL is exactly `--points`.
 * Modes: `single` (the server on STAAS_CLICKHOUSE_HTTP_PORT), `direct` and `distributed` (the
 * cluster, STAAS_SINK_CLUSTER_INSERT). The cluster must run (STAAS_STACK_MODE=cluster npx tsx
 * ops/stack.ts up); the single server's CPU includes whatever else it serves meanwhile.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { logLevel } from 'kafkajs';
import { Registry } from 'prom-client';
import { readConnections } from '../config/connections.ts';
import { createKafka } from '../ingest/kafka/client.ts';
import { ensureTopics, topicsFor } from '../ingest/kafka/topics.ts';
import { readWriterConfig } from '../ingest/writer/config.ts';
import { Writer } from '../ingest/writer/writer.ts';
import { clusterNodes } from '../ops/clickhouse-cluster.ts';
import { clickhouseFiles } from '../ops/clickhouse.ts';
import { runningPid } from '../ops/process.ts';
import { readStackConfig } from '../ops/stack-config.ts';
import { createClickHouse } from '../storage/client.ts';
import { forEachNode, localDatabase } from '../storage/cluster-schema.ts';
import { cpuMs, procUsage } from './procs.ts';
import { serviceArgs, serviceEnv } from '../ops/build.ts';

const { values } = parseArgs({
  options: {
    points: { type: 'string', default: '1000000' },
    tenants: { type: 'string', default: '8' },
    modes: { type: 'string', default: 'single,direct,distributed' },
  },
});
const points = Number(values.points);
const tenants = Number(values.tenants);
const modes = values.modes.split(',') as ('single' | 'direct' | 'distributed')[];
const suffix = Date.now().toString(36);
const prefix = `bench-cluster-${suffix}`;
const topics = topicsFor(prefix);
const names = [topics.trend, topics.alarm, topics.element];
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

const conn = readConnections();
const kafka = createKafka(conn.kafka, { logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
await ensureTopics(admin, topics, { partitions: 4, replicationFactor: 1 });

// The rows, once: 1 ms apart, so every point has its own key.
{
  const spoolDir = mkdtempSync(join(tmpdir(), 'staas-bench-spool-'));
  const writer = await Writer.create(readWriterConfig(process.env, { topicPrefix: prefix, spoolDir }), conn.kafka, {
    registry: new Registry(),
    log: quiet,
  });
  const base = Date.UTC(2026, 3, 1);
  for (let i = 0; i < points; i++)
    await writer.trend({ dmsId: 1 + (i % tenants), dmaId: 1, elementId: i % 200, parameterId: i % 10, timestamp: base + i, value: i });
  await writer.close();
  rmSync(spoolDir, { recursive: true, force: true });
}
const ends = new Map<string, string>();
for (const t of names) for (const p of await admin.fetchTopicOffsets(t)) ends.set(`${t}:${p.partition}`, p.high);

async function caughtUp(groupId: string): Promise<boolean> {
  const committed = await admin.fetchOffsets({ groupId, topics: names });
  for (const t of committed)
    for (const p of t.partitions) {
      const end = ends.get(`${t.topic}:${p.partition}`);
      if (end !== undefined && end !== '0' && Number(p.offset) < Number(end)) return false;
    }
  return committed.every((t) => t.partitions.length > 0);
}

for (const mode of modes) {
  const env = {
    ...process.env,
    STAAS_STACK_MODE: mode === 'single' ? 'single' : 'cluster',
    STAAS_SINK_CLUSTER_INSERT: mode === 'distributed' ? 'distributed' : 'direct',
    STAAS_TOPIC_PREFIX: prefix,
    STAAS_SINK_GROUP: `bench-cluster-${mode}-${suffix}`,
    STAAS_CLICKHOUSE_DATABASE: `bench_cluster_${mode}_${suffix}`,
    STAAS_SINK_METRICS_PORT: '0',
    STAAS_SINK_RETENTION_INTERVAL_S: '0',
  };
  const cfg = readStackConfig(env);
  const modeConn = readConnections(env).clickhouse;
  const servers = (mode === 'single' ? [clickhouseFiles(cfg)] : clusterNodes(cfg).map((n) => n.files)).map((f) => {
    const pid = runningPid(f);
    if (pid === undefined) throw new Error(`${f.name} is not running`);
    return pid;
  });
  const child = spawn(process.execPath, serviceArgs('sink'), { env: serviceEnv('sink', env), stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout.on('data', (c: Buffer) => c.toString().includes('consuming as group') && resolve()));
  const serverCpu = () => servers.reduce((s, pid) => s + (cpuMs(pid) ?? 0), 0) / 1000;
  const started = Date.now();
  const sinkStart = procUsage(child.pid!).cpuSeconds;
  const serversStart = serverCpu();
  while (!(await caughtUp(env.STAAS_SINK_GROUP))) await new Promise((r) => setTimeout(r, 200));
  const seconds = (Date.now() - started) / 1000;
  const sinkCpu = procUsage(child.pid!).cpuSeconds - sinkStart;
  const chCpu = serverCpu() - serversStart;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  // The replicas fetch the new parts after the insert was acknowledged: their CPU counts too.
  if (modeConn.cluster !== undefined)
    await forEachNode(modeConn, modeConn.cluster, (node) =>
      node.command({ query: `SYSTEM SYNC REPLICA ${localDatabase(modeConn.database)}.trend_realtime` }),
    );
  const chCpuReplicated = serverCpu() - serversStart;
  const ch = createClickHouse(modeConn);
  const rs = await ch.query({ query: `SELECT count() AS n FROM ${modeConn.database}.trend_realtime FINAL`, format: 'JSONEachRow' });
  const n = (await rs.json<{ n: string }>())[0]?.n;
  const perMillion = (cpu: number) => ((cpu / points) * 1e6).toFixed(2);
  console.log(
    `${mode.padEnd(11)} ${points} rows in ${seconds.toFixed(1)} s = ${Math.round(points / seconds)} rows/s; ` +
      `ClickHouse CPU ${chCpu.toFixed(1)} s (${perMillion(chCpu)} s per million rows, ${servers.length} server${servers.length > 1 ? 's' : ''}` +
      `${modeConn.cluster === undefined ? '' : `; ${perMillion(chCpuReplicated)} s with the replicas' fetches`}); ` +
      `sink CPU ${sinkCpu.toFixed(1)} s (${perMillion(sinkCpu)} s per million); count() FINAL ${n}${Number(n) === points ? '' : ' MISMATCH'}`,
  );
  if (modeConn.cluster === undefined) await ch.command({ query: `DROP DATABASE IF EXISTS ${modeConn.database}` });
  else
    await forEachNode(modeConn, modeConn.cluster, async (node) => {
      await node.command({ query: `DROP DATABASE IF EXISTS ${modeConn.database}` });
      await node.command({ query: `DROP DATABASE IF EXISTS ${localDatabase(modeConn.database)}` });
    });
  await ch.close();
  await admin.deleteGroups([env.STAAS_SINK_GROUP]).catch(() => undefined);
}
await admin.deleteTopics({ topics: [...names, topics.dlq] }).catch(() => undefined);
await admin.disconnect();
