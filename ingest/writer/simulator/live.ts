/**
 * Live mode: the fleet writes at a target rate (records/s over all kinds) for a duration, with
 * timestamps = now. Every element starts (status -1, an info event, its table rows and saved
 * parameters, its discrete values); then, in 10 ms ticks:
 *   - numeric real-time changes, round-robin over the numeric series (the bulk of the volume, so
 *     throughput runs stay meaningful); a series never repeats a timestamp,
 *   - the averages those changes close (5, 60, 120 min, clock-aligned, emitted once closed),
 *   - the element events that fall due: discrete changes, gaps (pause/activate, timeout in/out,
 *     with no trend values in between), alarm tree steps, info events, row changes.
 * At each 5-minute boundary, and at the end, windows that closed without a new value are emitted.
 */
import { AlarmProcess } from './alarms.ts';
import { windowEnd } from './average.ts';
import type { Cadence } from './cadence.ts';
import { ELEMENT_START, nextGap, statusRow } from './element-status.ts';
import { EventQueue } from './event-queue.ts';
import { RowProcess } from './element-rows.ts';
import { elementSeries, type ElementModel } from './fleet.ts';
import type { RecordOutput } from './output.ts';
import { ACCEPTED } from '../writer.ts';
import { Random, seedOf } from './random.ts';
import { createSeries, type DiscreteSeries, type ElementActivity, type NumericSeries } from './series.ts';

export interface LiveOptions {
  /** Target records per second, all kinds together. */
  rate: number;
  durationMs: number;
  seed: number;
  cadence: Cadence;
  /** Polled every tick: stop early (SIGINT). */
  stopped?: () => boolean;
  now?: () => number;
}

export interface LiveFleet {
  numeric: NumericSeries[];
  discrete: DiscreteSeries[];
}

const TICK_MS = 10;

export async function runLive(elements: readonly ElementModel[], options: LiveOptions, out: RecordOutput): Promise<LiveFleet> {
  const now = options.now ?? Date.now;
  const rate = options.rate;
  const started = now();
  const queue = new EventQueue();
  const fleet: LiveFleet = { numeric: [], discrete: [] };
  for (const element of elements) startElement(element, started, options, queue, out, fleet);
  await out.drain();

  const { numeric, discrete } = fleet;
  const tally = out.tally;
  const sink = out.sink;
  let cursor = 0;
  let nextSweep = windowEnd(started, 5);
  for (;;) {
    const t = now();
    if (t - started >= options.durationMs || options.stopped?.()) break;
    if (queue.nextTime <= t) {
      queue.runUntil(t + 1);
      await out.drain();
    }
    if (t >= nextSweep) {
      for (const s of numeric) s.averages.flush(t);
      for (const s of discrete) s.averages.flush(t);
      nextSweep = windowEnd(t, 5);
      await out.drain();
    }
    const due = Math.floor((Math.min(t - started, options.durationMs) / 1000) * rate);
    if (tally.total >= due || numeric.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, TICK_MS));
      continue;
    }
    // The hot loop: one numeric change per iteration, no allocation beyond the record itself.
    let idle = 0;
    // Bounded to a tick's worth of time: offered more than the Writer takes (it holds the loop
    // back), the loop must still see the end of the run, the alarm queue and the sweeps.
    const until = t + TICK_MS;
    while (tally.total < due && idle < numeric.length && ((tally.total & 1023) !== 0 || now() < until)) {
      const s = numeric[cursor]!;
      cursor = cursor + 1 === numeric.length ? 0 : cursor + 1;
      if (!s.activity.active) {
        idle++;
        continue;
      }
      idle = 0;
      const ts = t > s.lastTs ? t : s.lastTs + 1;
      s.lastTs = ts;
      const value = s.signal.next(ts);
      s.averages.change(ts, value);
      try {
        const taken = sink.trend({
          dmsId: s.dmsId,
          dmaId: s.dmaId,
          elementId: s.elementId,
          parameterId: s.parameterId,
          index: s.index,
          timestamp: ts,
          value,
        });
        // Taken at once (the Writer's ACCEPTED): no await, which costs a microtask per record.
        if (taken !== ACCEPTED) await taken;
        tally.realtime++;
        tally.total++;
      } catch (err) {
        out.refused(err);
      }
      if (out.size > 0) await out.drain();
      const pause = out.paced();
      if (pause) {
        await pause;
        if (now() - started >= options.durationMs) break;
      }
    }
  }
  const end = now();
  for (const s of numeric) s.averages.flush(end);
  for (const s of discrete) s.averages.flush(end);
  await out.drain();
  return fleet;
}

/** Element start at `t`: status -1, info event, table rows, discrete values; schedules its events. */
function startElement(
  element: ElementModel,
  t: number,
  options: LiveOptions,
  queue: EventQueue,
  out: RecordOutput,
  fleet: LiveFleet,
): void {
  const { seed, cadence } = options;
  const ids = [element.dmsId, element.dmaId, element.elementId];
  const activity: ElementActivity = { active: true };
  out.trend('status', statusRow(element, t, ELEMENT_START));
  const models = elementSeries(element);
  const series = models.map((m) => createSeries(m, activity, seed, out));
  const holdMs = cadence.discreteHoldSeconds * 1000;
  for (const s of series) {
    if (s.kind === 'numeric') {
      fleet.numeric.push(s);
      continue;
    }
    fleet.discrete.push(s);
    s.send(t, out);
    const change = (at: number) => {
      if (activity.active) {
        s.signal.next();
        s.send(Math.max(at, s.lastTs + 1), out);
      }
      queue.at(at + s.signal.holdMs(holdMs), change);
    };
    queue.at(t + s.signal.holdMs(holdMs), change);
  }

  // Gaps: no values from pause/timeout in until activate/timeout out; discrete values re-sent after.
  const gapRandom = new Random(seedOf(seed, 'gaps', ...ids));
  const scheduleGap = (after: number) => {
    const gap = nextGap(gapRandom, after, cadence);
    if (gap === undefined) return;
    queue.at(gap.start, (at) => {
      activity.active = false;
      out.trend('status', statusRow(element, at, gap.startStatus));
      for (const s of series) s.averages.stop(Math.max(at, s.lastTs));
    });
    queue.at(gap.end, (at) => {
      activity.active = true;
      out.trend('status', statusRow(element, at, gap.endStatus));
      for (const s of series) if (s.kind === 'discrete') s.send(Math.max(at, s.lastTs + 1), out);
      scheduleGap(at);
    });
  };
  scheduleGap(t);

  new AlarmProcess(element, models, new Random(seedOf(seed, 'alarms', ...ids)), cadence, queue, out).start(t);
  new RowProcess(element, new Random(seedOf(seed, 'rows', ...ids)), cadence, queue, out).start(t);
}
