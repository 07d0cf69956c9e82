/**
 * A whole shard of the 2 x 2 ClickHouse cluster down under the sink (issue 11): the other
 * shard's tenants keep flowing, the down shard's rows wait (offsets not committed; past the
 * shard's share of the sink's memory cap its partitions pause), and everything arrives once it is
 * back. The Writer groups partitions by shard (STAAS_WRITER_PARTITION_GROUPS=2 over 4 partitions:
 * partitions 1 and 3 hold DMS 1 and 3), so the live shard's partitions never pause and keep
 * committing, however long the other is down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { createClickHouse } from '../../storage/client.ts';
import { localDatabase } from '../../storage/cluster-schema.ts';
import {
  clusterNode,
  expectedByDms,
  killNode,
  pointsByDms,
  restartNode,
  startClusterSink,
  syncReplicas,
  writePoints,
  type ClusterDatabase,
  clusterTestBed,
} from '../support/clickhouse-cluster.ts';
import { committedToEnd, queryRows, type Int64Json } from '../support/services.ts';
import { until } from '../support/wait.ts';

describe('ClickHouse cluster with a whole shard down', { timeout: 300_000 }, () => {
  let kafka: Kafka;
  let topics: Topics;
  let database: ClusterDatabase;
  const cleanup: (() => Promise<unknown>)[] = [];
  // Shard 2 (index 1): DMS 1 and 3. Shard 1 keeps DMS 2 and 4.
  const down = [clusterNode(2), clusterNode(3)];

  before(async () => {
    ({ kafka, topics, database } = await clusterTestBed(cleanup, 4));
  });
  after(async () => {
    for (const node of down) await restartNode(node).catch(() => undefined);
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  it("keeps the other shard's tenants flowing, holds back the rest, and stores everything once it is back", async () => {
    // Many inserts in flight per shard: the down shard's batches pile up until its share of the
    // memory cap (512 KiB) stops them, not its insert queue.
    const { sink, groupId } = await startClusterSink(topics, database, { maxBufferedBytes: 1024 * 1024, maxInFlightInserts: 64 });
    cleanup.push(() => sink.stop());
    const topicNames = [topics.trend, topics.alarm, topics.element];
    // The live shard's rows per DMS, read from its first replica (the Distributed table needs every shard).
    const live = createClickHouse({ ...database.conn, url: database.conn.cluster!.shards[0]![0]! });
    cleanup.push(() => live.close());
    const liveRows = async () =>
      new Map(
        (
          await queryRows<{ dms_id: number; n: Int64Json; total: number }>(
            live,
            `SELECT dms_id, count() AS n, sum(value) AS total FROM ${localDatabase(database.db)}.trend_realtime FINAL GROUP BY dms_id ORDER BY dms_id`,
          )
        ).map((r) => [r.dms_id, { n: Number(r.n), sum: r.total }]),
      );

    const write = (from: number, to: number) => writePoints(topics, from, to, undefined, 2);
    const downPartition = (p: number) => p % 2 === 1;
    await write(0, 4_000);
    await until('the first points stored', async () => [...(await pointsByDms(database)).values()].reduce((n, d) => n + d.n, 0) === 4_000);
    await until('offsets committed', () => committedToEnd(kafka, groupId, topicNames), 30_000);

    for (const node of down) await killNode(node);
    await write(4_000, 12_000);
    const liveHasAll = async (to: number) => {
      const rows = await liveRows();
      const expected = expectedByDms(to);
      return rows.get(2)?.n === expected.get(2)!.n && rows.get(4)?.n === expected.get(4)!.n;
    };
    await until('the live shard has all its tenants rows', () => liveHasAll(12_000));
    const expected = expectedByDms(12_000);
    const rows = await liveRows();
    assert.deepEqual(rows, new Map([2, 4].map((d) => [d, expected.get(d)!])), "the live shard's tenants, each value once");
    assert.equal(await committedToEnd(kafka, groupId, topicNames), false, 'offsets of rows not stored are not committed');
    assert.equal(sink.state.paused, 0, 'not paused while the held-back rows fit the memory cap');

    // More than the down shard's share of the cap: its partitions pause (backpressure), only them.
    await write(12_000, 60_000);
    await until('the down shard partitions paused', () => sink.state.paused > 0, 60_000);
    // The live shard's tenants keep flowing past the cap, and their partitions keep committing.
    await until("the live shard has all its tenants' rows past the cap", () => liveHasAll(60_000), 60_000);
    await until(
      'the live partitions committed to the end',
      () => committedToEnd(kafka, groupId, topicNames, (p) => !downPartition(p)),
      30_000,
    );
    await write(60_000, 70_000);
    await until('the live shard keeps flowing while the other is down', () => liveHasAll(70_000), 60_000);
    const paused = sink.state.pausedPartitions;
    assert.ok(paused.length > 0);
    assert.deepEqual(
      paused.filter((p) => !/\[(1|3)\]$/.test(p)),
      [],
      `only the down shard's partitions are paused: ${paused.join(', ')}`,
    );
    assert.ok(sink.state.buffered <= 2 * 1024 * 1024, `buffered ${sink.state.buffered} bytes`);

    for (const node of down) await restartNode(node);
    await until(
      'everything stored',
      async () => [...(await pointsByDms(database)).values()].reduce((n, d) => n + d.n, 0) === 70_000,
      180_000,
    );
    await syncReplicas(database);
    assert.deepEqual(await pointsByDms(database), expectedByDms(70_000), 'every value once per tenant');
    await until('offsets committed to the end', () => committedToEnd(kafka, groupId, topicNames), 30_000);
  });
});
