/** Pure logic of the element data routes: cell reconstruction and the table-rows cursor. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cellsOf } from '../../query/element-data/cells.ts';
import { decodeRowCursor, encodeRowCursor } from '../../query/element-data/cursor.ts';
import { HttpProblem } from '../../query/http/problem.ts';

describe('cellsOf', () => {
  it('rebuilds numbers, strings and nulls from the parallel arrays, in stored order', () => {
    assert.deepEqual(cellsOf({ cell_ids: [3, 1, 2, 4], cell_numbers: [0, null, null, -1.5], cell_texts: [null, '', null, null] }), [
      { columnId: 3, value: 0 },
      { columnId: 1, value: '' },
      { columnId: 2, value: null },
      { columnId: 4, value: -1.5 },
    ]);
    assert.deepEqual(cellsOf({ cell_ids: [], cell_numbers: [], cell_texts: [] }), []);
  });

  it('throws on arrays of different lengths', () => {
    assert.throws(() => cellsOf({ cell_ids: [1, 2], cell_numbers: [1], cell_texts: [null, null] }), /differ in length/);
  });
});

describe('table-rows cursor', () => {
  it('round-trips any primary key', () => {
    for (const key of ['a', 'key-1', "it's", '%_\\', 'é😀\u0000\n', 'x'.repeat(768)]) {
      const cursor = encodeRowCursor(key, 'rows');
      assert.match(cursor, /^[A-Za-z0-9_-]+$/);
      assert.equal(decodeRowCursor(cursor, 'rows'), key);
    }
  });

  it('refuses anything it did not make, naming querystring.cursor', () => {
    const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64url');
    for (const bad of [
      '!!!',
      'abc',
      `${encodeRowCursor('a', 'rows')}=`,
      `${encodeRowCursor('a', 'rows')}A`,
      b64('{"k":1}'),
      b64('{"k":""}'),
      b64('["a"]'),
      b64('null'),
      b64('{"k":"a","v":2}'),
      b64('{"k":"\\udc00x"}'),
      b64(Buffer.from([0x7b, 0x22, 0x6b, 0x22, 0x3a, 0x22, 0xc3, 0x22, 0x7d])),
    ]) {
      assert.throws(
        () => decodeRowCursor(bad, 'rows'),
        (err: unknown) => err instanceof HttpProblem && err.status === 400 && err.errors?.[0]?.field === 'querystring.cursor',
        bad,
      );
    }
  });
});
