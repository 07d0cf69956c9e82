/**
 * Back-fill: N days of history ending at `end`, written as fast as the Writer takes it, as an
 * agent's database would hold it after N days under STaaS retention:
 *   - 120-minute and 60-minute averages for all N days,
 *   - 5-minute averages for the last min(N, 92) days,
 *   - real-time points (numeric and discrete) and element status rows for the last min(N, 2) days,
 *   - alarm trees, information events and element rows (table and saved parameters) over all N days.
 *
 * The averages come from a full real-time signal over the N days (one numeric change every
 * `numericChangeSeconds` on average, discrete states held for hours, element gaps included);
 * only the real-time part inside the last two days is written.
 *
 * Repeatable: every record is a function of (seed, fleet shape, cadence, days, end), so writing the
 * same back-fill twice stores the same rows (the tables are ReplacingMergeTree on natural keys).
 * The CLI rounds `end` down to the hour.
 */
import { AlarmProcess } from './alarms.ts';
import type { Cadence } from './cadence.ts';
import { ELEMENT_START, planGaps, statusRow, type Gap } from './element-status.ts';
import { EventQueue } from './event-queue.ts';
import { RowProcess } from './element-rows.ts';
import { elementSeries, type ElementModel } from './fleet.ts';
import type { RecordOutput } from './output.ts';
import { Random, seedOf } from './random.ts';
import { createSeries, type DiscreteSeries, type NumericSeries } from './series.ts';

export const DAY_MS = 86_400_000;
/** STaaS keeps 5-minute averages for 3 months and real-time trends for 7 days; DataMiner agents typically 1-2 days. */
export const FIVE_MINUTE_DAYS = 92;
export const REALTIME_DAYS = 2;
/** Buffered records written before the generator goes on (small: records die young, GC stays cheap). */
const DRAIN_AT = 512;

export interface BackfillOptions {
  days: number;
  /** End of the history, epoch ms (exclusive for real-time points, inclusive for window ends). */
  end: number;
  seed: number;
  cadence: Cadence;
}

/** The time ranges of a back-fill, epoch ms. */
export interface BackfillRange {
  start: number;
  end: number;
  /** Real-time points and status rows at or after this. */
  realtimeFrom: number;
  /** 5-minute averages for windows ending after this. */
  fiveMinuteFrom: number;
}

export function backfillRange(days: number, end: number): BackfillRange {
  return {
    start: end - days * DAY_MS,
    end,
    realtimeFrom: end - Math.min(days, REALTIME_DAYS) * DAY_MS,
    fiveMinuteFrom: end - Math.min(days, FIVE_MINUTE_DAYS) * DAY_MS,
  };
}

/** `end` rounded down to the hour: the default end of a back-fill, so a repeat lands on the same rows. */
export function hourFloor(ts: number): number {
  return Math.floor(ts / 3_600_000) * 3_600_000;
}

export async function runBackfill(elements: readonly ElementModel[], options: BackfillOptions, out: RecordOutput): Promise<void> {
  const range = backfillRange(options.days, options.end);
  for (const element of elements) await backfillElement(element, range, options, out);
  await out.drain();
}

async function backfillElement(element: ElementModel, range: BackfillRange, options: BackfillOptions, out: RecordOutput): Promise<void> {
  const { seed, cadence } = options;
  const ids = [element.dmsId, element.dmaId, element.elementId];

  // The element started at the start of the history; it paused or timed out now and then.
  const gaps = planGaps(new Random(seedOf(seed, 'gaps', ...ids)), range.start, range.end, cadence);
  const status = (ts: number, code: number) => {
    if (ts >= range.realtimeFrom && ts < range.end) out.trend('status', statusRow(element, ts, code));
  };
  status(range.start, ELEMENT_START);
  for (const gap of gaps) {
    status(gap.start, gap.startStatus);
    status(gap.end, gap.endStatus);
  }

  const models = elementSeries(element);
  const activity = { active: true };
  for (const model of models) {
    const series = createSeries(model, activity, seed, out, { 5: range.fiveMinuteFrom });
    if (series.kind === 'numeric') await backfillNumeric(series, gaps, range, cadence, out);
    else await backfillDiscrete(series, gaps, range, cadence, out);
  }

  const queue = new EventQueue();
  new AlarmProcess(element, models, new Random(seedOf(seed, 'alarms', ...ids)), cadence, queue, out).start(range.start);
  new RowProcess(element, new Random(seedOf(seed, 'rows', ...ids)), cadence, queue, out).start(range.start);
  while (queue.runNext(range.end)) if (out.size >= DRAIN_AT) await out.drain();
  await out.drain();
}

/** Runs a numeric series through the history: every change feeds the averages; the recent ones are written. */
async function backfillNumeric(
  series: NumericSeries,
  gaps: readonly Gap[],
  range: BackfillRange,
  cadence: Cadence,
  out: RecordOutput,
): Promise<void> {
  const meanMs = cadence.numericChangeSeconds * 1000;
  let g = 0;
  let t = range.start;
  while (t < range.end) {
    const value = series.signal.next(t);
    series.averages.change(t, value);
    if (t >= range.realtimeFrom) {
      out.trend('realtime', {
        dmsId: series.dmsId,
        dmaId: series.dmaId,
        elementId: series.elementId,
        parameterId: series.parameterId,
        index: series.index,
        timestamp: t,
        value,
      });
    }
    if (out.size >= DRAIN_AT) await out.drain();
    t += series.nextChangeMs(meanMs);
    if (g < gaps.length && gaps[g]!.start <= t) {
      // A gap before the next change: no value during it, a fresh one when the element is back.
      series.averages.stop(gaps[g]!.start);
      t = gaps[g]!.end;
      g++;
    }
  }
  series.averages.flush(range.end);
  await out.drain();
}

/** Runs a discrete series through the history; after a gap the element sends its current state again. */
async function backfillDiscrete(
  series: DiscreteSeries,
  gaps: readonly Gap[],
  range: BackfillRange,
  cadence: Cadence,
  out: RecordOutput,
): Promise<void> {
  const holdMs = cadence.discreteHoldSeconds * 1000;
  const recent = range.realtimeFrom;
  let g = 0;
  let t = range.start;
  let resumed = true;
  while (t < range.end) {
    if (!resumed) series.signal.next();
    if (t >= recent) series.send(t, out);
    else series.averages.change(t, series.signal.value);
    if (out.size >= DRAIN_AT) await out.drain();
    t += series.signal.holdMs(holdMs);
    resumed = false;
    if (g < gaps.length && gaps[g]!.start <= t) {
      series.averages.stop(gaps[g]!.start);
      t = gaps[g]!.end;
      g++;
      resumed = true;
    }
  }
  series.averages.flush(range.end);
  await out.drain();
}
