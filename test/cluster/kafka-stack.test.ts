/**
 * Cluster mode's `up` (STAAS_STACK_MODE=cluster): three KRaft nodes, idempotent, the data topics
 * at replication factor 3 with min.insync.replicas=2, internal topics with 3 replicas.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { topicsFor } from '../../ingest/kafka/topics.ts';
import { up } from '../../ops/stack.ts';
import { kafkaCluster, type KafkaClusterHandle } from '../support/kafka-cluster.ts';
import { connections, withAdmin } from '../support/services.ts';

// kafkajs is CommonJS: its enums come through the default export.
const { ConfigResourceTypes } = kafkajs;

describe('cluster mode: up', () => {
  let cluster: KafkaClusterHandle;

  before(async () => {
    cluster = await kafkaCluster();
  });

  it('is harmless when the cluster runs, and its topics are replicated three times with min.insync.replicas=2', async () => {
    const conn = { ...connections, kafka: { ...connections.kafka, brokers: cluster.brokers } };
    await up(cluster.cfg, () => undefined, conn); // creates the topics on a fresh cluster
    const lines: string[] = [];
    await up(cluster.cfg, (l) => lines.push(l), conn);
    assert.deepEqual(lines, [
      ...cluster.cfg.kafka.cluster.nodes.map((n) => `kafka-${n.nodeId}: already running on ${cluster.cfg.kafka.host}:${n.port}`),
      'kafka: topics present',
    ]);

    const t = topicsFor();
    await withAdmin(cluster.kafka, async (admin) => {
      const { brokers } = await admin.describeCluster();
      assert.deepEqual(brokers.map((b) => b.nodeId).sort(), [1, 2, 3]);
      const md = await admin.fetchTopicMetadata({ topics: [t.trend, t.alarm, t.element, t.dlq, '__consumer_offsets'] });
      for (const topic of md.topics) {
        const partitions = topic.name === t.dlq ? 1 : topic.name === '__consumer_offsets' ? 8 : cluster.cfg.kafka.cluster.partitions;
        assert.equal(topic.partitions.length, partitions, topic.name);
        for (const p of topic.partitions) assert.equal(new Set(p.replicas).size, 3, `${topic.name}[${p.partitionId}] replicas`);
        // Preferred leaders (first replicas) spread over the three nodes.
        if (partitions >= 3) assert.equal(new Set(topic.partitions.map((p) => p.replicas[0])).size, 3, `${topic.name} preferred leaders`);
      }
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [t.trend, t.alarm, t.element].map((name) => ({
          type: ConfigResourceTypes.TOPIC,
          name,
          configNames: ['min.insync.replicas'],
        })),
      });
      for (const r of resources)
        assert.deepEqual(
          r.configEntries.map((e) => [e.configName, e.configValue]),
          [['min.insync.replicas', '2']],
          r.resourceName,
        );
    });
  });
});
