/**
 * Which stored tier answers one trend series, as pure logic (GetTrendDataMessage's Auto,
 * domain.md §2). A tier is real-time (window 0, table trend_realtime) or one average window
 * (trend_average.window_minutes). Windows fall into DataMiner's three interval classes:
 * `5m` = window < 60 min, `1h` = 60 ≤ window < 120, `long` = window ≥ 120.
 */

/** The `type` a request asks for. */
export type TrendTypeChoice = 'auto' | 'realtime' | 'average';
/** The `interval` a request asks for. */
export type IntervalChoice = 'auto' | '5m' | '1h' | 'long';
export type IntervalClass = Exclude<IntervalChoice, 'auto'>;

/** Points one series has in the requested range, per tier (windowMinutes 0 = real-time). */
export interface TierCount {
  windowMinutes: number;
  /** Distinct timestamps in the range (repeats of at-least-once delivery do not count). */
  points: number;
  /** The tier's earliest timestamp in the range (epoch ms); unknown = taken as covering it. */
  first?: number;
}

/** The requested range [from, to) in epoch ms. */
export interface TrendRange {
  from: number;
  to: number;
}

/**
 * Whether a tier holds data from (about) where the series' data starts in the range, rather than
 * only its end: its first point is within two windows, or a tenth of the range, of the earliest
 * first point of any tier (`start`: that point, or `from` when unknown). Real-time points are
 * kept 7 days and averages for months, so over a 30-day range the real-time tier may hold only
 * its last days — few points, under any budget, yet not what a 30-day graph needs; over 500 days
 * the 1-hour tier (kept 2 years) starts where the data starts and covers it.
 */
export function coversRange(c: TierCount, range: TrendRange | undefined, start = range?.from): boolean {
  if (range === undefined || c.first === undefined || start === undefined) return true;
  return c.first - start <= Math.max(2 * c.windowMinutes * 60_000, (range.to - range.from) / 10);
}

/** The tier chosen for one series. */
export interface TierChoice {
  /** 0 = real-time, otherwise the average window in minutes. */
  windowMinutes: number;
  /** True when the tier holds more points than the budget: it is read in time buckets. */
  aggregated: boolean;
}

/** The nominal window of each interval class, reported when a class has no data at all. */
const NOMINAL_WINDOW: Record<IntervalClass, number> = { '5m': 5, '1h': 60, long: 120 };

/** The interval class of an average window (minutes > 0). */
export function intervalClassOf(windowMinutes: number): IntervalClass {
  if (windowMinutes < 60) return '5m';
  if (windowMinutes < 120) return '1h';
  return 'long';
}

/**
 * Picks the tier of one series.
 * - type `realtime`: the real-time tier; aggregated when it holds more than `maxPoints`.
 * - an explicit interval (type `auto` or `average`): the most precise window of that class with
 *   data (else the class's nominal window, empty); aggregated when over the budget.
 * - otherwise (auto; `average` + interval auto considers averages only): the most precise tier
 *   with data whose count fits `maxPoints`, among the tiers that cover the range when any does
 *   (`coversRange`); tiers without data are skipped; when none fits, the most precise of them,
 *   aggregated. No data anywhere: real-time (auto) or the 5-minute
 *   class (average), empty.
 */
export function chooseTier(
  counts: readonly TierCount[],
  type: TrendTypeChoice,
  interval: IntervalChoice,
  maxPoints: number,
  range?: TrendRange,
): TierChoice {
  const withData = counts.filter((c) => c.points > 0).sort((a, b) => a.windowMinutes - b.windowMinutes);
  const explicit = (candidates: TierCount[], emptyWindow: number): TierChoice => {
    const first = candidates[0];
    return first === undefined
      ? { windowMinutes: emptyWindow, aggregated: false }
      : { windowMinutes: first.windowMinutes, aggregated: first.points > maxPoints };
  };
  if (type === 'realtime')
    return explicit(
      withData.filter((c) => c.windowMinutes === 0),
      0,
    );
  if (interval !== 'auto')
    return explicit(
      withData.filter((c) => c.windowMinutes > 0 && intervalClassOf(c.windowMinutes) === interval),
      NOMINAL_WINDOW[interval],
    );
  const candidates = type === 'average' ? withData.filter((c) => c.windowMinutes > 0) : withData;
  // Tiers that cover the range come first; partial ones (e.g. real-time kept 7 days, asked for
  // 30) only when no tier covers it.
  const firsts = candidates.map((c) => c.first).filter((t): t is number => t !== undefined);
  const start = range === undefined ? undefined : Math.max(range.from, Math.min(...firsts, Infinity));
  const covering = candidates.filter((c) => coversRange(c, range, start));
  const pool = covering.length > 0 ? covering : candidates;
  const fits = pool.find((c) => c.points <= maxPoints);
  if (fits !== undefined) return { windowMinutes: fits.windowMinutes, aggregated: false };
  const precise = pool[0];
  if (precise !== undefined) return { windowMinutes: precise.windowMinutes, aggregated: true };
  return { windowMinutes: type === 'average' ? NOMINAL_WINDOW['5m'] : 0, aggregated: false };
}

/**
 * The bucket width (ms) for on-the-fly aggregation of [from, to) into at most `maxPoints`
 * buckets: ceil(range / maxPoints), rounded up to a whole second.
 */
export function bucketMsFor(from: number, to: number, maxPoints: number): number {
  const raw = Math.ceil((to - from) / maxPoints);
  return Math.max(1000, Math.ceil(raw / 1000) * 1000);
}

/** The start (epoch ms) of the bucket holding `ts`; buckets are aligned to `from`. */
export function bucketStart(ts: number, from: number, bucketMs: number): number {
  return from + Math.floor((ts - from) / bucketMs) * bucketMs;
}

/**
 * Whether the points of a tier in the days not sealed yet can change the choice of `chooseTier`,
 * given the counts of the sealed part of the range (`sealed`, which may lack tiers with no sealed
 * points) ending at `sealedTo` (epoch ms). Live points only add to a count and come after every
 * sealed point, so they never move a tier's `first` when it has sealed points:
 * - a tier whose sealed points already exceed `maxPoints` never fits: its live count cannot matter
 *   (when it is chosen anyway, aggregated, the whole range is read again);
 * - with type auto (and interval auto), when some tier with sealed points covers the range, only
 *   covering tiers can be chosen, and a tier without sealed points starts at `sealedTo` or later:
 *   it matters only if it would cover from there.
 * Explicit tiers (type realtime, an interval class) keep every tier of the class.
 */
export function liveCountMatters(
  sealed: readonly TierCount[],
  windowMinutes: number,
  type: TrendTypeChoice,
  interval: IntervalChoice,
  maxPoints: number,
  range: TrendRange,
  sealedTo: number,
): boolean {
  const own = sealed.find((c) => c.windowMinutes === windowMinutes && c.points > 0);
  if (own !== undefined && own.points > maxPoints) return false;
  if (type === 'realtime' || interval !== 'auto') return true;
  const withData = sealed.filter((c) => c.points > 0 && (type !== 'average' || c.windowMinutes > 0));
  const firsts = withData.map((c) => c.first).filter((t): t is number => t !== undefined);
  if (firsts.length === 0) return true;
  const start = Math.max(range.from, Math.min(...firsts));
  if (!withData.some((c) => coversRange(c, range, start))) return true;
  const me: TierCount = own ?? { windowMinutes, points: 1, first: sealedTo };
  return coversRange(me, range, start);
}
