/**
 * A trend request answered partly from the cache of sealed days (trends/day-cache.ts). The
 * sealed days give the tier counts (a whole day from its stored counts; the first or last day,
 * cut by the range, from its points' times) and the chosen tiers' points; only the days not yet
 * sealed are read from ClickHouse (counts, then points), and spliced with the cached text into
 * one answer (trends/response.ts SealedSplice). What the cache lacks is read once, in one
 * statement per kind for every series and day of the request, and stored.
 * Only explicit series (no wildcard indices) take this path; when the plan aggregates a tier, the
 * points of the whole range are read from ClickHouse (buckets cross the days).
 */
import { buffer } from 'node:stream/consumers';
import { ByteText } from '../http/byte-text.ts';
import type { QueryContext } from '../context.ts';
import { DayText, type SeriesDay, type SeriesOfElement, type TierDay, type TrendDayCache } from './day-cache.ts';
import {
  readTrendDataRow,
  timeOf,
  TREND_DATA_SLOT,
  TREND_DATA_SPANS,
  writePointFields,
  type DaySlice,
  type SealedSplice,
} from './response.ts';
import { readLiveRows } from './live-rows.ts';
import { DAY_MS, type SealedSplit, type TimeRange } from './sealed-days.ts';
import { liveCountMatters, type IntervalChoice, type TierCount, type TrendRange, type TrendTypeChoice } from './tiers.ts';
import type { SeriesSpec } from './series.ts';
import {
  dayCountsQuery,
  ELEMENT_STATUS_PARAMETER,
  LIVE_ORD_STEP,
  trendDataQuery,
  type DayCountRow,
  type LiveSeries,
  type SeriesRead,
  type TierCountRow,
  type TrendScope,
} from './sql.ts';

const EMPTY_TEXT = new DayText(Buffer.alloc(0), new Uint32Array(0), new Float64Array(0));

/** What the tier choice of the request depends on besides the counts (tiers.ts chooseTier). */
export interface TierChoiceRule {
  type: TrendTypeChoice;
  interval: IntervalChoice;
  maxPoints: number;
  range: TrendRange;
}

/** The tiers a request may use: real-time (with type auto) and the average windows. */
export interface TrendTables {
  realtime: boolean;
  average: boolean;
}

/** One tier of one series on one day, to read. */
interface TextNeed {
  /** Index in `SealedTrendRead.series`. */
  series: number;
  windowMinutes: number;
  day: number;
}

export class SealedTrendRead {
  /** The requested series, then the element's status rows (parameter -1). */
  private readonly series: SeriesOfElement[];
  /** Per series, per day (index from `split.firstDay`): the cached or freshly read day. */
  private readonly days: SeriesDay[][];
  private readonly cache: TrendDayCache;
  /** The rows `counts` read of the days not sealed (live-rows.ts `readLiveRows`: RowBinary rows of the data query's shape). */
  private live: Buffer = Buffer.alloc(0);
  /**
   * Texts this request read, by `series/window/day`: used whether or not the cache took them (a
   * day invalidated meanwhile, or evicted), without touching the cache's own objects.
   */
  private readonly readTextsOf = new Map<string, DayText>();

  /** The text of a tier's day: this request's read, else the cache's. */
  private textOf(series: number, windowMinutes: number, day: number): DayText | undefined {
    return (
      this.readTextsOf.get(`${series}/${windowMinutes}/${day}`) ??
      this.days[series]![day - this.split.firstDay]!.tiers.get(windowMinutes)?.text
    );
  }

  constructor(
    private readonly ctx: Pick<QueryContext, 'reader' | 'dayCache'>,
    private readonly scope: TrendScope,
    dmsId: number,
    specs: readonly SeriesSpec[],
    private readonly split: SealedSplit,
    /** The answer's order (the live rows are read in it). */
    private readonly order: 'asc' | 'desc',
  ) {
    this.cache = ctx.dayCache;
    const keys = [
      ...specs.map((s) => ({ parameterId: s.parameterId, index: s.index })),
      { parameterId: ELEMENT_STATUS_PARAMETER, index: '' },
    ];
    this.series = keys.map((k) => ({ dmsId, dmaId: scope.dmaId, elementId: scope.elementId, ...k }));
    this.days = this.series.map(() => []);
  }

  /** Whether day `d` lies partly outside the requested range. */
  private partial(d: number): boolean {
    const { from, to } = this.split.range;
    return d * DAY_MS < from || (d + 1) * DAY_MS > to;
  }

  /** The points of a tier's day inside the range. */
  private sliceOf(text: DayText, d: number): DaySlice {
    if (!this.partial(d)) return { text, k0: 0, k1: text.count };
    return { text, ...text.slice(this.split.range.from, this.split.range.to) };
  }

  /**
   * The tier counts of the whole range (points capped at `maxPoints` + 1 where the days not
   * sealed hold more: the tier choice only asks whether a tier fits): the sealed days' from the
   * cache (read where missing), the rest from the live rows (live-rows.ts, two flat
   * statements side by side), kept for `data`.
   */
  async counts(tables: TrendTables, choice: TierChoiceRule): Promise<TierCountRow[]> {
    const { maxPoints } = choice;
    await this.fillDays();
    const { firstDay, endDay } = this.split;
    // A cut day counts from its points' times: every tier of it is read.
    const needs: TextNeed[] = [];
    for (const d of new Set([firstDay, endDay - 1]))
      if (d >= firstDay && d < endDay && this.partial(d))
        this.series.forEach((_, i) =>
          this.days[i]![d - firstDay]!.tiers.forEach((_t, w) => needs.push({ series: i, windowMinutes: w, day: d })),
        );
    await this.readTexts(needs);

    const totals = new Map<string, TierCountRow>();
    const add = (i: number, windowMinutes: number, points: number, first: number) => {
      if (points === 0) return;
      const key = `${i}/${windowMinutes}`;
      const t = totals.get(key);
      const s = this.series[i]!;
      if (t === undefined) totals.set(key, { parameter_id: s.parameterId, idx: s.index, window_minutes: windowMinutes, points, first });
      else {
        t.points += points;
        t.first = Math.min(t.first, first);
      }
    };
    this.series.forEach((s, i) => {
      const status = s.parameterId === ELEMENT_STATUS_PARAMETER;
      for (let d = firstDay; d < endDay; d++)
        for (const [w, tier] of this.days[i]![d - firstDay]!.tiers) {
          if (!status && !(w === 0 ? tables.realtime : tables.average)) continue;
          if (!this.partial(d)) add(i, w, tier.points, tier.first);
          else {
            const { text, k0, k1 } = this.sliceOf(this.textOf(i, w, d)!, d);
            if (k1 > k0) add(i, w, k1 - k0, text.times[k0]!);
          }
        }
    });
    if (this.split.edges.length > 0) {
      // Only tiers whose live points can change the choice are read (tiers.ts liveCountMatters).
      const live: LiveSeries[] = this.series.slice(0, -1).map((s, i) => {
        const sealed: TierCount[] = [...totals.entries()]
          .filter(([key]) => key.startsWith(`${i}/`))
          .map(([, c]) => ({ windowMinutes: c.window_minutes, points: c.points, first: c.first }));
        const matters = (w: number) =>
          liveCountMatters(sealed, w, choice.type, choice.interval, maxPoints, choice.range, this.split.range.to);
        const windows = new Set(this.days[i]!.flatMap((d) => [...d.tiers.keys()]).filter((w) => w > 0));
        return {
          parameterId: s.parameterId,
          index: s.index,
          realtime: tables.realtime && matters(0),
          averages: tables.average,
          skipWindows: [...windows].filter((w) => !matters(w)),
        };
      });
      this.live = await readLiveRows(this.ctx.reader, { ...this.scope, ranges: this.split.edges }, live, maxPoints + 1, this.order);
      const spans = new Float64Array(TREND_DATA_SPANS);
      for (let at = 0; at < this.live.length; ) {
        const next = readTrendDataRow(this.live, at, spans);
        if (next < 0) throw new Error(`the live rows' answer ends inside a row (${this.live.length - at} bytes)`);
        const ord = spans[TREND_DATA_SLOT.ord]!;
        const i = Math.floor(ord / LIVE_ORD_STEP);
        add(i, ord - i * LIVE_ORD_STEP, 1, timeOf(this.live, spans[TREND_DATA_SLOT.json]!));
        at = next;
      }
    }
    return [...totals.values()];
  }

  /**
   * The answer's rows of the days not sealed (RowBinary rows of `trendDataQuery`'s shape, from the
   * rows `counts` read) and the sealed days' points to splice in. `reads` must hold no aggregated
   * tier.
   */
  async data(reads: readonly SeriesRead[], withStatusRows: boolean): Promise<{ chunks: Iterable<Buffer>; splice: SealedSplice }> {
    const { firstDay, endDay } = this.split;
    const wanted = reads.map((r) => ({
      series: this.series.findIndex((s) => s.parameterId === r.parameterId && s.index === r.index),
      windowMinutes: r.windowMinutes,
    }));
    wanted.push({ series: withStatusRows ? this.series.length - 1 : -1, windowMinutes: 0 });
    const needs: TextNeed[] = [];
    for (const w of wanted)
      for (let d = firstDay; d < endDay && w.series >= 0; d++)
        if (this.days[w.series]![d - firstDay]!.tiers.has(w.windowMinutes))
          needs.push({ series: w.series, windowMinutes: w.windowMinutes, day: d });
    await this.readTexts(needs);
    const days = wanted.map((w) => {
      const slices: DaySlice[] = [];
      for (let d = firstDay; d < endDay && w.series >= 0; d++) {
        const text = this.textOf(w.series, w.windowMinutes, d);
        if (text !== undefined) slices.push(this.sliceOf(text, d));
      }
      return slices;
    });
    return { chunks: [this.liveRowsOf(wanted)], splice: { from: this.split.range.from, to: this.split.range.to, days } };
  }

  /** The live rows of the chosen tiers (and the status rows when wanted), renumbered to the answer's order. */
  private liveRowsOf(wanted: readonly { series: number; windowMinutes: number }[]): Buffer {
    const live = this.live;
    if (live.length === 0) return live;
    /** Live `ord` → answer `ord`. */
    const ordOf = new Map<number, number>();
    wanted.forEach((w, ord) => {
      if (w.series >= 0) ordOf.set(w.series * LIVE_ORD_STEP + w.windowMinutes, ord);
    });
    const out = Buffer.allocUnsafe(live.length);
    let n = 0;
    const spans = new Float64Array(TREND_DATA_SPANS);
    for (let at = 0; at < live.length; ) {
      const next = readTrendDataRow(live, at, spans);
      const ord = ordOf.get(spans[TREND_DATA_SLOT.ord]!);
      if (ord !== undefined) {
        n += live.copy(out, n, at, next);
        out.writeUInt32LE(ord, n - (next - at));
      }
      at = next;
    }
    return out.subarray(0, n);
  }

  /** Reads the tier counts of the days missing from the cache (one statement for every series), and stores them. */
  private async fillDays(): Promise<void> {
    const { firstDay, endDay } = this.split;
    const missingDays = new Set<number>();
    this.series.forEach((s, i) => {
      for (let d = firstDay; d < endDay; d++) {
        const day = this.cache.get(s, d);
        if (day !== undefined) this.days[i]![d - firstDay] = day;
        else missingDays.add(d);
      }
    });
    if (missingDays.size === 0) return;
    const fill = this.cache.beginFill();
    const keys = this.series.filter((s) => s.parameterId !== ELEMENT_STATUS_PARAMETER);
    const rows = await this.ctx.reader.rows<DayCountRow>(dayCountsQuery({ ...this.scope, ...dayRanges(missingDays) }, keys), {
      label: 'trend.day-counts',
      freshReplicas: true,
    });
    const read = new Map<string, SeriesDay>();
    const at = (parameterId: number, index: string, day: number) => `${day}/${parameterId}/${index}`;
    for (const r of rows) {
      const key = at(r.parameter_id, r.series_idx, Number(r.day));
      let day = read.get(key);
      if (day === undefined) read.set(key, (day = { tiers: new Map() }));
      day.tiers.set(r.window_minutes, { points: Number(r.points), first: Number(r.first) });
    }
    this.series.forEach((s, i) => {
      for (const d of missingDays) {
        if (this.days[i]![d - firstDay] !== undefined) continue;
        const day = read.get(at(s.parameterId, s.index, d)) ?? { tiers: new Map<number, TierDay>() };
        this.days[i]![d - firstDay] = day;
        this.cache.store(fill, s, d, day);
      }
    });
  }

  /**
   * Makes sure each needed tier-day has its text (`textOf`): what neither the cache nor this
   * request holds is read in one statement, kept for the request and offered to the cache.
   */
  private async readTexts(needs: readonly TextNeed[]): Promise<void> {
    const missing = needs.filter((n) => this.textOf(n.series, n.windowMinutes, n.day) === undefined);
    if (missing.length === 0) return;
    const statusSeries = this.series.length - 1;
    // One read per (series, tier) over the days missing (dayRanges); the status rows last.
    const reads: SeriesRead[] = [];
    const readOf = new Map<string, number>();
    let withStatus = false;
    for (const n of missing) {
      if (n.series === statusSeries) {
        withStatus = true;
        continue;
      }
      const key = `${n.series}/${n.windowMinutes}`;
      if (readOf.has(key)) continue;
      readOf.set(key, reads.length);
      const s = this.series[n.series]!;
      reads.push({ parameterId: s.parameterId, index: s.index, windowMinutes: n.windowMinutes, aggregated: false });
    }
    const fill = this.cache.beginFill();
    const body = await buffer(
      await this.ctx.reader.binaryChunks(
        trendDataQuery({ ...this.scope, ...dayRanges(new Set(missing.map((n) => n.day))) }, reads, 1000, 'asc', withStatus),
        { label: 'trend.day-data', freshReplicas: true },
      ),
    );
    // Per read (the status rows at reads.length) and day: the fields and times of its points, in time order.
    const built = new Map<string, { out: ByteText; ends: number[]; times: number[] }>();
    const spans = new Float64Array(TREND_DATA_SPANS);
    for (let at = 0; at < body.length; ) {
      const next = readTrendDataRow(body, at, spans);
      if (next < 0) throw new Error(`the sealed days' answer ends inside a row (${body.length - at} bytes)`);
      const ord = spans[TREND_DATA_SLOT.ord]!;
      const time = timeOf(body, spans[TREND_DATA_SLOT.json]!);
      const key = `${ord}/${Math.floor(time / DAY_MS)}`;
      let b = built.get(key);
      if (b === undefined) built.set(key, (b = { out: new ByteText(), ends: [], times: [] }));
      if (ord === reads.length) b.out.copy(body, spans[TREND_DATA_SLOT.json]!, spans[TREND_DATA_SLOT.json + 1]!);
      else writePointFields(b.out, body, spans, reads[ord]!.windowMinutes > 0);
      b.ends.push(b.out.length);
      b.times.push(time);
      at = next;
    }
    for (const n of missing) {
      const ord = n.series === statusSeries ? reads.length : readOf.get(`${n.series}/${n.windowMinutes}`)!;
      const b = built.get(`${ord}/${n.day}`);
      const text = b === undefined ? EMPTY_TEXT : new DayText(b.out.take(), Uint32Array.from(b.ends), Float64Array.from(b.times));
      // Stored in the cache when the day is still there and was not invalidated since the read
      // began; this request uses the text either way (what ClickHouse held when it was read).
      this.cache.storeText(fill, this.series[n.series]!, n.day, n.windowMinutes, text);
      this.readTextsOf.set(`${n.series}/${n.windowMinutes}/${n.day}`, text);
    }
    for (const b of built.values()) b.out.release();
  }
}

/** Runs of consecutive days in one statement at most; more, and the statement reads their whole span. */
const MAX_DAY_RUNS = 16;

/**
 * The time ranges of a set of UTC days: [from, to) of their span, and the runs of consecutive
 * days (`TrendScope.ranges`), so that a fill reads only the days it lacks — one day invalidated
 * months back and yesterday, newly sealed, are two short reads, not a year.
 */
export function dayRanges(days: ReadonlySet<number>): { from: number; to: number; ranges: TimeRange[] | undefined } {
  const sorted = [...days].sort((a, b) => a - b);
  const runs: TimeRange[] = [];
  for (const d of sorted) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last.to === d * DAY_MS) last.to += DAY_MS;
    else runs.push({ from: d * DAY_MS, to: (d + 1) * DAY_MS });
  }
  return { from: runs[0]!.from, to: runs[runs.length - 1]!.to, ranges: runs.length > MAX_DAY_RUNS ? undefined : runs };
}
