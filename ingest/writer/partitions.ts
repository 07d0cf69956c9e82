/**
 * Which partition an element's records go to: Kafka's default partitioner (murmur2 of the key,
 * as kafkajs and the Java client compute it), over a partition count read from topic metadata.
 * The counts are saved beside the spool, so a writer that starts while Kafka is down keeps
 * sending each element to the partition it used before.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Partitioners, type Kafka, type PartitionMetadata } from 'kafkajs';

export class PartitionMap {
  private readonly cache = new Map<string, number>();
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly metadata = new Map<string, PartitionMetadata[]>();

  private constructor(private readonly counts: Map<string, number>) {
    for (const [topic, n] of counts) this.metadata.set(topic, fakeMetadata(n));
  }

  /** Reads partition counts from Kafka (bounded wait), else from the saved file, else the default. */
  static async load(kafka: Kafka, topics: string[], dir: string, fallback: number, timeoutMs: number): Promise<PartitionMap> {
    const file = join(dir, 'partitions.json');
    const saved = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>) : {};
    const counts = new Map<string, number>(topics.map((t) => [t, saved[t] ?? fallback]));
    const admin = kafka.admin();
    try {
      const fetched = await Promise.race([
        admin.connect().then(() => admin.fetchTopicMetadata({ topics })),
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), timeoutMs)),
      ]);
      if (fetched !== undefined) {
        for (const t of fetched.topics) counts.set(t.name, t.partitions.length);
        writeFileSync(file, JSON.stringify(Object.fromEntries(counts)));
      }
    } catch {
      /* Kafka unreachable: the saved or default counts stand */
    } finally {
      void admin.disconnect().catch(() => undefined);
    }
    return new PartitionMap(counts);
  }

  partitionOf(topic: string, key: string): number {
    const cacheKey = `${topic}\u0000${key}`;
    let p = this.cache.get(cacheKey);
    if (p === undefined) {
      p = this.partitioner({ topic, partitionMetadata: this.metadata.get(topic) ?? fakeMetadata(1), message: { key, value: null } });
      if (this.cache.size > 1_000_000) this.cache.clear();
      this.cache.set(cacheKey, p);
    }
    return p;
  }

  count(topic: string): number {
    return this.counts.get(topic) ?? 1;
  }
}

function fakeMetadata(n: number): PartitionMetadata[] {
  return Array.from({ length: n }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
}
