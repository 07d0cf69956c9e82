/**
 * The cluster mode's ClickHouse for tests (test/cluster/clickhouse-*.test.ts): ZooKeeper and the
 * 2 x 2 servers of the stack's state folder, started when not running (ops/cluster.ts), a fresh
 * database on them per test, a sink writing to them from the single-node Kafka broker, and the
 * node kills and restarts the failure tests need.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { Registry } from 'prom-client';
import type { ClickHouseConnection, Connections } from '../../config/connections.ts';
import { readConnections } from '../../config/connections.ts';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { readSinkConfig, type SinkConfig } from '../../ingest/sink/config.ts';
import { Sink } from '../../ingest/sink/sink.ts';
import { readWriterConfig } from '../../ingest/writer/config.ts';
import { Writer } from '../../ingest/writer/writer.ts';
import { clusterNodes, nodeUrl, startClusterNode, type ClusterNode } from '../../ops/clickhouse-cluster.ts';
import { startClickHouseSide } from '../../ops/cluster.ts';
import { runningPid } from '../../ops/process.ts';
import { readStackConfig, type StackConfig } from '../../ops/stack-config.ts';
import { createClickHouse } from '../../storage/client.ts';
import { ensureSchemaFor, forEachNode, localDatabase } from '../../storage/cluster-schema.ts';
import type { Kafka } from 'kafkajs';
import { connections, createTestTopics, deleteTestTopics, queryRows, testKafka, uniqueName, type Int64Json } from './services.ts';
import { until } from './wait.ts';

export const clusterEnv = { ...process.env, STAAS_STACK_MODE: 'cluster' };
export const clusterStackConfig: StackConfig = readStackConfig(clusterEnv);

/** Starts ZooKeeper and the servers that are not running (idempotent; seconds when all run). */
export async function ensureClickHouseCluster(): Promise<void> {
  await startClickHouseSide(clusterStackConfig);
}

export interface ClusterDatabase {
  conn: ClickHouseConnection;
  /** A client of the first server (reads go through the Distributed tables). */
  client: ClickHouseClient;
  db: string;
  drop(): Promise<void>;
}

/** A fresh database with the staas tables on every server (local Replicated + Distributed). */
export async function createClusterDatabase(): Promise<ClusterDatabase> {
  const db = uniqueName('staas_ct');
  const conn = readConnections({ ...clusterEnv, STAAS_CLICKHOUSE_DATABASE: db }).clickhouse;
  const client = createClickHouse(conn);
  await ensureSchemaFor(client, conn);
  return {
    conn,
    client,
    db,
    async drop() {
      await forEachNode(conn, conn.cluster!, async (node) => {
        await node.command({ query: `DROP DATABASE IF EXISTS ${db}` });
        await node.command({ query: `DROP DATABASE IF EXISTS ${localDatabase(db)}` });
      }).catch(() => undefined);
      await client.close();
    },
  };
}

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A sink (in this process) from `topics` on the single-node broker into the cluster database. */
export async function startClusterSink(
  topics: Topics,
  database: ClusterDatabase,
  overrides: Partial<SinkConfig> = {},
  log: { info(m: string): void; warn(m: string): void; error(m: string): void } = quiet,
): Promise<{ sink: Sink; registry: Registry; groupId: string }> {
  const registry = new Registry();
  const groupId = overrides.groupId ?? uniqueName('sink-cluster');
  const conn: Connections = { kafka: connections.kafka, clickhouse: database.conn };
  const sink = await Sink.create(
    readSinkConfig(process.env, {
      retentionIntervalMs: 0,
      topicPrefix: topics.trend.replace(/\.trend$/, ''),
      groupId,
      batchRows: 5000,
      batchAgeMs: 100,
      ...overrides,
    }),
    conn,
    { registry, log },
  );
  await sink.start();
  return { sink, registry, groupId };
}

/** The tenants the tests write: DMS 1 and 3 live on shard 2 (index 1), DMS 2 and 4 on shard 1 (index 0). */
export const DMS_IDS = [1, 2, 3, 4] as const;
export const BASE_TS = Date.UTC(2026, 3, 1);

/** Writes trend points seq in [from, to) (DMS `dmsOf(seq)`, value = seq) through a Writer. */
export async function writePoints(
  topics: Topics,
  from: number,
  to: number,
  dmsOf = (seq: number) => DMS_IDS[seq % 4]!,
  /** The Writer's partition groups (STAAS_WRITER_PARTITION_GROUPS): 2 keeps each partition to one shard's DMSs. */
  partitionGroups = 1,
): Promise<void> {
  const spoolDir = mkdtempSync(join(tmpdir(), 'staas-spool-'));
  const writer = await Writer.create(
    readWriterConfig(process.env, { topicPrefix: topics.trend.replace(/\.trend$/, ''), spoolDir, batchRecords: 500, partitionGroups }),
    connections.kafka,
    { registry: new Registry(), log: quiet },
  );
  for (let seq = from; seq < to; seq++)
    await writer.trend({ dmsId: dmsOf(seq), dmaId: 1, elementId: seq % 20, parameterId: 1, timestamp: BASE_TS + seq, value: seq });
  await writer.close();
  rmSync(spoolDir, { recursive: true, force: true });
}

/** Per DMS: rows after FINAL and the sum of their values, read through the Distributed table. */
export async function pointsByDms(database: ClusterDatabase): Promise<Map<number, { n: number; sum: number }>> {
  const rows = await queryRows<{ dms_id: number; n: Int64Json; total: number }>(
    database.client,
    `SELECT dms_id, count() AS n, sum(value) AS total FROM ${database.db}.trend_realtime FINAL GROUP BY dms_id ORDER BY dms_id`,
  );
  return new Map(rows.map((r) => [r.dms_id, { n: Number(r.n), sum: r.total }]));
}

/** What seq in [0, to) wrote per DMS (the expectation for pointsByDms). */
export function expectedByDms(to: number, dmsOf = (seq: number) => DMS_IDS[seq % 4]!): Map<number, { n: number; sum: number }> {
  const out = new Map<number, { n: number; sum: number }>();
  for (let seq = 0; seq < to; seq++) {
    const e = out.get(dmsOf(seq)) ?? { n: 0, sum: 0 };
    e.n++;
    e.sum += seq;
    out.set(dmsOf(seq), e);
  }
  return new Map([...out].sort((a, b) => a[0] - b[0]));
}

/**
 * Per server: rows of its local trend_realtime after FINAL, the sum of their values, and the DMS
 * ids it holds (each replica of a shard must hold the same, once caught up).
 */
export async function localPoints(
  database: ClusterDatabase,
): Promise<{ url: string; shard: number; n: number; sum: number; dms: number[] }[]> {
  return forEachNode(database.conn, database.conn.cluster!, async (node, url, shard) => {
    const [r] = await queryRows<{ n: Int64Json; total: number; dms: number[] }>(
      node,
      `SELECT count() AS n, sum(value) AS total, arraySort(groupUniqArray(dms_id)) AS dms FROM ${localDatabase(database.db)}.trend_realtime FINAL`,
    );
    return { url, shard, n: Number(r!.n), sum: r!.total, dms: r!.dms };
  });
}

/**
 * Waits until every replica has fetched what its shard was given (SYSTEM SYNC REPLICA on every
 * server). Reads through a Distributed table pick a replica at random, and a replica that was
 * down or busy may still be fetching: without this, a read right after the inserts can miss rows.
 */
export async function syncReplicas(database: ClusterDatabase, table = 'trend_realtime'): Promise<void> {
  await forEachNode(database.conn, database.conn.cluster!, (node) =>
    node.command({ query: `SYSTEM SYNC REPLICA ${localDatabase(database.db)}.${table}` }),
  );
}

export function clusterNode(index: number): ClusterNode {
  const node = clusterNodes(clusterStackConfig)[index];
  if (node === undefined) throw new RangeError(`no cluster node ${index}`);
  return node;
}

/** Kills a server with SIGKILL (no shutdown at all); resolves when it is gone. */
export async function killNode(node: ClusterNode): Promise<void> {
  const pid = runningPid(node.files);
  if (pid === undefined) throw new Error(`${node.files.name} is not running`);
  process.kill(pid, 'SIGKILL');
  await until(
    `${node.files.name} gone`,
    () => !existsSync(`/proc/${pid}`) || /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')),
    10_000,
    50,
  );
}

/** Starts a server again (after killNode); resolves when it answers /ping. */
export async function restartNode(node: ClusterNode): Promise<void> {
  await startClusterNode(clusterStackConfig, node);
}

export { nodeUrl };

/**
 * What the cluster tests share: the cluster up (started if needed), fresh topics with `partitions`
 * partitions on the single broker and a fresh database; their removal is pushed on `cleanup`,
 * which the test's `after` runs in reverse.
 */
export async function clusterTestBed(
  cleanup: (() => Promise<unknown>)[],
  partitions = 3,
): Promise<{ kafka: Kafka; topics: Topics; database: ClusterDatabase }> {
  await ensureClickHouseCluster();
  const kafka = testKafka();
  const topics = await createTestTopics(kafka, partitions);
  cleanup.push(() => deleteTestTopics(kafka, topics));
  const database = await createClusterDatabase();
  cleanup.push(() => database.drop());
  return { kafka, topics, database };
}
