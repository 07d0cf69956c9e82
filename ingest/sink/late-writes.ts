/**
 * Which late-write markers (storage/late-writes.ts) a stored trend batch calls for: the Query API
 * caches UTC days that ended more than 2 hours ago by its clock, and must hear of every later
 * change to them. The Insert step asks this after a trend batch's insert succeeded and stores the
 * answer before the batch's messages can be committed (ingest/sink/steps/insert.ts).
 */
import { DAY_MS, type LateWrite } from '../../storage/late-writes.ts';
import { EVERY_DAY, EVERY_DMS } from '../../storage/schema.ts';
import { dayOfKey } from './trend-keys.ts';

/**
 * Rows of a UTC day are late once the day ended this long ago (ms): 1 hour. The API seals a day
 * 2 hours after its end; the hour between covers clocks that differ between the sink's host, the
 * API's and ClickHouse, and batches that were in flight when the API sealed the day. Marking a
 * day the API has not sealed yet costs it nothing (it has nothing cached to drop).
 */
export const LATE_AFTER_MS = 3_600_000;

/**
 * The markers for a batch of trend rows stored at `now` (epoch ms, read after the insert
 * succeeded): one per DMS of the batch, over the min..max UTC day of its rows that is late —
 * day d with (d + 1) * DAY_MS + LATE_AFTER_MS <= now — or none when no day is late. Never fewer
 * than needed: a wider range than the late days themselves only costs the API a re-read.
 *
 * `partitionKeys`: the batch's (window, UTC day) keys (ingest/sink/trend-keys.ts); undefined
 * when not known (more than MAX_KEYS in a message), then the markers name every day (EVERY_DAY),
 * because no day can be proven not late. `dmsIds`: the batch's DMS ids; undefined or empty when
 * not known, then one marker names every DMS (EVERY_DMS). A batch with no late day costs one
 * loop over its few keys.
 */
export function lateWritesOf(partitionKeys: Iterable<number> | undefined, dmsIds: Iterable<number> | undefined, now: number): LateWrite[] {
  let firstDay: number = EVERY_DAY.first;
  let lastDay: number = EVERY_DAY.last;
  if (partitionKeys !== undefined) {
    // (d + 1) * DAY_MS + LATE_AFTER_MS <= now  <=>  d <= floor((now - LATE_AFTER_MS) / DAY_MS) - 1.
    const lastLateDay = Math.floor((now - LATE_AFTER_MS) / DAY_MS) - 1;
    firstDay = Infinity;
    lastDay = -Infinity;
    for (const key of partitionKeys) {
      const day = dayOfKey(key);
      if (day > lastLateDay) continue;
      if (day < firstDay) firstDay = day;
      if (day > lastDay) lastDay = day;
    }
    if (lastDay < firstDay) return [];
  }
  const markers: LateWrite[] = [];
  if (dmsIds !== undefined) for (const dmsId of dmsIds) markers.push({ dmsId, firstDay, lastDay });
  if (markers.length === 0) markers.push({ dmsId: EVERY_DMS, firstDay, lastDay });
  return markers;
}
