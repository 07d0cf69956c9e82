/**
 * The Query API's RowBinary reads against the real ClickHouse: every column type the decoder
 * knows, cast by `castColumns`, decodes to exactly what the JSON answer of the same rows says
 * (edge values included), and a truncated answer is an error, not short rows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createQueryMetrics } from '../../query/metrics.ts';
import { ClickHouseReader } from '../../query/reader.ts';
import { castColumns, decodeRowBinary, decodeRowBinaryStream, RowBinaryError, type RowShape } from '../../query/rowbinary.ts';
import { sql } from '../../storage/sql.ts';
import { createTestDatabase, type TestDatabase } from '../support/services.ts';

const SHAPE: RowShape = [
  ['u8', 'UInt8'],
  ['u16', 'UInt16'],
  ['u32', 'UInt32'],
  ['u64', 'UInt64'],
  ['i16', 'Int16'],
  ['i32', 'Int32'],
  ['i64', 'Int64'],
  ['f64', 'Float64'],
  ['s', 'String'],
  ['nf', 'Nullable(Float64)'],
  ['ns', 'Nullable(String)'],
];

describe('RowBinary reads (real ClickHouse)', () => {
  let database: TestDatabase;
  let reader: ClickHouseReader;

  before(async () => {
    database = await createTestDatabase();
    reader = new ClickHouseReader(database.client, database.db, 30, createQueryMetrics());
  });

  after(async () => {
    await database?.drop();
  });

  it('decodes every type exactly as the JSON answer of the same rows', async () => {
    const rows = sql`SELECT number % 256 AS u8, number * 257 % 65536 AS u16, number * 16777259 % 4294967296 AS u32,
        (number * 1234567890123) % 9007199254740992 AS u64, toInt16(number % 65536 - 32768) AS i16,
        toInt32(number * 16777259 % 4294967296 - 2147483648) AS i32, toInt64(number * 1234567890123 % 9007199254740992) - 4503599627370496 AS i64,
        number / 7 - 100 AS f64, if(number % 3 = 0, '', concat('é😀\\t\\'', toString(number), arrayStringConcat(arrayMap(x -> 'x', range(number % 200))))) AS s,
        if(number % 4 = 0, NULL, number * 0.5) AS nf, if(number % 5 = 0, NULL, toString(number)) AS ns
      FROM numbers(3000)`;
    const binary = await reader.binaryRows<Record<string, unknown>>(sql`SELECT ${castColumns(SHAPE)} FROM (${rows}) AS r`, SHAPE, {
      label: 'test',
    });
    const json = await reader.rows<Record<string, unknown>>(sql`SELECT ${castColumns(SHAPE)} FROM (${rows}) AS r`, { label: 'test' });
    assert.equal(binary.length, 3000);
    assert.deepEqual(binary, json);
  });

  it('decodes edge values: extremes, NaN and infinities, long strings', async () => {
    const first = sql`SELECT 255 AS u8, 65535 AS u16, 4294967295 AS u32, 9007199254740991 AS u64, -32768 AS i16, -2147483648 AS i32,
        -9007199254740991 AS i64, -0.0 AS f64, arrayStringConcat(arrayMap(x -> 'ß', range(70000))) AS s, nan AS nf, CAST(NULL AS Nullable(String)) AS ns`;
    const second = sql`SELECT 0 AS u8, 0 AS u16, 0 AS u32, 0 AS u64, 32767 AS i16, 2147483647 AS i32, 9007199254740991 AS i64, ${5e-324} AS f64,
        '' AS s, inf AS nf, '' AS ns`;
    const got = await reader.binaryRows<Record<string, unknown>>(
      sql`SELECT * FROM (SELECT ${castColumns(SHAPE)} FROM (${first}) AS a UNION ALL SELECT ${castColumns(SHAPE)} FROM (${second}) AS b) AS r ORDER BY u8 DESC`,
      SHAPE,
      { label: 'test' },
    );
    assert.equal(got.length, 2);
    assert.deepEqual(
      { ...got[0], s: (got[0]!.s as string).length },
      {
        u8: 255,
        u16: 65535,
        u32: 4294967295,
        u64: 9007199254740991,
        i16: -32768,
        i32: -2147483648,
        i64: -9007199254740991,
        f64: -0,
        s: 70000,
        nf: NaN,
        ns: null,
      },
    );
    assert.ok(Object.is(got[0]!.f64, -0));
    assert.equal(got[0]!.s, 'ß'.repeat(70000));
    assert.deepEqual(got[1], {
      u8: 0,
      u16: 0,
      u32: 0,
      u64: 0,
      i16: 32767,
      i32: 2147483647,
      i64: 9007199254740991,
      f64: 5e-324,
      s: '',
      nf: Infinity,
      ns: '',
    });
  });

  it('refuses an answer that ends inside a row', () => {
    const shape: RowShape = [
      ['a', 'UInt32'],
      ['b', 'String'],
    ];
    const whole = Buffer.from([1, 0, 0, 0, 2, 0x68, 0x69]);
    assert.deepEqual(decodeRowBinary(whole, shape), [{ a: 1, b: 'hi' }]);
    for (let cut = 1; cut < whole.length; cut++) assert.throws(() => decodeRowBinary(whole.subarray(0, cut), shape), RowBinaryError);
  });

  it('decodes a stream cut anywhere into the same rows, and refuses one that ends inside a row', async () => {
    const shape: RowShape = [
      ['a', 'UInt32'],
      ['b', 'Nullable(String)'],
    ];
    const whole = Buffer.from([1, 0, 0, 0, 0, 2, 0x68, 0x69, 2, 0, 0, 0, 1, 3, 0, 0, 0, 0, 0]);
    const want = [
      { a: 1, b: 'hi' },
      { a: 2, b: null },
      { a: 3, b: '' },
    ];
    const collect = async (chunks: Buffer[]) => {
      const rows: unknown[] = [];
      for await (const batch of decodeRowBinaryStream(chunks, shape)) rows.push(...batch);
      return rows;
    };
    for (let a = 0; a <= whole.length; a++)
      for (let b = a; b <= whole.length; b++)
        assert.deepEqual(await collect([whole.subarray(0, a), whole.subarray(a, b), whole.subarray(b)]), want, `cut at ${a}, ${b}`);
    for (let cut = 1; cut < whole.length; cut++) {
      if ([8, 13].includes(cut)) continue; // row boundaries
      await assert.rejects(collect([whole.subarray(0, cut)]), RowBinaryError, `ends at ${cut}`);
    }
  });
});
