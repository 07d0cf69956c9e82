/**
 * Which part of a trend range may come from the API's cache of sealed days
 * (trends/day-cache.ts): the UTC days it touches that ended at least `SEAL_AFTER_MS` ago (the
 * first and last may be cut by the range: their cached points are sliced). The rest — the days
 * still being written — is read from ClickHouse.
 * A sealed day changes only through a late write (the Writer's spool after an outage, a
 * back-fill, a re-read topic) or a retention drop, and each of those leaves a marker in
 * `trend_late_writes` that the API polls (trends/late-writes.ts).
 */

import { DAY_MS } from '../../storage/late-writes.ts';

/** UTC day numbers are floor(ts / DAY_MS), as in the late-write markers. */
export { DAY_MS };

/**
 * A UTC day is sealed this long after it ended (ms). The Sink marks rows of days that ended more
 * than an hour before their insert (ingest/sink's LATE_AFTER_MS): the hour between covers the
 * clocks of the two machines and batches that were in flight when the day was sealed. Averages
 * of long windows are written when the window ends, up to two hours after its start: an hour is
 * enough for them to reach the Sink before the API seals their day.
 */
export const SEAL_AFTER_MS = 2 * 60 * 60_000;

/** A range [from, to) in epoch ms. */
export interface TimeRange {
  from: number;
  to: number;
}

export interface SealedSplit {
  /**
   * The sealed UTC days the range touches, [firstDay, endDay) as day numbers (epoch ms /
   * DAY_MS); the first and the last may hold points outside the range (`range` cuts them).
   */
  firstDay: number;
  endDay: number;
  /** The part of the requested range inside those days. */
  range: TimeRange;
  /** The rest of the range, read from ClickHouse: the days not sealed yet (none or one range). */
  edges: TimeRange[];
}

/**
 * Splits [from, to) at `now` (epoch ms): undefined when the range touches no sealed day (then
 * all of it is read from ClickHouse).
 */
export function splitSealed(from: number, to: number, now: number): SealedSplit | undefined {
  const firstDay = Math.floor(from / DAY_MS);
  const endDay = Math.min(Math.ceil(to / DAY_MS), Math.floor((now - SEAL_AFTER_MS) / DAY_MS));
  if (firstDay >= endDay) return undefined;
  const sealedTo = Math.min(to, endDay * DAY_MS);
  return { firstDay, endDay, range: { from, to: sealedTo }, edges: sealedTo < to ? [{ from: sealedTo, to }] : [] };
}

/**
 * A range that touches no sealed day as a split with none (`firstDay` = `endDay`, an empty
 * `range` at `from`): all of [from, to) is read as days not sealed, by the live reads
 * (trends/live-rows.ts) — the two flat statements that also give the tier counts, cheaper on
 * 18.16 than a count and a data statement (see trends/sql.ts).
 */
export function liveSplit(from: number, to: number): SealedSplit {
  const day = Math.floor(from / DAY_MS);
  return { firstDay: day, endDay: day, range: { from, to: from }, edges: [{ from, to }] };
}
