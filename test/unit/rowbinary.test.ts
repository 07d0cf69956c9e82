import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RowBinaryWriter } from '../../ingest/sink/rowbinary.ts';

const bytes = (fn: (w: RowBinaryWriter) => void) => {
  const w = new RowBinaryWriter(4); // tiny: every write must grow the buffer correctly
  fn(w);
  return [...w.result()];
};

describe('RowBinary writer', () => {
  it('writes fixed-width integers little-endian', () => {
    assert.deepEqual(
      bytes((w) => w.int32(-2)),
      [0xfe, 0xff, 0xff, 0xff],
    );
    assert.deepEqual(
      bytes((w) => w.uint16(0x1234)),
      [0x34, 0x12],
    );
    assert.deepEqual(
      bytes((w) => w.int16(-1)),
      [0xff, 0xff],
    );
  });

  it('writes 64-bit integers exactly from safe integers, as BigInt would', () => {
    for (const v of [0, 1, 2 ** 32, 2 ** 32 + 5, Date.UTC(2026, 0, 1), Number.MAX_SAFE_INTEGER]) {
      const ref = Buffer.alloc(8);
      ref.writeBigUInt64LE(BigInt(v));
      assert.deepEqual(
        bytes((w) => w.uint64(v)),
        [...ref],
        `uint64 ${v}`,
      );
    }
    for (const v of [-1, -2, -(2 ** 32), -(2 ** 32) - 7, Number.MIN_SAFE_INTEGER, 123]) {
      const ref = Buffer.alloc(8);
      ref.writeBigInt64LE(BigInt(v));
      assert.deepEqual(
        bytes((w) => w.int64(v)),
        [...ref],
        `int64 ${v}`,
      );
    }
  });

  it('writes LEB128 lengths and UTF-8 strings', () => {
    assert.deepEqual(
      bytes((w) => w.leb128(300)),
      [0xac, 0x02],
    );
    assert.deepEqual(
      bytes((w) => w.string('é')),
      [2, 0xc3, 0xa9],
    );
    const long = 'x'.repeat(200) + '€';
    const out = Buffer.from(bytes((w) => w.string(long)));
    assert.equal(out.readUInt8(0), 0xcb); // 203 = 0xcb 0x01
    assert.equal(out.readUInt8(1), 0x01);
    assert.equal(out.subarray(2).toString('utf8'), long);
  });

  it('marks Nullable values with a leading flag byte and keeps doubles exact', () => {
    assert.deepEqual(
      bytes((w) => w.nullableFloat64(null)),
      [1],
    );
    assert.deepEqual(
      bytes((w) => w.nullableString(null)),
      [1],
    );
    const nan = Buffer.from(bytes((w) => w.nullableFloat64(NaN)));
    assert.equal(nan[0], 0);
    assert.ok(Number.isNaN(nan.readDoubleLE(1)));
    assert.ok(Object.is(Buffer.from(bytes((w) => w.float64(-0))).readDoubleLE(0), -0));
  });
});
