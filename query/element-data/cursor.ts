/**
 * The cursor of a table-rows page: the primary key of the page's last row, as opaque base64url
 * (of a small JSON document, so its form can change without breaking old cursors silently).
 * Pages continue with `primary_key > <that key>` (keyset), which ClickHouse compares as bytes, the
 * same order `ORDER BY primary_key` gives.
 */
import { badCursor, decodeCursorDocument, encodeCursorDocument } from '../http/cursor.ts';

/** The cursor that continues after the row with this primary key, bound to `listing` (tenant, element, table, prefix). */
export function encodeRowCursor(primaryKey: string, listing: unknown): string {
  return encodeCursorDocument({ k: primaryKey }, listing);
}

/**
 * The primary key a cursor continues after. Throws a 400 HttpProblem naming `querystring.cursor`
 * for anything `encodeRowCursor` did not make (bad base64url, bad UTF-8, another shape).
 */
export function decodeRowCursor(cursor: string, listing: unknown): string {
  const doc = decodeCursorDocument(cursor, listing);
  const keys = Object.keys(doc);
  const k = doc.k;
  if (keys.length !== 1 || typeof k !== 'string' || k === '') throw badCursor();
  // A lone surrogate (possible through a JSON escape) has no UTF-8 form, so it is no stored key.
  if (Buffer.from(k, 'utf8').toString('utf8') !== k) throw badCursor();
  return k;
}
