/**
 * Cluster mode's Kafka: three (or more) KRaft nodes on loopback ports, each broker and controller
 * (a combined quorum), state under `<STAAS_STATE_DIR>/cluster/kafka-<n>`. Internal topics have 3
 * replicas; data topics are created with replication factor 3 and min.insync.replicas=2, so with
 * acks=all a write survives any one node dying (Kafka's documented durability setting, see
 * "min.insync.replicas" in the broker configuration reference).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { logLevel } from 'kafkajs';
import { createKafka } from '../ingest/kafka/client.ts';
import { answersMetadata, kafkaFiles, startKafkaNode, type KafkaNode, type StartResult } from './kafka.ts';
import { runningPid, stopService } from './process.ts';
import type { KafkaClusterNode, StackConfig } from './stack-config.ts';

/** Replication factor of cluster mode's data and internal topics. */
export const CLUSTER_REPLICATION_FACTOR = 3;

/** `<STAAS_STATE_DIR>/cluster`: every cluster-mode service keeps its state below it. */
export function clusterDir(cfg: StackConfig): string {
  return join(cfg.stateDir, 'cluster');
}

/** The KRaft node that runs as cluster node `n` (its files, ports and the shared quorum). */
export function clusterNode(cfg: StackConfig, n: KafkaClusterNode): KafkaNode {
  const { host } = cfg.kafka;
  const voters = cfg.kafka.cluster.nodes.map((v) => `${v.nodeId}@${host}:${v.controllerPort}`).join(',');
  return {
    files: kafkaFiles(cfg, join(clusterDir(cfg), `kafka-${n.nodeId}`), `kafka-${n.nodeId}`),
    nodeId: n.nodeId,
    host,
    port: n.port,
    controllerPort: n.controllerPort,
    voters,
    heap: cfg.kafka.cluster.heap,
    internalReplicas: Math.min(CLUSTER_REPLICATION_FACTOR, cfg.kafka.cluster.nodes.length),
    tls: undefined,
    clusterIdFile: join(clusterDir(cfg), 'kafka-cluster.id'),
  };
}

/** Every cluster node, in node id order. */
export function clusterNodes(cfg: StackConfig): KafkaNode[] {
  return cfg.kafka.cluster.nodes.map((n) => clusterNode(cfg, n));
}

/** Bootstrap list for clients: every broker's host:port. */
export function clusterBrokers(cfg: StackConfig): string[] {
  return cfg.kafka.cluster.nodes.map((n) => `${cfg.kafka.host}:${n.port}`);
}

/**
 * Starts the nodes that are not running, all at once (a node is ready only when a quorum of
 * controllers answers, so one at a time would wait for the next), then waits until every broker
 * is registered. Idempotent: running nodes are left alone. Returns each node's result.
 * Throws ServiceStartError / AggregateError naming the nodes that failed.
 */
export async function startKafkaCluster(cfg: StackConfig): Promise<{ node: KafkaNode; result: StartResult }[]> {
  mkdirSync(clusterDir(cfg), { recursive: true });
  const nodes = clusterNodes(cfg);
  const results = await Promise.allSettled(nodes.map((node) => startClusterNode(cfg, node)));
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
  if (failures.length === 1) throw failures[0]!;
  if (failures.length > 1) throw new AggregateError(failures, failures.map((f) => f.message).join('\n\n'));
  await waitAllRegistered(cfg, nodes);
  return nodes.map((node, i) => ({ node, result: (results[i] as PromiseFulfilledResult<StartResult>).value }));
}

/** Starts cluster node `node` (no-op when it runs); used by `up` and to restart a killed node. */
export function startClusterNode(cfg: StackConfig, node: KafkaNode): Promise<StartResult> {
  return startKafkaNode(cfg, node, [
    [node.host, node.port, 'STAAS_KAFKA_CLUSTER_PORTS'],
    [node.host, node.controllerPort, 'STAAS_KAFKA_CLUSTER_CONTROLLER_PORTS'],
  ]);
}

async function waitAllRegistered(cfg: StackConfig, nodes: KafkaNode[]): Promise<void> {
  const deadline = Date.now() + cfg.startTimeoutMs;
  const address = `${nodes[0]!.host}:${nodes[0]!.port}`;
  while (!(await answersMetadata(address, undefined, nodes.length))) {
    if (Date.now() > deadline)
      throw new Error(`kafka cluster: fewer than ${nodes.length} brokers registered after ${cfg.startTimeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Stops the cluster's nodes (SIGTERM, then SIGKILL after 30 s), one line per node. */
export async function stopKafkaCluster(cfg: StackConfig): Promise<string[]> {
  return Promise.all(clusterNodes(cfg).map((node) => stopService(node.files, 30_000)));
}

/** Each node's pid (undefined: not running) and whether it answers metadata requests. */
export async function kafkaClusterStatus(cfg: StackConfig): Promise<{ node: KafkaNode; pid: number | undefined; healthy: boolean }[]> {
  return Promise.all(
    clusterNodes(cfg).map(async (node) => {
      const pid = runningPid(node.files);
      return { node, pid, healthy: pid !== undefined && (await answersMetadata(`${node.host}:${node.port}`)) };
    }),
  );
}

/**
 * Partitions (of every topic, internal ones included) with fewer in-sync replicas than replicas,
 * asked of the live brokers; undefined when none answers. After a node returns this falls to 0
 * once it has caught up.
 */
export async function underReplicatedPartitions(cfg: StackConfig): Promise<number | undefined> {
  const admin = createKafka(
    { brokers: clusterBrokers(cfg), clientId: 'staas-stack' },
    { logLevel: logLevel.NOTHING, connectionTimeoutMs: 1000, requestTimeoutMs: 5000, retries: 1 },
  ).admin();
  try {
    await admin.connect();
    const { topics } = await admin.fetchTopicMetadata();
    return topics.reduce((n, t) => n + t.partitions.filter((p) => p.isr.length < p.replicas.length).length, 0);
  } catch {
    return undefined;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
