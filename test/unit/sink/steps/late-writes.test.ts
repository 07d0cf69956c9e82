/**
 * Late-write markers through the sink's chain (Decode -> TableBatches -> Insert, fake ClickHouse):
 * a trend batch with rows of ended UTC days is stored with markers, in its lane, after its rows
 * and before its messages are done; a transient failure of the markers is retried; the markers
 * do not depend on the path a message took (transcoder or full decode); and whatever the
 * messages, every (DMS, late day) stored is covered.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LATE_AFTER_MS } from '../../../../ingest/sink/late-writes.ts';
import type { TrendPoint } from '../../../../schemas/records.ts';
import { DAY_MS, LATE_WRITE_COLUMNS, type LateWrite } from '../../../../storage/late-writes.ts';
import { shardOf, splitByShard } from '../../../../storage/shard-split.ts';
import { MessageRejected } from '../../../../ingest/sink/steps/step.ts';
import { averagePoint, trendPoint } from '../../../support/records.ts';
import { until } from '../../../support/wait.ts';
import { readLateWriteRows } from '../../../support/late-writes.ts';
import { chain, settle, submitTrend, trendMessage, type Chain, type ChainOptions } from './chain.ts';

const dayOf = (ts: number) => Math.floor(ts / DAY_MS);
const NOW = Date.now();
const TODAY = dayOf(NOW);
/** A time of `daysAgo` days before today's UTC day, at noon. */
const at = (daysAgo: number) => (TODAY - daysAgo) * DAY_MS + DAY_MS / 2;

/** Submits like `submit`, waiting while the chain is full (the consumer loop would pause). */
async function submitWhenRoom(c: Chain, points: TrendPoint[]): Promise<void> {
  const m = trendMessage(points);
  const ref = c.ref(m.value, { headers: m.headers });
  for (;;) {
    try {
      c.decode.submit(ref);
      return;
    } catch (err) {
      if (!(err instanceof MessageRejected)) throw err;
      await settle();
    }
  }
}

/** The markers stored so far, without their ids, sorted. */
function markers(c: Chain): (LateWrite & { lane: number })[] {
  return c.clickhouse.markers
    .flatMap((m) => readLateWriteRows(m.body).map(({ markerId: _id, ...w }) => ({ ...w, lane: m.lane })))
    .sort((a, b) => a.lane - b.lane || a.dmsId - b.dmsId || a.firstDay - b.firstDay);
}

async function deliveredAll(c: Chain, n: number): Promise<void> {
  await until(`${n} messages done`, () => c.delivered.length >= n, 5000, 5);
}

const options: ChainOptions = { batchRows: 1 }; // every message is a batch of its own

describe('Sink: late-write markers', () => {
  it("stores a late batch's markers after its rows and before its messages are done: one per DMS over its late days", async () => {
    const c = chain(options);
    c.clickhouse.holdMarkers = true;
    submitTrend(c, [
      trendPoint(1, { dmsId: 7, timestamp: at(3) }),
      trendPoint(2, { dmsId: 8, timestamp: at(10) }),
      trendPoint(3, { dmsId: 8, timestamp: at(0) }), // today: not late
    ]);
    await settle();
    assert.equal(c.clickhouse.stored.length, 1, 'the rows are stored');
    assert.equal(c.clickhouse.heldMarkers.length, 1, 'then the markers are sent');
    assert.equal(c.delivered.length, 0, 'the message is not done while its markers are not stored');
    c.clickhouse.heldMarkers[0]!.resolve();
    await deliveredAll(c, 1);
    assert.deepEqual(c.clickhouse.markers[0]!.columns, LATE_WRITE_COLUMNS);
    assert.deepEqual(markers(c), [
      { dmsId: 7, firstDay: TODAY - 10, lastDay: TODAY - 3, lane: 0 },
      { dmsId: 8, firstDay: TODAY - 10, lastDay: TODAY - 3, lane: 0 },
    ]);
  });

  it("writes no marker for rows of today's UTC day, nor for alarms and table rows", async () => {
    const c = chain(options);
    submitTrend(c, [trendPoint(1, { timestamp: NOW }), { ...averagePoint(2, 5), timestamp: NOW - 60_000 }]);
    await deliveredAll(c, 1);
    assert.equal(c.clickhouse.stored.length, 2);
    assert.deepEqual(c.clickhouse.markers, []);
  });

  it('retries markers that failed transiently: the batch is done once they are stored', async () => {
    const c = chain(options);
    c.clickhouse.markerFailures = 2;
    submitTrend(c, [trendPoint(1, { dmsId: 5, timestamp: at(2) })]);
    await settle();
    assert.equal(c.delivered.length, 0);
    await deliveredAll(c, 1);
    assert.equal(c.clickhouse.markerFailures, 0, 'both failures seen');
    assert.deepEqual(markers(c), [{ dmsId: 5, firstDay: TODAY - 2, lastDay: TODAY - 2, lane: 0 }]);
  });

  it('stops the sink (nothing committed) when markers fail for good', async () => {
    const c = chain(options);
    c.clickhouse.holdMarkers = true;
    submitTrend(c, [trendPoint(1, { timestamp: at(2) })]);
    await settle();
    c.clickhouse.heldMarkers[0]!.reject(
      new Error('Code: 60, e.displayText() = DB::Exception: Table staas.trend_late_writes does not exist'),
    );
    await settle();
    assert.throws(() => c.decode.poll(), /late-write markers of the insert into trend_realtime .* failed \(UNKNOWN_TABLE/);
    assert.equal(c.delivered.length, 0);
  });

  it('marks the days of a refused batch before its messages go to the DLQ (ClickHouse may have stored part of it)', async () => {
    const c = chain(options);
    c.clickhouse.refuse.add('trend_realtime');
    c.clickhouse.holdMarkers = true;
    submitTrend(c, [trendPoint(1, { dmsId: 6, timestamp: at(5) })]);
    await settle();
    assert.equal(c.clickhouse.stored.length, 0);
    assert.equal(c.clickhouse.heldMarkers.length, 1, 'markers are sent for the refused rows');
    assert.equal(c.dlqProducer.sent.length, 0, 'and nothing is dead-lettered before they are stored');
    c.clickhouse.heldMarkers[0]!.resolve();
    await deliveredAll(c, 1);
    assert.equal(c.dlqProducer.sent.length, 1);
    assert.deepEqual(markers(c), [{ dmsId: 6, firstDay: TODAY - 5, lastDay: TODAY - 5, lane: 0 }]);
  });

  it('marks the same whether the transcoder took the message or the full path did', async () => {
    const points = (index: string) => [
      trendPoint(1, { dmsId: 3, timestamp: at(4), index }),
      { ...averagePoint(2, 60), dmsId: 4, timestamp: at(40) },
    ];
    const runs: (LateWrite & { lane: number })[][] = [];
    for (const index of ['plain', 'naïve']) {
      // A non-ASCII index: the transcoder declines, the full path stores it.
      const c = chain(options);
      submitTrend(c, points(index));
      await deliveredAll(c, 1);
      runs.push(markers(c));
    }
    assert.deepEqual(runs[0], runs[1]);
    assert.deepEqual(runs[0], [
      { dmsId: 3, firstDay: TODAY - 40, lastDay: TODAY - 40, lane: 0 }, // the average
      { dmsId: 3, firstDay: TODAY - 4, lastDay: TODAY - 4, lane: 0 }, // the real-time point
      { dmsId: 4, firstDay: TODAY - 40, lastDay: TODAY - 40, lane: 0 },
      { dmsId: 4, firstDay: TODAY - 4, lastDay: TODAY - 4, lane: 0 },
    ]);
  });

  it('marks every day of its DMSs when a message holds more days than are gathered, even with today among them', async () => {
    const c = chain(options);
    submitTrend(
      c,
      Array.from({ length: 100 }, (_, d) => trendPoint(d, { dmsId: 9, timestamp: at(d) })),
    );
    await deliveredAll(c, 1);
    assert.deepEqual(markers(c), [{ dmsId: 9, firstDay: 0, lastDay: 0xffff_ffff, lane: 0 }]);
  });

  it("on a cluster, stores each shard's markers in that shard's lane, naming that shard's DMSs", async () => {
    const lanes = {
      count: 2,
      split: (table: never, columns: readonly string[], body: readonly Buffer[], rowsOut: number[]) =>
        splitByShard(table, columns, body, 2, rowsOut),
      laneOf: (dmsId: number) => shardOf(dmsId, 2),
    };
    const c = chain({ ...options, lanes });
    submitTrend(c, [trendPoint(1, { dmsId: 1, timestamp: at(2) }), trendPoint(2, { dmsId: 2, timestamp: at(5) })]);
    await deliveredAll(c, 1);
    assert.deepEqual(
      markers(c),
      [
        { dmsId: 2, firstDay: TODAY - 5, lastDay: TODAY - 2, lane: shardOf(2, 2) },
        { dmsId: 1, firstDay: TODAY - 5, lastDay: TODAY - 2, lane: shardOf(1, 2) },
      ].sort((a, b) => a.lane - b.lane),
    );
  });

  it('covers every (DMS, late day) stored, for any messages batched any way', async () => {
    const point = fc.record({
      dmsId: fc.integer({ min: 1, max: 6 }),
      daysAgo: fc.integer({ min: 0, max: 90 }),
      windowMinutes: fc.constantFrom(0, 0, 5, 60),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(point, { minLength: 1, maxLength: 30 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 50 }),
        async (messages, batchRows) => {
          const c = chain({ batchRows });
          for (const [i, m] of messages.entries())
            await submitWhenRoom(
              c,
              m.map((p, j) =>
                p.windowMinutes === 0
                  ? trendPoint(i * 100 + j, { dmsId: p.dmsId, timestamp: at(p.daysAgo) })
                  : { ...averagePoint(i * 100 + j, p.windowMinutes), dmsId: p.dmsId, timestamp: at(p.daysAgo) },
              ),
            );
          await c.batches.join();
          await deliveredAll(c, messages.length);
          const stored = markers(c);
          const late = (daysAgo: number) => (TODAY - daysAgo + 1) * DAY_MS + LATE_AFTER_MS <= Date.now();
          for (const p of messages.flat().filter((x) => late(x.daysAgo))) {
            const day = TODAY - p.daysAgo;
            assert.ok(
              stored.some((w) => (w.dmsId === p.dmsId || w.dmsId === -1) && w.firstDay <= day && day <= w.lastDay),
              `DMS ${p.dmsId}, day ${day}`,
            );
          }
          // Nothing marks today (its rows are not late): known days never widen past the late ones.
          for (const w of stored) assert.ok(w.lastDay < TODAY, JSON.stringify(w));
        },
      ),
      { numRuns: 60 },
    );
  });
});
