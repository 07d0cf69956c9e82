/**
 * Sinks in one consumer group on the cluster-mode Kafka (3 brokers, replication factor 3):
 *   npx tsx bench/sinks-scale.ts [--records 2000000] [--per-message 10000] [--partitions 6] [--sinks 1,2,3]
 * Starts the cluster unless it runs, fills fresh topics once through the Writer (bench/points.ts's
 * trend points, acks=all), then for each group size drains the same topic from the start with
 * that many sink processes (a fresh group and a fresh database on the single-node ClickHouse each
 * time). The clock and the CPU counters start when the group is stable with every sink holding
 * partitions (rows stored before that are left out of the rate), and stop when the row count
 * last moved before the group had committed every message (rows stored twice by a sink that
 * lost its partitions in the joins' rebalances count as work done). Reports rows/s, each sink's
 * CPU seconds per million points it stored (its CPU over the rows it had acknowledged while
 * measured, from its staas_sink_rows_inserted_total), the group's and the brokers' CPU per million
 * points.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { AssignerProtocol, logLevel } from 'kafkajs';
import { Registry } from 'prom-client';
import { readConnections } from '../config/connections.ts';
import { createKafka } from '../ingest/kafka/client.ts';
import { ensureTopics, topicsFor } from '../ingest/kafka/topics.ts';
import { readWriterConfig } from '../ingest/writer/config.ts';
import { Writer } from '../ingest/writer/writer.ts';
import { CLUSTER_REPLICATION_FACTOR, clusterBrokers, clusterNodes, startKafkaCluster } from '../ops/kafka-cluster.ts';
import { runningPid } from '../ops/process.ts';
import { readStackConfig } from '../ops/stack-config.ts';
import { createClickHouse } from '../storage/client.ts';
import { ensureSchema } from '../storage/schema.ts';
import { benchPoint } from './points.ts';
import { cpuMs } from './procs.ts';
import { startSinkProcess, stopSinkProcess } from './sink-process.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '2000000' },
    'per-message': { type: 'string', default: '10000' },
    partitions: { type: 'string', default: '6' },
    sinks: { type: 'string', default: '1,2,3' },
  },
});
const N = Number(values.records);
const perMessage = Number(values['per-message']);
const partitions = Number(values.partitions);
const groupSizes = values.sinks.split(',').map(Number);

const cfg = readStackConfig({ ...process.env, STAAS_STACK_MODE: 'cluster' });
await startKafkaCluster(cfg);
const brokers = clusterBrokers(cfg);
const brokerPids = clusterNodes(cfg).map((n) => runningPid(n.files)!);
const conn = readConnections();
const kafkaConn = { ...conn.kafka, brokers };
const kafka = createKafka(kafkaConn, { logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const suffix = Date.now().toString(36);
const prefix = `bench-sinks-${suffix}`;
const topics = topicsFor(prefix);
await ensureTopics(admin, topics, { partitions, replicationFactor: CLUSTER_REPLICATION_FACTOR });

const spoolDir = mkdtempSync(join(tmpdir(), 'staas-bench-spool-'));
const fillStart = Date.now();
const brokersCpu = () => brokerPids.reduce((s, pid) => s + (cpuMs(pid) ?? 0), 0) / 1000;
const fillBrokersCpu = brokersCpu();
const writer = await Writer.create(readWriterConfig(process.env, { topicPrefix: prefix, spoolDir, batchRecords: perMessage }), kafkaConn, {
  registry: new Registry(),
  kafka,
});
for (let i = 0; i < N; i++) await writer.trend(benchPoint(i));
await writer.close();
rmSync(spoolDir, { recursive: true, force: true });
const fillSeconds = (Date.now() - fillStart) / 1000;
const fillCpuPerM = ((brokersCpu() - fillBrokersCpu) * 1e6) / N;
// Every node holds a replica of every partition (RF 3 on 3 nodes): one node's log files are the topic's size.
const firstNodeData = clusterNodes(cfg)[0]!.files.dataDir;
const topicBytes = readdirSync(firstNodeData)
  .filter((d) => d.startsWith(`${topics.trend}-`))
  .flatMap((d) =>
    readdirSync(join(firstNodeData, d))
      .filter((f) => f.endsWith('.log'))
      .map((f) => statSync(join(firstNodeData, d, f)).size),
  )
  .reduce((a, b) => a + b, 0);
console.log(
  `sinks-scale: ${N} trend points (${perMessage} per message) in ${prefix}.trend (${partitions} partitions, RF ${CLUSTER_REPLICATION_FACTOR}), ` +
    `written in ${fillSeconds.toFixed(1)} s (${Math.round(N / fillSeconds)} points/s, one Writer, acks=all); the 3 brokers used ${fillCpuPerM.toFixed(2)} CPU-s per M points written; ` +
    `${(topicBytes / N).toFixed(1)} bytes per point on disk per replica`,
);

const ch = createClickHouse(conn.clickhouse);

async function stored(db: string): Promise<number> {
  const rs = await ch.query({ query: `SELECT count() AS n FROM ${db}.trend_realtime`, format: 'JSONEachRow' });
  const [row] = await rs.json<{ n: string | number }>();
  return Number(row!.n);
}

/** True when `groupId` has committed the end of every trend partition. */
async function committedAll(groupId: string): Promise<boolean> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topics.trend] });
  return (await admin.fetchTopicOffsets(topics.trend)).every(
    (end) => committed?.partitions.find((p) => p.partition === end.partition)?.offset === end.high,
  );
}

/** True when the group is stable with `n` members, each holding trend partitions. */
async function groupSpread(groupId: string, n: number): Promise<boolean> {
  const { groups } = await admin.describeGroups([groupId]);
  const g = groups[0];
  if (g?.state !== 'Stable' || g.members.length !== n) return false;
  return g.members.every((m) => (AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topics.trend]?.length ?? 0) > 0);
}

/** A port free now (for a sink's metrics server). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Rows a sink has had acknowledged by ClickHouse (its staas_sink_rows_inserted_total, every table). */
async function rowsInserted(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return [...text.matchAll(/^staas_sink_rows_inserted_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const results: string[] = [];
for (const n of groupSizes) {
  const db = `bench_sinks_${suffix}_${n}`;
  await ensureSchema(ch, db);
  const groupId = `${prefix}-group-${n}`;
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  const sinks = ports.map((port) =>
    startSinkProcess({
      STAAS_KAFKA_BROKERS: brokers.join(','),
      STAAS_TOPIC_PREFIX: prefix,
      STAAS_SINK_GROUP: groupId,
      STAAS_CLICKHOUSE_DATABASE: db,
      STAAS_SINK_METRICS_PORT: String(port),
    }),
  );
  while (!(await groupSpread(groupId, n).catch(() => false))) await sleep(100);
  const started = process.hrtime.bigint();
  const cpuStart = sinks.map((s) => cpuMs(s.pid) ?? 0);
  const insertedStart = await Promise.all(ports.map(rowsInserted));
  const brokersStart = brokersCpu();
  const rowsAtStart = await stored(db);
  // Done when the group has committed every message; the end is when the row count last moved.
  let rows = rowsAtStart;
  let lastChange = started;
  for (;;) {
    const now = process.hrtime.bigint();
    const r = await stored(db);
    if (r !== rows) [rows, lastChange] = [r, now];
    if (await committedAll(groupId)) break;
    await sleep(100);
  }
  const r = await stored(db);
  if (r !== rows) [rows, lastChange] = [r, process.hrtime.bigint()];
  const seconds = Number(lastChange - started) / 1e9;
  const cpu = sinks.map((s, i) => ((cpuMs(s.pid) ?? 0) - cpuStart[i]!) / 1000);
  const brokersSeconds = brokersCpu() - brokersStart;
  const inserted = (await Promise.all(ports.map(rowsInserted))).map((r, i) => r - insertedStart[i]!);
  await Promise.all(sinks.map((s) => stopSinkProcess(s)));
  await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
  await admin.deleteGroups([groupId]).catch(() => undefined);
  const measured = rows - rowsAtStart;
  const perM = (s: number, points = measured) => ((s * 1e6) / points).toFixed(2);
  const line =
    `| ${n} | ${Math.round(measured / seconds)} | ${seconds.toFixed(1)} | ${cpu.map((c, i) => perM(c, inserted[i])).join(' / ')} | ` +
    `${inserted.join(' / ')} | ${rowsAtStart} | ${rows - N} | ${perM(cpu.reduce((a, b) => a + b, 0))} | ${perM(brokersSeconds)} |`;
  console.log(`${n} sink(s), load average ${loadavg()[0]!.toFixed(1)}: ${line}`);
  results.push(line);
}

console.log(
  '\n| sinks | rows/s | seconds | CPU-s per M points, each sink (of its rows) | rows each | stored before stable | stored twice | all sinks, CPU-s per M | 3 brokers, CPU-s per M |',
);
console.log('| ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |');
for (const line of results) console.log(line);
console.log(
  `\nCommand: npx tsx bench/sinks-scale.ts --records ${N} --per-message ${perMessage} --partitions ${partitions} --sinks ${values.sinks}`,
);
await ch.close();
await admin.deleteTopics({ topics: [topics.trend, topics.alarm, topics.element, topics.dlq] }).catch(() => undefined);
await admin.disconnect();
