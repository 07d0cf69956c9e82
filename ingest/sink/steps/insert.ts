/**
 * Inserts table batches into ClickHouse, at most `maxInFlight` running or waiting; a full step
 * rejects, which pauses the partitions. Transient failures are retried with backoff until they
 * pass; data errors send the batch's messages to the DLQ; anything else stops the sink.
 *
 * With lanes (a cluster: one lane per shard), each batch is split into one part per lane and
 * every lane inserts and retries its parts on its own, so a shard that is down holds back only
 * its own rows: the other shards' rows keep being stored while the stuck lane's parts wait (in
 * memory, counted in `bytes`, so STAAS_SINK_MAX_BUFFERED_BYTES bounds them and then pauses the
 * partitions). A batch's messages are stored for a table only when every part is: offsets are
 * committed only after every shard acknowledged.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import PQueue from 'p-queue';
import type { TableName } from '../../../storage/schema.ts';
import { describeInsertError } from '../clickhouse-errors.ts';
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
) => Promise<void>;

/**
 * Lanes of independent inserts (a cluster's shards): `split` cuts a batch's RowBinary body into
 * one body per lane (an empty one for a lane without rows; throws RangeError for a body that is
 * not whole rows).
 */
export interface InsertLanes {
  count: number;
  /** The rows of a batch's body (its chunks, rows may straddle them) per lane; throws RangeError when they are not whole rows. */
  split(table: TableName, columns: readonly string[], body: readonly Buffer[]): Buffer[];
}

const ONE_LANE: InsertLanes = { count: 1, split: (_t, _c, body) => [Buffer.concat(body)] };

export class Insert implements Step<TableBatch> {
  private readonly queues: PQueue[];
  /** Batches not yet settled in every lane. */
  private batches = 0;
  private failure: Error | undefined;
  private heldBytes = 0;
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
  }

  /** Batches being inserted or waiting (in any lane). */
  get inFlight(): number {
    return this.batches;
  }

  /**
   * Full when every lane holds `maxInFlight` parts: a lane that is stuck (its shard down) does not
   * stop the others; its waiting parts are bounded by their bytes (TableBatches' cap) instead.
   */
  get full(): boolean {
    return this.queues.every((q) => q.size + q.pending >= this.maxInFlight);
  }

  /** Bytes retained by batches being inserted or waiting (allocated, not just used). */
  get bytes(): number {
    return this.heldBytes;
  }

  submit(b: TableBatch): void {
    if (this.full) throw new MessageRejected('insert');
    if (this.inFlight === 0) this.lastProgressAt = Date.now();
    const parts = this.partsOf(b);
    // The split copies are held until every part settled, like the batch itself.
    let held = retainedBytes(b);
    for (const p of parts) if (p.copied) held += p.body[0]!.length;
    this.heldBytes += held;
    this.batches++;
    void Promise.all(parts.map((p) => this.queues[p.lane]!.add(() => this.insertWithRetry(b, p.body, p.lane))))
      .then(
        (stored) => {
          if (!stored.every((s) => s)) return;
          if (this.lanes.count > 1) this.metrics.rowsInserted.inc({ table: b.encoder.table }, b.rows);
          for (const ref of b.refs) ref.completion.stored(b.encoder.table);
        },
        (err: Error) => (this.failure ??= err),
      )
      .finally(() => {
        this.heldBytes -= held;
        this.batches--;
        this.onDrain();
      });
  }

  /** The batch's body per lane (lanes without rows left out); `copied`: a split's own buffer. */
  private partsOf(b: TableBatch): { lane: number; body: Buffer[]; copied: boolean }[] {
    const views = b.body.views(); // streamed chunk by chunk: no concatenated copy
    if (this.lanes.count === 1) return [{ lane: 0, body: views, copied: false }];
    let bodies: Buffer[];
    try {
      bodies = this.lanes.split(b.encoder.table, b.encoder.columns, views); // walks the chunks in place
    } catch {
      // Not whole rows: lane 0's server names the problem (a data error: the DLQ).
      return [{ lane: 0, body: views, copied: false }];
    }
    return bodies.flatMap((body, lane) =>
      body.length === 0 ? [] : [{ lane, body: [body], copied: views.length !== 1 || body !== views[0] }],
    );
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
  private async insertWithRetry(b: TableBatch, body: readonly Buffer[], lane: number): Promise<boolean> {
    const table = b.encoder.table;
    if (lane === 0) {
      this.metrics.batchRows.observe({ table }, b.rows);
      this.metrics.batchBytes.observe({ table }, b.body.length);
    }
    const rows = this.lanes.count === 1 ? b.rows : undefined;
    let backoff = 250;
    for (let attempt = 1; ; attempt++) {
      const started = process.hrtime.bigint();
      try {
        await this.store(table, b.encoder.columns, body, `staas-sink-${randomUUID()}`, lane);
        this.metrics.insertSeconds.observe({ table }, Number(process.hrtime.bigint() - started) / 1e9);
        // Split batches count their rows once, when the last part is stored (see submit).
        if (rows !== undefined) this.metrics.rowsInserted.inc({ table }, rows);
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
          for (const ref of b.refs) {
            if (!ref.completion.refused(table)) continue;
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
