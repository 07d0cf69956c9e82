/**
 * Agent-side averages of a discrete (string) parameter, over the same clock-aligned 5/60/120-minute
 * windows as numeric ones (window rules: average.ts). DataMiner's rule (domain.md §2):
 *   - discreteValue = the value active longest in the window (ties: the one that appeared first),
 *   - min = percentage of the window's covered time that value was active,
 *   - discreteMax = the most frequent value: occurrences are the real-time values in the window,
 *     plus one for the value carried in at the window start (ties: the one that appeared first),
 *   - value and max null, samples = real-time values in the window, status = window minutes.
 * Discrete parameters change rarely, so each window size keeps its own per-value tallies.
 */
import type { TrendInput } from '../../../schemas/validate.ts';
import {
  AVERAGE_WINDOWS,
  MINUTE_MS,
  windowEnd,
  type Averages,
  type AverageWindow,
  type EmitAfter,
  type EmitAverage,
  type SeriesKey,
} from './average.ts';

class DiscreteWindow {
  /** End of the open window (epoch ms); 0 when none is open. */
  end = 0;
  covered = 0;
  samples = 0;
  /** ms active per value, in order of first appearance in the window. */
  readonly durations = new Map<string, number>();
  readonly occurrences = new Map<string, number>();
  readonly ms: number;

  constructor(
    readonly minutes: AverageWindow,
    readonly emitAfter: number,
  ) {
    this.ms = minutes * MINUTE_MS;
  }

  open(end: number): void {
    this.end = end;
    this.covered = 0;
    this.samples = 0;
    this.durations.clear();
    this.occurrences.clear();
  }

  point(key: SeriesKey): TrendInput {
    const [longest, longestMs] = top(this.durations);
    const [frequent] = top(this.occurrences);
    return {
      dmsId: key.dmsId,
      dmaId: key.dmaId,
      elementId: key.elementId,
      parameterId: key.parameterId,
      index: key.index,
      timestamp: this.end,
      windowMinutes: this.minutes,
      value: null,
      discreteValue: longest,
      min: (100 * longestMs) / this.covered,
      max: null,
      discreteMax: frequent,
      samples: this.samples,
      status: this.minutes,
    };
  }
}

/** The entry with the highest count; on a tie the one inserted first. */
function top(counts: Map<string, number>): [string, number] {
  let best = '';
  let most = -1;
  for (const [value, n] of counts) {
    if (n > most) {
      best = value;
      most = n;
    }
  }
  return [best, most];
}

const bump = (m: Map<string, number>, value: string, by: number) => m.set(value, (m.get(value) ?? 0) + by);

export class DiscreteAverages implements Averages<string> {
  private readonly windows: DiscreteWindow[];
  private value: string | undefined;
  /** When the active value became active. */
  private since = 0;
  /** Time up to which the active value has been added to the windows. */
  private accounted = 0;

  constructor(
    private readonly key: SeriesKey,
    private readonly emit: EmitAverage,
    emitAfter: EmitAfter = {},
  ) {
    this.windows = AVERAGE_WINDOWS.map((m) => new DiscreteWindow(m, emitAfter[m] ?? -Infinity));
  }

  change(ts: number, value: string): void {
    this.accountTo(ts);
    for (const w of this.windows) {
      if (w.end === 0 || ts >= w.end) this.roll(w, ts);
      w.samples++;
      bump(w.occurrences, value, 1);
    }
    this.value = value;
    this.since = ts;
  }

  stop(ts: number): void {
    this.accountTo(ts);
    this.value = undefined;
  }

  flush(ts: number): void {
    this.accountTo(ts);
    for (const w of this.windows) {
      if (w.end !== 0 && w.end <= ts) {
        this.close(w);
        w.end = 0;
      }
    }
  }

  /** Adds the active value's time up to `to` to every window, closing the windows it passes. */
  private accountTo(to: number): void {
    if (to <= this.accounted) return;
    const value = this.value;
    if (value !== undefined) {
      for (const w of this.windows) {
        let t = this.accounted;
        while (t < to) {
          if (w.end === 0 || t >= w.end) this.roll(w, t);
          const until = to < w.end ? to : w.end;
          bump(w.durations, value, until - t);
          w.covered += until - t;
          // Carried in: active before this window opened, counted once as an occurrence.
          if (t === w.end - w.ms && this.since < t) bump(w.occurrences, value, 1);
          t = until;
        }
      }
    }
    this.accounted = to;
  }

  /** Closes the open window (if any) and opens the one containing `t`. */
  private roll(w: DiscreteWindow, t: number): void {
    if (w.end !== 0) this.close(w);
    w.open(windowEnd(t, w.minutes));
  }

  private close(w: DiscreteWindow): void {
    if (w.covered > 0 && w.end > w.emitAfter) this.emit(w.point(this.key));
  }
}
