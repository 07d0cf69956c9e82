/**
 * What changed in the sink's topics between two looks at their metadata (topic id and partition
 * count, ingest/kafka/topic-ids.ts): a topic missing, deleted, created, re-created under the same
 * name (a new topic id: its offsets start again at 0), or given more partitions. Pure: the sink
 * reads the metadata and acts on the changes.
 */
import type { TopicState } from '../kafka/topic-ids.ts';

export type TopologyChange =
  /** Missing at the first look: the sink waits for it. */
  | { kind: 'missing'; topic: string }
  /** It existed and is gone: deleted. */
  | { kind: 'deleted'; topic: string; id: string }
  /** It exists now and had never been seen: created after the sink started. */
  | { kind: 'created'; topic: string; id: string }
  /** It exists under another id than last seen (deleted and created again, maybe between two looks). */
  | { kind: 'recreated'; topic: string; oldId: string; newId: string }
  /** More (or fewer) partitions than last seen under the same id. */
  | { kind: 'partitions'; topic: string; from: number; to: number };

export class TopologyTracker {
  /** Per topic: the id last seen (kept while the topic is missing), whether it exists now, and its partitions. */
  private readonly known = new Map<string, { id: string | undefined; exists: boolean; partitions: number }>();

  /** Compares `states` (topic → state; topics absent from it are not judged) with the last look. */
  observe(states: ReadonlyMap<string, TopicState>): TopologyChange[] {
    const changes: TopologyChange[] = [];
    for (const [topic, now] of states) {
      const before = this.known.get(topic);
      const exists = now.id !== undefined;
      if (before === undefined) {
        if (!exists) changes.push({ kind: 'missing', topic });
      } else if (!exists) {
        if (before.exists && before.id !== undefined) changes.push({ kind: 'deleted', topic, id: before.id });
      } else if (before.id === undefined) {
        changes.push({ kind: 'created', topic, id: now.id! });
      } else if (before.id !== now.id) {
        changes.push({ kind: 'recreated', topic, oldId: before.id, newId: now.id! });
      } else if (before.partitions !== now.partitions) {
        changes.push({ kind: 'partitions', topic, from: before.partitions, to: now.partitions });
      }
      this.known.set(topic, { id: now.id ?? before?.id, exists, partitions: exists ? now.partitions : (before?.partitions ?? 0) });
    }
    return changes;
  }

  /** The topic's id at the last look (undefined when unknown or missing). */
  id(topic: string): string | undefined {
    const k = this.known.get(topic);
    return k?.exists === true ? k.id : undefined;
  }

  /** Topics missing at the last look. */
  get missing(): string[] {
    return [...this.known].filter(([, k]) => !k.exists).map(([t]) => t);
  }
}
