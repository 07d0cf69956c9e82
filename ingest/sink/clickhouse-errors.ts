/**
 * Which ClickHouse failures of an insert are worth retrying: one table, by server error code,
 * for 18.16 and current servers (codes and names from ClickHouse's src/Common/ErrorCodes.cpp;
 * the codes below have kept their numbers since 18.x).
 *
 * - `transient`: a network failure or an overloaded, restarting or full server: the same insert
 *   will pass later, so it is retried with the partitions paused.
 * - `data`: the rows themselves are wrong for the table: the same insert fails again, so its
 *   messages go to the DLQ.
 * - `fatal`: a deployment problem (missing table or column, access, a server setting below what
 *   staas needs): neither retrying nor dead-lettering helps; the sink stops without committing.
 *
 * A code not in the table is fatal: stopping is safe (nothing is committed), retrying an unknown
 * failure forever or dead-lettering good data is not.
 */
import { clickhouseErrorCode } from '../../storage/client.ts';

export type InsertFailure = 'transient' | 'data' | 'fatal';

/** One known server error: its name in ErrorCodes.cpp and what an insert failing with it means. */
export interface ClickHouseErrorKind {
  name: string;
  kind: InsertFailure;
  /** Refines `kind` for one code that covers different failures: a message match takes `kind`. */
  byMessage?: { pattern: RegExp; kind: InsertFailure; why: string };
}

/** The classification table (code -> name, kind). */
export const CLICKHOUSE_ERRORS: ReadonlyMap<number, ClickHouseErrorKind> = new Map<number, ClickHouseErrorKind>([
  // Data: parsing or conversion of the inserted rows failed.
  [6, { name: 'CANNOT_PARSE_TEXT', kind: 'data' }],
  [26, { name: 'CANNOT_PARSE_QUOTED_STRING', kind: 'data' }],
  [27, { name: 'CANNOT_PARSE_INPUT_ASSERTION_FAILED', kind: 'data' }],
  [32, { name: 'ATTEMPT_TO_READ_AFTER_EOF', kind: 'data' }],
  [33, { name: 'CANNOT_READ_ALL_DATA', kind: 'data' }],
  [38, { name: 'CANNOT_PARSE_DATE', kind: 'data' }],
  [41, { name: 'CANNOT_PARSE_DATETIME', kind: 'data' }],
  [53, { name: 'TYPE_MISMATCH', kind: 'data' }],
  [69, { name: 'ARGUMENT_OUT_OF_BOUND', kind: 'data' }],
  [70, { name: 'CANNOT_CONVERT_TYPE', kind: 'data' }],
  [72, { name: 'CANNOT_PARSE_NUMBER', kind: 'data' }],
  [117, { name: 'INCORRECT_DATA', kind: 'data' }],
  [131, { name: 'TOO_LARGE_STRING_SIZE', kind: 'data' }],
  [321, { name: 'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE', kind: 'data' }],
  [349, { name: 'CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN', kind: 'data' }],

  // Transient: time-outs, overload, memory, disk, network, replication.
  [159, { name: 'TIMEOUT_EXCEEDED', kind: 'transient' }],
  [160, { name: 'TOO_SLOW', kind: 'transient' }],
  [164, { name: 'READONLY', kind: 'transient' }],
  [198, { name: 'DNS_ERROR', kind: 'transient' }],
  [201, { name: 'QUOTA_EXCEEDED', kind: 'transient' }],
  [202, { name: 'TOO_MANY_SIMULTANEOUS_QUERIES', kind: 'transient' }],
  [203, { name: 'NO_FREE_CONNECTION', kind: 'transient' }],
  [209, { name: 'SOCKET_TIMEOUT', kind: 'transient' }],
  [210, { name: 'NETWORK_ERROR', kind: 'transient' }],
  [236, { name: 'ABORTED', kind: 'transient' }],
  [241, { name: 'MEMORY_LIMIT_EXCEEDED', kind: 'transient' }],
  [242, { name: 'TABLE_IS_READ_ONLY', kind: 'transient' }],
  [243, { name: 'NOT_ENOUGH_SPACE', kind: 'transient' }],
  [
    252,
    {
      // "Too many parts (N). Merges are processing significantly slower than inserts" passes
      // once merges catch up. Current servers use the same code for an insert touching more
      // partitions than max_partitions_per_insert_block (default 100): storage/insert.ts splits
      // every insert below 100, so seeing it means the server's limit is set lower than that.
      name: 'TOO_MANY_PARTS',
      kind: 'transient',
      byMessage: {
        pattern: /too many partitions/i,
        kind: 'fatal',
        why: 'the server limits max_partitions_per_insert_block below the 100 partitions per insert staas sends; raise it to at least 100',
      },
    },
  ],
  [279, { name: 'ALL_CONNECTION_TRIES_FAILED', kind: 'transient' }],
  [285, { name: 'TOO_FEW_LIVE_REPLICAS', kind: 'transient' }],
  [319, { name: 'UNKNOWN_STATUS_OF_INSERT', kind: 'transient' }],
  [394, { name: 'QUERY_WAS_CANCELLED', kind: 'transient' }],
  [425, { name: 'SYSTEM_ERROR', kind: 'transient' }],
  [439, { name: 'CANNOT_SCHEDULE_TASK', kind: 'transient' }],
  [999, { name: 'KEEPER_EXCEPTION', kind: 'transient' }],
  [1000, { name: 'POCO_EXCEPTION', kind: 'transient' }],

  // Fatal, listed so a reader sees they were considered: the deployment, not the data.
  [16, { name: 'NO_SUCH_COLUMN_IN_TABLE', kind: 'fatal' }],
  [60, { name: 'UNKNOWN_TABLE', kind: 'fatal' }],
  [62, { name: 'SYNTAX_ERROR', kind: 'fatal' }],
  [81, { name: 'UNKNOWN_DATABASE', kind: 'fatal' }],
  [115, { name: 'UNKNOWN_SETTING', kind: 'fatal' }],
  [192, { name: 'UNKNOWN_USER', kind: 'fatal' }],
  [193, { name: 'WRONG_PASSWORD', kind: 'fatal' }],
  [497, { name: 'ACCESS_DENIED', kind: 'fatal' }],
  [516, { name: 'AUTHENTICATION_FAILED', kind: 'fatal' }],
]);

/** What an insert failure means, with the code's name and why (for logs and stop messages). */
export interface InsertErrorClass {
  kind: InsertFailure;
  /** The server's code; undefined when the server did not answer (connection refused, reset). */
  code: number | undefined;
  name: string;
  why?: string;
}

/**
 * Classifies an insert's error (an Error from @clickhouse/client, whose message carries
 * "Code: N" on 18.16 and current servers alike). Never throws.
 */
export function describeInsertError(err: unknown): InsertErrorClass {
  const code = clickhouseErrorCode(err);
  if (code === undefined) return { kind: 'transient', code, name: 'no server answer' };
  const known = CLICKHOUSE_ERRORS.get(code);
  if (known === undefined) return { kind: 'fatal', code, name: `code ${code}`, why: 'not a known transient or data error' };
  const message = typeof (err as { message?: unknown }).message === 'string' ? (err as { message: string }).message : '';
  if (known.byMessage !== undefined && known.byMessage.pattern.test(message))
    return { kind: known.byMessage.kind, code, name: known.name, why: known.byMessage.why };
  return { kind: known.kind, code, name: known.name };
}

/** `describeInsertError(err).kind`: transient (retry), data (DLQ) or fatal (stop). */
export function classifyInsertError(err: unknown): InsertFailure {
  return describeInsertError(err).kind;
}
