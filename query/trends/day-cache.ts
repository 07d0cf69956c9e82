/**
 * The API's memory of sealed trend days (trends/sealed-days.ts): per series and UTC day, the
 * points of each stored tier (their count and first time, for the tier choice) and, once a
 * request read them, their JSON text. A 30-day graph then reads from ClickHouse only its partial
 * first day and the days still being written: measured on 18.16, the two statements of a 30-day
 * trend cost about 50 ms of server CPU, which under ingest on two cores waited as long again for a
 * core.
 *
 * Correctness rests on the invalidation feed (trends/late-writes.ts): every write into a sealed
 * day leaves a marker that drops the day here within about a second. A fill (a read of days
 * from ClickHouse) is stored only when no invalidation of its days arrived since it started
 * (`beginFill` / generations), so a read that raced a late write is never remembered. While the
 * feed is not current (`serving()` false: the polls fail or have not run), requests bypass the
 * cache.
 *
 * Bounded by bytes (least recently used days forgotten first). Series of one DMS are only ever
 * filled by reads filtered on that DMS, and looked up by the requester's DMS.
 */

import { EVERY_DAY, EVERY_DMS } from '../../storage/schema.ts';
import { deflateSegment } from '../http/gzip-splice.ts';

/** One series of one element of one DMS; parameterId -1 = the element's status rows. */
export interface SeriesOfElement {
  dmsId: number;
  dmaId: number;
  elementId: number;
  parameterId: number;
  /** Table index; '' for a standalone parameter. */
  index: string;
}

/**
 * The points of one tier of one series on one day as JSON text, built once as the answer writes
 * it: `{…},{…}` oldest first and newest first (handed to answers as views, without a copy), with
 * each point's time, so that a partial day (the first or last of a range) is a slice.
 */
export class DayText {
  private readonly asc: Buffer;
  private readonly desc: Buffer;
  /** Where point i ends in `asc` (after its `}`). */
  private readonly bounds: Uint32Array;

  /**
   * Point i's fields (no braces: `"time":…,"status":…,…`) are `fields[ends[i-1] .. ends[i])`;
   * `times` (epoch ms) ascending, one per point.
   */
  constructor(
    fields: Buffer,
    ends: Uint32Array,
    readonly times: Float64Array,
  ) {
    const n = ends.length;
    const size = n === 0 ? 0 : fields.length + 3 * n - 1;
    // One buffer of its own for both orders: a small one from Node's shared pool would keep the
    // pool's whole 8 KiB slab alive as long as the day is cached.
    const both = Buffer.allocUnsafeSlow(2 * size);
    this.asc = both.subarray(0, size);
    this.desc = both.subarray(size);
    this.bounds = new Uint32Array(n);
    let a = 0;
    for (let i = 0; i < n; i++) {
      const from = i === 0 ? 0 : ends[i - 1]!;
      const len = ends[i]! - from;
      // Newest first: point i sits after the points that follow it in time.
      const d = size - (a + len + 2);
      for (const [out, at] of [
        [this.asc, a],
        [this.desc, d],
      ] as const) {
        out[at] = 0x7b; // {
        fields.copy(out, at + 1, from, ends[i]);
        out[at + len + 1] = 0x7d; // }
      }
      if (i > 0) this.asc[a - 1] = 0x2c; // ,
      if (d > 0) this.desc[d - 1] = 0x2c;
      a += len + 3;
      this.bounds[i] = a - 1;
    }
  }

  get count(): number {
    return this.bounds.length;
  }

  /**
   * Bytes held, counting a reserve for the deflated forms (`deflated`) of both orders: each is
   * kept only when it fits its share, so the cache's bound holds whether or not they were made.
   */
  get bytes(): number {
    return 2 * (this.asc.length + deflatedReserve(this.asc.length)) + this.bounds.byteLength + this.times.byteLength;
  }

  /** The deflated forms of the whole day (`deflated`), by order; null when one did not fit its reserve. */
  private readonly deflatedOf: Partial<Record<'asc' | 'desc', Buffer | null>> = {};

  /**
   * The whole day's `joined(order)` as raw deflate blocks to splice into a gzip answer
   * (http/gzip-splice.ts), compressed once at zlib's level 6 on first use; undefined for an empty
   * day or when the compressed form would exceed its reserve (text that does not compress).
   */
  deflated(order: 'asc' | 'desc'): Buffer | undefined {
    if (this.count === 0) return undefined;
    let d = this.deflatedOf[order];
    if (d === undefined) {
      const made = deflateSegment(this.joined(order), 6);
      // Copied into memory of its own: the compressor's output can be a view of a larger buffer,
      // and Buffer.from would carve a small copy from Node's shared 8 KiB pool (see the constructor).
      if (made.length <= deflatedReserve(this.asc.length)) {
        d = Buffer.allocUnsafeSlow(made.length);
        made.copy(d);
      } else d = null;
      this.deflatedOf[order] = d;
    }
    return d ?? undefined;
  }

  /** The points [k0, k1) (oldest first) with time in [from, to). */
  slice(from: number, to: number): { k0: number; k1: number } {
    return { k0: lowerBound(this.times, from), k1: lowerBound(this.times, to) };
  }

  /** `{fields},{fields},…` of points [k0, k1) in time order (`asc`) or newest first: a view. */
  joined(order: 'asc' | 'desc', k0 = 0, k1 = this.count): Buffer {
    if (k0 >= k1) return this.asc.subarray(0, 0);
    const start = k0 === 0 ? 0 : this.bounds[k0 - 1]! + 1;
    const end = this.bounds[k1 - 1]!;
    return order === 'asc' ? this.asc.subarray(start, end) : this.desc.subarray(this.desc.length - end, this.desc.length - start);
  }

  /** The fields of point i (oldest first). */
  point(i: number): Buffer {
    const start = i === 0 ? 0 : this.bounds[i - 1]! + 1;
    return this.asc.subarray(start + 1, this.bounds[i]! - 1);
  }
}

/** The bytes set aside for a day's deflated text in one order: trend JSON compresses to ~10 % at level 6. */
function deflatedReserve(textBytes: number): number {
  return textBytes === 0 ? 0 : Math.ceil(textBytes / 6) + 64;
}

/** The first index whose value is >= x in an ascending array. */
function lowerBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** One tier of one series on one day: distinct timestamps, the earliest, and the text once read. */
export interface TierDay {
  points: number;
  /** Earliest timestamp (epoch ms); meaningless when `points` is 0. */
  first: number;
  text?: DayText;
}

/** One series on one day: its tiers with data, by window (0 = real-time). No tier: no data. */
export interface SeriesDay {
  tiers: Map<number, TierDay>;
}

/** A read of sealed days from ClickHouse, begun before it was sent (see `TrendDayCache.beginFill`). */
export interface Fill {
  generation: number;
  startedAt: number;
}

interface Stored {
  day: SeriesDay;
  dmsId: number;
  dayNumber: number;
  bytes: number;
}

interface Invalidation {
  dmsId: number;
  firstDay: number;
  lastDay: number;
  generation: number;
  at: number;
}

/** How long invalidations are remembered for the fills that began before them (ms); older fills are not stored. */
const FILL_HORIZON_MS = 5 * 60_000;
/** Bytes counted per stored day besides its text (map entries, objects). */
const DAY_OVERHEAD = 200;

export class TrendDayCache {
  private readonly days = new Map<string, Stored>();
  /** dmsId → day number → keys: what an invalidation drops. */
  private readonly byDms = new Map<number, Map<number, Set<string>>>();
  private readonly invalidations: Invalidation[] = [];
  private generation = 0;
  private usedBytes = 0;
  /** Until when (epoch ms) the invalidation feed is current: set by each successful poll (trends/late-writes.ts). */
  servingUntil = 0;

  /** `maxBytes` 0: nothing is stored. */
  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.usedBytes;
  }

  /** Whether requests may use the cache: it stores something, and its invalidation feed is current. */
  serving(now = Date.now()): boolean {
    return this.maxBytes > 0 && now < this.servingUntil;
  }

  get size(): number {
    return this.days.size;
  }

  /** The stored day of a series, or undefined (refreshes its place in the LRU order). */
  get(s: SeriesOfElement, day: number): SeriesDay | undefined {
    const key = keyOf(s, day);
    const stored = this.days.get(key);
    if (stored === undefined) return undefined;
    this.days.delete(key);
    this.days.set(key, stored);
    return stored.day;
  }

  /** Call right before sending a read whose answer will be stored. */
  beginFill(now = Date.now()): Fill {
    return { generation: this.generation, startedAt: now };
  }

  /** Whether an answer read by `fill` may still be stored for (dmsId, day). */
  private fresh(fill: Fill, dmsId: number, day: number, now: number): boolean {
    if (now - fill.startedAt > FILL_HORIZON_MS - 10_000) return false;
    for (let i = this.invalidations.length - 1; i >= 0; i--) {
      const inv = this.invalidations[i]!;
      if (inv.generation <= fill.generation) break;
      if ((inv.dmsId === EVERY_DMS || inv.dmsId === dmsId) && day >= inv.firstDay && day <= inv.lastDay) return false;
    }
    return true;
  }

  /**
   * Stores a series' day as read by `fill` (its tiers' counts, texts when read), replacing what
   * was there. Returns false (nothing stored) when the day was invalidated since the fill began.
   */
  store(fill: Fill, s: SeriesOfElement, day: number, value: SeriesDay, now = Date.now()): boolean {
    if (this.maxBytes === 0 || !this.fresh(fill, s.dmsId, day, now)) return false;
    const key = keyOf(s, day);
    this.drop(key);
    let bytes = DAY_OVERHEAD + 2 * s.index.length;
    for (const t of value.tiers.values()) bytes += 32 + (t.text?.bytes ?? 0);
    this.days.set(key, { day: value, dmsId: s.dmsId, dayNumber: day, bytes });
    let days = this.byDms.get(s.dmsId);
    if (days === undefined) this.byDms.set(s.dmsId, (days = new Map<number, Set<string>>()));
    let keys = days.get(day);
    if (keys === undefined) days.set(day, (keys = new Set()));
    keys.add(key);
    this.usedBytes += bytes;
    while (this.usedBytes > this.maxBytes && this.days.size > 0) this.drop(this.days.keys().next().value!);
    return true;
  }

  /**
   * Adds the text of one tier to a stored day (read by `fill`); false when the day is no longer
   * stored or was invalidated since the fill began.
   */
  storeText(fill: Fill, s: SeriesOfElement, day: number, windowMinutes: number, text: DayText, now = Date.now()): boolean {
    const stored = this.days.get(keyOf(s, day));
    const tier = stored?.day.tiers.get(windowMinutes);
    if (stored === undefined || tier === undefined || !this.fresh(fill, s.dmsId, day, now)) return false;
    const before = tier.text?.bytes ?? 0;
    tier.text = text;
    stored.bytes += text.bytes - before;
    this.usedBytes += text.bytes - before;
    while (this.usedBytes > this.maxBytes && this.days.size > 0) this.drop(this.days.keys().next().value!);
    return true;
  }

  /**
   * Forgets the days [firstDay, lastDay] of a DMS (EVERY_DMS: of every DMS) and refuses fills that began
   * before now for them.
   */
  invalidate(dmsId: number, firstDay: number, lastDay: number, now = Date.now()): void {
    this.generation++;
    this.invalidations.push({ dmsId, firstDay, lastDay, generation: this.generation, at: now });
    while (this.invalidations.length > 0 && now - this.invalidations[0]!.at > FILL_HORIZON_MS) this.invalidations.shift();
    for (const [dms, days] of this.byDms) {
      if (dmsId !== EVERY_DMS && dms !== dmsId) continue;
      for (const [day, keys] of days) {
        if (day < firstDay || day > lastDay) continue;
        for (const key of [...keys]) this.drop(key);
      }
    }
  }

  /** Forgets everything and refuses every fill begun before now. */
  clear(now = Date.now()): void {
    this.invalidate(EVERY_DMS, EVERY_DAY.first, EVERY_DAY.last, now);
  }

  private drop(key: string): void {
    const stored = this.days.get(key);
    if (stored === undefined) return;
    this.days.delete(key);
    this.usedBytes -= stored.bytes;
    const days = this.byDms.get(stored.dmsId);
    const keys = days?.get(stored.dayNumber);
    keys?.delete(key);
    if (keys !== undefined && keys.size === 0) days!.delete(stored.dayNumber);
    if (days !== undefined && days.size === 0) this.byDms.delete(stored.dmsId);
  }
}

/** The index goes last: it may hold any character. */
function keyOf(s: SeriesOfElement, day: number): string {
  return `${s.dmsId}/${s.dmaId}/${s.elementId}/${s.parameterId}/${day}/${s.index}`;
}
