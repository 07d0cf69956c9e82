/**
 * The series a trend request names: `parameter=<parameterId>` (a standalone parameter) or
 * `parameter=<parameterId>:<table index>` (one cell of a table column). Everything after the
 * first colon is the index, verbatim; `*` and `?` in it are wildcards (DataMiner trend templates'
 * row filters) that expand to every index with data in the range.
 */
import { badField } from '../http/problem.ts';

const INT32_MAX = 2_147_483_647;

/** One `parameter` of a request. */
export interface SeriesSpec {
  parameterId: number;
  /** The table index, or the wildcard filter when `wildcard`; '' for a standalone parameter. */
  index: string;
  wildcard: boolean;
}

/** One concrete series: a parameter and a table index ('' = standalone). */
export interface SeriesKey {
  parameterId: number;
  index: string;
}

/** The map key of a series. */
export function seriesKey(parameterId: number, index: string): string {
  return `${parameterId}:${index}`;
}

/**
 * Parses the `parameter` values; throws a 400 naming `querystring.parameter` for one that is not
 * `<int32>` or `<int32>:<index>`. Repeated specs are kept once.
 */
export function parseSeriesSpecs(values: readonly string[]): SeriesSpec[] {
  const seen = new Set<string>();
  const specs: SeriesSpec[] = [];
  for (const [i, v] of values.entries()) {
    const colon = v.indexOf(':');
    const idText = colon === -1 ? v : v.slice(0, colon);
    const index = colon === -1 ? '' : v.slice(colon + 1);
    const parameterId = /^\d{1,10}$/.test(idText) ? Number(idText) : NaN;
    if (!(parameterId <= INT32_MAX))
      throw badField(
        `querystring.parameter`,
        `item ${i} (${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)}) must be <parameterId> or <parameterId>:<table index> with parameterId 0..${INT32_MAX}`,
      );
    const wildcard = /[*?]/.test(index);
    const key = `${wildcard ? 'w' : 'e'}${seriesKey(parameterId, index)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    specs.push({ parameterId, index, wildcard });
  }
  return specs;
}

/** Whether an index matches a DataMiner wildcard filter (`*` any run, `?` one character). */
export function matchesWildcard(index: string, filter: string): boolean {
  const pattern = filter
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[\\s\\S]*')
    .replace(/\?/g, '[\\s\\S]');
  return new RegExp(`^${pattern}$`, 'u').test(index);
}
