/**
 * Trend rows sorted in the Sink (ingest/sink/sort-trend-rows.ts) come out exactly as ClickHouse's
 * own stable sort by the sorting key would lay them out: by (dms_id, dma_id, element_id,
 * parameter_id) as Int32, idx as bytes, window_minutes, then time, equal keys in arrival order.
 * test/integration/sink-sorted-inserts.test.ts checks the server agrees (it skips its sort).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { averageEncoder, realtimeEncoder } from '../../../ingest/sink/encoders.ts';
import { ChunkPool, RowChunks } from '../../../ingest/sink/row-chunks.ts';
import { MAX_SERIES, sortTrendRows, type TrendLayout } from '../../../ingest/sink/sort-trend-rows.ts';
import type { TrendPoint } from '../../../schemas/records.ts';
import { RowBinaryWriter } from '../../../storage/rowbinary-writer.ts';
import { averagePoint, nullFlagsAs, trendPoint } from '../../support/records.ts';

const INT32_MAX = 2 ** 31 - 1;

function encode(p: TrendPoint, layout: TrendLayout): Buffer {
  const w = new RowBinaryWriter(64);
  (layout === 'realtime' ? realtimeEncoder : averageEncoder).write(w, p);
  return Buffer.from(w.result());
}

function body(rows: readonly TrendPoint[]): Buffer {
  return Buffer.concat(rows.map((p) => encode(p, 'realtime')));
}

/** ClickHouse's order: the key columns compared as their types, stable. */
function keyOrder(rows: readonly TrendPoint[]): TrendPoint[] {
  return rows
    .map((p, i) => ({ p, i }))
    .sort(
      (a, b) =>
        a.p.dmsId - b.p.dmsId ||
        a.p.dmaId - b.p.dmaId ||
        a.p.elementId - b.p.elementId ||
        a.p.parameterId - b.p.parameterId ||
        Buffer.compare(Buffer.from(a.p.index), Buffer.from(b.p.index)) ||
        a.p.windowMinutes - b.p.windowMinutes ||
        a.p.timestamp - b.p.timestamp ||
        a.i - b.i,
    )
    .map(({ p }) => p);
}

/** The rows' bytes cut at `cuts` (fractions of the length): rows straddle the pieces. */
function pieces(body: Buffer, cuts: readonly number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * body.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of at) {
    if (c <= from) continue;
    out.push(body.subarray(from, c));
    from = c;
  }
  out.push(body.subarray(from));
  return out;
}

function sorted(rows: readonly TrendPoint[], layout: TrendLayout, cuts: readonly number[] = []): Buffer {
  const out = new RowChunks();
  const n = sortTrendRows(pieces(Buffer.concat(rows.map((p) => encode(p, layout))), cuts), layout, out);
  assert.equal(n, rows.length);
  return Buffer.concat(out.views());
}

const text = (max: number) => fc.string({ unit: fc.constantFrom('a', 'b', 'z', 'A', '/', '0', 'é', '\u{1F600}'), maxLength: max });

function pointArb(layout: TrendLayout): fc.Arbitrary<TrendPoint> {
  return fc.record({
    dmsId: fc.constantFrom(0, 1, 7, INT32_MAX),
    dmaId: fc.constantFrom(0, 101, 300, INT32_MAX),
    elementId: fc.integer({ min: 0, max: 4 }).map((e) => (e === 4 ? INT32_MAX : e * 1000)),
    parameterId: fc.constantFrom(-1, 0, 1, 200, 65_536),
    index: fc.oneof(fc.constant(''), text(6), text(200)),
    timestamp: fc.integer({ min: 0, max: 20 }).map((k) => 1_700_000_000_000 + k * 1000 + (k === 20 ? 2 ** 40 : 0)),
    windowMinutes: layout === 'realtime' ? fc.constant(0) : fc.constantFrom(5, 60, 120),
    value: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }), { nil: null }),
    discreteValue: fc.option(fc.oneof(text(4), text(300)), { nil: null }),
    min: layout === 'realtime' ? fc.constant(null) : fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }), { nil: null }),
    max: layout === 'realtime' ? fc.constant(null) : fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }), { nil: null }),
    discreteMax: layout === 'realtime' ? fc.constant(null) : fc.option(text(150), { nil: null }),
    samples: layout === 'realtime' ? fc.constant(0) : fc.integer({ min: 0, max: INT32_MAX }),
    status: fc.integer({ min: -32_768, max: 32_767 }),
  });
}

describe('sortTrendRows', () => {
  for (const layout of ['realtime', 'average'] as const) {
    it(`lays ${layout} rows out in the sorting key order, equal keys in arrival order, whatever the chunking`, () => {
      fc.assert(
        fc.property(
          fc.array(pointArb(layout), { maxLength: 300 }),
          fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
          (rows, cuts) => {
            const expected = Buffer.concat(keyOrder(rows).map((p) => encode(p, layout)));
            assert.ok(sorted(rows, layout, cuts).equals(expected));
          },
        ),
        { numRuns: 300 },
      );
    });

    it(`lays ${layout} rows that arrive in time order out in the sorting key order, whatever the chunking`, () => {
      fc.assert(
        fc.property(
          fc.array(pointArb(layout), { maxLength: 300 }),
          fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
          (unordered, cuts) => {
            const rows = [...unordered].sort((a, b) => a.timestamp - b.timestamp);
            const expected = Buffer.concat(keyOrder(rows).map((p) => encode(p, layout)));
            assert.ok(sorted(rows, layout, cuts).equals(expected));
          },
        ),
        { numRuns: 300 },
      );
    });
  }

  it('keeps arrival order among repeats of one point (a ReplacingMergeTree keeps the last one)', () => {
    const first = trendPoint(0, { value: 1 });
    const again = trendPoint(0, { value: 2 });
    const other = trendPoint(1);
    const out = sorted([first, other, again], 'realtime');
    const expected = Buffer.concat(keyOrder([first, other, again]).map((p) => encode(p, 'realtime')));
    assert.ok(out.equals(expected));
    assert.ok(out.indexOf(encode(first, 'realtime')) < out.indexOf(encode(again, 'realtime')));
  });

  it('sorts a series whose times go back (a spooled batch after newer ones), the rest as they came', () => {
    const rows = [
      ...Array.from({ length: 50 }, (_, i) => trendPoint(i)),
      ...Array.from({ length: 50 }, (_, i) => trendPoint(i, { timestamp: 1 })),
    ];
    assert.ok(sorted(rows, 'realtime', [0.3, 0.7]).equals(Buffer.concat(keyOrder(rows).map((p) => encode(p, 'realtime')))));
  });

  it('sorts 5-minute, 1-hour and 2-hour averages of one parameter by window, then time', () => {
    const rows = [averagePoint(3, 120), averagePoint(1, 5), averagePoint(2, 60), averagePoint(0, 5)];
    const out = sorted(rows, 'average');
    assert.ok(
      out.equals(
        Buffer.concat([averagePoint(0, 5), averagePoint(1, 5), averagePoint(2, 60), averagePoint(3, 120)].map((p) => encode(p, 'average'))),
      ),
    );
  });

  it('writes into pooled chunks: a large batch comes out whole across several chunks', () => {
    const rows = Array.from({ length: 60_000 }, (_, i) => trendPoint((i * 7919) % 60_000, { timestamp: 1_700_000_000_000 + i }));
    const pool = new ChunkPool(64 * 1024 * 1024);
    const input = new RowChunks(pool);
    for (const p of rows) input.append(encode(p, 'realtime'));
    const out = input.sibling();
    assert.equal(sortTrendRows(input.views(), 'realtime', out), rows.length);
    assert.ok(out.views().length > 1);
    assert.ok(Buffer.concat(out.views()).equals(Buffer.concat(keyOrder(rows).map((p) => encode(p, 'realtime')))));
    pool.close();
  });

  it(`leaves a batch of more than ${MAX_SERIES} series to the server (-1, nothing written), and sorts the next one`, () => {
    const many = Array.from({ length: MAX_SERIES + 1 }, (_, i) => trendPoint(0, { elementId: i, timestamp: 1_700_000_000_000 }));
    const out = new RowChunks();
    assert.equal(sortTrendRows([body(many)], 'realtime', out), -1);
    assert.equal(out.length, 0);
    const rows = [trendPoint(2), trendPoint(1)];
    assert.ok(sorted(rows, 'realtime').equals(Buffer.concat(keyOrder(rows).map((p) => encode(p, 'realtime')))));
  });

  it('reads a Nullable flag other than 0 as NULL, as ClickHouse does (any non-zero byte), on both walks of a row', () => {
    for (const layout of ['realtime', 'average'] as const) {
      const rows = [3, 1, 2].map((i) =>
        trendPoint(i, {
          index: '',
          windowMinutes: layout === 'realtime' ? 0 : 5,
          value: null,
          min: null,
          max: null,
          // A string of 128 bytes or more takes the walker's slow path (slowRowEnd).
          discreteValue: i === 1 ? 'x'.repeat(200) : null,
        }),
      );
      const flagged = (p: TrendPoint) => nullFlagsAs(encode(p, layout), layout === 'average', 2);
      const out = new RowChunks();
      assert.equal(sortTrendRows([Buffer.concat(rows.map(flagged))], layout, out), rows.length);
      assert.ok(Buffer.concat(out.views()).equals(Buffer.concat(keyOrder(rows).map(flagged))));
    }
  });

  it('throws a RangeError for bytes that end inside a row', () => {
    const body = encode(trendPoint(1), 'realtime');
    assert.throws(() => sortTrendRows([body.subarray(0, body.length - 1)], 'realtime', new RowChunks()), RangeError);
  });
});
