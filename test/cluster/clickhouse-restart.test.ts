/**
 * The ClickHouse side of cluster mode stopped and started again on its own data: ZooKeeper must
 * serve requests before the servers open their Replicated tables (18.16 aborts at start when its
 * sessions are refused, which `ruok` did not reveal: ops/zookeeper.ts zookeeperHealthy). Two
 * rounds, since the window was hit on about two restarts in three.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stopClickHouseSide } from '../../ops/cluster.ts';
import { clusterStackConfig, createClusterDatabase, ensureClickHouseCluster } from '../support/clickhouse-cluster.ts';
import { queryRows } from '../support/services.ts';
import { createClickHouse } from '../../storage/client.ts';

describe('ClickHouse cluster restarted on its data', { timeout: 300_000 }, () => {
  it('comes back with every server answering from its Replicated tables', async () => {
    await ensureClickHouseCluster();
    const database = await createClusterDatabase();
    try {
      for (let round = 0; round < 2; round++) {
        await stopClickHouseSide(clusterStackConfig);
        await ensureClickHouseCluster();
        for (const shard of database.conn.cluster!.shards)
          for (const url of shard) {
            const node = createClickHouse({ ...database.conn, url });
            try {
              const [row] = await queryRows<{ n: string | number }>(node, `SELECT count() AS n FROM ${database.db}.trend_realtime`);
              assert.equal(Number(row!.n), 0, `${url} answers`);
            } finally {
              await node.close();
            }
          }
      }
    } finally {
      await database.drop();
    }
  });
});
