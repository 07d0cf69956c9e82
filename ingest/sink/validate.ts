/**
 * Records decoded from Kafka are checked with the Writer's own rules: a message written by
 * another producer (or an older, buggier writer) may hold values we cannot store faithfully.
 */
import { RecordValidationError, toAlarmEvent, toElementRow, toTrendPoint } from '../writer/validate.ts';
import type { RecordType } from '../../schemas/records.ts';

const CHECK: Record<RecordType, (r: never) => unknown> = { trend: toTrendPoint, alarm: toAlarmEvent, element: toElementRow };

/** Undefined when every record is valid, else the first problems found. */
export function invalidRecords(type: RecordType, records: readonly unknown[]): string | undefined {
  const problems: string[] = [];
  for (let i = 0; i < records.length && problems.length < 5; i++) {
    try {
      CHECK[type](records[i] as never);
    } catch (err) {
      if (!(err instanceof RecordValidationError)) throw err;
      problems.push(`record ${i}: ${err.problems.join('; ')}`);
    }
  }
  return problems.length === 0 ? undefined : problems.join(' | ');
}
