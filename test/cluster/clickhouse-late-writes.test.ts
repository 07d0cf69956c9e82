/**
 * Late-write markers on the 2 x 2 ClickHouse cluster: the sink stores each batch's markers in
 * the local trend_late_writes of the batch's own shard (never through the Distributed table), so
 * every server holds markers of its shard's DMSs only; readers see every shard's through the
 * Distributed table; and cluster retention's markers of a dropped partition are seen there too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { applyClusterRetention } from '../../storage/cluster-maintenance.ts';
import { forEachNode, localDatabase } from '../../storage/cluster-schema.ts';
import { DAY_MS } from '../../storage/late-writes.ts';
import { shardOf } from '../../storage/shard-split.ts';
import {
  BASE_TS,
  clusterTestBed,
  DMS_IDS,
  startClusterSink,
  syncReplicas,
  writePoints,
  type ClusterDatabase,
} from '../support/clickhouse-cluster.ts';
import { committedToEnd, queryRows } from '../support/services.ts';
import { until } from '../support/wait.ts';

interface Marker {
  dms_id: number;
  first_day: number;
  last_day: number;
}

describe('ClickHouse cluster late-write markers', { timeout: 180_000 }, () => {
  let kafka: Kafka;
  let topics: Topics;
  let database: ClusterDatabase;
  const cleanup: (() => Promise<unknown>)[] = [];

  before(async () => {
    ({ kafka, topics, database } = await clusterTestBed(cleanup, 4));
  });
  after(async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  const distributed = () =>
    queryRows<Marker>(database.client, `SELECT dms_id, first_day, last_day FROM ${database.db}.trend_late_writes ORDER BY dms_id`);

  it("stores each shard's markers on that shard, seen through the Distributed table", async () => {
    const { sink, groupId } = await startClusterSink(topics, database);
    cleanup.push(() => sink.stop());
    // Points of BASE_TS's day (long ended) for DMS 1..4; partition groups keep a message to one shard.
    await writePoints(topics, 0, 2_000, undefined, 2);
    await until('offsets committed', () => committedToEnd(kafka, groupId, [topics.trend]), 60_000);
    await syncReplicas(database, 'trend_late_writes');
    const day = Math.floor(BASE_TS / DAY_MS);
    const perServer = await forEachNode(database.conn, database.conn.cluster!, async (node, url, shard) => ({
      url,
      shard,
      markers: await queryRows<Marker>(
        node,
        `SELECT dms_id, first_day, last_day FROM ${localDatabase(database.db)}.trend_late_writes ORDER BY dms_id`,
      ),
    }));
    for (const s of perServer) {
      const own = DMS_IDS.filter((d) => shardOf(d, 2) === s.shard);
      assert.deepEqual([...new Set(s.markers.map((m) => m.dms_id))].sort(), own, `${s.url}: only its shard's DMSs`);
      for (const m of s.markers) assert.deepEqual([m.first_day, m.last_day], [day, day], s.url);
    }
    const all = await distributed();
    assert.deepEqual([...new Set(all.map((m) => m.dms_id))].sort(), [...DMS_IDS]);
  });

  it('shows the markers of a partition cluster retention dropped through the Distributed table', async () => {
    const earlier = (await distributed()).length;
    // BASE_TS's day is past 7-day retention: every server drops it and marks it where it dropped.
    const result = await applyClusterRetention(database.conn, database.conn.cluster!);
    for (const r of result) assert.equal(r.error, undefined, r.url);
    assert.ok(result.some((r) => r.dropped.some((p) => p.table === 'trend_realtime')));
    const day = Math.floor(BASE_TS / DAY_MS);
    await syncReplicas(database, 'trend_late_writes');
    const every = (await distributed()).filter((m) => m.dms_id === -1);
    assert.ok(
      every.some((m) => m.first_day <= day && day <= m.last_day),
      JSON.stringify(every),
    );
    assert.ok((await distributed()).length > earlier);
  });
});
