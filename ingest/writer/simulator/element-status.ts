/**
 * Element-level trend status rows and the gaps they mark. DataMiner stores element state changes
 * as trend rows of parameter -1 with a negative status (domain.md §2): -1 element start, -2 pause,
 * -3 activate, -4 timeout in, -5 timeout out. While an element is paused or timed out it sends
 * no trend values, so graphs draw a gap between the two rows.
 */
import type { TrendInput } from '../../../schemas/validate.ts';
import type { Cadence } from './cadence.ts';
import type { ElementModel } from './fleet.ts';
import type { Random } from './random.ts';

export const ELEMENT_START = -1;
export const ELEMENT_PAUSE = -2;
export const ELEMENT_ACTIVATE = -3;
export const TIMEOUT_IN = -4;
export const TIMEOUT_OUT = -5;

/** A stretch of time without trend values: [start, end) in epoch ms, opened and closed by two status codes. */
export interface Gap {
  start: number;
  end: number;
  /** -2 (pause) or -4 (timeout in). */
  startStatus: number;
  /** -3 (activate) or -5 (timeout out). */
  endStatus: number;
}

/** The status row an element writes at `ts` (epoch ms): parameter -1, no index, no value. */
export function statusRow(element: ElementModel, ts: number, status: number): TrendInput {
  return {
    dmsId: element.dmsId,
    dmaId: element.dmaId,
    elementId: element.elementId,
    parameterId: -1,
    index: '',
    timestamp: ts,
    value: null,
    status,
  };
}

/** The next gap starting after `after` (epoch ms): half pauses, half timeouts; undefined when gaps are off. */
export function nextGap(random: Random, after: number, cadence: Cadence): Gap | undefined {
  if (cadence.gapsPerHour <= 0) return undefined;
  const start = after + Math.max(1000, Math.round(random.exponential(3_600_000 / cadence.gapsPerHour)));
  const [shortest, longest] = cadence.gapSeconds;
  const end = start + Math.round(random.between(shortest, longest) * 1000);
  const pause = random.next() < 0.5;
  return { start, end, startStatus: pause ? ELEMENT_PAUSE : TIMEOUT_IN, endStatus: pause ? ELEMENT_ACTIVATE : TIMEOUT_OUT };
}

/** Every gap of an element that starts in (from, to), in time order. */
export function planGaps(random: Random, from: number, to: number, cadence: Cadence): Gap[] {
  const gaps: Gap[] = [];
  for (let gap = nextGap(random, from, cadence); gap !== undefined && gap.start < to; gap = nextGap(random, gap.end, cadence))
    gaps.push(gap);
  return gaps;
}
