/**
 * The cluster mode's DDL: on every server, the staas tables of storage/schema.ts as
 * ReplicatedReplacingMergeTree in a local database `<db>_shard` (each shard's replicas share a
 * ZooKeeper path), the alarm_active view over them (it fires on the replica an insert lands on;
 * replication copies its output), and in `<db>` a Distributed table of the same name over each,
 * so reads and the Query API use the same names as on a single server. Distributed forwards
 * FINAL to every shard, where each tenant's rows all live (sharding key: the DMS id).
 *
 * Created per server rather than ON CLUSTER: the same idempotent statements as the single
 * server, no distributed DDL queue to wait on, and a server that was down catches up by running
 * them again (`stack up` / the sink at start).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { ClickHouseCluster, ClickHouseConnection } from '../config/connections.ts';
import { createClickHouse, isUnreachable } from './client.ts';
import { assertIdentifier } from './identifier.ts';
import { API_TABLES, ensureSchema, MARKER_TABLES, TABLES, type TableName } from './schema.ts';

/** The database holding a cluster server's local (Replicated) tables. */
export function localDatabase(db: string): string {
  return `${assertIdentifier(db)}_shard`;
}

/**
 * The Distributed tables' sharding key. A row goes to shard `dms_id mod shards` (equal weights:
 * ClickHouse docs, Distributed engine, "the remainder of dividing the sharding expression by the
 * total weight of the shards"), which the sink computes itself to write to the shard directly
 * (storage/shard-split.ts). DMS ids are positive (schemas/validate.ts).
 */
export const SHARDING_KEY = 'dms_id';

/**
 * A table's CREATE statement with its ReplacingMergeTree made Replicated: the ZooKeeper path is
 * per shard, database and table (`{shard}`, `{replica}`: the server's macros,
 * ops/clickhouse-cluster.ts). Throws when the statement has no ReplacingMergeTree engine.
 */
export function replicatedStatement(localDb: string, table: string, statement: string): string {
  const path = `/clickhouse/tables/{shard}/${assertIdentifier(localDb)}/${assertIdentifier(table)}`;
  let found = false;
  const out = statement.replace(/ENGINE = ReplacingMergeTree\((\w*)\)/, (_m, version: string) => {
    found = true;
    return `ENGINE = ReplicatedReplacingMergeTree('${path}', '{replica}'${version === '' ? '' : `, ${version}`})`;
  });
  if (!found) throw new Error(`${table}: no ReplacingMergeTree engine to replicate`);
  return out;
}

/** `CREATE TABLE IF NOT EXISTS <db>.<table> AS <local> ENGINE = Distributed(...)`. */
export function distributedStatement(cluster: string, db: string, table: string): string {
  const local = localDatabase(db);
  return `CREATE TABLE IF NOT EXISTS ${assertIdentifier(db)}.${assertIdentifier(table)} AS ${local}.${table}
    ENGINE = Distributed(${assertIdentifier(cluster)}, ${local}, ${table}, ${SHARDING_KEY})`;
}

/** Every table that has a Distributed table in `<db>`: all of storage/schema.ts's but the view. */
export const DISTRIBUTED_TABLES = [...TABLES, ...MARKER_TABLES, ...API_TABLES] as const;

/**
 * On one server: the local replicated tables (and view), then the Distributed tables. Markers
 * (trend_late_writes) are inserted into a shard's local table, never through the Distributed one
 * (whose inserts are forwarded asynchronously: a marker could be seen before its rows); readers
 * read the Distributed table, which unions every shard's.
 */
export async function ensureNodeSchema(client: ClickHouseClient, cluster: string, db: string): Promise<void> {
  const local = localDatabase(db);
  await ensureSchema(client, local, { engine: (table, statement) => replicatedStatement(local, table, statement) });
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${assertIdentifier(db)}` });
  for (const table of DISTRIBUTED_TABLES) await client.command({ query: distributedStatement(cluster, db, table) });
}

/** Runs `fn` with a client of every server of the cluster, one server after another. */
export async function forEachNode<T>(
  conn: ClickHouseConnection,
  cluster: ClickHouseCluster,
  fn: (client: ClickHouseClient, url: string, shard: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = [];
  for (const [shard, urls] of cluster.shards.entries()) {
    for (const url of urls) {
      const client = createClickHouse({ ...conn, url });
      try {
        out.push(await fn(client, url, shard));
      } finally {
        await client.close();
      }
    }
  }
  return out;
}

/**
 * The staas tables wherever `conn` points: storage/schema.ts's on a single server, or on every
 * server of a cluster (ensureNodeSchema). `client` is used in single mode. Returns the table names.
 * With `onUnreachable`, a cluster server that cannot be reached (refused, reset, timed out: a
 * replica or shard that is down) is reported and skipped, so that a service starts while part of
 * the cluster is down (it has its tables from before; one that never had them gets them at the
 * next start of any service); throws when no server answered. Without it, every server must answer.
 */
export async function ensureSchemaFor(
  client: ClickHouseClient,
  conn: ClickHouseConnection,
  opts: { onUnreachable?: (url: string, err: Error) => void } = {},
): Promise<TableName[]> {
  const cluster = conn.cluster;
  if (cluster === undefined) return ensureSchema(client, conn.database);
  const { onUnreachable } = opts;
  const answered = await forEachNode(conn, cluster, async (node, url) => {
    try {
      await ensureNodeSchema(node, cluster.name, conn.database);
      return true;
    } catch (err) {
      if (onUnreachable === undefined || !isUnreachable(err)) throw err;
      onUnreachable(url, err as Error);
      return false;
    }
  });
  if (!answered.some((a) => a))
    throw new Error(`no ClickHouse server of cluster ${cluster.name} answered: ${cluster.shards.flat().join(', ')}`);
  return [...TABLES];
}
