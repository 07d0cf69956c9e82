/**
 * Which partition an element's records go to: Kafka's default partitioner (murmur2 of the key,
 * as kafkajs and the Java client compute it), over a partition count read from topic metadata.
 * With partition groups G (a ClickHouse cluster's shard count, STAAS_WRITER_PARTITION_GROUPS) and
 * a partition count that is a multiple of G, partition p only holds DMSs with dms mod G = p mod G:
 * each partition feeds one shard (the sharding key is dms_id mod shards), so a shard that is down
 * pauses only its own partitions in the sink while the others keep flowing. The element still
 * picks (by murmur2) among its group's partitions, so a big DMS spreads over count / G of them.
 * The counts are saved beside the spool, so a writer that starts while Kafka is down keeps
 * sending each element to the partition it used before.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Partitioners, type Kafka, type PartitionMetadata } from 'kafkajs';
import { adminWithin } from '../kafka/admin.ts';
import { elementKey } from '../kafka/message.ts';

export class PartitionMap {
  /** topic -> dmsId -> dmaId -> elementId -> partition: numeric lookups, no key string per record. */
  private readonly cache = new Map<string, Map<number, Map<number, Map<number, number>>>>();
  /** The last answer of partitionOf (topic undefined: none). */
  private readonly last: { topic: string | undefined; dmsId: number; dmaId: number; elementId: number; partition: number } = {
    topic: undefined,
    dmsId: 0,
    dmaId: 0,
    elementId: 0,
    partition: 0,
  };
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly metadata = new Map<string, PartitionMetadata[]>();
  private readonly counts = new Map<string, number>();
  /** Whether the counts were read from Kafka (not assumed). */
  confirmed = false;

  private constructor(
    private readonly kafka: Kafka,
    private readonly topics: string[],
    private readonly file: string,
    counts: Map<string, number>,
    /** Partition groups (1: none). */
    readonly groups: number,
  ) {
    this.setCounts(counts);
  }

  /** Reads partition counts from Kafka (bounded wait), else from the saved file, else the default. */
  static async load(kafka: Kafka, topics: string[], dir: string, fallback: number, timeoutMs: number, groups = 1): Promise<PartitionMap> {
    const file = join(dir, 'partitions.json');
    const saved = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>) : {};
    const map = new PartitionMap(kafka, topics, file, new Map(topics.map((t) => [t, saved[t] ?? fallback])), groups);
    await map.refresh(timeoutMs);
    return map;
  }

  /** Re-reads the partition counts from Kafka; keeps the current ones if Kafka does not answer in time. */
  async refresh(timeoutMs: number): Promise<boolean> {
    const fetched = await adminWithin(this.kafka, timeoutMs, (admin) => admin.fetchTopicMetadata({ topics: this.topics }));
    if (fetched === undefined) return false; // Kafka unreachable: the saved or assumed counts stand
    const counts = new Map(this.counts);
    for (const t of fetched.topics) counts.set(t.name, t.partitions.length);
    this.setCounts(counts);
    this.confirmed = true;
    try {
      writeFileSync(this.file, JSON.stringify(Object.fromEntries(counts)));
    } catch {
      return false; // not saved (a full disk): a restart while Kafka is down assumes the old counts
    }
    return true;
  }

  /**
   * A partition that exists now. Batches sealed under an assumed count (Kafka was down at start)
   * may name a partition the topic does not have; they go to one that exists rather than wait
   * forever. Only the elements of such batches can see their order change, once.
   */
  existing(topic: string, partition: number): number {
    const n = this.count(topic);
    return partition < n ? partition : partition % n;
  }

  private setCounts(counts: Map<string, number>): void {
    let changed = false;
    for (const [topic, n] of counts) {
      if (this.counts.get(topic) !== n) changed = true;
      this.counts.set(topic, n);
      this.metadata.set(topic, fakeMetadata(n));
    }
    if (changed) {
      this.cache.clear();
      this.last.topic = undefined;
    }
  }

  /**
   * Whether `topic`'s partitions are grouped by shard: more than one group and a partition count
   * that is a multiple of it (otherwise every element is spread over all partitions).
   */
  grouped(topic: string): boolean {
    return this.groups > 1 && this.count(topic) % this.groups === 0;
  }

  /**
   * The partition of an element's records: murmur2 of its key `dmsId:dmaId/elementId` over all
   * partitions, or, grouped, over its group's (group = dmsId mod groups; partition = group +
   * groups x pick).
   */
  partitionOf(topic: string, dmsId: number, dmaId: number, elementId: number): number {
    // Records come in runs per element (an agent writes an element's parameters together): the
    // last answer first, then the maps.
    const last = this.last;
    if (last.topic === topic && last.elementId === elementId && last.dmaId === dmaId && last.dmsId === dmsId) return last.partition;
    const p = this.lookUp(topic, dmsId, dmaId, elementId);
    last.topic = topic;
    last.dmsId = dmsId;
    last.dmaId = dmaId;
    last.elementId = elementId;
    last.partition = p;
    return p;
  }

  private lookUp(topic: string, dmsId: number, dmaId: number, elementId: number): number {
    let byDms = this.cache.get(topic);
    if (byDms === undefined) this.cache.set(topic, (byDms = new Map<number, Map<number, Map<number, number>>>()));
    let byDma = byDms.get(dmsId);
    if (byDma === undefined) byDms.set(dmsId, (byDma = new Map<number, Map<number, number>>()));
    let byElement = byDma.get(dmaId);
    if (byElement === undefined) byDma.set(dmaId, (byElement = new Map<number, number>()));
    let p = byElement.get(elementId);
    if (p === undefined) {
      const key = elementKey({ dmsId, dmaId, elementId });
      if (this.grouped(topic)) {
        const perGroup = this.count(topic) / this.groups;
        const pick = this.partitioner({ topic, partitionMetadata: fakeMetadata(perGroup), message: { key, value: null } });
        p = (dmsId % this.groups) + this.groups * pick;
      } else p = this.partitioner({ topic, partitionMetadata: this.metadata.get(topic) ?? fakeMetadata(1), message: { key, value: null } });
      byElement.set(elementId, p);
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
