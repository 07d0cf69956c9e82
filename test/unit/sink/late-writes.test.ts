/**
 * Which late-write markers a stored trend batch calls for (ingest/sink/late-writes.ts), and their
 * rows (storage/late-writes.ts): never fewer than the API needs — every (DMS, ended day) of the
 * batch covered, whatever is unknown — and none for a batch of days that have not ended.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LATE_AFTER_MS, lateWritesOf } from '../../../ingest/sink/late-writes.ts';
import { MAX_KEYS, WINDOW_KEY } from '../../../ingest/sink/trend-keys.ts';
import { DAY_MS, LATE_WRITE_COLUMNS, lateWriteRows, type LateWrite } from '../../../storage/late-writes.ts';
import { columnTypes } from '../../../storage/row-walker.ts';
import { EVERY_DAY, EVERY_DMS } from '../../../storage/schema.ts';
import { readLateWriteRows } from '../../support/late-writes.ts';

/** The contract's test of a late day, as written in it. */
const isLate = (day: number, now: number) => (day + 1) * DAY_MS + LATE_AFTER_MS <= now;

/** Whether some marker covers `day` of `dmsId`. */
const covered = (markers: readonly LateWrite[], dmsId: number, day: number) =>
  markers.some((m) => (m.dmsId === dmsId || m.dmsId === EVERY_DMS) && m.firstDay <= day && day <= m.lastDay);

// A batch around the moment a day turns late: `now` is within two days of the first instant
// `day` is late, sometimes exactly at it (one ms either side).
const scenario = fc
  .record({
    day: fc.integer({ min: 11_000, max: 47_000 }), // 2000 .. 2098
    jitter: fc.oneof(fc.constantFrom(-1, 0, 1), fc.integer({ min: -2 * DAY_MS, max: 2 * DAY_MS })),
    offsets: fc.array(fc.tuple(fc.constantFrom(0, 5, 60, 1440, 65_535), fc.integer({ min: -70, max: 3 })), { maxLength: 80 }),
    dmsIds: fc.option(fc.uniqueArray(fc.nat({ max: 2 ** 31 - 1 }), { maxLength: 80 }), { freq: 4 }),
    keysKnown: fc.boolean(),
  })
  .map(({ day, jitter, offsets, dmsIds, keysKnown }) => {
    const now = (day + 1) * DAY_MS + LATE_AFTER_MS + jitter;
    const rows = offsets.map(([w, d]) => ({ window: w, day: day + d }));
    const keys = keysKnown ? new Set(rows.map((r) => r.window * WINDOW_KEY + r.day)) : undefined;
    return { now, rows, keys, dmsIds: dmsIds === null ? undefined : new Set(dmsIds) };
  });

describe('late-write markers of a stored trend batch', () => {
  it('covers every (DMS, late day) of the batch, whatever is unknown, and marks no day that is not late', () => {
    fc.assert(
      fc.property(scenario, ({ now, rows, keys, dmsIds }) => {
        const markers = lateWritesOf(keys, dmsIds, now);
        const dmsKnown = dmsIds !== undefined && dmsIds.size > 0;
        // Never under-marks: each late day of each DMS (or of every DMS when not known).
        for (const r of rows.filter((x) => isLate(x.day, now)))
          for (const d of dmsKnown ? dmsIds : [EVERY_DMS]) assert.ok(covered(markers, d, r.day), `DMS ${d}, day ${r.day}`);
        if (keys === undefined) {
          // Days not known: no day can be proven not late, so every day of every DMS is marked.
          assert.ok(markers.length > 0);
          for (const m of markers) assert.deepEqual([m.firstDay, m.lastDay], [EVERY_DAY.first, EVERY_DAY.last]);
        } else {
          const late = rows.filter((x) => isLate(x.day, now)).map((x) => x.day);
          if (late.length === 0) assert.deepEqual(markers, [], 'no late day: no marker');
          // Known days: the range is the late days' min..max, never a day that has not turned late.
          for (const m of markers) assert.deepEqual([m.firstDay, m.lastDay], [Math.min(...late), Math.max(...late)]);
        }
        // One marker per known DMS, or one for every DMS.
        if (markers.length > 0) assert.deepEqual(markers.map((m) => m.dmsId).sort(), dmsKnown ? [...dmsIds].sort() : [EVERY_DMS]);
        // Every marker makes a row, read back as it was.
        const ids = markers.map((_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
        let next = 0;
        const read = readLateWriteRows(lateWriteRows(markers, () => ids[next++]!));
        assert.deepEqual(
          read,
          markers.map((m, i) => ({ ...m, markerId: ids[i] })),
        );
      }),
      { numRuns: 3000 },
    );
  });

  it('turns a day late exactly LATE_AFTER_MS after its end', () => {
    const day = 20_000;
    const end = (day + 1) * DAY_MS;
    const keys = [day, 60 * WINDOW_KEY + day];
    assert.deepEqual(lateWritesOf(keys, [7], end + LATE_AFTER_MS - 1), []);
    assert.deepEqual(lateWritesOf(keys, [7], end + LATE_AFTER_MS), [{ dmsId: 7, firstDay: day, lastDay: day }]);
    assert.equal(LATE_AFTER_MS, 3_600_000, 'one hour: the API seals a day two hours after its end');
  });

  it('marks unknown days even when every known day is today, and unknown DMSs as every DMS', () => {
    const now = Date.UTC(2026, 10, 30, 12);
    const today = Math.floor(now / DAY_MS);
    assert.deepEqual(lateWritesOf([today], [1, 2], now), []);
    assert.deepEqual(lateWritesOf(undefined, [1, 2], now), [
      { dmsId: 1, firstDay: 0, lastDay: 0xffff_ffff },
      { dmsId: 2, firstDay: 0, lastDay: 0xffff_ffff },
    ]);
    assert.deepEqual(lateWritesOf([today - 3, today - 1, today], undefined, now), [{ dmsId: -1, firstDay: today - 3, lastDay: today - 1 }]);
    assert.deepEqual(lateWritesOf([today - 3], new Set(), now), [{ dmsId: -1, firstDay: today - 3, lastDay: today - 3 }]);
    assert.deepEqual(lateWritesOf(undefined, undefined, now), [{ dmsId: -1, firstDay: 0, lastDay: 0xffff_ffff }]);
    assert.ok(MAX_KEYS >= 1);
  });

  it('makes rows of the columns trend_late_writes declares, with fresh random ids, and refuses values that do not fit', () => {
    const types = columnTypes('trend_late_writes');
    assert.deepEqual(
      LATE_WRITE_COLUMNS.map((c) => types.get(c)),
      ['Int32', 'UInt32', 'UInt32', 'String'],
    );
    assert.equal(types.get('written_at'), 'DateTime DEFAULT now()', 'left to the server');
    const rows = readLateWriteRows(
      lateWriteRows([EVERY_DAY, EVERY_DAY].map((d) => ({ dmsId: EVERY_DMS, firstDay: d.first, lastDay: d.last }))),
    );
    assert.equal(rows.length, 2);
    assert.notEqual(rows[0]!.markerId, rows[1]!.markerId, 'two markers of one moment stay two rows');
    for (const r of rows) assert.match(r.markerId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.throws(() => lateWriteRows([{ dmsId: 2 ** 31, firstDay: 1, lastDay: 1 }]), RangeError);
    assert.throws(() => lateWriteRows([{ dmsId: 1, firstDay: -1, lastDay: 1 }]), RangeError);
    assert.throws(() => lateWriteRows([{ dmsId: 1, firstDay: 2, lastDay: 1 }]), RangeError);
    assert.throws(() => lateWriteRows([{ dmsId: 1, firstDay: 1, lastDay: 2 ** 32 }]), RangeError);
  });
});
