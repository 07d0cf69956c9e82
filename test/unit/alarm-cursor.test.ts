/** Alarm page cursors: round trips, and a 400 naming querystring.cursor for anything else. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeCursor, encodeCursor } from '../../query/alarms/cursor.ts';
import { listingFingerprint } from '../../query/http/cursor.ts';
import { HttpProblem } from '../../query/http/problem.ts';

/** What a listing is defined by (tenant, element, filters…): cursors are bound to it. */
const LISTING = ['active', [7, null], null, { severities: [1] }];

const id = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

function rejects(kind: 'active' | 'history', cursor: string): void {
  assert.throws(
    () => decodeCursor(kind, cursor, LISTING),
    (err: unknown) => err instanceof HttpProblem && err.status === 400 && err.errors?.[0]?.field === 'querystring.cursor',
    cursor,
  );
}

const b64 = (doc: unknown) =>
  Buffer.from(
    JSON.stringify(typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? { ...doc, s: listingFingerprint(LISTING) } : doc),
  ).toString('base64url');

describe('alarm cursors', () => {
  it('round-trips every sort key', () => {
    fc.assert(
      fc.property(fc.tuple(id, id, id), (k) => assert.deepEqual(decodeCursor('active', encodeCursor('active', k, LISTING), LISTING), k)),
    );
    fc.assert(
      fc.property(fc.tuple(id, id, id, id, id), (k) =>
        assert.deepEqual(decodeCursor('history', encodeCursor('history', k, LISTING), LISTING), k),
      ),
    );
  });

  it('is opaque base64url', () => {
    assert.match(encodeCursor('history', [Date.UTC(2026, 10, 1), 1, 2, 3, 4], LISTING), /^[A-Za-z0-9_-]+$/);
  });

  it('refuses a key of the wrong shape when encoding (a bug, not a request error)', () => {
    assert.throws(() => encodeCursor('active', [1, 2], LISTING));
    assert.throws(() => encodeCursor('active', [1, 2, -3], LISTING));
    assert.throws(() => encodeCursor('active', [1, 2, 0.5], LISTING));
  });

  it('answers 400 for cursors it did not make', () => {
    for (const c of [
      'garbage!',
      '',
      '====',
      'eyJ', // truncated
      b64({ c: 'active', k: [1, 2] }),
      b64({ c: 'active', k: [1, 2, -1] }),
      b64({ c: 'active', k: [1, 2, 1.5] }),
      b64({ c: 'active', k: [1, 2, '3'] }),
      b64({ c: 'active', k: [1, 2, 2 ** 53] }),
      b64({ c: 'active', k: [1, 2, 3], x: 1 }),
      b64({ k: [1, 2, 3] }),
      b64([1, 2, 3]),
      b64(null),
      b64({ c: 'history', k: [1, 2, 3, 4, 5] }), // another listing's cursor
    ])
      rejects('active', c);
    const good = encodeCursor('active', [1, 2, 3], LISTING);
    rejects('history', good);
    rejects('active', `${good}A`); // not canonical base64url
    rejects('active', Buffer.from('{"c":"active","k":[1,2,3]').toString('base64url'));
    rejects('active', Buffer.from([0xff, 0xfe, 0x7b]).toString('base64url')); // not UTF-8
  });

  it('answers 400 for a cursor of the same kind sent with other filters, element or tenant', () => {
    const good = encodeCursor('active', [1, 2, 3], LISTING);
    assert.deepEqual(decodeCursor('active', good, LISTING), [1, 2, 3]);
    for (const other of [
      ['active', [7, null], null, { severities: [2] }],
      ['active', [8, null], null, { severities: [1] }],
      ['active', [7, ['1/2']], null, { severities: [1] }],
      ['active', [7, null], { dmaId: 1, elementId: 2 }, { severities: [1] }],
    ])
      assert.throws(
        () => decodeCursor('active', good, other),
        (err: unknown) => err instanceof HttpProblem && err.status === 400 && /another listing/.test(err.message),
      );
  });
});
