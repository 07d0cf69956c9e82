/**
 * The cursor of a table-rows page: the primary key of the page's last row, as opaque base64url
 * (of a small JSON document, so its form can change without breaking old cursors silently).
 * Pages continue with `primary_key > <that key>` (keyset), which ClickHouse compares as bytes, the
 * same order `ORDER BY primary_key` gives.
 */
import { badField } from '../http/problem.ts';

const FIELD = 'querystring.cursor';
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The cursor that continues after the row with this primary key. */
export function encodeRowCursor(primaryKey: string): string {
  return Buffer.from(JSON.stringify({ k: primaryKey }), 'utf8').toString('base64url');
}

/**
 * The primary key a cursor continues after. Throws a 400 HttpProblem naming `querystring.cursor`
 * for anything `encodeRowCursor` did not make (bad base64url, bad UTF-8, another shape).
 */
export function decodeRowCursor(cursor: string): string {
  const bad = badField(FIELD, 'is not a cursor this API returned');
  if (!BASE64URL.test(cursor)) throw bad;
  const bytes = Buffer.from(cursor, 'base64url');
  // Node's decoder skips characters it cannot use; only a canonical encoding is ours.
  if (bytes.toString('base64url') !== cursor) throw bad;
  let doc: unknown;
  try {
    doc = JSON.parse(utf8.decode(bytes));
  } catch {
    throw bad;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad;
  const keys = Object.keys(doc);
  const k = (doc as { k?: unknown }).k;
  if (keys.length !== 1 || typeof k !== 'string' || k === '') throw bad;
  // A lone surrogate (possible through a JSON escape) has no UTF-8 form, so it is no stored key.
  if (Buffer.from(k, 'utf8').toString('utf8') !== k) throw bad;
  return k;
}
