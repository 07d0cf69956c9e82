/**
 * Inserts table batches into ClickHouse, at most `maxInFlight` running or waiting; a full step
 * rejects, which pauses the partitions. Transient failures are retried with backoff until they
 * pass; data errors send the batch's messages to the DLQ; anything else stops the sink.
 *
 * With lanes (a cluster: one lane per shard), every batch holds the rows of one shard (TableBatches
 * splits each message's rows by shard) and each lane inserts and retries its batches on its own,
 * with its own `maxInFlight`: a shard that is down holds back only its own rows, the other shards'
 * rows keep being stored. A message is done for a table only when every shard stored its part
 * (Completion's feeds): offsets are committed only after every shard acknowledged.
 *
 * A trend batch holding rows of UTC days that had already ended is stored with late-write
 * markers (ingest/sink/late-writes.ts): inserted after its rows, through the same store and lane
 * (on a cluster the same shard, never the Distributed table, so a marker is not seen before its
 * rows), retried the same way, and the batch is stored only once they are. A crash between the
 * two leaves the messages uncommitted: they are stored and marked again.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import PQueue from 'p-queue';
import { LATE_WRITE_COLUMNS, LATE_WRITES_TABLE, lateWriteRows } from '../../../storage/late-writes.ts';
import type { InsertTable, TableName } from '../../../storage/schema.ts';
import { describeInsertError, type InsertErrorClass } from '../clickhouse-errors.ts';
import { sortTrendRows } from '../sort-trend-rows.ts';
import { tableFeed } from '../completion.ts';
import { lateWritesOf } from '../late-writes.ts';
import type { SinkMetrics } from '../metrics.ts';
import type { DeadLetter } from './dead-letter.ts';
import { MessageRejected, type MessageRef, type Step } from './step.ts';
import { retainedBytes, type TableBatch } from './table-batch.ts';

/**
 * Stores one RowBinary body in `table` (resolves when ClickHouse acknowledged it; rejects with
 * ClickHouse's error). The sink passes storage/insert.ts insertRowBinary; unit tests a fake.
 */
export type StoreRows = (
  table: InsertTable,
  columns: readonly string[],
  body: readonly Buffer[],
  queryId: string,
  /** The lane (shard) the part belongs to; 0 without lanes. */
  lane: number,
  /** At most this many partitions, when known (storage/insert.ts `partitionsAtMost`). */
  partitionsAtMost?: number,
) => Promise<void>;

/**
 * Lanes of independent inserts (a cluster's shards): `split` cuts a batch's RowBinary body into
 * one body per lane (an empty one for a lane without rows; throws RangeError for a body that is
 * not whole rows).
 */
export interface InsertLanes {
  count: number;
  /**
   * The rows of a body (chunks, rows may straddle them) per lane, and in `rowsOut` their count per
   * lane; throws RangeError when they are not whole rows.
   */
  split(table: TableName, columns: readonly string[], body: readonly Buffer[], rowsOut: number[]): Buffer[];
  /** The lane of a DMS's rows (what `split` decides per row). */
  laneOf(dmsId: number): number;
}

/** No cluster: one lane (TableBatches never splits with one lane). */
export const ONE_LANE: InsertLanes = { count: 1, split: (_t, _c, body) => [Buffer.concat(body)], laneOf: () => 0 };

export class Insert implements Step<TableBatch> {
  private readonly queues: PQueue[];
  /** Batches not yet settled in every lane. */
  private batches = 0;
  private failure: Error | undefined;
  /** Bytes held per lane. */
  private readonly heldBytes: number[];
  /** When an insert last succeeded, or work arrived while none was pending (ms since epoch). */
  private lastProgressAt = Date.now();
  private lastError: string | undefined;
  stopping = false;

  constructor(
    private readonly store: StoreRows,
    private readonly maxInFlight: number,
    private readonly deadLetter: DeadLetter,
    private readonly metrics: SinkMetrics,
    private readonly log: { info(m: string): void; warn(m: string): void },
    /** Called when an insert finishes: there may be room again. */
    private readonly onDrain: () => void,
    private readonly lanes: InsertLanes = ONE_LANE,
  ) {
    this.queues = Array.from({ length: lanes.count }, () => new PQueue({ concurrency: maxInFlight }));
    this.heldBytes = new Array<number>(lanes.count).fill(0);
  }

  /** Batches being inserted or waiting (in any lane). */
  get inFlight(): number {
    return this.batches;
  }

  /**
   * Full when every lane holds `maxInFlight` batches: a lane that is stuck (its shard down) does
   * not stop the others (`laneFull`); its waiting batches are bounded by their bytes (TableBatches'
   * share of the cap per lane) instead.
   */
  get full(): boolean {
    return this.queues.every((q) => q.size + q.pending >= this.maxInFlight);
  }

  /** Whether `lane` holds `maxInFlight` batches (its next batch is rejected). */
  laneFull(lane: number): boolean {
    const q = this.queues[lane]!;
    return q.size + q.pending >= this.maxInFlight;
  }

  /** Bytes retained by batches being inserted or waiting (allocated, not just used), of one lane or all. */
  bytes(lane?: number): number {
    if (lane !== undefined) return this.heldBytes[lane]!;
    let n = 0;
    for (const b of this.heldBytes) n += b;
    return n;
  }

  submit(b: TableBatch): void {
    if (this.laneFull(b.lane)) throw new MessageRejected('insert', this.lanes.count > 1 ? [b.lane] : undefined);
    if (this.inFlight === 0) this.lastProgressAt = Date.now();
    const held = retainedBytes(b);
    this.heldBytes[b.lane]! += held;
    this.batches++;
    let stored = false;
    void this.queues[b.lane]!.add(() => this.insertWithRetry(b))
      .then(
        (ok) => {
          if (ok !== true) return;
          stored = true;
          const feed = tableFeed(b.encoder.table, b.lane, this.lanes.count);
          for (const ref of b.refs) ref.completion.stored(feed);
        },
        (err: Error) => (this.failure ??= err),
      )
      .finally(() => {
        this.heldBytes[b.lane]! -= held;
        // Stored: ClickHouse answered after reading every byte, and no retry will send them
        // again, so the row chunks go back to the pool (counted out of heldBytes first, so that
        // the pool and the rows held stay within the cap together). Not after a refusal: the
        // DLQ path is rare, and garbage is the safe end for memory a failed request touched.
        if (stored) b.body.release();
        this.batches--;
        this.onDrain();
      });
  }

  /**
   * Why inserts look stuck: none succeeded for `boundMs` while some were waiting (ClickHouse
   * down, hanging, or refusing with transient errors). Undefined when they are moving.
   */
  stalled(boundMs: number, now = Date.now()): string | undefined {
    if (this.inFlight === 0 || now - this.lastProgressAt < boundMs) return undefined;
    const s = Math.round((now - this.lastProgressAt) / 1000);
    return `no insert succeeded for ${s} s with ${this.inFlight} waiting${this.lastError === undefined ? '' : ` (last error: ${this.lastError})`}`;
  }

  poll(): void {
    if (this.failure !== undefined) throw this.failure;
    this.deadLetter.poll();
  }

  async join(): Promise<void> {
    while (this.batches > 0) await Promise.all(this.queues.map((q) => q.onIdle()));
    await this.deadLetter.join();
    this.poll();
  }

  /**
   * True when stored (with its late-write markers); false when the batch's messages went to the
   * DLQ instead. Rejects when neither can be done (a fatal ClickHouse error, or a transient one
   * while stopping): the sink stops without committing the messages.
   */
  private async insertWithRetry(b: TableBatch): Promise<boolean> {
    const { lane } = b;
    const table = b.encoder.table;
    this.sortTrendBatch(b);
    const body = b.body.views(); // streamed chunk by chunk: no concatenated copy
    this.metrics.batchRows.observe({ table }, b.rows);
    this.metrics.batchBytes.observe({ table }, b.body.length);
    const failed = await this.untilStored(table, lane, async (queryId) => {
      const started = process.hrtime.bigint();
      await this.store(table, b.encoder.columns, body, queryId, lane, b.partitionKeys?.size);
      this.metrics.insertSeconds.observe({ table }, Number(process.hrtime.bigint() - started) / 1e9);
    });
    if (failed === undefined) {
      this.metrics.rowsInserted.inc({ table }, b.rows);
      await this.markLateWrites(b);
      return true;
    }
    const { err, kind, name, why } = failed;
    if (kind === 'data') {
      // Refused rows may still have been stored in part (an insert over more partitions than
      // one request may hold is sent as several, storage/insert.ts, and an earlier attempt may
      // have landed before a retry was refused): mark their days as if stored, so the Query
      // API never keeps a cached day that changed.
      await this.markLateWrites(b);
      // The rows are wrong for the table: dead-letter the messages that fed them (each once,
      // even if another of its tables refuses too). Each is done when its DLQ copy is
      // acknowledged and its other tables have settled (ingest/sink/completion.ts).
      const detail = (err as Error).message.split('\n')[0] ?? 'insert rejected';
      const feed = tableFeed(table, lane, this.lanes.count);
      for (const ref of b.refs) {
        if (!ref.completion.refused(feed)) continue;
        while (this.deadLetter.full) await sleep(10);
        this.deadLetter.submit({ ref, reason: 'insert-rejected', detail });
      }
      return false;
    }
    throw new Error(
      `insert into ${table} of ${describeRefs(b.refs)} failed (${name}${why === undefined ? '' : `: ${why}`}): ${(err as Error).message}`,
      { cause: err },
    );
  }

  /**
   * Puts a trend batch's rows in their table's sorting key order (ingest/sink/sort-trend-rows.ts),
   * so that ClickHouse need not sort them: cheaper here. Rows of more series than sorting pays
   * for, and rows that cannot be walked (none of our encoders writes such), are left as they are,
   * for ClickHouse to sort or refuse.
   */
  private sortTrendBatch(b: TableBatch): void {
    const table = b.encoder.table;
    if (table !== 'trend_realtime' && table !== 'trend_average') return;
    const sorted = b.body.sibling();
    let rows: number;
    try {
      rows = sortTrendRows(b.body.views(), table === 'trend_realtime' ? 'realtime' : 'average', sorted);
    } catch (err) {
      sorted.release();
      this.log.warn(`rows of ${table} left unsorted: ${(err as Error).message}`);
      return;
    }
    if (rows !== b.rows) {
      // -1: more series than sorting pays for. Another count: the bytes were not walked as they
      // were written (none of our encoders writes such): leave them as they came.
      if (rows >= 0) this.log.warn(`rows of ${table} left unsorted: found ${rows} rows, expected ${b.rows}`);
      sorted.release();
      return;
    }
    b.body.release();
    b.body = sorted;
  }

  /**
   * After a trend batch's rows were stored, or refused (then some may be stored), with
   * `Date.now()` read here, after the insert: the late-write markers its UTC days call for, if
   * any, in `b`'s lane. Rejects when they cannot be
   * stored (a failure that is not transient, or any while stopping): the sink stops, and the
   * batch's messages, not committed, are stored and marked again by whoever reads them next.
   */
  private async markLateWrites(b: TableBatch): Promise<void> {
    const table = b.encoder.table;
    if (table !== 'trend_realtime' && table !== 'trend_average') return;
    const markers = lateWritesOf(b.partitionKeys, b.dmsIds, Date.now());
    if (markers.length === 0) return;
    const body = [lateWriteRows(markers)]; // made once: a retry sends the same marker ids
    const failed = await this.untilStored(LATE_WRITES_TABLE, b.lane, (queryId) =>
      this.store(LATE_WRITES_TABLE, LATE_WRITE_COLUMNS, body, queryId, b.lane),
    );
    if (failed !== undefined) {
      const { err, name, why } = failed;
      throw new Error(
        `late-write markers of the insert into ${table} of ${describeRefs(b.refs)} failed (${name}${why === undefined ? '' : `: ${why}`}): ${(err as Error).message}`,
        { cause: err },
      );
    }
    this.metrics.lateWriteMarkers.inc({ table }, markers.length);
  }

  /**
   * Runs `insert` (given a fresh query id per attempt) until it succeeds — resolves undefined —
   * or fails in a way a retry does not mend — resolves with the error and its classification
   * (ingest/sink/clickhouse-errors.ts). Transient failures are retried with backoff (250 ms
   * doubling to 5 s), except while stopping.
   */
  private async untilStored(
    table: InsertTable,
    lane: number,
    insert: (queryId: string) => Promise<void>,
  ): Promise<(InsertErrorClass & { err: unknown }) | undefined> {
    const where = `${table}${this.lanes.count > 1 ? ` (shard ${lane + 1})` : ''}`;
    let backoff = 250;
    for (let attempt = 1; ; attempt++) {
      try {
        await insert(`staas-sink-${randomUUID()}`);
        this.lastProgressAt = Date.now();
        this.lastError = undefined;
        if (attempt > 1) this.log.info(`insert into ${where} succeeded after ${attempt} attempts`);
        return undefined;
      } catch (err) {
        const described = describeInsertError(err);
        if (described.kind !== 'transient' || this.stopping) return { ...described, err };
        this.lastError = (err as Error).message.split('\n')[0];
        this.metrics.insertRetries.inc({ table });
        if (attempt === 1 || attempt % 10 === 0) this.log.warn(`insert into ${where} failed (${this.lastError}); retrying`);
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }
}

/** "topic[p]@first..last (n messages)" per partition: which messages a failed insert held. */
export function describeRefs(refs: readonly MessageRef[]): string {
  const byPartition = new Map<string, { first: string; last: string; n: number }>();
  for (const r of refs) {
    const key = `${r.topic}[${r.partition}]`;
    const e = byPartition.get(key);
    if (e === undefined) byPartition.set(key, { first: r.offset, last: r.offset, n: 1 });
    else {
      e.last = r.offset;
      e.n++;
    }
  }
  return [...byPartition].map(([k, e]) => `${k}@${e.first === e.last ? e.first : `${e.first}..${e.last}`}`).join(', ');
}
