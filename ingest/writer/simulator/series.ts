/**
 * One trended series at run time: its key, the signal its values come from and its agent-side
 * averages (whose closed windows go straight to the output). Values are seeded by the run seed
 * and the series key, so a series produces the same values whatever else the fleet holds.
 */
import { NumericAverages, type EmitAfter } from './average.ts';
import { DiscreteAverages } from './discrete-average.ts';
import type { SeriesModel } from './fleet.ts';
import { averageKind, type RecordOutput } from './output.ts';
import { Random, seedOf } from './random.ts';
import { DiscreteSignal, NumericSignal } from './signal.ts';

/** Whether an element is sending trend values (false during a pause or timeout). */
export interface ElementActivity {
  active: boolean;
}

abstract class TrendSeries {
  readonly dmsId: number;
  readonly dmaId: number;
  readonly elementId: number;
  readonly parameterId: number;
  readonly index: string;
  /** Timestamp of the last real-time value (epoch ms); a series never repeats one (its natural key). */
  lastTs = 0;
  protected readonly random: Random;

  constructor(
    readonly model: SeriesModel,
    readonly activity: ElementActivity,
    seed: number,
  ) {
    const e = model.element;
    this.dmsId = e.dmsId;
    this.dmaId = e.dmaId;
    this.elementId = e.elementId;
    this.parameterId = model.parameter.id;
    this.index = model.index;
    this.random = new Random(seedOf(seed, 'series', e.dmsId, e.dmaId, e.elementId, this.parameterId, this.index));
  }
}

export class NumericSeries extends TrendSeries {
  readonly kind = 'numeric';
  readonly signal: NumericSignal;
  readonly averages: NumericAverages;

  constructor(model: SeriesModel, activity: ElementActivity, seed: number, out: RecordOutput, emitAfter: EmitAfter = {}) {
    super(model, activity, seed);
    if (model.parameter.profile.kind !== 'numeric') throw new Error(`${model.parameter.name} is not numeric`);
    this.signal = new NumericSignal(model.parameter.profile, this.random);
    this.averages = new NumericAverages(this, (p) => out.trend(averageKind(p.windowMinutes!), p), emitAfter);
  }

  /** Milliseconds to the next change, uniform around `meanMs` (half to one and a half times it). */
  nextChangeMs(meanMs: number): number {
    return Math.max(1, Math.round(meanMs * (0.5 + this.random.next())));
  }
}

export class DiscreteSeries extends TrendSeries {
  readonly kind = 'discrete';
  readonly signal: DiscreteSignal;
  readonly averages: DiscreteAverages;

  constructor(model: SeriesModel, activity: ElementActivity, seed: number, out: RecordOutput, emitAfter: EmitAfter = {}) {
    super(model, activity, seed);
    if (model.parameter.profile.kind !== 'discrete') throw new Error(`${model.parameter.name} is not discrete`);
    this.signal = new DiscreteSignal(model.parameter.profile, this.random);
    this.averages = new DiscreteAverages(this, (p) => out.trend(averageKind(p.windowMinutes!), p), emitAfter);
  }

  /** Sends the current value at `ts` (after element start or a gap, or after `signal.next()`). */
  send(ts: number, out: RecordOutput): void {
    const value = this.signal.value;
    this.lastTs = ts;
    this.averages.change(ts, value);
    out.trend('discrete', {
      dmsId: this.dmsId,
      dmaId: this.dmaId,
      elementId: this.elementId,
      parameterId: this.parameterId,
      index: this.index,
      timestamp: ts,
      value: null,
      discreteValue: value,
    });
  }
}

export function createSeries(
  model: SeriesModel,
  activity: ElementActivity,
  seed: number,
  out: RecordOutput,
  emitAfter: EmitAfter = {},
): NumericSeries | DiscreteSeries {
  return model.parameter.profile.kind === 'numeric'
    ? new NumericSeries(model, activity, seed, out, emitAfter)
    : new DiscreteSeries(model, activity, seed, out, emitAfter);
}
