/**
 * Which ClickHouse failures are worth retrying. A network failure or an overloaded or
 * restarting server will pass; a data error will fail again, so its rows go to the DLQ.
 */
import { clickhouseErrorCode } from '../../storage/client.ts';

/** Server codes that mean "try again later" (timeouts, too many parts or queries, memory, network). */
const TRANSIENT_CODES = new Set([159, 164, 202, 203, 209, 210, 241, 242, 252, 285, 319, 425, 999]);
/** Server codes that mean the data itself is wrong. */
const DATA_CODES = new Set([6, 26, 27, 32, 33, 38, 41, 53, 69, 70, 72, 117, 131, 321]);

export type InsertFailure = 'transient' | 'data' | 'fatal';

export function classifyInsertError(err: unknown): InsertFailure {
  const code = clickhouseErrorCode(err);
  if (code === undefined) return 'transient'; // no server answer: connection refused, reset, timeout
  if (TRANSIENT_CODES.has(code)) return 'transient';
  if (DATA_CODES.has(code)) return 'data';
  return 'fatal'; // e.g. unknown table or column: a deployment problem, not the data's
}
