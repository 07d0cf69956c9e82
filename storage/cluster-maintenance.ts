/**
 * Retention and the alarm-tree prune on a cluster: the same jobs as on a single server
 * (storage/retention.ts, storage/alarm-active.ts), run on the local Replicated tables, because a
 * Distributed table has neither parts nor mutations.
 *
 * - Retention reads system.parts of every server and drops its expired partitions there. A
 *   DROP PARTITION on a replicated table is replicated to the shard's other replicas (through
 *   ZooKeeper's log); running it on each is harmless and covers a replica that missed it.
 * - The prune runs on one replica per shard (a mutation is replicated to the others; running it
 *   on both would start two mutations for the same trees), the first that answers.
 */
import type { ClickHouseCluster, ClickHouseConnection } from '../config/connections.ts';
import { pruneClearedAlarmTrees, type PruneResult } from './alarm-active.ts';
import { createClickHouse } from './client.ts';
import { localDatabase } from './cluster-schema.ts';
import { applyRetention, type Partition } from './retention.ts';

/** What one server dropped; `error` when it did not answer (the others still ran). */
export interface NodeRetention {
  url: string;
  dropped: Partition[];
  error?: string;
}

/** Applies retention on every server of `cluster` (see storage/retention.ts applyRetention). */
export async function applyClusterRetention(
  conn: ClickHouseConnection,
  cluster: ClickHouseCluster,
  now = Date.now(),
  opts: Parameters<typeof applyRetention>[3] = {},
): Promise<NodeRetention[]> {
  const out: NodeRetention[] = [];
  for (const url of cluster.shards.flat()) {
    const client = createClickHouse({ ...conn, url });
    try {
      out.push({ url, dropped: await applyRetention(client, localDatabase(conn.database), now, opts) });
    } catch (err) {
      out.push({ url, dropped: [], error: (err as Error).message.split('\n')[0] });
    } finally {
      await client.close();
    }
  }
  return out;
}

/**
 * Prunes cleared alarm trees on every shard (one replica each, the first that answers); the
 * results summed. Throws the last error of a shard where no replica answered, after the others ran.
 */
export async function pruneClusterAlarmTrees(conn: ClickHouseConnection, cluster: ClickHouseCluster): Promise<PruneResult> {
  const total: PruneResult = { trees: 0, mutations: 0, mutationRunning: false };
  let failure: Error | undefined;
  for (const urls of cluster.shards) {
    let lastError: Error | undefined;
    for (const url of urls) {
      const client = createClickHouse({ ...conn, url });
      try {
        const r = await pruneClearedAlarmTrees(client, localDatabase(conn.database));
        total.trees += r.trees;
        total.mutations += r.mutations;
        total.mutationRunning ||= r.mutationRunning;
        lastError = undefined;
        break;
      } catch (err) {
        lastError = err instanceof Error ? err : new Error(String(err));
      } finally {
        await client.close();
      }
    }
    failure ??= lastError;
  }
  if (failure !== undefined) throw failure;
  return total;
}
