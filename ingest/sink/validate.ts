/**
 * Records decoded from Kafka are checked with the Writer's own rules: a message written by
 * another producer (or an older, buggier writer) may hold values we cannot store faithfully.
 */
import { INT32_MAX, MAX_TS, MIN_TS, RecordValidationError, toAlarmEvent, toElementRow, toTrendPoint } from '../../schemas/validate.ts';
import type { RecordType, TrendPoint } from '../../schemas/records.ts';

const CHECK: Record<RecordType, (r: never) => unknown> = { trend: toTrendPoint, alarm: toAlarmEvent, element: toElementRow };

const finiteOrNull = (v: number | null) => v === null || Number.isFinite(v);

/**
 * The common case without allocating: a decoded trend point (the schema already fixed its types)
 * that passes this passes the Writer's rules. Anything else takes the full check, which names
 * the problems (and may still accept, e.g. a long ASCII row key).
 */
function plainlyValidTrend(p: TrendPoint): boolean {
  return (
    p.dmsId >= 0 &&
    p.dmsId <= INT32_MAX &&
    p.dmaId >= 0 &&
    p.dmaId <= INT32_MAX &&
    p.elementId >= 0 &&
    p.elementId <= INT32_MAX &&
    p.parameterId >= -1 &&
    p.parameterId <= INT32_MAX &&
    Number.isInteger(p.timestamp) &&
    p.timestamp >= MIN_TS &&
    p.timestamp < MAX_TS &&
    p.windowMinutes >= 0 &&
    p.windowMinutes <= 65_535 &&
    p.status >= -32_768 &&
    p.status <= 32_767 &&
    p.samples >= 0 &&
    p.samples <= INT32_MAX &&
    finiteOrNull(p.value) &&
    finiteOrNull(p.min) &&
    finiteOrNull(p.max) &&
    p.index.length <= 256 &&
    (p.discreteValue === null || p.discreteValue.length <= 21_845) &&
    (p.discreteMax === null || p.discreteMax.length <= 21_845) &&
    (p.value !== null || p.discreteValue !== null || p.status !== 0) &&
    (p.windowMinutes > 0 || (p.min === null && p.max === null && p.samples === 0))
  );
}

/** Undefined when every record is valid, else the first problems found. */
export function invalidRecords(type: RecordType, records: readonly unknown[]): string | undefined {
  const problems: string[] = [];
  for (let i = 0; i < records.length && problems.length < 5; i++) {
    if (type === 'trend' && plainlyValidTrend(records[i] as TrendPoint)) continue;
    try {
      CHECK[type](records[i] as never);
    } catch (err) {
      if (!(err instanceof RecordValidationError)) throw err;
      problems.push(`record ${i}: ${err.problems.join('; ')}`);
    }
  }
  return problems.length === 0 ? undefined : problems.join(' | ');
}
