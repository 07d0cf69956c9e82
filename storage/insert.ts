/** Bulk inserts in RowBinary, the one way rows reach ClickHouse. */
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import { assertIdentifier } from './identifier.ts';
import { countPartitions, isPartitioned, MAX_PARTITIONS_PER_INSERT, partitionBodies } from './partitions.ts';
import type { InsertTable } from './schema.ts';

/**
 * Sends one RowBinary body (`INSERT ... FORMAT RowBinary` through `exec`: the client's own
 * `insert` refuses RowBinary) and waits for the server's answer. A body whose rows span more
 * than MAX_PARTITIONS_PER_INSERT partitions is sent as several inserts of whole partitions
 * (storage/partitions.ts: current servers refuse more than 100 per insert), one after the other.
 * Each request is stored whole or not at all; when a later one fails, the earlier ones stay
 * stored, and the caller's retry of the whole body stores them again, which the
 * ReplacingMergeTree tables collapse (alarm_active too, by version).
 */
export async function insertRowBinary(
  client: ClickHouseClient,
  db: string,
  table: InsertTable,
  columns: readonly string[],
  /** The rows: one buffer, or several sent one after another as one body. */
  body: Buffer | readonly Buffer[],
  /**
   * `settings`: ClickHouse settings of the insert (e.g. insert_distributed_sync for a Distributed
   * table); `partitionsAtMost`: an upper bound of the partitions the rows span, when the caller
   * knows one (the sink gathers one while transcoding trend rows): at most
   * MAX_PARTITIONS_PER_INSERT spares the walk over every row that counts them.
   */
  opts: { queryId?: string; settings?: Record<string, string | number>; partitionsAtMost?: number } = {},
): Promise<void> {
  const chunks = Buffer.isBuffer(body) ? [body] : body;
  let split = false;
  try {
    // Counted in place over the chunks (no copy of the batch), unless the bound says it fits.
    split =
      isPartitioned(table) &&
      !(opts.partitionsAtMost !== undefined && opts.partitionsAtMost <= MAX_PARTITIONS_PER_INSERT) &&
      countPartitions(table, columns, chunks) > MAX_PARTITIONS_PER_INSERT;
  } catch {
    // Not whole rows of these columns: send it as it is and let the server name the problem
    // (a data error), rather than failing here in a way the caller would retry.
  }
  // A split body is made one request at a time (partitionBodies), each sent before the next is made.
  const bodies: Iterable<Buffer | readonly Buffer[]> = split ? partitionBodies(table, columns, chunks) : [chunks];
  let i = 0;
  for (const part of bodies) {
    i++;
    const queryId = opts.queryId === undefined ? undefined : split ? `${opts.queryId}-${i}` : opts.queryId;
    const result = await client.exec({
      query: `INSERT INTO ${assertIdentifier(db)}.${table} (${columns.join(', ')}) FORMAT RowBinary`,
      values: Readable.from(Buffer.isBuffer(part) ? [part] : part),
      ...(queryId === undefined ? {} : { query_id: queryId }),
      ...(opts.settings === undefined ? {} : { clickhouse_settings: opts.settings }),
    });
    result.stream.resume();
    await finished(result.stream);
  }
}
