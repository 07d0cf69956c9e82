/** The hand-written trend point encoder writes exactly avsc's bytes for the current schema. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeBatch, encodeBatch } from '../../schemas/container.ts';
import { READER_TYPES, type TrendPoint } from '../../schemas/records.ts';
import { writeTrendPoint } from '../../schemas/trend-encoder.ts';
import { MAX_LONG, MAX_TS, MIN_TS } from '../../schemas/validate.ts';

const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const text = fc.oneof(
  fc.constant(''),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.string({ minLength: 60, maxLength: 70 }),
);
const nullableDouble = fc.oneof(fc.constant(null), fc.double());
const point: fc.Arbitrary<TrendPoint> = fc.record({
  dmsId: int32,
  dmaId: int32,
  elementId: int32,
  parameterId: int32,
  index: text,
  timestamp: fc.oneof(
    fc.integer({ min: MIN_TS, max: MAX_TS }),
    fc.integer({ min: -MAX_LONG, max: MAX_LONG }),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
  ),
  windowMinutes: int32,
  value: nullableDouble,
  discreteValue: fc.oneof(fc.constant(null), text),
  min: nullableDouble,
  max: nullableDouble,
  discreteMax: fc.oneof(fc.constant(null), text),
  samples: int32,
  status: int32,
});

function handWritten(points: readonly TrendPoint[], initial = 1): Buffer {
  const out = {
    buf: Buffer.alloc(initial),
    pos: 0,
    reserve(n: number) {
      if (this.pos + n <= this.buf.length) return;
      const grown = Buffer.alloc(Math.max(this.pos + n, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.pos);
      this.buf = grown;
    },
  };
  for (const p of points) writeTrendPoint(out, p);
  return out.buf.subarray(0, out.pos);
}

describe('hand-written trend encoder', () => {
  it("writes avsc's bytes for any trend point (ids, zig-zag longs, unions, doubles, UTF-8 strings)", () => {
    const avsc = READER_TYPES.trend;
    fc.assert(
      fc.property(fc.array(point, { maxLength: 8 }), (points) => {
        assert.deepEqual(handWritten(points), Buffer.concat(points.map((p) => avsc.toBuffer(p))));
      }),
      { numRuns: 500 },
    );
  });

  it('containers of trend points read back as the records written', () => {
    fc.assert(
      fc.property(
        fc.array(
          point.map((p) => ({ ...p, timestamp: MIN_TS + (Math.abs(p.timestamp) % (MAX_TS - MIN_TS)) })),
          { minLength: 1, maxLength: 20 },
        ),
        (points) => {
          const decoded = decodeBatch(encodeBatch('trend', points), points.length).records as TrendPoint[];
          assert.deepEqual(
            decoded.map((r) => ({ ...r })),
            points.map((p) => ({ ...p })),
          );
        },
      ),
      { numRuns: 100 },
    );
  });
});
