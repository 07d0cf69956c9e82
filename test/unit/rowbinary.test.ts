import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RowBinaryWriter } from '../../storage/rowbinary-writer.ts';
import { decodeRowBinary, RowBinaryError, spanReaderFor, spanSlots, type RowShape } from '../../query/rowbinary.ts';

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

describe("RowBinary writer against Buffer's own encoders", () => {
  const same = (write: (w: RowBinaryWriter) => void, ref: (b: Buffer) => void, size: number) => {
    const expected = Buffer.alloc(size);
    ref(expected);
    assert.deepEqual(Buffer.from(bytes(write)), expected);
  };

  it('writes every in-range integer and any double exactly as Buffer.write*LE does', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -32768, max: 32767 }),
        fc.integer({ min: 0, max: 65535 }),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.double(),
        (i16, u16, i32, u32, f64) => {
          same(
            (w) => w.int16(i16),
            (b) => b.writeInt16LE(i16),
            2,
          );
          same(
            (w) => w.uint16(u16),
            (b) => b.writeUInt16LE(u16),
            2,
          );
          same(
            (w) => w.int32(i32),
            (b) => b.writeInt32LE(i32),
            4,
          );
          same(
            (w) => w.uint32(u32),
            (b) => b.writeUInt32LE(u32),
            4,
          );
          same(
            (w) => w.float64(f64),
            (b) => b.writeDoubleLE(f64),
            8,
          );
        },
      ),
    );
  });

  it('writes any string as its LEB128 length and UTF-8 bytes (ASCII, non-ASCII, long)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 70 }), fc.string({ unit: 'grapheme', maxLength: 150 })), (s) => {
        const utf8 = Buffer.from(s, 'utf8');
        const w = new RowBinaryWriter(4);
        w.leb128(utf8.length);
        const len = w.result().length;
        w.string(s);
        assert.deepEqual(Buffer.from(w.result().subarray(len)), Buffer.concat([Buffer.from(w.result().subarray(0, len)), utf8]));
      }),
    );
  });

  it('refuses a value its column cannot hold instead of wrapping it', () => {
    const cases: [keyof RowBinaryWriter, number][] = [
      ['int16', 32768],
      ['int16', -32769],
      ['uint16', 65536],
      ['uint16', -1],
      ['int32', 2 ** 31],
      ['int32', 1.5],
      ['uint32', 2 ** 32],
      ['uint32', -1],
      ['uint64', 2 ** 53],
      ['uint64', 0.5],
      ['int64', -(2 ** 53)],
      ['int64', Number.NaN],
    ];
    for (const [method, v] of cases)
      assert.throws(() => (new RowBinaryWriter(4)[method] as (x: number) => void)(v), RangeError, `${method}(${v})`);
  });
});

describe('RowBinary span reader (rows read in place)', () => {
  const shape: RowShape = [
    ['a', 'UInt32'],
    ['b', 'UInt8'],
    ['s', 'String'],
    ['c', 'Int64'],
    ['d', 'Float64'],
    ['e', 'UInt16'],
    ['f', 'Int16'],
    ['g', 'Int32'],
    ['t', 'String'],
    ['h', 'UInt64'],
  ];
  type Row = { a: number; b: number; s: string; c: number; d: number; e: number; f: number; g: number; t: string; h: number };
  const row = fc.record({
    a: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    b: fc.integer({ min: 0, max: 255 }),
    s: fc.string({ unit: 'grapheme', maxLength: 200 }),
    c: fc.maxSafeInteger(),
    d: fc.double({ noNaN: true }),
    e: fc.integer({ min: 0, max: 65535 }),
    f: fc.integer({ min: -32768, max: 32767 }),
    g: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    t: fc.string({ maxLength: 3 }),
    h: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  });
  const encode = (rows: readonly Row[]) => {
    const w = new RowBinaryWriter(8);
    for (const r of rows) {
      w.uint32(r.a);
      w.uint8(r.b);
      w.string(r.s);
      w.int64(r.c);
      w.float64(r.d);
      w.uint16(r.e);
      w.int16(r.f);
      w.int32(r.g);
      w.string(r.t);
      w.uint64(r.h);
    }
    return w.result();
  };

  it('reads every column as the decoder does: numbers as values, strings as byte ranges; -1 for a row cut short', () => {
    const read = spanReaderFor(shape);
    const { slots, size } = spanSlots(shape);
    fc.assert(
      fc.property(fc.array(row, { maxLength: 5 }), (rows) => {
        const buf = encode(rows);
        assert.deepEqual(
          decodeRowBinary(buf, shape),
          rows.map((r) => ({ ...r })),
        );
        const out = new Float64Array(size);
        let at = 0;
        for (const r of rows) {
          const rowStart = at;
          at = read(buf, at, out);
          const text = (name: string) => buf.toString('utf8', out[slots[name]!], out[slots[name]! + 1]);
          assert.deepEqual(
            { a: out[slots.a!], b: out[slots.b!], s: text('s'), c: out[slots.c!], d: out[slots.d!], e: out[slots.e!] },
            { a: r.a, b: r.b, s: r.s, c: r.c, d: r.d, e: r.e },
          );
          assert.deepEqual([out[slots.f!], out[slots.g!], text('t'), out[slots.h!]], [r.f, r.g, r.t, r.h]);
          // Every shorter view of the row is incomplete.
          for (let cut = rowStart; cut < at; cut++) assert.equal(read(buf.subarray(0, cut), rowStart, out), -1, `cut at ${cut}`);
        }
        assert.equal(at, buf.length);
      }),
      { seed: 20_261_129, numRuns: 200 },
    );
  });

  it('refuses Nullable columns, which it cannot read in place', () => {
    assert.throws(() => spanReaderFor([['v', 'Nullable(Float64)']]), RowBinaryError);
  });
});
