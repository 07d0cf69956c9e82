/**
 * The plan each trend graph got last, so that the next request for the same graph can start its
 * data read beside the tier counts instead of after them (the counts took about 40 % of a 30-day
 * trend's time on 18.16). A dashboard asks the same graphs again and again with a moving range;
 * the plan (series and tiers) rarely changes between two refreshes. The counts still decide:
 * when the plan they give differs from the remembered one, the early read is cancelled and the
 * right one runs (see routes/trends.ts), so a stale memory costs time, never a wrong answer.
 */
import type { SeriesRead } from './sql.ts';

/** What the data read of a trend request depends on, besides the request itself. */
export interface TrendPlan {
  reads: readonly SeriesRead[];
  /** Whether the range has element status rows (their branch is left out when not). */
  withStatusRows: boolean;
}

/** The parts of a request that decide its plan, apart from the exact range. */
export interface TrendShape {
  /** The tenant condition's SQL text: a principal's DMS and, for share tokens, its elements. */
  tenant: string;
  dmaId: number;
  elementId: number;
  /** The request's `parameter` values, in request order. */
  parameters: readonly string[];
  type: string;
  interval: string;
  maxPoints: number;
  /** Range length (ms). */
  rangeMs: number;
}

/** Range lengths within this factor of each other share a plan (a refresh moves `to` by a few ms). */
const RANGE_STEP = Math.log(1.01);

/** The memory key of a shape: range lengths in 1 % steps. */
export function shapeKey(s: TrendShape): string {
  const rangeStep = Math.round(Math.log(Math.max(1, s.rangeMs)) / RANGE_STEP);
  return JSON.stringify([s.tenant, s.dmaId, s.elementId, s.parameters, s.type, s.interval, s.maxPoints, rangeStep]);
}

/** Whether two plans read the same series from the same tiers in the same order. */
export function samePlan(a: TrendPlan, b: TrendPlan): boolean {
  if (a.withStatusRows !== b.withStatusRows || a.reads.length !== b.reads.length) return false;
  return a.reads.every((r, i) => {
    const o = b.reads[i]!;
    return r.parameterId === o.parameterId && r.index === o.index && r.windowMinutes === o.windowMinutes && r.aggregated === o.aggregated;
  });
}

/** The last plan per shape, for at most `capacity` shapes (least recently used forgotten first). */
export class PlanMemory {
  private readonly plans = new Map<string, TrendPlan>();

  /** `capacity` 0 remembers nothing (no early reads). */
  constructor(readonly capacity: number) {}

  get(key: string): TrendPlan | undefined {
    const plan = this.plans.get(key);
    if (plan !== undefined) {
      // Map keeps insertion order: re-inserting makes this the most recently used.
      this.plans.delete(key);
      this.plans.set(key, plan);
    }
    return plan;
  }

  set(key: string, plan: TrendPlan): void {
    if (this.capacity === 0) return;
    this.plans.delete(key);
    this.plans.set(key, plan);
    if (this.plans.size > this.capacity) this.plans.delete(this.plans.keys().next().value!);
  }

  get size(): number {
    return this.plans.size;
  }
}
