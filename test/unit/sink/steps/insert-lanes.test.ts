/**
 * The Insert step with lanes (a cluster's shards, ingest/sink/cluster-store.ts): each batch is
 * split by shard, a shard that holds its inserts back does not hold back the other's rows, and a
 * message is done (committed) only when every shard stored its part.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeForTables } from '../../../../ingest/sink/encoders.ts';
import { RowChunks } from '../../../../ingest/sink/row-chunks.ts';
import type { MessageRef } from '../../../../ingest/sink/steps/step.ts';
import type { TableBatch } from '../../../../ingest/sink/steps/table-batch.ts';
import { splitByShard } from '../../../../storage/shard-split.ts';
import { trendPoint } from '../../../support/records.ts';
import { chain, settle, trendMessage, type Chain } from './chain.ts';

const LANES = {
  count: 2,
  split: (table: never, columns: readonly string[], body: readonly Buffer[]) => splitByShard(table, columns, body, 2),
};

/** One message of real-time points of DMS 1 (shard index 1) and DMS 2 (shard index 0), as one table batch. */
function batch(c: Chain, i: number): { ref: MessageRef; batch: TableBatch } {
  const points = [trendPoint(i, { dmsId: 1 }), trendPoint(i, { dmsId: 2 }), trendPoint(i + 1, { dmsId: 2 })];
  const m = trendMessage(points);
  const ref = c.ref(m.value, { headers: m.headers });
  const [t] = encodeForTables('trend', points).filter((x) => x.encoder.table === 'trend_realtime');
  ref.completion.feeds(['trend_realtime']);
  const body = new RowChunks();
  body.append(t!.body);
  return { ref, batch: { encoder: t!.encoder, body, rows: t!.rows, messageBytes: 0, openedAt: 0, refs: [ref] } };
}

describe('Insert lanes (one per shard)', () => {
  it("stores the live shard's rows while the other shard holds back, and commits only when both stored", async () => {
    const c = chain({ maxInFlight: 2, lanes: LANES });
    c.clickhouse.heldLanes.add(1);
    for (let i = 0; i < 5; i++) {
      c.insert.submit(batch(c, i * 10).batch);
      await settle(); // lane 0's insert is acknowledged
    }
    // Lane 1 holds 5 parts (more than maxInFlight): the step is not full while lane 0 has room.
    assert.equal(c.insert.full, false);
    assert.equal(c.clickhouse.stored.filter((s) => s.lane === 0).length, 5, "every batch's shard-0 part stored");
    assert.equal(c.clickhouse.stored.filter((s) => s.lane === 1).length, 0);
    assert.equal(c.delivered.length, 0, 'no message is done while a shard has not stored its part');
    assert.equal(c.insert.inFlight, 5);

    c.clickhouse.ackLane(1);
    await settle();
    for (let i = 0; i < 10 && c.delivered.length < 5; i++) await settle();
    assert.equal(c.delivered.length, 5, 'every message done once, after both shards stored');
    assert.equal(c.clickhouse.stored.filter((s) => s.lane === 1).length, 5);
    await c.insert.join();
    assert.equal(c.insert.inFlight, 0);
    assert.equal(c.insert.bytes, 0, 'split copies released');
  });

  it('is full only when every lane holds maxInFlight parts', async () => {
    const c = chain({ maxInFlight: 1, lanes: LANES });
    c.clickhouse.heldLanes.add(0);
    c.clickhouse.heldLanes.add(1);
    c.insert.submit(batch(c, 0).batch);
    await settle();
    assert.equal(c.insert.full, true);
    c.clickhouse.ackLane(0);
    await settle();
    assert.equal(c.insert.full, false, 'lane 0 has room again while lane 1 still waits');
    c.clickhouse.ackLane(1);
    await c.insert.join();
  });

  it('sends each shard only its rows', async () => {
    const c = chain({ lanes: LANES });
    const { batch: b } = batch(c, 0);
    const whole = Buffer.concat(b.body.views());
    c.insert.submit(b);
    await c.insert.join();
    const [shard0, shard1] = splitByShard('trend_realtime', b.encoder.columns, whole, 2);
    assert.deepEqual(
      c.clickhouse.stored.map((s) => [s.lane, s.body]),
      [
        [0, shard0],
        [1, shard1],
      ],
    );
  });
});
