/**
 * The envelope of every page cursor: a small JSON object as opaque base64url, so a listing can
 * change what it keeps in a cursor without old cursors being misread. Listings (alarms, table
 * rows) check the object's shape themselves.
 *
 * A cursor is bound to its listing: a fingerprint of what defines the listing (the tenant, the
 * element, the filters, the range — everything but the cursor and the page size) travels in the
 * cursor, and a cursor sent with another listing is a 400 rather than a page of something else.
 */
import { createHash } from 'node:crypto';
import { badField } from './problem.ts';

const FIELD = 'querystring.cursor';
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A short fingerprint of a listing's definition (any JSON value; key order matters). */
export function listingFingerprint(listing: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(listing) ?? 'undefined')
    .digest('base64url')
    .slice(0, 12);
}

/** The cursor carrying `doc` (which must not use the key `s`) for the listing `listing`. */
export function encodeCursorDocument(doc: Record<string, unknown>, listing: unknown): string {
  return Buffer.from(JSON.stringify({ ...doc, s: listingFingerprint(listing) }), 'utf8').toString('base64url');
}

/** A 400 naming `querystring.cursor`: for a cursor whose document has the wrong shape. */
export function badCursor(): Error {
  return badField(FIELD, 'is not a cursor this listing returned');
}

/**
 * The JSON object inside a cursor, without its listing fingerprint. Throws `badCursor()` for
 * anything `encodeCursorDocument` did not make for this listing: characters outside base64url,
 * a non-canonical encoding (Node's decoder skips characters it cannot use), bad UTF-8, not JSON,
 * not an object, another listing (other filters, element or tenant).
 */
export function decodeCursorDocument(cursor: string, listing: unknown): Record<string, unknown> {
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
  const { s, ...rest } = doc as Record<string, unknown>;
  if (s !== listingFingerprint(listing))
    throw badField(FIELD, 'belongs to another listing: send it with the same filters, element and range it came with');
  return rest;
}
