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
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import PQueue from 'p-queue';
import type { TableName } from '../../../storage/schema.ts';
import { describeInsertError } from '../clickhouse-errors.ts';
import { tableFeed } from '../completion.ts';
import type { SinkMetrics } from '../metrics.ts';
import type { DeadLetter } from './dead-letter.ts';
import { MessageRejected, type MessageRef, type Step } from './step.ts';
import { retainedBytes, type TableBatch } from './table-batch.ts';

/**
 * Stores one RowBinary body in `table` (resolves when ClickHouse acknowledged it; rejects with
 * ClickHouse's error). The sink passes storage/insert.ts insertRowBinary; unit tests a fake.
 */
export type StoreRows = (
  table: TableName,
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
    void this.queues[b.lane]!.add(() => this.insertWithRetry(b))
      .then(
        (stored) => {
          if (stored !== true) return;
          const feed = tableFeed(b.encoder.table, b.lane, this.lanes.count);
          for (const ref of b.refs) ref.completion.stored(feed);
        },
        (err: Error) => (this.failure ??= err),
      )
      .finally(() => {
        this.heldBytes[b.lane]! -= held;
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

  /** True when stored; false when the batch's messages went to the DLQ instead. */
  private async insertWithRetry(b: TableBatch): Promise<boolean> {
    const { lane } = b;
    const table = b.encoder.table;
    const body = b.body.views(); // streamed chunk by chunk: no concatenated copy
    this.metrics.batchRows.observe({ table }, b.rows);
    this.metrics.batchBytes.observe({ table }, b.body.length);
    let backoff = 250;
    for (let attempt = 1; ; attempt++) {
      const started = process.hrtime.bigint();
      try {
        await this.store(table, b.encoder.columns, body, `staas-sink-${randomUUID()}`, lane, b.partitionKeys?.size);
        this.metrics.insertSeconds.observe({ table }, Number(process.hrtime.bigint() - started) / 1e9);
        this.metrics.rowsInserted.inc({ table }, b.rows);
        this.lastProgressAt = Date.now();
        this.lastError = undefined;
        if (attempt > 1)
          this.log.info(`insert into ${table}${this.lanes.count > 1 ? ` (shard ${lane + 1})` : ''} succeeded after ${attempt} attempts`);
        return true;
      } catch (err) {
        const { kind, name, why } = describeInsertError(err);
        if (kind === 'transient' && !this.stopping) {
          this.lastError = (err as Error).message.split('\n')[0];
          this.metrics.insertRetries.inc({ table });
          if (attempt === 1 || attempt % 10 === 0)
            this.log.warn(
              `insert into ${table}${this.lanes.count > 1 ? ` (shard ${lane + 1})` : ''} failed (${(err as Error).message.split('\n')[0]}); retrying`,
            );
          await sleep(backoff);
          backoff = Math.min(backoff * 2, 5000);
          continue;
        }
        if (kind === 'data') {
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
