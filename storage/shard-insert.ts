/**
 * Inserts into one shard of a cluster, straight into its local Replicated table on a replica
 * that answers: the sink's cluster store (ingest/sink/sink.ts). Any replica of a shard takes an
 * insert (internal_replication: the others fetch the new part from it), so when one is down or
 * refuses, the next is tried at once; the error of the last one is thrown when none took it.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { ClickHouseCluster, ClickHouseConnection } from '../config/connections.ts';
import { createClickHouse } from './client.ts';
import { localDatabase } from './cluster-schema.ts';
import { insertRowBinary } from './insert.ts';
import type { InsertTable } from './schema.ts';

export class ShardWriter {
  /** Clients per shard, per replica. */
  private readonly clients: ClickHouseClient[][];
  /** Per shard, the replica that took the last insert: tried first next time. */
  private readonly preferred: number[];
  private readonly localDb: string;

  constructor(
    conn: ClickHouseConnection,
    readonly cluster: ClickHouseCluster,
    opts: { requestTimeoutMs?: number } = {},
  ) {
    this.clients = cluster.shards.map((urls) => urls.map((url) => createClickHouse({ ...conn, url }, opts)));
    this.preferred = cluster.shards.map(() => 0);
    this.localDb = localDatabase(conn.database);
  }

  get shards(): number {
    return this.clients.length;
  }

  /**
   * Stores one RowBinary body in `table` of shard `shard` (0-based, remote_servers' order).
   * Rejects with the last replica's error (ClickHouse's, or a connection error) when no replica
   * took it; the caller classifies it (ingest/sink/clickhouse-errors.ts) and retries.
   * `partitionsAtMost`: as for insertRowBinary.
   */
  async insert(
    shard: number,
    table: InsertTable,
    columns: readonly string[],
    body: readonly Buffer[],
    queryId: string,
    partitionsAtMost?: number,
  ): Promise<void> {
    const replicas = this.clients[shard];
    if (replicas === undefined) throw new RangeError(`no shard ${shard}`);
    const first = this.preferred[shard]!;
    let lastError: unknown;
    for (let i = 0; i < replicas.length; i++) {
      const r = (first + i) % replicas.length;
      try {
        await insertRowBinary(replicas[r]!, this.localDb, table, columns, body, {
          queryId: i === 0 ? queryId : `${queryId}-r${r}`,
          partitionsAtMost,
        });
        this.preferred[shard] = r;
        return;
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.flat().map((c) => c.close()));
  }
}
