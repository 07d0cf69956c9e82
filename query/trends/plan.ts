/**
 * From a request's series specs and the tier counts of `tierCountsQuery` to the list of series
 * to answer, each with its tier: explicit series in request order (also when they have no data),
 * each wildcard spec expanded in place to its matching indices with data, sorted by index.
 */
import { badField } from '../http/problem.ts';
import { matchesWildcard, seriesKey, type SeriesSpec } from './series.ts';
import type { SeriesRead, TierCountRow } from './sql.ts';
import { chooseTier, type IntervalChoice, type TierCount, type TrendRange, type TrendTypeChoice } from './tiers.ts';

export interface PlanOptions {
  type: TrendTypeChoice;
  interval: IntervalChoice;
  maxPoints: number;
  maxSeries: number;
  /** The requested range: tiers that cover it are preferred (see `coversRange`). */
  range?: TrendRange;
}

/**
 * The series of the response with their tiers. Throws a 400 naming `querystring.parameter` when
 * wildcards expand to more than `maxSeries` series.
 */
export function planSeries(specs: readonly SeriesSpec[], counts: readonly TierCountRow[], opts: PlanOptions): SeriesRead[] {
  const tiers = new Map<string, TierCount[]>();
  for (const c of counts) {
    const key = seriesKey(c.parameter_id, c.idx);
    const list = tiers.get(key) ?? [];
    list.push({ windowMinutes: c.window_minutes, points: c.points, first: c.first });
    tiers.set(key, list);
  }
  const keys: { parameterId: number; index: string }[] = [];
  const chosen = new Set<string>();
  const add = (parameterId: number, index: string) => {
    const key = seriesKey(parameterId, index);
    if (chosen.has(key)) return;
    chosen.add(key);
    keys.push({ parameterId, index });
  };
  for (const spec of specs) {
    if (!spec.wildcard) {
      add(spec.parameterId, spec.index);
      continue;
    }
    const matches = [
      ...new Set(counts.filter((c) => c.parameter_id === spec.parameterId && matchesWildcard(c.idx, spec.index)).map((c) => c.idx)),
    ];
    for (const index of matches.sort()) add(spec.parameterId, index);
  }
  if (keys.length > opts.maxSeries)
    throw badField(
      'querystring.parameter',
      `names ${keys.length} series once wildcards are expanded; at most ${opts.maxSeries} are allowed: narrow the table index filters`,
    );
  return keys.map((k) => ({
    ...k,
    ...chooseTier(tiers.get(seriesKey(k.parameterId, k.index)) ?? [], opts.type, opts.interval, opts.maxPoints, opts.range),
  }));
}
