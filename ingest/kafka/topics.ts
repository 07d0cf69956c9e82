/** The Kafka topics of the pipeline and their idempotent creation. */
import type { Admin } from 'kafkajs';

export interface Topics {
  trend: string;
  alarm: string;
  element: string;
  dlq: string;
}

/** Topic names under a prefix ("staas" gives staas.trend, staas.alarm, staas.element, staas.dlq). */
export function topicsFor(prefix = 'staas'): Topics {
  return { trend: `${prefix}.trend`, alarm: `${prefix}.alarm`, element: `${prefix}.element`, dlq: `${prefix}.dlq` };
}

export interface TopicLayout {
  partitions: number;
  replicationFactor: number;
}

/**
 * Creates the topics that do not exist yet; existing ones are left as they are (a partition
 * count is never changed behind the operator's back: that would move keys between partitions).
 */
export async function ensureTopics(admin: Admin, topics: Topics, layout: TopicLayout): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = [topics.trend, topics.alarm, topics.element, topics.dlq].filter((t) => !existing.has(t));
  if (missing.length === 0) return [];
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((topic) => ({
      topic,
      // The DLQ is low-volume and read by people: one partition keeps it in arrival order.
      numPartitions: topic === topics.dlq ? 1 : layout.partitions,
      replicationFactor: layout.replicationFactor,
      configEntries: [{ name: 'min.insync.replicas', value: String(Math.min(2, layout.replicationFactor)) }],
    })),
  });
  return missing;
}
