/**
 * ZooKeeper stopped for 30 s under a sink writing to the 2 x 2 ClickHouse cluster (issue 11):
 * inserts into the Replicated tables fail (read-only tables, ZooKeeper errors), are classified
 * transient and retried, and once ZooKeeper is back everything arrives, once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { describeInsertError } from '../../ingest/sink/clickhouse-errors.ts';
import { stopService } from '../../ops/process.ts';
import { startZooKeeper, zookeeperFiles } from '../../ops/zookeeper.ts';
import {
  clusterStackConfig,
  expectedByDms,
  localPoints,
  pointsByDms,
  startClusterSink,
  syncReplicas,
  writePoints,
  type ClusterDatabase,
  clusterTestBed,
} from '../support/clickhouse-cluster.ts';
import { until } from '../support/wait.ts';
import { metricTotal } from '../support/metrics.ts';

describe('ClickHouse cluster without ZooKeeper for 30 s', { timeout: 300_000 }, () => {
  let topics: Topics;
  let database: ClusterDatabase;
  const cleanup: (() => Promise<unknown>)[] = [];

  before(async () => {
    ({ topics, database } = await clusterTestBed(cleanup));
  });
  after(async () => {
    // ZooKeeper back whatever happened: the other cluster tests need it.
    await startZooKeeper(clusterStackConfig).catch(() => undefined);
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  it('retries the read-only inserts as transient and stores everything once after', async (t) => {
    const warnings: string[] = [];
    const { sink, registry } = await startClusterSink(
      topics,
      database,
      {},
      {
        info: () => undefined,
        warn: (m) => warnings.push(m),
        error: (m) => warnings.push(m),
      },
    );
    cleanup.push(() => sink.stop());
    const retries = () => metricTotal(registry, 'staas_sink_insert_retries_total');

    await writePoints(topics, 0, 4_000);
    await until('the first points stored', async () => [...(await pointsByDms(database)).values()].reduce((n, d) => n + d.n, 0) === 4_000);

    await stopService(zookeeperFiles(clusterStackConfig), 10_000);
    const downAt = Date.now();
    try {
      await writePoints(topics, 4_000, 12_000);
      await until('inserts failing and retried', async () => (await retries()) > 0, 60_000);
      const stored = [...(await pointsByDms(database)).values()].reduce((n, d) => n + d.n, 0);
      assert.ok(stored < 12_000, `${stored} rows stored without ZooKeeper`);
      const left = 30_000 - (Date.now() - downAt);
      if (left > 0) await new Promise((r) => setTimeout(r, left));
    } finally {
      await startZooKeeper(clusterStackConfig);
    }

    // What the server answered: read-only tables or ZooKeeper errors, all transient.
    const failures = warnings.filter((w) => /insert into .* failed/.test(w));
    assert.ok(failures.length > 0, 'the failed inserts were logged');
    const seen = new Set<string>();
    for (const w of failures) {
      const cls = describeInsertError(new Error(w));
      assert.equal(cls.kind, 'transient', `classified transient: ${w}`);
      seen.add(cls.code === undefined ? cls.name : `${cls.code} ${cls.name}`);
    }
    t.diagnostic(`insert failures while ZooKeeper was down: ${[...seen].join(', ')}`);
    assert.ok(
      failures.some((w) => /Code: (242|164|999)|read-?only|ZooKeeper|Coordination/i.test(w)),
      `a read-only or ZooKeeper error among: ${failures.slice(0, 3).join(' | ')}`,
    );

    await until(
      'everything stored',
      async () => [...(await pointsByDms(database)).values()].reduce((n, d) => n + d.n, 0) === 12_000,
      120_000,
    );
    await syncReplicas(database);
    assert.deepEqual(await pointsByDms(database), expectedByDms(12_000), 'every value once per tenant');
    // Both replicas of each shard hold the shard's tenants, exactly (replication caught up).
    await until(
      'replicas caught up',
      async () => {
        const nodes = await localPoints(database);
        return nodes.every((n) => n.n === 6_000);
      },
      60_000,
    );
    const nodes = await localPoints(database);
    const expected = expectedByDms(12_000);
    for (const n of nodes) {
      const dms = n.shard === 0 ? [2, 4] : [1, 3];
      assert.deepEqual(n.dms, dms, `${n.url} holds its shard's tenants`);
      assert.equal(
        n.sum,
        dms.reduce((s, d) => s + expected.get(d)!.sum, 0),
        `${n.url}: sum of its tenants' values`,
      );
    }
  });
});
