/**
 * The sink's lanes (a cluster's shards, ingest/sink/cluster-store.ts): each message's rows are
 * split by shard into per-shard table batches; a shard that holds its inserts back does not hold
 * back the other's rows; a message is done (committed) only when every shard stored its part; and
 * each shard has its own share of the memory cap, so a shard that is down stops only the messages
 * that have rows for it (their partitions pause) while the other shard's messages keep being taken.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeForTables, realtimeEncoder } from '../../../../ingest/sink/encoders.ts';
import { rowPartitions } from '../../../../storage/partitions.ts';
import { MessageRejected, type MessageRef } from '../../../../ingest/sink/steps/step.ts';
import { shardOf, splitByShard } from '../../../../storage/shard-split.ts';
import type { TrendPoint } from '../../../../schemas/records.ts';
import { trendPoint } from '../../../support/records.ts';
import { chain, settle, trendMessage, type Chain } from './chain.ts';

const LANES = {
  count: 2,
  split: (table: never, columns: readonly string[], body: readonly Buffer[], rowsOut: number[]) =>
    splitByShard(table, columns, body, 2, rowsOut),
  laneOf: (dmsId: number) => shardOf(dmsId, 2),
};

/** A message of real-time points (each DMS's shard: dms mod 2), submitted to the chain's TableBatches. */
function submit(c: Chain, points: TrendPoint[], partition = 0): MessageRef {
  const m = trendMessage(points);
  const ref = c.ref(m.value, { headers: m.headers, partition });
  c.batches.submit({ ref, tables: encodeForTables('trend', points).filter((t) => t.rows > 0) });
  return ref;
}

/** Points of DMS 1 (shard index 1) and DMS 2 (shard index 0). */
const mixed = (i: number) => [trendPoint(i, { dmsId: 1 }), trendPoint(i, { dmsId: 2 }), trendPoint(i + 1, { dmsId: 2 })];

describe('Sink lanes (one per shard)', () => {
  it("stores the live shard's rows while the other shard holds back, and commits only when both stored", async () => {
    const c = chain({ maxInFlight: 2, lanes: LANES, batchRows: 1 });
    c.clickhouse.heldLanes.add(1);
    const refs: MessageRef[] = [];
    for (let i = 0; i < 2; i++) {
      refs.push(submit(c, mixed(i * 10)));
      await settle(); // lane 0's insert is acknowledged
    }
    assert.equal(c.clickhouse.stored.filter((s) => s.lane === 0).length, 2, "every message's shard-0 rows stored");
    assert.equal(c.clickhouse.stored.filter((s) => s.lane === 1).length, 0);
    assert.equal(c.delivered.length, 0, 'no message is done while a shard has not stored its part');
    assert.deepEqual(refs[0]!.completion.waitingFor, ['trend_realtime (shard 2)']);
    assert.equal(c.insert.laneFull(1), true, 'lane 1 holds maxInFlight batches');
    assert.equal(c.insert.full, false, 'lane 0 has room');

    c.clickhouse.ackLane(1);
    for (let i = 0; i < 10 && c.delivered.length < 2; i++) await settle();
    assert.deepEqual(c.delivered, refs, 'every message done once, after both shards stored');
    await c.batches.join();
    assert.equal(c.insert.inFlight, 0);
    assert.equal(c.insert.bytes(), 0);
  });

  it('sends each shard only its rows, each batch one shard', async () => {
    const c = chain({ lanes: LANES });
    const points = mixed(0);
    submit(c, points);
    await c.batches.join();
    const [t] = encodeForTables('trend', points).filter((x) => x.encoder.table === 'trend_realtime');
    const rows: number[] = [];
    const [shard0, shard1] = splitByShard('trend_realtime', t!.encoder.columns, t!.body, 2, rows);
    assert.deepEqual(rows, [2, 1]);
    assert.deepEqual(
      c.clickhouse.stored.map((s) => [s.lane, s.body]).sort((a, b) => Number(a[0]) - Number(b[0])),
      [
        [0, shard0],
        [1, shard1],
      ],
    );
  });

  it('sends a message whose DMSs all live on one shard to it whole, without walking its rows; a mixed one is split', async () => {
    let splits = 0;
    const c = chain({ lanes: { ...LANES, split: (...a: Parameters<typeof LANES.split>) => (splits++, LANES.split(...a)) } });
    const submitWithDms = (points: TrendPoint[]) => {
      const m = trendMessage(points);
      const ref = c.ref(m.value, { headers: m.headers });
      const tables = encodeForTables('trend', points).map((t) => ({ ...t, dmsIds: [...new Set(points.map((p) => p.dmsId))] }));
      c.batches.submit({ ref, tables });
    };
    const shard1 = [trendPoint(1, { dmsId: 1 }), trendPoint(2, { dmsId: 3 })];
    submitWithDms(shard1);
    assert.equal(splits, 0, 'DMS 1 and 3: both shard index 1');
    submitWithDms(mixed(10));
    assert.equal(splits, 1);
    await c.batches.join();
    const rowsOf = (lane: number) =>
      c.clickhouse.stored
        .filter((s) => s.lane === lane && s.table === 'trend_realtime')
        .reduce((n, s) => n + rowPartitions('trend_realtime', realtimeEncoder.columns, s.body).length, 0);
    assert.deepEqual([rowsOf(0), rowsOf(1)], [2, 3]);
  });

  it("rejects only the messages with rows for a shard past its share of the cap, naming it; the other shard's keep flowing", async () => {
    const c = chain({ maxInFlight: 1, lanes: LANES, batchRows: 1, maxBufferedBytes: 256 * 1024 });
    c.clickhouse.heldLanes.add(1);
    // Shard 2 (lane 1) takes messages until it holds its share (128 KiB: two 64 KiB chunks).
    let taken = 0;
    let rejection: unknown;
    for (let i = 0; i < 10 && rejection === undefined; i++) {
      try {
        submit(c, [trendPoint(i, { dmsId: 1 })], 1);
        taken++;
      } catch (err) {
        rejection = err;
      }
      await settle();
    }
    assert.ok(rejection instanceof MessageRejected, String(rejection));
    assert.deepEqual(rejection.lanes, [1], 'the rejection names shard 2');
    assert.ok(taken >= 1 && taken <= 3, `${taken} messages for shard 2 taken`);
    assert.equal(c.batches.laneHasRoom(1), false);
    assert.throws(() => submit(c, mixed(100), 2), MessageRejected, 'a message with rows for shard 2 too is rejected');

    // Shard 1's messages keep being taken and stored, far past the whole cap's worth of messages.
    for (let i = 0; i < 20; i++) {
      submit(c, [trendPoint(1000 + i, { dmsId: 2 })], 0);
      await settle();
    }
    assert.equal(c.clickhouse.stored.filter((s) => s.lane === 0).length, 20);
    assert.equal(c.delivered.length, 20, "shard 1's messages are done");
    assert.ok(c.batches.bytes() + c.insert.bytes() <= 256 * 1024 + 64 * 1024, `${c.batches.bytes() + c.insert.bytes()} bytes held`);

    c.clickhouse.ackLane(1);
    for (let i = 0; i < 10 && !c.batches.laneHasRoom(1); i++) await settle();
    assert.equal(c.batches.laneHasRoom(1), true, 'room again once shard 2 stored');
    submit(c, [trendPoint(5000, { dmsId: 1 })], 1);
    await c.batches.join();
    assert.equal(c.delivered.length, 20 + taken + 1);
  });
});
