/** The Kafka topics of the pipeline and their idempotent creation. */
import type { Admin, ITopicConfig } from 'kafkajs';

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
  await createTopicsWaiting(
    admin,
    missing.map((topic) => ({
      topic,
      // The DLQ is low-volume and read by people: one partition keeps it in arrival order.
      numPartitions: topic === topics.dlq ? 1 : layout.partitions,
      replicationFactor: layout.replicationFactor,
      configEntries: [{ name: 'min.insync.replicas', value: String(Math.min(2, layout.replicationFactor)) }],
    })),
  );
  return missing;
}

/**
 * Creates topics and waits until every partition has a leader. kafkajs's own wait
 * (`waitForLeaders`) retries only LEADER_NOT_AVAILABLE, but a KRaft broker learns a new topic
 * from the metadata log a moment after it was created and answers UNKNOWN_TOPIC_OR_PARTITION
 * meanwhile (seen in CI: "This server does not host this topic-partition"): then this waits
 * itself, up to 30 s. Throws what createTopics throws otherwise (e.g. the topic exists).
 */
export async function createTopicsWaiting(admin: Admin, specs: ITopicConfig[]): Promise<void> {
  try {
    await admin.createTopics({ waitForLeaders: true, topics: specs });
  } catch (err) {
    if ((err as { type?: unknown }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw err;
    await waitForLeaders(
      admin,
      specs.map((t) => t.topic),
      TOPIC_LEADERS_TIMEOUT_MS,
    );
  }
}

/** How long createTopicsWaiting waits for the leaders of topics it created (ms). */
const TOPIC_LEADERS_TIMEOUT_MS = 30_000;

/**
 * Waits until every partition of `names` has a leader, asking every 100 ms; metadata errors of
 * topics still unknown count as not yet. Throws after `timeoutMs` with the last error.
 */
async function waitForLeaders(admin: Admin, names: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: names });
      if (topics.length === names.length && topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)))
        return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`topics ${names.join(', ')} have no leaders ${timeoutMs} ms after their creation`, { cause: last });
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
