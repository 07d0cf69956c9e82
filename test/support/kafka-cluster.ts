/**
 * Cluster-mode Kafka for tests: the stack's 3-node cluster (ops/kafka-cluster.ts), started when
 * it is not running (idempotent, on the cluster ports beside the single-node stack), fresh
 * topics at replication factor 3, and the means to kill -9 and restart a node.
 */
import { logLevel, type Kafka } from 'kafkajs';
import { createKafka } from '../../ingest/kafka/client.ts';
import { ensureTopics, topicsFor, type Topics } from '../../ingest/kafka/topics.ts';
import { CLUSTER_REPLICATION_FACTOR, clusterBrokers, clusterNodes, startClusterNode, startKafkaCluster } from '../../ops/kafka-cluster.ts';
import type { KafkaNode } from '../../ops/kafka.ts';
import { runningPid } from '../../ops/process.ts';
import { readStackConfig, type StackConfig } from '../../ops/stack-config.ts';
import { connections, uniqueName, withAdmin } from './services.ts';
import { until } from './wait.ts';

export interface KafkaClusterHandle {
  cfg: StackConfig;
  /** Bootstrap list, host:port of every broker. */
  brokers: string[];
  kafka: Kafka;
  /** Environment for child processes (Writer, simulator, Sink) to use the cluster. */
  env: Record<string, string>;
}

/** Starts the stack's Kafka cluster unless it runs; resolves once every broker is registered. */
export async function kafkaCluster(): Promise<KafkaClusterHandle> {
  const cfg = readStackConfig({ ...process.env, STAAS_STACK_MODE: 'cluster' });
  await startKafkaCluster(cfg);
  const brokers = clusterBrokers(cfg);
  const kafka = createKafka({ ...connections.kafka, brokers }, { logLevel: logLevel.NOTHING });
  return { cfg, brokers, kafka, env: { STAAS_KAFKA_BROKERS: brokers.join(',') } };
}

/** Fresh data topics under a unique prefix: `partitions` each, replication factor 3, min.insync.replicas=2. */
export async function createClusterTopics(kafka: Kafka, partitions = 6): Promise<{ topics: Topics; prefix: string }> {
  const prefix = uniqueName('cluster');
  const topics = topicsFor(prefix);
  await withAdmin(kafka, (admin) => ensureTopics(admin, topics, { partitions, replicationFactor: CLUSTER_REPLICATION_FACTOR }));
  return { topics, prefix };
}

/** The four topic names of `topics`. */
export function allTopics(topics: Topics): string[] {
  return [topics.trend, topics.alarm, topics.element, topics.dlq];
}

/** Partition -> leader node id (-1 while it has none) of `topic`, from fresh metadata. */
export async function partitionLeaders(kafka: Kafka, topic: string): Promise<Map<number, number>> {
  return withAdmin(kafka, async (admin) => {
    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    return new Map(md.topics[0]!.partitions.map((p) => [p.partitionId, p.leader]));
  });
}

/** Whether every partition of `topics` has all its replicas in sync (ISR = replication factor). */
export async function fullyInSync(kafka: Kafka, topics: string[]): Promise<boolean> {
  return withAdmin(kafka, async (admin) => {
    const md = await admin.fetchTopicMetadata({ topics });
    return md.topics.every((t) => t.partitions.every((p) => p.isr.length === CLUSTER_REPLICATION_FACTOR && p.leader >= 0));
  });
}

export function clusterNodeById(cfg: StackConfig, nodeId: number): KafkaNode {
  const node = clusterNodes(cfg).find((n) => n.nodeId === nodeId);
  if (node === undefined) throw new Error(`no cluster node ${nodeId}`);
  return node;
}

/** SIGKILLs cluster node `nodeId` (no shutdown: no leadership hand-over) and waits until it is gone. */
export async function killNode(cfg: StackConfig, nodeId: number): Promise<void> {
  const node = clusterNodeById(cfg, nodeId);
  const pid = runningPid(node.files);
  if (pid === undefined) throw new Error(`cluster node ${nodeId} is not running`);
  process.kill(pid, 'SIGKILL');
  await until(`node ${nodeId} (pid ${pid}) to exit`, () => runningPid(node.files) === undefined, 10_000, 50);
}

/** Starts cluster node `nodeId` again (its data kept) and waits until it answers. */
export async function restartNode(cfg: StackConfig, nodeId: number): Promise<void> {
  await startClusterNode(cfg, clusterNodeById(cfg, nodeId));
}

/** Waits until every partition of `topics` is fully in sync again, e.g. after a node rejoined. */
export async function untilFullyInSync(kafka: Kafka, topics: string[], timeoutMs = 120_000): Promise<void> {
  await until(`ISR of ${topics.join(', ')} back to ${CLUSTER_REPLICATION_FACTOR}`, () => fullyInSync(kafka, topics), timeoutMs, 500);
}
