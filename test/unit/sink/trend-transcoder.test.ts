/**
 * The trend transcoder (Avro -> RowBinary, no objects) against the full path it short-cuts
 * (decode -> the record contract -> encoders): whatever it transcodes, the full path stores the
 * same bytes; whatever the full path refuses, it declines.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { benchPoint } from '../../../bench/points.ts';
import { batchMessage, decodeBatchContainer, readBatchContainer } from '../../../ingest/kafka/message.ts';
import { encodeForTables, TableWriters, type TableRows } from '../../../ingest/sink/encoders.ts';
import { transcodeTrends } from '../../../ingest/sink/trend-transcoder.ts';
import { invalidRecords } from '../../../ingest/sink/validate.ts';
import type { TrendPoint } from '../../../schemas/records.ts';
import { MAX_TS, MIN_TS, toTrendPoint } from '../../../schemas/validate.ts';
import { MAX_PARTITIONS_PER_INSERT, rowPartitions } from '../../../storage/partitions.ts';

const pick = <T>(...values: T[]) => fc.constantFrom(...values);
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const ascii = fc.oneof(
  pick('', 'eth0', 'x'.repeat(256)),
  fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 20 }),
);
const finite = fc.oneof(pick(0, -0, 1.5), fc.double({ noNaN: true, noDefaultInfinity: true }));

/** A plainly valid point: real-time or an average, numeric, discrete or a status row. */
const validPoint: fc.Arbitrary<TrendPoint> = fc
  .record({
    dmsId: fc.nat({ max: 2 ** 31 - 1 }),
    dmaId: fc.nat({ max: 2 ** 31 - 1 }),
    elementId: fc.nat({ max: 2 ** 31 - 1 }),
    parameterId: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    index: ascii,
    timestamp: fc.integer({ min: MIN_TS, max: MAX_TS - 1 }),
    windowMinutes: pick(0, 0, 5, 60, 120, 65_535),
    value: fc.option(finite),
    discreteValue: fc.option(ascii),
    min: fc.option(finite),
    max: fc.option(finite),
    discreteMax: fc.option(ascii),
    samples: fc.nat({ max: 2 ** 31 - 1 }),
    status: fc.integer({ min: -32_768, max: 32_767 }),
  })
  .map((p) => {
    const value = p.value === null && p.discreteValue === null && p.status === 0 ? 1 : p.value;
    return p.windowMinutes === 0 ? { ...p, value, min: null, max: null, samples: 0 } : { ...p, value };
  });

/** One field set to something the contract refuses or the transcoder leaves to the full path. */
const hostile: fc.Arbitrary<Partial<TrendPoint>> = fc.oneof(
  fc.record({ dmsId: fc.oneof(pick(-1, -(2 ** 31)), int32) }),
  fc.record({ parameterId: pick(-2, -(2 ** 31)) }),
  fc.record({ index: pick('x'.repeat(257), 'é', '\u{1F600}') }),
  // Out of range, one of each varint length (1..7 bytes: the transcoder reads longs unrolled).
  fc.record({ timestamp: pick(MIN_TS - 1, MAX_TS, 0, -1, 63, -8192, 2 ** 20, -(2 ** 27), 2 ** 34, 2 ** 47, -(2 ** 40), 2 ** 48 - 1) }),
  fc.record({ windowMinutes: pick(65_536, -1, 2 ** 31 - 1) }),
  fc.record({ value: pick(NaN, Infinity, -Infinity) }),
  fc.record({ min: pick(NaN, 1) }),
  fc.record({ max: pick(-Infinity, 2) }),
  fc.record({ samples: pick(-1, 7) }),
  fc.record({ status: pick(32_768, -32_769, 0) }),
  fc.record({ discreteValue: fc.oneof(pick('ü', 'x'.repeat(21_846)), fc.string({ unit: 'grapheme', maxLength: 5 })) }),
  fc.record({ value: pick(null), discreteValue: pick(null), status: pick(0) }),
);

const point: fc.Arbitrary<TrendPoint> = fc
  .tuple(validPoint, fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: hostile }))
  .map(([p, change]) => (change === null ? p : { ...p, ...change }));

/** What either path gives for one table: its rows, and the keys and DMS ids it gathered (sorted). */
function stored(t: TableRows) {
  const sorted = (xs: readonly number[] | undefined) => (xs === undefined ? undefined : [...xs].sort((a, b) => a - b));
  return { table: t.encoder.table, rows: t.rows, body: Buffer.from(t.body), keys: sorted(t.partitionKeys), dmsIds: sorted(t.dmsIds) };
}

/** What the full path stores for a message: the table bodies, or undefined when it refuses it. */
function fullPath(value: Buffer, headers: Record<string, string>): ReturnType<typeof stored>[] | undefined {
  const { container, announcedType } = readBatchContainer(value, headers);
  const decoded = decodeBatchContainer(container, announcedType);
  if (invalidRecords(decoded.type, decoded.records) !== undefined) return undefined;
  return encodeForTables(decoded.type, decoded.records).map(stored);
}

function transcoded(value: Buffer, headers: Record<string, string>) {
  const { container } = readBatchContainer(value, headers);
  assert.ok(container.current, 'a container of the Writer has the current schema');
  return transcodeTrends(container.blocks, new TableWriters())?.map(stored);
}

describe('trend transcoder (Avro -> RowBinary)', () => {
  it('stores exactly what the full path stores (rows, keys, DMS ids), and declines whatever the full path refuses', () => {
    let taken = 0;
    fc.assert(
      fc.property(fc.array(point, { minLength: 1, maxLength: 6 }), (points) => {
        const m = batchMessage('trend', points, 'k');
        const headers = m.headers as Record<string, string>;
        const fast = transcoded(m.value as Buffer, headers);
        if (fast === undefined) return;
        taken++;
        assert.deepEqual(fast, fullPath(m.value as Buffer, headers));
      }),
      { numRuns: 2000 },
    );
    assert.ok(taken > 500, `the generator must produce plainly valid batches too (${taken})`);
  });

  it('bounds the partitions of its rows from above (partitionKeys), or says nothing past 64 keys', () => {
    const DAY = 86_400_000;
    const days = fc.integer({ min: 0, max: 120 });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(validPoint, days), { minLength: 1, maxLength: 200 }),
        fc.integer({ min: MIN_TS, max: MAX_TS - 200 * DAY }),
        (pointsAndDays, start) => {
          const points = pointsAndDays.map(([p, d]) => ({ ...p, timestamp: start + d * DAY + (p.timestamp % DAY) }));
          const m = batchMessage('trend', points, 'k');
          const { container } = readBatchContainer(m.value as Buffer, m.headers);
          const tables = transcodeTrends(container.blocks, new TableWriters());
          assert.ok(tables !== undefined);
          // The full path (messages the transcoder declines) gathers the same, past the cap too.
          assert.deepEqual(tables.map(stored), fullPath(m.value as Buffer, m.headers as Record<string, string>));
          for (const t of tables) {
            const partitions = new Set(rowPartitions(t.encoder.table, t.encoder.columns, Buffer.from(t.body)).map((r) => r.partition)).size;
            if (t.partitionKeys === undefined) assert.ok(partitions > 0);
            else assert.ok(partitions <= t.partitionKeys.length, `${partitions} partitions, ${t.partitionKeys.length} keys`);
            // The DMS ids: every DMS of the message (a superset of the table's is enough to route by shard).
            const dms = new Set(points.map((p) => p.dmsId));
            if (dms.size <= 64) assert.deepEqual(new Set(t.dmsIds), dms);
            else assert.equal(t.dmsIds, undefined);
          }
        },
      ),
      { numRuns: 300 },
    );
    const at = (day: number, windowMinutes = 0) =>
      toTrendPoint({
        dmsId: 1,
        dmaId: 1,
        elementId: 1,
        parameterId: 1,
        timestamp: MIN_TS + day * DAY,
        windowMinutes,
        value: 1,
        ...(windowMinutes > 0 ? { min: 1, max: 1, samples: 1 } : {}),
      });
    const keysOf = (points: TrendPoint[]) => {
      const m = batchMessage('trend', points, 'k');
      const { container } = readBatchContainer(m.value as Buffer, m.headers);
      return transcodeTrends(container.blocks, new TableWriters())!.map((t) => [t.encoder.table, t.partitionKeys?.length]);
    };
    assert.deepEqual(keysOf([at(0), at(0), at(1), at(0), at(3, 5), at(3, 60), at(3, 5)]), [
      ['trend_realtime', 2],
      ['trend_average', 2],
    ]);
    // A back-fill of 100 days in one message: no bound (the insert counts, and splits past the limit).
    assert.ok(MAX_PARTITIONS_PER_INSERT < 100);
    assert.deepEqual(keysOf(Array.from({ length: 100 }, (_, d) => at(d))), [['trend_realtime', undefined]]);
  });

  it("takes the Writer's usual batches: real-time, averages, discrete values, table rows, status rows", () => {
    const points = [
      ...Array.from({ length: 1000 }, (_, i) => toTrendPoint(benchPoint(i))),
      toTrendPoint({
        dmsId: 1,
        dmaId: 2,
        elementId: 3,
        parameterId: 4,
        timestamp: MIN_TS + 300_000,
        windowMinutes: 5,
        value: 1.5,
        min: 1,
        max: 2,
        samples: 30,
        status: 5,
      }),
      toTrendPoint({ dmsId: 1, dmaId: 2, elementId: 3, parameterId: 5, timestamp: MIN_TS, discreteValue: 'up' }),
      toTrendPoint({
        dmsId: 1,
        dmaId: 2,
        elementId: 3,
        parameterId: 6,
        timestamp: MIN_TS,
        windowMinutes: 60,
        discreteValue: 'up',
        discreteMax: 'down',
        samples: 3,
        status: 60,
      }),
      toTrendPoint({ dmsId: 1, dmaId: 2, elementId: 3, parameterId: -1, timestamp: MIN_TS, status: -2 }),
    ];
    const m = batchMessage('trend', points, 'k', 'deflate');
    const headers = m.headers as Record<string, string>;
    const fast = transcoded(m.value as Buffer, headers);
    assert.ok(fast !== undefined);
    assert.deepEqual(
      fast.map((t) => [t.table, t.rows]),
      [
        ['trend_realtime', 1002],
        ['trend_average', 2],
      ],
    );
    assert.deepEqual(fast, fullPath(m.value as Buffer, headers));
  });

  it('declines ids beyond the int32 range and varints running past the block', () => {
    const m = batchMessage('trend', [toTrendPoint(benchPoint(1))], 'k');
    const { container } = readBatchContainer(m.value as Buffer, m.headers);
    const record = container.blocks[0]!.bytes;
    // dmsId 2^31 as a zig-zag varint (5 bytes, the last above 0x0f), then the rest of the record.
    const big = Buffer.concat([Buffer.from([0x80, 0x80, 0x80, 0x80, 0x10]), record.subarray(1)]);
    assert.equal(transcodeTrends([{ bytes: big, count: 1, start: 0 }], new TableWriters()), undefined);
    assert.equal(transcodeTrends([{ bytes: record.subarray(0, record.length - 1), count: 1, start: 0 }], new TableWriters()), undefined);
    assert.equal(
      transcodeTrends([{ bytes: Buffer.concat([record, Buffer.from([0])]), count: 1, start: 0 }], new TableWriters()),
      undefined,
    );
  });
});
