/**
 * Cursors of alarm pages: the sort key of a page's last alarm, as opaque base64url of a small
 * JSON document `{"c": <kind>, "k": [integers]}`. The kind keeps a cursor of one listing from
 * being used on another (an active-alarms cursor on the history route is a 400, not a wrong page).
 * - `active`: [dmaId, elementId, rootAlarmId] — pages go on with the next alarm tree;
 * - `history`: [time, dmaId, elementId, rootAlarmId, alarmId] — newest first, pages go on with
 *   the next older event.
 */
import { badCursor, decodeCursorDocument, encodeCursorDocument } from '../http/cursor.ts';

export const CURSOR_ARITY = { active: 3, history: 5 } as const;
export type CursorKind = keyof typeof CURSOR_ARITY;

/**
 * The cursor that continues after the alarm whose sort key is `key` (non-negative safe integers),
 * bound to `listing` (what defines the listing: tenant, element, filters, range).
 */
export function encodeCursor(kind: CursorKind, key: readonly number[], listing: unknown): string {
  if (key.length !== CURSOR_ARITY[kind] || !key.every((n) => Number.isSafeInteger(n) && n >= 0))
    throw new Error(`a ${kind} cursor is ${CURSOR_ARITY[kind]} non-negative integers, not ${JSON.stringify(key)}`);
  return encodeCursorDocument({ c: kind, k: key }, listing);
}

/**
 * The sort key a cursor continues after. Throws a 400 HttpProblem naming `querystring.cursor` for
 * anything `encodeCursor` did not make for this kind (bad base64url or JSON, another kind or shape).
 */
export function decodeCursor(kind: CursorKind, cursor: string, listing: unknown): number[] {
  const doc = decodeCursorDocument(cursor, listing);
  const { c, k } = doc;
  if (Object.keys(doc).length !== 2 || c !== kind || !Array.isArray(k) || k.length !== CURSOR_ARITY[kind]) throw badCursor();
  if (!k.every((n): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0)) throw badCursor();
  return k;
}
