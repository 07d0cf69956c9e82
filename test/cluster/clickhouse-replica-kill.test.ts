/**
 * A ClickHouse replica killed with -9 while the sink writes to the 2 x 2 cluster (issue 11):
 * inserts continue on the shard's other replica, and after the killed one returns and catches
 * up, both hold exactly the shard's rows (FINAL counts and sums per shard), nothing lost or doubled.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Topics } from '../../ingest/kafka/topics.ts';
import {
  clusterNode,
  expectedByDms,
  killNode,
  localPoints,
  pointsByDms,
  restartNode,
  startClusterSink,
  writePoints,
  type ClusterDatabase,
  clusterTestBed,
} from '../support/clickhouse-cluster.ts';
import { createClickHouse } from '../../storage/client.ts';
import { queryRows } from '../support/services.ts';
import { until } from '../support/wait.ts';

const total = async (database: ClusterDatabase) => [...(await pointsByDms(database)).values()].reduce((n, d) => n + d.n, 0);

describe('ClickHouse cluster with a replica killed', { timeout: 300_000 }, () => {
  let topics: Topics;
  let database: ClusterDatabase;
  const cleanup: (() => Promise<unknown>)[] = [];
  const victim = clusterNode(0); // shard 1, replica 1: the replica the sink tries first

  before(async () => {
    ({ topics, database } = await clusterTestBed(cleanup));
  });
  after(async () => {
    await restartNode(victim).catch(() => undefined);
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  it('keeps inserting on the other replica, and both replicas hold every row once after', async () => {
    // Reads while the first server is down go through another one (the Distributed table picks a live replica).
    const reader = { ...database, client: createClickHouse({ ...database.conn, url: database.conn.cluster!.shards[1]![0]! }) };
    cleanup.push(() => reader.client.close());
    const { sink } = await startClusterSink(topics, database);
    cleanup.push(() => sink.stop());

    await writePoints(topics, 0, 4_000);
    await until('the first points stored', async () => (await total(reader)) === 4_000);

    // Kill it while the writer is writing.
    const writing = writePoints(topics, 4_000, 16_000);
    await until('new points arriving', async () => (await total(reader)) > 5_000, 60_000, 50);
    await killNode(victim);
    await writing;
    // Inserts go on through the shard's other replica: points written after the kill all arrive
    // while it is down. (A part the killed replica acknowledged in its last moments, before its
    // peer fetched it, stays out of reach until it is back — replication is asynchronous, and a
    // quorum insert would instead stop while a replica is down — so "all of it" is asserted once
    // it has returned, below.)
    await writePoints(topics, 16_000, 20_000);
    const afterKill = async () =>
      Number(
        (
          await queryRows<{ n: string | number }>(
            reader.client,
            `SELECT count() AS n FROM ${reader.db}.trend_realtime FINAL WHERE value >= 16000`,
          )
        )[0]!.n,
      );
    await until('the points written after the kill stored on the other replica', async () => (await afterKill()) === 4_000, 120_000);
    for (const [dms, got] of await pointsByDms(reader))
      assert.ok(got.n <= expectedByDms(20_000).get(dms)!.n, `no row of tenant ${dms} stored twice with the replica down`);

    await restartNode(victim);
    await until('the killed replica caught up', async () => (await localPoints(database)).every((n) => n.n === 10_000), 120_000);
    const expected = expectedByDms(20_000);
    for (const n of await localPoints(database)) {
      const dms = n.shard === 0 ? [2, 4] : [1, 3];
      assert.deepEqual(n.dms, dms, `${n.url} holds its shard's tenants`);
      assert.equal(
        n.n,
        dms.reduce((s, d) => s + expected.get(d)!.n, 0),
        `${n.url}: rows of its tenants`,
      );
      assert.equal(
        n.sum,
        dms.reduce((s, d) => s + expected.get(d)!.sum, 0),
        `${n.url}: sum of its tenants' values`,
      );
    }
    assert.deepEqual(await pointsByDms(database), expectedByDms(20_000), 'every value once per tenant, all replicas up');
  });
});
