/**
 * Agent-side trend averaging, as DataMiner's SLDataGateway does it: from the real-time changes of
 * one parameter (or table cell), clock-aligned windows of 5, 60 and 120 minutes (DataMiner's
 * short, medium and long "day" records), each emitted once it closes. This module: the window
 * rules and numeric parameters; discrete parameters: discrete-average.ts.
 *
 * A window ending at E covers [E - minutes, E), aligned to UTC clock boundaries (epoch multiples
 * of the window), and is stored at E with `status` = `windowMinutes` = the window's minutes.
 * Only time during which the parameter had a value counts: the first window after element start
 * (and a window with a pause or timeout in it) covers part of its span. A value that was active
 * when the window opened is carried in from the window start. A window without any such time is
 * not emitted.
 *
 * Numeric parameters: value = time-weighted mean of the active values (Σ value·ms / Σ ms), min and
 * max = extremes of the values active in the window, samples = real-time values whose timestamp
 * falls in the window. DataMiner's worked example: 10 from 09:06:14, 20 from 09:07:56, window
 * closing 09:10:00 -> (10·102 s + 20·124 s) / 226 s = 15.4867 at 09:10:00, min 10, max 20, 2 samples.
 */
import type { TrendInput } from '../../../schemas/validate.ts';

/** DataMiner's default average windows in minutes: short, medium ("hour") and long ("day"). */
export const AVERAGE_WINDOWS = [5, 60, 120] as const;
export type AverageWindow = (typeof AVERAGE_WINDOWS)[number];

export const MINUTE_MS = 60_000;
const SHORT_MS = 5 * MINUTE_MS;

/** End (epoch ms) of the clock-aligned window of `minutes` that contains `ts` (epoch ms, UTC). */
export function windowEnd(ts: number, minutes: number): number {
  const ms = minutes * MINUTE_MS;
  return (Math.floor(ts / ms) + 1) * ms;
}

/** The identity of one trended series: a standalone parameter (index '') or a table cell. */
export interface SeriesKey {
  dmsId: number;
  dmaId: number;
  elementId: number;
  parameterId: number;
  index: string;
}

/** Receives each closed window as a complete average trend point. */
export type EmitAverage = (point: TrendInput) => void;

/**
 * Which windows to emit: a closed window is emitted when its end is after `emitAfter[minutes]`
 * (epoch ms; a back-fill keeps 5-minute averages for fewer days than the others). Missing: all.
 */
export type EmitAfter = Partial<Record<AverageWindow, number>>;

/**
 * The average windows of one series. Feed it the series' real-time changes in time order
 * (`change`), the start of a gap (`stop`: element paused or timed out: no value is active until
 * the next change) and the passing of time (`flush`: emits the windows that ended).
 */
export interface Averages<T> {
  /** A real-time value at `ts` (epoch ms, not before the previous call's time). */
  change(ts: number, value: T): void;
  /** From `ts` on the series has no value (a gap) until the next `change`. */
  stop(ts: number): void;
  /** Time has reached `ts`: emits every window that ended at or before it. */
  flush(ts: number): void;
}

/** Running sums of one open 60- or 120-minute window, fed by the closed 5-minute windows inside it. */
class LongWindow {
  end = 0;
  weighted = 0;
  covered = 0;
  min = Infinity;
  max = -Infinity;
  samples = 0;

  constructor(
    readonly minutes: 60 | 120,
    readonly emitAfter: number,
  ) {}

  open(end: number): void {
    this.end = end;
    this.weighted = 0;
    this.covered = 0;
    this.min = Infinity;
    this.max = -Infinity;
    this.samples = 0;
  }
}

/**
 * Numeric averages. Per change only the 5-minute window is updated; a closed 5-minute window is
 * folded into the 60- and 120-minute windows that contain it (time-weighted sums, covered time,
 * samples, min and max all add up exactly), which keeps a change cheap in the live hot loop and
 * over a year of back-fill.
 */
export class NumericAverages implements Averages<number> {
  private active = false;
  private value = 0;
  /** Time up to which the active value has been added to the 5-minute window. */
  private accounted = 0;
  // The open 5-minute window; end 0 when none is open.
  private end = 0;
  private weighted = 0;
  private covered = 0;
  private min = Infinity;
  private max = -Infinity;
  private samples = 0;
  private readonly emitShortAfter: number;
  private readonly long: readonly LongWindow[];

  constructor(
    private readonly key: SeriesKey,
    private readonly emit: EmitAverage,
    emitAfter: EmitAfter = {},
  ) {
    this.emitShortAfter = emitAfter[5] ?? -Infinity;
    this.long = [new LongWindow(60, emitAfter[60] ?? -Infinity), new LongWindow(120, emitAfter[120] ?? -Infinity)];
  }

  change(ts: number, value: number): void {
    this.accountTo(ts);
    if (this.end === 0 || ts >= this.end) this.roll(ts);
    this.samples++;
    this.active = true;
    this.value = value;
  }

  stop(ts: number): void {
    this.accountTo(ts);
    this.active = false;
  }

  flush(ts: number): void {
    this.accountTo(ts);
    if (this.end !== 0 && this.end <= ts) {
      this.closeShort();
      this.end = 0;
    }
    for (const w of this.long) {
      if (w.end !== 0 && w.end <= ts) {
        this.closeLong(w);
        w.end = 0;
      }
    }
  }

  /** Accounts the active value up to `ts` (it stays active). */
  private accountTo(ts: number): void {
    if (ts > this.accounted) {
      if (this.active) this.add(ts);
      this.accounted = ts;
    }
  }

  /** Adds the active value over [accounted, to), closing the 5-minute windows it passes. */
  private add(to: number): void {
    const v = this.value;
    let t = this.accounted;
    while (t < to) {
      if (this.end === 0 || t >= this.end) this.roll(t);
      const until = to < this.end ? to : this.end;
      const ms = until - t;
      this.weighted += v * ms;
      this.covered += ms;
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
      t = until;
    }
  }

  /** Closes the open 5-minute window (if any) and opens the one containing `t`. */
  private roll(t: number): void {
    if (this.end !== 0) this.closeShort();
    this.end = (Math.floor(t / SHORT_MS) + 1) * SHORT_MS;
    this.weighted = 0;
    this.covered = 0;
    this.min = Infinity;
    this.max = -Infinity;
    this.samples = 0;
  }

  private closeShort(): void {
    const end = this.end;
    if (this.covered > 0 && end > this.emitShortAfter)
      this.emit(this.point(5, end, this.weighted, this.covered, this.min, this.max, this.samples));
    for (const w of this.long) {
      const containing = windowEnd(end - SHORT_MS, w.minutes);
      if (w.end !== containing) {
        if (w.end !== 0) this.closeLong(w);
        w.open(containing);
      }
      w.weighted += this.weighted;
      w.covered += this.covered;
      w.samples += this.samples;
      if (this.covered > 0) {
        if (this.min < w.min) w.min = this.min;
        if (this.max > w.max) w.max = this.max;
      }
      if (end === w.end) {
        this.closeLong(w);
        w.end = 0;
      }
    }
  }

  private closeLong(w: LongWindow): void {
    if (w.covered > 0 && w.end > w.emitAfter) this.emit(this.point(w.minutes, w.end, w.weighted, w.covered, w.min, w.max, w.samples));
  }

  private point(
    minutes: AverageWindow,
    end: number,
    weighted: number,
    covered: number,
    min: number,
    max: number,
    samples: number,
  ): TrendInput {
    const k = this.key;
    return {
      dmsId: k.dmsId,
      dmaId: k.dmaId,
      elementId: k.elementId,
      parameterId: k.parameterId,
      index: k.index,
      timestamp: end,
      windowMinutes: minutes,
      value: weighted / covered,
      min,
      max,
      samples,
      status: minutes,
    };
  }
}
