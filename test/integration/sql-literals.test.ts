/**
 * storage/sql.ts against the real ClickHouse, property-based (fast-check, fixed seed): every
 * literal the module writes must read back as exactly the value it came from. Values are compared
 * as bytes or bits computed by the server (hex of the UTF-8 bytes, the 64 bits of a double, the
 * decimal digits of an integer), so JSON escaping on the way back cannot hide a difference. Many
 * literals go into one SELECT, so a run of thousands of values takes seconds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ClickHouseClient } from '@clickhouse/client';
import fc from 'fast-check';
import { createClickHouse } from '../../storage/client.ts';
import { ident, join, likePrefix, likeWildcard, literal, sql, SqlLiteralError, type Sql, type SqlValue } from '../../storage/sql.ts';
import { connections, uniqueName } from '../support/services.ts';

const SEED = 20_261_101;
const RUNS = 20;
const BATCH = 200;
/**
 * Values per SELECT when each is a function call (doubles, arrays): 18.16 plans such a SELECT in
 * time that grows faster than linearly with its calls (200 took 1–3 s on a loaded box, 400 over 20 s).
 */
const CALL_BATCH = 100;
const settings = { seed: SEED, numRuns: RUNS };

/** Characters that matter to the lexer, to LIKE and to UTF-8: the alphabet of dense strings. */
const TRICKY = [
  '\\',
  "'",
  '"',
  '`',
  '\0',
  '\x01',
  '\x1b',
  '\x7f',
  '\n',
  '\r',
  '\t',
  '\b',
  '\f',
  '%',
  '_',
  '*',
  '?',
  'a',
  'Z',
  ' ',
  '\x80',
  'é',
  '\u2028',
  '\ufeff',
  '\uffff',
  '😀',
  '\u{10ffff}',
  'e\u0301',
];

const denseString = fc.string({ unit: fc.constantFrom(...TRICKY), maxLength: 30 });
const anyString = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'grapheme-composite', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'binary-ascii', maxLength: 40 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 40 }),
  denseString,
);
/** Any UTF-16 code units, lone surrogates included. */
const codeUnitString = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 20 });

/** Whether a JS string has a UTF-8 form (no lone surrogate): decided without storage/sql.ts. */
const wellFormed = (s: string) => Buffer.from(s, 'utf8').toString('utf8') === s;
const utf8Hex = (s: string) => Buffer.from(s, 'utf8').toString('hex').toUpperCase();
function doubleBits(n: number): string {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(n);
  return b.readBigUInt64LE().toString();
}
/**
 * The server's view of Float64s: their 64 bits as decimal UInt64s (reinterpretAsUInt64 of a Float64
 * fails on 18.16; through reinterpretAsString it works on 18.16 and current). Each literal stays a
 * scalar of its own type (`toFloat64(<literal>)`); one array expression keeps 18.16's analyser fast
 * (200 separate columns of nested calls take 2 s to plan, one array 0.2 s).
 */
/** `[<literal>, <literal>, …]`: each value written by the sql tag on its own (one expression, fast to plan). */
const each = (values: readonly SqlValue[]) =>
  sql`[${join(
    values.map((v) => sql`${v}`),
    ', ',
  )}]`;
const bitsOf = (numbers: readonly number[]) =>
  sql`arrayMap(x -> toString(reinterpretAsUInt64(reinterpretAsString(x))), [${join(
    numbers.map((n) => sql`toFloat64(${n})`),
    ', ',
  )}])`;

describe('SQL literals on the real ClickHouse (property-based)', () => {
  let client: ClickHouseClient;
  const db = uniqueName('staas_sql_literals');

  before(async () => {
    client = createClickHouse(connections.clickhouse);
    await client.command({ query: sql`CREATE DATABASE ${ident(db)}`.text });
  });

  after(async () => {
    await client?.command({ query: sql`DROP DATABASE IF EXISTS ${ident(db)}`.text });
    await client?.close();
  });

  /** One SELECT of many String-valued expressions; their values in order. */
  async function select(exprs: readonly Sql[]): Promise<unknown[]> {
    if (exprs.length === 0) return [];
    const columns = exprs.map((e, i) => sql`${e} AS ${ident(`c${i}`)}`);
    const rs = await client.query({ query: sql`SELECT ${join(columns, ', ')}`.text, format: 'JSON' });
    const body = await rs.json<Record<string, unknown>>();
    const row = body.data[0]!;
    return exprs.map((_, i) => row[`c${i}`]);
  }

  it('reads back any well-formed string byte for byte (every code point, controls, quotes, backslashes)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(anyString, { minLength: BATCH, maxLength: BATCH }), async (strings) => {
        const got = await select([sql`arrayMap(x -> hex(x), ${each(strings)})`, sql`arrayMap(x -> toString(length(x)), ${each(strings)})`]);
        assert.deepEqual(got, [strings.map(utf8Hex), strings.map((s) => String(Buffer.byteLength(s)))]);
      }),
      settings,
    );
  });

  it('refuses a string with a lone surrogate and reads back every other string of arbitrary code units', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            codeUnitString,
            fc
              .tuple(anyString, fc.integer({ min: 0xd800, max: 0xdfff }), anyString)
              .map(([a, u, b]) => `${a}${String.fromCharCode(u)}${b.replace(/^[\udc00-\udfff]/, '')}`),
            // A low surrogate before its high one is two lone surrogates, not a pair.
            fc
              .tuple(fc.integer({ min: 0xdc00, max: 0xdfff }), fc.integer({ min: 0xd800, max: 0xdbff }))
              .map(([lo, hi]) => String.fromCharCode(lo, hi)),
          ),
          { minLength: BATCH, maxLength: BATCH },
        ),
        async (strings) => {
          const good = strings.filter(wellFormed);
          for (const s of strings.filter((x) => !wellFormed(x))) {
            assert.throws(() => literal(s), SqlLiteralError, JSON.stringify(s));
            assert.throws(() => sql`SELECT ${[s]}`, SqlLiteralError);
            assert.throws(() => likePrefix(s), SqlLiteralError);
            assert.throws(() => likeWildcard(s), SqlLiteralError);
          }
          if (good.length > 0) assert.deepEqual(await select([sql`arrayMap(x -> hex(x), ${each(good)})`]), [good.map(utf8Hex)]);
        },
      ),
      settings,
    );
  });

  it('reads back any double bit for bit (NaN, ±Infinity, -0, subnormals, integers)', async () => {
    const edges = [
      0,
      -0,
      NaN,
      Infinity,
      -Infinity,
      5e-324,
      -5e-324,
      2.2250738585072014e-308,
      2.225073858507201e-308,
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
      Number.EPSILON,
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
      2 ** 53 + 2,
      2 ** 64,
      -(2 ** 63),
      0.1,
      1 / 3,
      1e21,
      123456789012345680000,
    ];
    assert.deepEqual(await select([bitsOf(edges)]), [edges.map(doubleBits)]);
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(fc.double(), fc.maxSafeInteger(), fc.double({ noDefaultInfinity: true, noNaN: true, min: -1e-300, max: 1e-300 })),
          { minLength: CALL_BATCH, maxLength: CALL_BATCH },
        ),
        async (numbers) => {
          assert.deepEqual(await select([bitsOf(numbers)]), [numbers.map(doubleBits)]);
        },
      ),
      settings,
    );
  });

  it('reads back safe integers and Int64/UInt64 bigints exactly, as integer types', async () => {
    const edges = [
      0n,
      -1n,
      2n ** 63n - 1n,
      -(2n ** 63n),
      2n ** 63n,
      2n ** 64n - 1n,
      2n ** 53n + 1n,
      -(2n ** 53n) - 1n,
      255n,
      256n,
      -128n,
      -129n,
    ];
    const integers = fc.oneof(
      fc.maxSafeInteger().filter((n) => !Object.is(n, -0)),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
      fc.constantFrom(...edges),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(integers, { minLength: BATCH / 2, maxLength: BATCH / 2 }), async (values) => {
        const got = await select(values.flatMap((v) => [sql`toString(${v})`, sql`toTypeName(${v})`]));
        for (const [i, v] of values.entries()) {
          assert.equal(got[2 * i], v.toString(), `value ${v}`);
          assert.match(String(got[2 * i + 1]), /^U?Int(8|16|32|64)$/, `type of ${v}`);
        }
      }),
      settings,
    );
  });

  it('refuses bigints outside Int64/UInt64 and values with no literal', () => {
    fc.assert(
      fc.property(fc.oneof(fc.bigInt({ max: -(2n ** 63n) - 1n }), fc.bigInt({ min: 2n ** 64n })), (v) => {
        assert.throws(() => literal(v), SqlLiteralError);
      }),
      settings,
    );
    assert.throws(() => literal(undefined as unknown as SqlValue), SqlLiteralError);
    assert.throws(() => literal({} as unknown as SqlValue), SqlLiteralError);
  });

  it('reads back arrays of strings, doubles, safe integers and bigints element for element', async () => {
    const arrays = fc.tuple(
      fc.array(anyString, { maxLength: 10 }),
      fc.array(fc.double(), { maxLength: 10 }),
      fc.array(fc.oneof(fc.double(), fc.maxSafeInteger()), { maxLength: 10 }),
      fc.array(
        fc.maxSafeInteger().filter((n) => !Object.is(n, -0)),
        { maxLength: 10 },
      ),
      fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { maxLength: 10 }),
      fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { maxLength: 10 }),
      fc.array(fc.array(anyString, { maxLength: 3 }), { maxLength: 4 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(arrays, { minLength: 8, maxLength: 8 }), async (batch) => {
        const exprs: Sql[] = [];
        const expected: unknown[] = [];
        // `[]` is Array(Nothing), which hex() and friends refuse: an empty array is checked by length.
        const each = (values: readonly SqlValue[], over: (a: Sql) => Sql, expect: unknown[]) => {
          exprs.push(values.length === 0 ? sql`toString(length(${values}))` : over(sql`${values}`));
          expected.push(values.length === 0 ? '0' : expect);
        };
        for (const [strings, doubles, mixed, ints, unsigned, signed, nested] of batch) {
          each(strings, (a) => sql`arrayMap(x -> hex(x), ${a})`, strings.map(utf8Hex));
          for (const numbers of [doubles, mixed])
            each(
              numbers,
              (a) => sql`arrayMap(x -> toString(reinterpretAsUInt64(reinterpretAsString(toFloat64(x)))), ${a})`,
              numbers.map(doubleBits),
            );
          for (const integers of [ints, unsigned, signed])
            each(integers, (a) => sql`arrayMap(x -> toString(x), ${a})`, integers.map(String));
          // Inner arrays of strings; an empty inner array would make the outer one Array(Array(Nothing)).
          const full = nested.filter((a) => a.length > 0);
          each(
            full,
            (a) => sql`arrayMap(a -> arrayMap(x -> hex(x), a), ${a})`,
            full.map((a) => a.map(utf8Hex)),
          );
        }
        assert.deepEqual(await select(exprs), expected);
      }),
      settings,
    );
  });

  it('writes an array mixing fractions and 64-bit integers so ClickHouse accepts it (all Float64)', async () => {
    const mixed = [0.5, 5_000_000_000, -9_007_199_254_740_991, NaN, -0, 7];
    assert.equal(
      literal(mixed),
      `[${literal(0.5)}, toFloat64(5000000000), toFloat64(-9007199254740991), ${literal(NaN)}, ${literal(-0)}, toFloat64(7)]`,
    );
    const nested = [[0.25], [2 ** 40], [-1]];
    const got = await select([
      sql`arrayMap(x -> toString(reinterpretAsUInt64(reinterpretAsString(x))), ${mixed})`,
      sql`toTypeName(${nested})`,
      sql`arrayMap(a -> arrayMap(x -> toString(reinterpretAsUInt64(reinterpretAsString(x))), a), ${nested})`,
    ]);
    assert.deepEqual(got, [mixed.map(doubleBits), 'Array(Array(Float64))', nested.map((a) => a.map(doubleBits))]);
  });

  it('writes an array mixing negative and 64-bit integers so ClickHouse accepts it (all Int64)', async () => {
    const signed = [-1, 5_000_000_000, 4_294_967_295, Number.MAX_SAFE_INTEGER, 0];
    assert.equal(literal(signed), `[-1, toInt64(5000000000), 4294967295, toInt64(${Number.MAX_SAFE_INTEGER}), 0]`);
    const nested = [[-1], [2 ** 40]];
    const got = await select([sql`toString(${signed})`, sql`toTypeName(${signed})`, sql`toString(${nested})`, sql`toTypeName(${nested})`]);
    assert.deepEqual(got, [`[${signed.join(',')}]`, 'Array(Int64)', '[[-1],[1099511627776]]', 'Array(Array(Int64))']);
    const bigints = [-(2n ** 63n), 2n ** 63n - 1n, 5n];
    assert.equal(literal(bigints), '[-9223372036854775808, toInt64(9223372036854775807), 5]');
    assert.deepEqual(await select([sql`toString(${bigints})`]), ['[-9223372036854775808,9223372036854775807,5]']);
    assert.throws(() => literal([-1n, 2n ** 63n]), SqlLiteralError);
    assert.throws(() => literal([-1, [2n ** 63n]]), SqlLiteralError);
  });

  /** Strings that start with `prefix`, that almost do, and unrelated ones. */
  const prefixCase = denseString
    .chain((prefix) =>
      fc.record({
        prefix: fc.constant(prefix),
        candidates: fc.array(
          fc.oneof(
            denseString.map((tail) => prefix + tail),
            denseString.map((s) => s),
            fc
              .nat({ max: Math.max(0, prefix.length - 1) })
              .chain((i) => fc.constantFrom(...TRICKY).map((c) => `${prefix.slice(0, i)}${c}${prefix.slice(i + 1)}`)),
            fc.constant(prefix.slice(0, -1)),
          ),
          { minLength: 20, maxLength: 20 },
        ),
      }),
    )
    .filter(({ prefix, candidates }) => wellFormed(prefix) && candidates.every(wellFormed));

  it('likePrefix matches exactly the strings that start with the prefix (%, _ and \\ literally)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(prefixCase, { minLength: 20, maxLength: 20 }), async (cases) => {
        const got = await select(cases.map(({ prefix, candidates }) => sql`arrayMap(x -> x LIKE ${likePrefix(prefix)}, ${candidates})`));
        assert.deepEqual(
          got,
          cases.map(({ prefix, candidates }) => candidates.map((s) => (s.startsWith(prefix) ? 1 : 0))),
        );
      }),
      settings,
    );
  });

  it('likePrefix on a sorting key (index analysis of the LIKE prefix, granules of one row) finds the same rows', async () => {
    const table = sql`${ident(db)}.keys`;
    await client.command({
      query: sql`CREATE TABLE ${table} (k String) ENGINE = MergeTree ORDER BY k SETTINGS index_granularity = 1`.text,
    });
    const keys = [...new Set(fc.sample(fc.oneof(denseString, anyString.filter(wellFormed)), { seed: SEED, numRuns: 2000 }))];
    const prefixes = [
      ...new Set([
        '',
        '%',
        '_',
        '\\',
        "'",
        'a%',
        'a_',
        'a\\',
        ...keys.slice(0, 150).map((k) => [...k].slice(0, 1 + (k.length % 4)).join('')),
      ]),
    ];
    await client.command({
      query: sql`INSERT INTO ${table} VALUES ${join(
        keys.map((k) => sql`(${k})`),
        ', ',
      )}`.text,
    });
    const got = await select(
      prefixes.map((p) => sql`(SELECT groupArray(k) FROM (SELECT k FROM ${table} WHERE k LIKE ${likePrefix(p)} ORDER BY k))`),
    );
    const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
    assert.deepEqual(
      got,
      prefixes.map((p) => keys.filter((k) => k.startsWith(p)).sort(byBytes)),
    );
  });

  /** A DataMiner wildcard filter as a JS regular expression: `*` any run, `?` one character. */
  function wildcardRegExp(filter: string): RegExp {
    const body = [...filter]
      .map((c) => (c === '*' ? '[\\s\\S]*' : c === '?' ? '[\\s\\S]' : c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')))
      .join('');
    return new RegExp(`^${body}$`, 'u');
  }

  const wildcardCase = denseString
    .chain((filter) =>
      fc.record({
        filter: fc.constant(filter),
        candidates: fc.array(
          fc.oneof(
            // Instances of the filter: every * and ? replaced by matching text.
            fc
              .array(fc.tuple(denseString, fc.constantFrom(...TRICKY)), { minLength: filter.length, maxLength: filter.length })
              .map((fill) => [...filter].map((c, i) => (c === '*' ? fill[i]![0] : c === '?' ? fill[i]![1] : c)).join('')),
            denseString.map((s) => s),
            fc.constant(filter),
          ),
          { minLength: 20, maxLength: 20 },
        ),
      }),
    )
    .filter(({ filter, candidates }) => wellFormed(filter) && candidates.every(wellFormed));

  it('likeWildcard: * matches any run, ? one character, everything else (%, _, \\) itself', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(wildcardCase, { minLength: 20, maxLength: 20 }), async (all) => {
        // 18.16 mismatches NUL in a pattern that starts with % ('' LIKE '%\x00' is 1): refused.
        for (const { filter } of all.filter((c) => c.filter.includes('\0'))) assert.throws(() => likeWildcard(filter), SqlLiteralError);
        const cases = all.filter((c) => !c.filter.includes('\0'));
        const got = await select(cases.map(({ filter, candidates }) => sql`arrayMap(x -> x LIKE ${likeWildcard(filter)}, ${candidates})`));
        assert.deepEqual(
          got,
          cases.map(({ filter, candidates }) => candidates.map((s) => (wildcardRegExp(filter).test(s) ? 1 : 0))),
        );
      }),
      settings,
    );
  });
});
