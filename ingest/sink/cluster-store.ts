/**
 * How the sink stores rows on a ClickHouse cluster (STAAS_SINK_CLUSTER_INSERT):
 *
 * - `direct` (the default): each message's rows are split by shard (storage/shard-split.ts, the
 *   Distributed tables' sharding key) into per-shard table batches, each inserted into the
 *   shard's local Replicated table on a replica that answers (storage/shard-insert.ts), one
 *   Insert lane per shard. A shard that is down holds back only its own rows; the other shards'
 *   tenants keep flowing.
 * - `distributed`: the batch goes to the Distributed table of one server with
 *   insert_distributed_sync=1, which splits it, forwards each part to a replica of its shard and
 *   answers when every shard stored its part. One failing shard fails the whole insert, which is
 *   retried whole (the shards that stored their part drop the repeat: replicated inserts are
 *   deduplicated by block checksum), and while it fails every tenant waits.
 *
 * Why direct: a shard that fails holds back only its own tenants (test/cluster/
 * clickhouse-shard-down.test.ts fails with `distributed`: the live shard's tenants stop too), the
 * sink chooses the replica and fails over at once, and an acknowledgement is per shard, which is
 * what the commit waits for. It costs no more: measured with bench/cluster-insert.ts (the same
 * 2 M points into each; README, "Cluster mode"), rows/s and ClickHouse CPU-seconds per million
 * rows were within the noise of this shared 2-core machine either way; the split costs the sink
 * about 0.2-0.3 CPU-s per million rows, the Distributed path costs the receiving server parsing
 * every row and sending it on again.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { ClickHouseCluster, ClickHouseConnection } from '../../config/connections.ts';
import { insertRowBinary } from '../../storage/insert.ts';
import { shardOf, splitByShard } from '../../storage/shard-split.ts';
import { ShardWriter } from '../../storage/shard-insert.ts';
import { ONE_LANE, type InsertLanes, type StoreRows } from './steps/insert.ts';

export interface ClusterStore {
  store: StoreRows;
  lanes: InsertLanes;
  close(): Promise<void>;
}

/** The store and Insert lanes for `mode` on `cluster` (`ch`: the client of conn.url, for `distributed`). */
export function clusterStore(
  mode: 'direct' | 'distributed',
  conn: ClickHouseConnection,
  cluster: ClickHouseCluster,
  ch: ClickHouseClient,
  opts: { requestTimeoutMs?: number } = {},
): ClusterStore {
  if (mode === 'distributed') {
    return {
      store: (table, columns, body, queryId, _lane, partitionsAtMost) =>
        insertRowBinary(ch, conn.database, table, columns, body, { queryId, settings: { insert_distributed_sync: 1 }, partitionsAtMost }),
      lanes: ONE_LANE,
      close: () => Promise.resolve(),
    };
  }
  const writer = new ShardWriter(conn, cluster, opts);
  return {
    store: (table, columns, body, queryId, lane, partitionsAtMost) => writer.insert(lane, table, columns, body, queryId, partitionsAtMost),
    lanes: {
      count: writer.shards,
      split: (table, columns, body, rowsOut) => splitByShard(table, columns, body, writer.shards, rowsOut),
      laneOf: (dmsId) => shardOf(dmsId, writer.shards),
    },
    close: () => writer.close(),
  };
}
