/**
 * The local stack: `up`, `down`, `status`, `provision`, `smoke`, `sink` and `query` (start them),
 * `stop sink|query` (only that service), `report`, `settle` (wait until the sink has no lag),
 * `logs [kafka|clickhouse|sink|query]`, `reset --yes`.
 * `up` starts Kafka and ClickHouse (whichever is not running), waits until Kafka answers
 * metadata requests and ClickHouse answers /ping, then creates topics and tables (idempotent).
 * With STAAS_STACK_MODE=cluster, `up`, `down`, `status`, `logs [kafka-<n>]` and `reset --yes`
 * act on the cluster (ops/kafka-cluster.ts) and its state under `<STAAS_STATE_DIR>/cluster`.
 */
import { rmSync } from 'node:fs';
import { logLevel } from 'kafkajs';
import { readConnections, type Connections, type KafkaConnection } from '../config/connections.ts';
import { ConfigError } from '../config/env.ts';
import { createKafka } from '../ingest/kafka/client.ts';
import { ensureTopics, topicsFor } from '../ingest/kafka/topics.ts';
import { createClickHouse } from '../storage/client.ts';
import { TABLES, ensureSchema } from '../storage/schema.ts';
import { clickhouseFiles, clickhousePing, startClickHouse } from './clickhouse.ts';
import { smokeRoundTrip } from './smoke.ts';
import { queryAddress, queryFiles, queryReady, startQuery } from './query-service.ts';
import { sinkFiles, sinkMetricsPort, startSink } from './sink-service.ts';
import { kafkaFiles, kafkaHealthy, startKafka } from './kafka.ts';
import {
  CLUSTER_REPLICATION_FACTOR,
  clusterBrokers,
  clusterDir,
  clusterNodes,
  kafkaClusterStatus,
  underReplicatedPartitions,
  startKafkaCluster,
  stopKafkaCluster,
} from './kafka-cluster.ts';
import { ServiceStartError, runningPid, stopService, tailFile } from './process.ts';
import { readStackConfig, type StackConfig } from './stack-config.ts';

export async function up(
  cfg: StackConfig,
  log: (line: string) => void = console.log,
  conn: Connections = readConnections(),
): Promise<void> {
  if (cfg.mode === 'cluster') return upCluster(cfg, log, conn);
  const results = await Promise.allSettled([startKafka(cfg), startClickHouse(cfg)]);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
  if (failures.length > 0) {
    if (failures.length === 1) throw failures[0]!;
    throw new AggregateError(failures, failures.map((f) => f.message).join('\n\n'));
  }
  const [k, c] = results as PromiseFulfilledResult<string>[];
  log(`kafka: ${k!.value} on ${cfg.kafka.host}:${cfg.kafka.port}`);
  log(`clickhouse: ${c!.value} on http://${cfg.clickhouse.host}:${cfg.clickhouse.httpPort}`);
  await provision(cfg, conn, log);
}

/** Cluster mode: the Kafka cluster (3 KRaft nodes), then its topics (replication factor 3). */
async function upCluster(cfg: StackConfig, log: (line: string) => void, conn: Connections): Promise<void> {
  for (const { node, result } of await startKafkaCluster(cfg)) log(`${node.files.name}: ${result} on ${node.host}:${node.port}`);
  await provisionTopics(cfg, { ...conn.kafka, brokers: clusterBrokers(cfg) }, log);
}

/** Topics and tables: created when missing, left alone when present. */
async function provision(cfg: StackConfig, conn: Connections, log: (line: string) => void): Promise<void> {
  await provisionTopics(cfg, conn.kafka, log);
  const ch = createClickHouse(conn.clickhouse);
  try {
    const tables = await ensureSchema(ch, conn.clickhouse.database);
    log(`clickhouse: database ${conn.clickhouse.database} with tables ${tables.join(', ')}`);
  } finally {
    await ch.close();
  }
}

/** The data topics, in cluster mode with replication factor 3 (and min.insync.replicas=2, ensureTopics). */
async function provisionTopics(cfg: StackConfig, kafka: KafkaConnection, log: (line: string) => void): Promise<void> {
  const admin = createKafka(kafka, { logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const layout =
      cfg.mode === 'cluster'
        ? { partitions: cfg.kafka.cluster.partitions, replicationFactor: CLUSTER_REPLICATION_FACTOR }
        : { partitions: cfg.kafka.partitions, replicationFactor: 1 };
    const created = await ensureTopics(admin, topicsFor(), layout);
    log(`kafka: topics ${created.length > 0 ? `created ${created.join(', ')}` : 'present'}`);
  } finally {
    await admin.disconnect();
  }
}

export async function down(cfg: StackConfig, log: (line: string) => void = console.log): Promise<void> {
  if (cfg.mode === 'cluster') {
    for (const line of await stopKafkaCluster(cfg)) log(line);
    return;
  }
  // The Query API first (it only reads), then the sink (it stores and commits what it consumed),
  // then Kafka, which flushes its log.
  log(await stopService(queryFiles(cfg), 15_000));
  log(await stopService(sinkFiles(cfg), 60_000));
  log(await stopService(kafkaFiles(cfg), 30_000));
  log(await stopService(clickhouseFiles(cfg), 30_000));
}

/** Prints each service's state; true when Kafka and ClickHouse are up (`env`: where the Query API listens). */
export async function status(
  cfg: StackConfig,
  log: (line: string) => void = console.log,
  env: NodeJS.ProcessEnv = process.env,
): Promise<boolean> {
  if (cfg.mode === 'cluster') return clusterStatus(cfg, log);
  const k = runningPid(kafkaFiles(cfg));
  const c = runningPid(clickhouseFiles(cfg));
  const kOk = k !== undefined && (await kafkaHealthy(cfg));
  const cOk = c !== undefined && (await clickhousePing(cfg));
  const line = (name: string, pid: number | undefined, ok: boolean, where: string) =>
    `${name.padEnd(11)} ${pid === undefined ? 'stopped' : ok ? `up (pid ${pid})` : `not answering (pid ${pid})`}  ${where}`;
  log(line('kafka', k, kOk, `${cfg.kafka.host}:${cfg.kafka.port}`));
  log(line('clickhouse', c, cOk, `http://${cfg.clickhouse.host}:${cfg.clickhouse.httpPort}`));
  // The sink and the Query API are optional services: shown, but not part of the exit status.
  const s = runningPid(sinkFiles(cfg));
  log(line('sink', s, s !== undefined && (await sinkHealthy()), `http://127.0.0.1:${sinkMetricsPort()}/health`));
  const q = runningPid(queryFiles(cfg));
  const api = safeQueryUrl(env);
  log(
    line(
      'query',
      q,
      q !== undefined && api !== undefined && (await queryReady(api)),
      api === undefined ? '(invalid STAAS_QUERY_* settings)' : `${api}/docs`,
    ),
  );
  log(`state       ${cfg.stateDir}`);
  return kOk && cOk;
}

async function clusterStatus(cfg: StackConfig, log: (line: string) => void): Promise<boolean> {
  const nodes = await kafkaClusterStatus(cfg);
  for (const { node, pid, healthy } of nodes) {
    const state = pid === undefined ? 'stopped' : healthy ? `up (pid ${pid})` : `not answering (pid ${pid})`;
    log(`${node.files.name.padEnd(11)} ${state}  ${node.host}:${node.port}`);
  }
  const under = await underReplicatedPartitions(cfg);
  log(`replicas    ${under === undefined ? 'unknown (no broker answers)' : `${under} partition(s) under-replicated`}`);
  log(`brokers     STAAS_KAFKA_BROKERS=${clusterBrokers(cfg).join(',')}`);
  log(`state       ${cfg.stateDir}/cluster`);
  return nodes.every((n) => n.healthy);
}

async function sinkHealthy(): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${sinkMetricsPort()}/health`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

function safeQueryUrl(env: NodeJS.ProcessEnv): string | undefined {
  try {
    return queryAddress(env).url;
  } catch {
    return undefined;
  }
}

/** Round-trips one record of each type through Kafka into ClickHouse and prints them. */
export async function smoke(log: (line: string) => void = console.log): Promise<void> {
  const conn = readConnections();
  const kafka = createKafka(conn.kafka, { logLevel: logLevel.NOTHING });
  const ch = createClickHouse(conn.clickhouse);
  try {
    const results = await smokeRoundTrip(kafka, topicsFor(), ch, conn.clickhouse.database);
    log('smoke: one record of each type went writer -> Kafka -> ClickHouse and back:');
    for (const r of results) {
      log(
        `  ${r.type.padEnd(7)} partition ${r.partition} offset ${r.offset} -> ${conn.clickhouse.database}.${r.table}: ${JSON.stringify(r.row)}`,
      );
    }
  } finally {
    await ch.close();
  }
}

/** Rows per table (collapsed and raw) and the sink's lag: what the pipeline stored. */
async function report(): Promise<void> {
  const conn = readConnections();
  const ch = createClickHouse(conn.clickhouse);
  try {
    const db = conn.clickhouse.database;
    for (const table of TABLES) {
      const rs = await ch.query({
        query: `SELECT (SELECT count() FROM ${db}.${table} FINAL) AS rows, (SELECT count() FROM ${db}.${table}) AS raw`,
        format: 'JSONEachRow',
      });
      const [r] = await rs.json<{ rows: string | number; raw: string | number }>();
      console.log(`  ${`${db}.${table}`.padEnd(22)} ${String(r?.rows).padStart(12)} rows   (${r?.raw} before duplicates collapse)`);
    }
  } finally {
    await ch.close();
  }
  const sink = await sinkProgress();
  console.log(sink === undefined ? '  sink: not running' : `  sink: lag ${sink.lag} messages, ${sink.dlq} dead-lettered`);
}

/** The sink's consumer lag and dead-lettered messages from its metrics; undefined when it does not answer. */
async function sinkProgress(): Promise<{ lag: number; dlq: number } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${sinkMetricsPort()}/metrics`, { signal: AbortSignal.timeout(2000) });
    const text = await res.text();
    const sum = (re: RegExp) => [...text.matchAll(re)].reduce((s, m) => s + Number(m[1]), 0);
    return { lag: sum(/^staas_sink_consumer_lag\{[^}]*\} (\d+)/gm), dlq: sum(/^staas_sink_dlq_messages_total\{[^}]*\} (\d+)/gm) };
  } catch {
    return undefined;
  }
}

/** Waits until the sink has no lag (twice in a row, a second apart), at most `timeoutMs`. */
async function settle(timeoutMs = 180_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let zeros = 0;
  while (Date.now() < deadline) {
    const p = await sinkProgress();
    zeros = p?.lag === 0 ? zeros + 1 : 0;
    if (zeros >= 2) return true;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return false;
}

async function logs(cfg: StackConfig, which: string | undefined): Promise<void> {
  const all =
    cfg.mode === 'cluster'
      ? Object.fromEntries(clusterNodes(cfg).map((n) => [n.files.name, n.files]))
      : { kafka: kafkaFiles(cfg), clickhouse: clickhouseFiles(cfg), sink: sinkFiles(cfg), query: queryFiles(cfg) };
  for (const [name, files] of Object.entries(all)) {
    if (which !== undefined && which !== name) continue;
    console.log(`==> ${files.logFile} <==`);
    console.log(await tailFile(files.logFile, 50));
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, arg] = argv;
  let cfg: StackConfig;
  try {
    cfg = readStackConfig();
    readConnections();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`staas stack: ${err.message}`);
      return 2;
    }
    throw err;
  }
  switch (command) {
    case 'up':
      await up(cfg);
      return 0;
    case 'provision':
      // Services run elsewhere (docker-compose, a cluster): only topics and tables.
      await provision(cfg, readConnections(), console.log);
      return 0;
    case 'sink':
      console.log(
        `sink: ${await startSink(cfg)}; metrics and health on http://127.0.0.1:${sinkMetricsPort()}/metrics, /health; log ${sinkFiles(cfg).logFile}`,
      );
      return 0;
    case 'query': {
      // Validated here (not up front): the other commands do not need the Query API's settings.
      let url: string;
      try {
        url = queryAddress().url;
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        console.error(`staas stack: ${err.message}`);
        return 2;
      }
      console.log(
        `query: ${await startQuery(cfg)} on ${url} (docs ${url}/docs, health /healthz, /readyz, /metrics); log ${queryFiles(cfg).logFile}`,
      );
      return 0;
    }
    case 'stop': {
      // The optional services one at a time (e.g. to restart the Query API after a code change).
      const files = arg === 'query' ? queryFiles(cfg) : arg === 'sink' ? sinkFiles(cfg) : undefined;
      if (files === undefined) {
        console.error('usage: tsx ops/stack.ts stop sink|query');
        return 2;
      }
      console.log(await stopService(files, arg === 'sink' ? 60_000 : 15_000));
      return 0;
    }
    case 'report':
      await report();
      return 0;
    case 'settle': {
      const settled = await settle();
      if (!settled) console.error('settle: the sink still has lag after 180 s (npm run stack -- logs sink)');
      return settled ? 0 : 1;
    }
    case 'smoke':
      await smoke();
      return 0;
    case 'down':
      await down(cfg);
      return 0;
    case 'status':
      return (await status(cfg)) ? 0 : 1;
    case 'logs':
      await logs(cfg, arg);
      return 0;
    case 'reset':
      // Deletes all local data: only with an explicit --yes.
      if (arg !== '--yes') {
        console.error('staas stack reset deletes every topic and table in the state folder; run with --yes');
        return 2;
      }
      await down(cfg);
      {
        // Cluster mode's data lives under <state>/cluster: the single-node stack's is left alone.
        const dir = cfg.mode === 'cluster' ? clusterDir(cfg) : cfg.stateDir;
        rmSync(dir, { recursive: true, force: true });
        console.log(`removed ${dir}`);
      }
      return 0;
    default:
      console.error(
        'usage: tsx ops/stack.ts up|down|status|provision|smoke|sink|query|stop sink|query|report|settle|logs [kafka|clickhouse|sink|query]|reset --yes',
      );
      return 2;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof ServiceStartError || err instanceof AggregateError) console.error(`staas stack: ${(err as Error).message}`);
      else console.error(err);
      process.exit(1);
    },
  );
}
