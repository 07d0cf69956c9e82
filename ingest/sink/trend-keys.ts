/**
 * What the sink gathers about a trend message's rows while it encodes them, on either path (the
 * transcoder, ingest/sink/trend-transcoder.ts, and the full path, encoders.ts encodeForTables):
 * the distinct (window, UTC day) keys of each table (TableRows.partitionKeys) and the distinct
 * DMS ids (TableRows.dmsIds). Both are capped at MAX_KEYS: past it a message says nothing
 * (undefined), and whoever uses them assumes the worst (every partition, day or DMS).
 */
import { DAY_MS } from '../../storage/late-writes.ts';

/** A (window, day) key is window x WINDOW_KEY + UTC day number: days stay below 2^22 (MAX_TS is in 2100). */
export const WINDOW_KEY = 2 ** 22;

/** Keys gathered per table and message at most; more and the message says nothing (the insert counts). */
export const MAX_KEYS = 64;

/** The (window, UTC day) key of a trend row (`timestamp` in epoch ms, within the record contract). */
export function partitionKey(windowMinutes: number, timestamp: number): number {
  return windowMinutes * WINDOW_KEY + Math.floor(timestamp / DAY_MS);
}

/** The UTC day number of a partitionKey. */
export function dayOfKey(key: number): number {
  return key % WINDOW_KEY;
}

/** Adds `key` to `keys` unless there or already past MAX_KEYS (then keysOrNone says nothing). */
export function addKey(keys: number[], key: number): void {
  if (keys.length <= MAX_KEYS && !keys.includes(key)) keys.push(key);
}

/** The gathered keys, or undefined when there were more than MAX_KEYS. */
export function keysOrNone(keys: number[]): number[] | undefined {
  return keys.length > MAX_KEYS ? undefined : keys;
}
