/**
 * Bucket rows of `trendDataQuery` (one per bucket and discrete value) merge into one point per
 * bucket with the mean, extremes, sample count and the most frequent discrete value (ties: the
 * smallest string). Raw rows are written straight to text by `response.ts`.
 */
import type { BucketStats } from './sql.ts';

/** One group row of a bucket: its statistics and discrete values. */
export interface BucketGroup {
  stats: BucketStats;
  valueDiscrete: string;
  maxDiscrete: string;
}

/** One point of a series (response shape). Times are epoch ms; absent values are null. */
export interface TrendPointOut {
  time: number;
  status: number;
  value: number | null;
  min: number | null;
  max: number | null;
  samples: number | null;
  discreteValue: string | null;
  discreteMax: string | null;
}

/** The most frequent non-empty string of (value, count) pairs; ties go to the smallest string. */
export function mostFrequent(counts: ReadonlyMap<string, number>): string | null {
  let best: string | null = null;
  let bestCount = 0;
  for (const [v, c] of counts) {
    if (v === '') continue;
    if (c > bestCount || (c === bestCount && best !== null && v < best)) {
      best = v;
      bestCount = c;
    }
  }
  return best;
}

/**
 * The point of one bucket from its group rows (same series and bucket start); `averaged`: the
 * series is an average tier (only those have a discrete max).
 */
export function bucketPoint(groups: readonly BucketGroup[], averaged: boolean): TrendPointOut {
  const first = groups[0]!.stats;
  let sum = 0;
  let nv = 0;
  let min: number | null = null;
  let max: number | null = null;
  let samples = 0;
  const discrete = new Map<string, number>();
  const discreteMax = new Map<string, number>();
  for (const { stats: g, valueDiscrete, maxDiscrete } of groups) {
    if (g.sum !== null && g.nv > 0) {
      sum += g.sum;
      nv += g.nv;
    }
    if (g.min !== null) min = min === null ? g.min : Math.min(min, g.min);
    if (g.max !== null) max = max === null ? g.max : Math.max(max, g.max);
    samples += g.samples;
    discrete.set(valueDiscrete, (discrete.get(valueDiscrete) ?? 0) + g.n);
    discreteMax.set(maxDiscrete, (discreteMax.get(maxDiscrete) ?? 0) + g.n);
  }
  return {
    time: first.time,
    status: first.status,
    value: nv > 0 ? sum / nv : null,
    min,
    max,
    samples,
    discreteValue: mostFrequent(discrete),
    discreteMax: averaged ? mostFrequent(discreteMax) : null,
  };
}
