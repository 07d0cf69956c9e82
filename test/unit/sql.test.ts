/**
 * storage/sql.ts as text: the literal of each kind of value, composition with the `sql` tag,
 * identifiers and LIKE patterns. The real server's reading of these literals is checked by
 * test/integration/sql-literals.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ident, join, likePrefix, likeWildcard, literal, sql, Sql, SqlLiteralError } from '../../storage/sql.ts';

describe('literal', () => {
  it("writes strings quoted, with \\\\, \\' and control bytes escaped and the rest as UTF-8", () => {
    assert.equal(literal(''), "''");
    assert.equal(literal('plain text'), "'plain text'");
    assert.equal(literal("it's"), "'it\\'s'");
    assert.equal(literal('back\\slash'), "'back\\\\slash'");
    assert.equal(literal('"double"`tick`'), '\'"double"`tick`\'');
    assert.equal(literal('a\nb\tc\rd\0e\x1bf\x7f'), "'a\\x0ab\\x09c\\x0dd\\x00e\\x1bf\\x7f'");
    assert.equal(literal('é😀\u2028\uffff'), "'é😀\u2028\uffff'");
    assert.equal(literal("\\'"), "'\\\\\\''");
  });

  it('refuses strings holding a lone surrogate', () => {
    for (const s of ['\ud800', 'a\udfffb', '\udc00\ud800', 'x\ud83d']) assert.throws(() => literal(s), SqlLiteralError, JSON.stringify(s));
    assert.equal(literal('\ud83d\ude00'), "'😀'");
  });

  it('writes safe integers as digits and every other number as the bits of a Float64', () => {
    assert.equal(literal(0), '0');
    assert.equal(literal(-42), '-42');
    assert.equal(literal(Number.MAX_SAFE_INTEGER), '9007199254740991');
    assert.equal(literal(Number.MIN_SAFE_INTEGER), '-9007199254740991');
    assert.equal(literal(0.5), "reinterpretAsFloat64(unhex('000000000000e03f'))");
    assert.equal(literal(-0), "reinterpretAsFloat64(unhex('0000000000000080'))");
    assert.equal(literal(NaN), "reinterpretAsFloat64(unhex('000000000000f87f'))");
    assert.equal(literal(Infinity), "reinterpretAsFloat64(unhex('000000000000f07f'))");
    assert.equal(literal(-Infinity), "reinterpretAsFloat64(unhex('000000000000f0ff'))");
    assert.equal(literal(5e-324), "reinterpretAsFloat64(unhex('0100000000000000'))");
    assert.equal(literal(2 ** 53), "reinterpretAsFloat64(unhex('0000000000004043'))");
  });

  it('writes bigints in Int64/UInt64 range as digits and refuses others', () => {
    assert.equal(literal(-(2n ** 63n)), '-9223372036854775808');
    assert.equal(literal(2n ** 64n - 1n), '18446744073709551615');
    assert.equal(literal(0n), '0');
    assert.throws(() => literal(-(2n ** 63n) - 1n), SqlLiteralError);
    assert.throws(() => literal(2n ** 64n), SqlLiteralError);
  });

  it('writes booleans, null, fragments and arrays', () => {
    assert.equal(literal(true), '1');
    assert.equal(literal(false), '0');
    assert.equal(literal(null), 'NULL');
    assert.equal(literal(new Sql('now()')), 'now()');
    assert.equal(literal([]), '[]');
    assert.equal(literal([1, 'a', null]), "[1, 'a', NULL]");
    assert.equal(literal([['x'], []]), "[['x'], []]");
    assert.equal(literal([1, -2, 4294967295]), '[1, -2, 4294967295]');
  });

  it('gives an array of numbers one ClickHouse type: Float64 beside a fraction, Int64 beside a negative', () => {
    assert.equal(literal([0.5, 2]), `[${literal(0.5)}, toFloat64(2)]`);
    assert.equal(literal([[0.5], [5_000_000_000]]), `[[${literal(0.5)}], [toFloat64(5000000000)]]`);
    assert.equal(literal([-1, 5_000_000_000]), '[-1, toInt64(5000000000)]');
    assert.equal(literal([-1n, 5_000_000_000n, 7n]), '[-1, toInt64(5000000000), 7]');
    assert.equal(literal([1, 5_000_000_000]), '[1, 5000000000]');
    assert.equal(literal([2n ** 64n - 1n, 1n]), '[18446744073709551615, 1]');
    assert.throws(() => literal([-1, 2n ** 63n]), SqlLiteralError);
  });

  it('refuses values with no literal', () => {
    for (const v of [undefined, {}, () => 1, Symbol('s')]) assert.throws(() => literal(v as never), SqlLiteralError);
  });
});

describe('sql tag', () => {
  it('turns every interpolation into a literal and places fragments as they are', () => {
    const dms = 7;
    const key = "x' OR 1 = 1 --";
    const where = sql`dms_id = ${dms} AND primary_key = ${key}`;
    assert.equal(where.text, "dms_id = 7 AND primary_key = 'x\\' OR 1 = 1 --'");
    const statement = sql`SELECT ts FROM ${ident('staas')}.element_rows WHERE ${where} AND id IN ${[1, 2]} LIMIT ${10}`;
    assert.ok(statement instanceof Sql);
    assert.equal(
      statement.text,
      "SELECT ts FROM staas.element_rows WHERE dms_id = 7 AND primary_key = 'x\\' OR 1 = 1 --' AND id IN [1, 2] LIMIT 10",
    );
    assert.equal(String(statement), statement.text);
    assert.equal(sql`SELECT 1`.text, 'SELECT 1');
    assert.equal(sql`${'a'}${'b'}`.text, "'a''b'");
  });

  it('refuses a value without a literal while building, so no statement is half made', () => {
    assert.throws(() => sql`SELECT ${'\ud800'}`, SqlLiteralError);
    assert.throws(() => sql`SELECT ${2n ** 64n}`, SqlLiteralError);
  });

  it('joins fragments with a separator', () => {
    assert.equal(join([sql`a = ${1}`, sql`b = ${'x'}`], ' AND ').text, "a = 1 AND b = 'x'");
    assert.equal(join([], ', ').text, '');
  });
});

describe('ident', () => {
  it('accepts plain identifiers only', () => {
    assert.equal(ident('staas_test_1').text, 'staas_test_1');
    assert.equal(ident('_x').text, '_x');
    for (const bad of ['', '1abc', 'a-b', 'a.b', 'a b', 'a;DROP', '`a`', '"a"', 'é', 'a\n', "a'"])
      assert.throws(() => ident(bad), /identifier/, bad);
  });
});

describe('LIKE patterns', () => {
  it('likePrefix escapes %, _ and \\ and appends %', () => {
    assert.equal(likePrefix('').text, "'%'");
    assert.equal(likePrefix('eth0').text, "'eth0%'");
    assert.equal(likePrefix('50%_a\\b').text, "'50\\\\%\\\\_a\\\\\\\\b%'");
    assert.equal(likePrefix("it's").text, "'it\\'s%'");
    assert.equal(likePrefix('a*?').text, "'a*?%'");
  });

  it('likeWildcard turns * and ? into % and _ and matches everything else literally', () => {
    assert.equal(likeWildcard('eth*').text, "'eth%'");
    assert.equal(likeWildcard('?x*').text, "'_x%'");
    assert.equal(likeWildcard('100%_').text, "'100\\\\%\\\\_'");
    assert.equal(likeWildcard('a\\*').text, "'a\\\\\\\\%'");
  });

  it('refuses a lone surrogate in either, and NUL in a wildcard filter', () => {
    assert.throws(() => likePrefix('\ud800'), SqlLiteralError);
    assert.throws(() => likeWildcard('\udc00*'), SqlLiteralError);
    assert.throws(() => likeWildcard('*\0'), SqlLiteralError);
    assert.equal(likePrefix('a\0').text, "'a\\x00%'");
  });
});
