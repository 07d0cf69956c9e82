/**
 * The envelope of every page cursor: a small JSON object as opaque base64url, so a listing can
 * change what it keeps in a cursor without old cursors being misread. Listings (alarms, table
 * rows) check the object's shape themselves.
 */
import { badField } from './problem.ts';

const FIELD = 'querystring.cursor';
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The cursor carrying `doc`. */
export function encodeCursorDocument(doc: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(doc), 'utf8').toString('base64url');
}

/** A 400 naming `querystring.cursor`: for a cursor whose document has the wrong shape. */
export function badCursor(): Error {
  return badField(FIELD, 'is not a cursor this listing returned');
}

/**
 * The JSON object inside a cursor. Throws `badCursor()` for anything `encodeCursorDocument` did
 * not make: characters outside base64url, a non-canonical encoding (Node's decoder skips
 * characters it cannot use), bad UTF-8, not JSON, not an object.
 */
export function decodeCursorDocument(cursor: string): Record<string, unknown> {
  if (!BASE64URL.test(cursor)) throw badCursor();
  const bytes = Buffer.from(cursor, 'base64url');
  if (bytes.toString('base64url') !== cursor) throw badCursor();
  let doc: unknown;
  try {
    doc = JSON.parse(utf8.decode(bytes));
  } catch {
    throw badCursor();
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw badCursor();
  return doc as Record<string, unknown>;
}
