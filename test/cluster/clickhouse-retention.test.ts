/**
 * Retention and the alarm-tree prune on the 2 x 2 ClickHouse cluster (issue 11): both run on the
 * local Replicated tables (storage/cluster-maintenance.ts) — expired partitions leave every
 * server of every shard, younger rows stay, and cleared alarm trees leave alarm_active on every
 * replica — while reads through the Distributed tables see the result.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { applyClusterRetention, pruneClusterAlarmTrees } from '../../storage/cluster-maintenance.ts';
import { forEachNode, localDatabase } from '../../storage/cluster-schema.ts';
import { createClusterDatabase, ensureClickHouseCluster, type ClusterDatabase } from '../support/clickhouse-cluster.ts';
import { queryRows, type Int64Json } from '../support/services.ts';
import { until } from '../support/wait.ts';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 20, 12);

describe('ClickHouse cluster retention and alarm pruning', { timeout: 180_000 }, () => {
  let database: ClusterDatabase;

  before(async () => {
    await ensureClickHouseCluster();
    database = await createClusterDatabase();
  });
  after(async () => {
    await database?.drop();
  });

  /** Per server (shard, url): `query`'s first row on its local database. */
  const perNode = <T>(query: (local: string) => string) =>
    forEachNode(database.conn, database.conn.cluster!, async (node, url, shard) => {
      const [row] = await queryRows<T>(node, query(localDatabase(database.db)));
      return { url, shard, row: row! };
    });
  const syncReplicas = (table: string) =>
    forEachNode(database.conn, database.conn.cluster!, (node) =>
      node.command({ query: `SYSTEM SYNC REPLICA ${localDatabase(database.db)}.${table}` }),
    );

  it('drops expired partitions on every server and keeps the rest', async () => {
    const db = database.db;
    // DMS 1 is on shard 2, DMS 2 on shard 1: an old day (30 days back) and today on each.
    const rows = [1, 2].flatMap((dms) =>
      [NOW - 30 * DAY, NOW - 30 * DAY + 1000, NOW, NOW + 1000].map((ts) => `(${dms}, 1, 1, 1, '', ${ts}, 1, '', 0)`),
    );
    await database.client.command({
      query: `INSERT INTO ${db}.trend_realtime (dms_id, dma_id, element_id, parameter_id, idx, ts, value, value_discrete, status) VALUES ${rows.join(', ')}`,
      clickhouse_settings: { insert_distributed_sync: 1 },
    });
    await syncReplicas('trend_realtime');
    const before = await perNode<{ n: Int64Json; parts: Int64Json }>(
      (local) =>
        `SELECT (SELECT count() FROM ${local}.trend_realtime) AS n, (SELECT uniqExact(partition) FROM system.parts WHERE active AND database = '${local}' AND table = 'trend_realtime') AS parts`,
    );
    for (const n of before) assert.deepEqual([Number(n.row.n), Number(n.row.parts)], [4, 2], `${n.url} before`);

    const result = await applyClusterRetention(database.conn, database.conn.cluster!, NOW);
    assert.equal(result.length, 4);
    for (const r of result) assert.equal(r.error, undefined, r.url);
    const oldDay = new Date(NOW - 30 * DAY).toISOString().slice(0, 10).replaceAll('-', '');
    // Each replica dropped the old day itself, or replication did it first: gone everywhere either way.
    assert.ok(result.some((r) => r.dropped.some((p) => p.table === 'trend_realtime' && p.partition === oldDay)));
    await syncReplicas('trend_realtime');
    await until('the old day gone from every server', async () =>
      (await perNode<{ n: Int64Json }>((local) => `SELECT count() AS n FROM ${local}.trend_realtime`)).every((n) => Number(n.row.n) === 2),
    );
    const [all] = await queryRows<{ n: Int64Json; oldest: Int64Json }>(
      database.client,
      `SELECT count() AS n, min(ts) AS oldest FROM ${db}.trend_realtime FINAL`,
    );
    assert.deepEqual([Number(all!.n), Number(all!.oldest)], [4, NOW], 'today kept on both shards');
  });

  it('prunes cleared alarm trees on every replica of every shard', async () => {
    const db = database.db;
    // Per DMS (one per shard): tree 10 raised then cleared (alarm type 11), tree 20 still active.
    const events = [1, 2].flatMap((dms) => [
      `(${dms}, 1, 1, 10, 10, 1, 10, 1, ${NOW})`,
      `(${dms}, 1, 1, 11, 10, 1, 11, 1, ${NOW + 1})`,
      `(${dms}, 1, 1, 20, 20, 2, 10, 1, ${NOW + 2})`,
    ]);
    await database.client.command({
      query: `INSERT INTO ${db}.alarm_events (dms_id, dma_id, element_id, alarm_id, root_alarm_id, severity, alarm_type, status, ts) VALUES ${events.join(', ')}`,
      clickhouse_settings: { insert_distributed_sync: 1 },
    });
    await syncReplicas('alarm_active');
    const trees = () =>
      perNode<{ trees: number[] }>(
        (local) => `SELECT arraySort(groupUniqArray(toInt32(root_alarm_id))) AS trees FROM ${local}.alarm_active`,
      );
    for (const n of await trees()) assert.deepEqual(n.row.trees, [10, 20], `${n.url} before`);

    const result = await pruneClusterAlarmTrees(database.conn, database.conn.cluster!);
    assert.equal(result.trees, 2, 'one cleared tree per shard');
    assert.equal(result.mutations, 2, 'one mutation per shard (replicated to its other replica)');
    await until('the cleared trees gone from every replica', async () => (await trees()).every((n) => n.row.trees.join() === '20'), 60_000);
  });
});
