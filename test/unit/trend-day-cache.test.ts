/**
 * The cache of sealed trend days as pure logic: which part of a range is sealed, the day texts
 * and their slices, storing and invalidating (generations), which live counts can change a tier
 * choice; and that a dropped answer ends its ClickHouse read.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DayText, TrendDayCache, type SeriesDay, type SeriesOfElement } from '../../query/trends/day-cache.ts';
import { TrendBodyWriter, trendAnswer } from '../../query/trends/response.ts';
import { dayRanges } from '../../query/trends/sealed-read.ts';
import { DAY_MS, liveSplit, SEAL_AFTER_MS, splitSealed } from '../../query/trends/sealed-days.ts';
import { chooseTier, liveCountMatters, type IntervalChoice, type TierCount, type TrendTypeChoice } from '../../query/trends/tiers.ts';

const T = Date.UTC(2026, 10, 30, 12);

describe('splitSealed', () => {
  it('cuts a range into sealed days (the first and last possibly partial) and the days not sealed', () => {
    assert.deepEqual(splitSealed(T - 30 * DAY_MS, T, T), {
      firstDay: Math.floor((T - 30 * DAY_MS) / DAY_MS),
      endDay: Math.floor(T / DAY_MS),
      range: { from: T - 30 * DAY_MS, to: Math.floor(T / DAY_MS) * DAY_MS },
      edges: [{ from: Math.floor(T / DAY_MS) * DAY_MS, to: T }],
    });
    // One hour after midnight, yesterday is not sealed yet.
    const early = Math.floor(T / DAY_MS) * DAY_MS + 60 * 60_000;
    assert.equal(splitSealed(early - 10 * DAY_MS, early, early)!.range.to, Math.floor(T / DAY_MS) * DAY_MS - DAY_MS);
    assert.equal(splitSealed(T - 60_000, T, T), undefined, 'within today: nothing sealed');
    // Then the live reads take the whole range, with no sealed day.
    const d = Math.floor((T - 60_000) / DAY_MS);
    assert.deepEqual(liveSplit(T - 60_000, T), {
      firstDay: d,
      endDay: d,
      range: { from: T - 60_000, to: T - 60_000 },
      edges: [{ from: T - 60_000, to: T }],
    });
  });

  it('covers the range exactly, with sealed days only', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 400 * DAY_MS }),
        fc.integer({ min: 1, max: 400 * DAY_MS }),
        fc.integer({ min: -DAY_MS, max: 500 * DAY_MS }),
        (a, len, later) => {
          const from = T - 500 * DAY_MS + a;
          const to = from + len;
          const now = from + later;
          const s = splitSealed(from, to, now);
          const sealedEnd = Math.floor((now - SEAL_AFTER_MS) / DAY_MS);
          if (s === undefined) {
            assert.ok(Math.floor(from / DAY_MS) >= Math.min(Math.ceil(to / DAY_MS), sealedEnd));
            return;
          }
          assert.equal(s.range.from, from);
          assert.ok(s.range.from < s.range.to && s.range.to <= to);
          assert.deepEqual(s.edges, s.range.to < to ? [{ from: s.range.to, to }] : []);
          assert.ok(s.firstDay * DAY_MS <= from && from < (s.firstDay + 1) * DAY_MS);
          assert.ok(s.endDay * DAY_MS >= s.range.to && (s.endDay - 1) * DAY_MS < s.range.to);
          assert.ok(s.endDay * DAY_MS + SEAL_AFTER_MS <= now, 'every day used ended long enough ago');
        },
      ),
    );
  });
});

describe('DayText', () => {
  it('joins points in both orders and slices them by time', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ maxLength: 12 }), fc.integer({ min: 0, max: 50 })), { maxLength: 30 }),
        fc.nat(60),
        fc.nat(60),
        (pts, a, b) => {
          let t = 0;
          const times = pts.map(([, gap]) => (t += gap));
          const fields = pts.map(([s]) => s);
          const ends = new Uint32Array(fields.length);
          let at = 0;
          fields.forEach((s, i) => (ends[i] = at += Buffer.byteLength(s)));
          const text = new DayText(Buffer.from(fields.join('')), ends, Float64Array.from(times));
          const [from, to] = a <= b ? [a, b] : [b, a];
          const { k0, k1 } = text.slice(from, to);
          const inRange = times.flatMap((x, i) => (x >= from && x < to ? [i] : []));
          assert.deepEqual([k0, k1], inRange.length === 0 ? [k0, k0] : [inRange[0]!, inRange.at(-1)! + 1]);
          const want = (ix: number[]) => ix.map((i) => `{${fields[i]}}`).join(',');
          const ix = Array.from({ length: k1 - k0 }, (_, j) => k0 + j);
          assert.equal(text.joined('asc', k0, k1).toString(), want(ix));
          assert.equal(text.joined('desc', k0, k1).toString(), want(ix.reverse()));
          fields.forEach((s, i) => assert.equal(text.point(i).toString(), s));
        },
      ),
    );
  });
});

describe('TrendDayCache', () => {
  const series = (dmsId: number, parameterId = 1): SeriesOfElement => ({ dmsId, dmaId: 1, elementId: 2, parameterId, index: 'a/b' });
  const day = (points = 3): SeriesDay => ({ tiers: new Map([[5, { points, first: 0 }]]) });

  it('stores days, and drops those a marker names (one DMS or every DMS, a day range)', () => {
    const c = new TrendDayCache(1 << 20);
    for (const dms of [1, 2]) for (const d of [10, 11, 12]) assert.ok(c.store(c.beginFill(), series(dms), d, day()));
    c.invalidate(1, 11, 12);
    assert.ok(c.get(series(1), 10));
    assert.equal(c.get(series(1), 11), undefined);
    assert.equal(c.get(series(1), 12), undefined);
    assert.ok(c.get(series(2), 11), 'another DMS keeps its days');
    c.invalidate(-1, 0, 10);
    assert.equal(c.get(series(1), 10), undefined);
    assert.equal(c.get(series(2), 10), undefined);
    assert.ok(c.get(series(2), 12));
    c.clear();
    assert.equal(c.size, 0);
    assert.equal(c.bytes, 0);
  });

  it('refuses what a read begun before an invalidation of its day brought back', () => {
    const c = new TrendDayCache(1 << 20);
    const early = c.beginFill();
    c.invalidate(7, 100, 100);
    assert.equal(c.store(early, series(7), 100, day()), false, 'the read may have missed the late rows');
    assert.ok(c.store(early, series(7), 101, day()), 'another day is fine');
    assert.ok(c.store(early, series(8), 100, day()), 'another DMS is fine');
    const late = c.beginFill();
    assert.ok(c.store(late, series(7), 100, day()));
    const text = new DayText(Buffer.from('x'), Uint32Array.of(1), Float64Array.of(0));
    const beforeText = c.beginFill();
    c.invalidate(-1, 0, 1000);
    assert.ok(c.store(c.beginFill(), series(7), 100, day()));
    assert.equal(c.storeText(beforeText, series(7), 100, 5, text), false);
    assert.ok(c.storeText(c.beginFill(), series(7), 100, 5, text));
    assert.equal(c.get(series(7), 100)!.tiers.get(5)!.text, text);
  });

  it('stays within its bytes, forgetting the least recently used day first', () => {
    const c = new TrendDayCache(2000);
    for (let d = 0; d < 50; d++) {
      c.store(c.beginFill(), series(1), d, day());
      c.get(series(1), 0); // day 0 is used all the time
      assert.ok(c.bytes <= 2000);
    }
    assert.ok(c.get(series(1), 0), 'the day in use stays');
    assert.equal(c.get(series(1), 1), undefined);
    assert.ok(c.get(series(1), 49));
    assert.equal(new TrendDayCache(0).store(c.beginFill(), series(1), 1, day()), false, 'size 0: off');
  });
});

describe('liveCountMatters', () => {
  const WINDOWS = [0, 5, 60, 120];
  it('leaves out only live counts that cannot change the tier choice', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            sealed: fc.nat(40),
            sealedFirstAgo: fc.nat(30 * DAY_MS),
            live: fc.nat(40),
            liveFirst: fc.nat(DAY_MS),
            junk: fc.nat(40),
          }),
          {
            minLength: 4,
            maxLength: 4,
          },
        ),
        fc.constantFrom<TrendTypeChoice>('auto', 'average', 'realtime'),
        fc.constantFrom<IntervalChoice>('auto', '5m', '1h', 'long'),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 40 * DAY_MS }),
        (tiers, type, interval, maxPoints, sealedLen) => {
          const sealedTo = T;
          const range = { from: sealedTo - sealedLen, to: sealedTo + DAY_MS };
          const sealed: TierCount[] = [];
          tiers.forEach((t, i) => {
            if (t.sealed > 0)
              sealed.push({ windowMinutes: WINDOWS[i]!, points: t.sealed, first: Math.max(range.from, sealedTo - 1 - t.sealedFirstAgo) });
          });
          const total = (useJunk: boolean): TierCount[] =>
            tiers.flatMap((t, i) => {
              const w = WINDOWS[i]!;
              const matters = liveCountMatters(sealed, w, type, interval, maxPoints, range, sealedTo);
              const live = useJunk && !matters ? t.junk : t.live;
              const own = sealed.find((c) => c.windowMinutes === w);
              const points = (own?.points ?? 0) + live;
              return points === 0 ? [] : [{ windowMinutes: w, points, first: own?.first ?? sealedTo + t.liveFirst }];
            });
          assert.deepEqual(
            chooseTier(total(true), type, interval, maxPoints, range),
            chooseTier(total(false), type, interval, maxPoints, range),
          );
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('trendAnswer', () => {
  it('ends the ClickHouse read when the answer is dropped before it was read (a held 401)', async () => {
    const source = new PassThrough();
    const answer = trendAnswer(new TrendBodyWriter({ dmaId: 1, elementId: 2, from: 0, to: 1, order: 'desc' }, [], 1000, 'json'), source);
    answer.destroy();
    await new Promise((r) => setImmediate(r));
    assert.equal(source.destroyed, true);
  });
});

describe('dayRanges', () => {
  it('reads only the days a fill lacks: runs of consecutive days, or their span past 16 runs', () => {
    assert.deepEqual(dayRanges(new Set([5, 3, 4, 300])), {
      from: 3 * DAY_MS,
      to: 301 * DAY_MS,
      ranges: [
        { from: 3 * DAY_MS, to: 6 * DAY_MS },
        { from: 300 * DAY_MS, to: 301 * DAY_MS },
      ],
    });
    const scattered = new Set(Array.from({ length: 17 }, (_, i) => 2 * i));
    assert.deepEqual(dayRanges(scattered), { from: 0, to: 33 * DAY_MS, ranges: undefined });
  });
});
