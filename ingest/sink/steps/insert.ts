/**
 * Inserts table batches into ClickHouse, at most `maxInFlight` running or waiting; a full step
 * rejects, which pauses the partitions. Transient failures are retried with backoff until they
 * pass; data errors send the batch's messages to the DLQ; anything else stops the sink.
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
export type StoreRows = (table: TableName, columns: readonly string[], body: readonly Buffer[], queryId: string) => Promise<void>;

export class Insert implements Step<TableBatch> {
  private readonly queue: PQueue;
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
  ) {
    this.queue = new PQueue({ concurrency: maxInFlight });
  }

  /** Inserts running or waiting. */
  get inFlight(): number {
    return this.queue.size + this.queue.pending;
  }

  get full(): boolean {
    return this.inFlight >= this.maxInFlight;
  }

  /** Bytes retained by batches being inserted or waiting (allocated, not just used). */
  get bytes(): number {
    return this.heldBytes;
  }

  submit(b: TableBatch): void {
    if (this.full) throw new MessageRejected('insert');
    if (this.inFlight === 0) this.lastProgressAt = Date.now();
    const held = retainedBytes(b);
    this.heldBytes += held;
    void this.queue
      .add(() => this.insertWithRetry(b))
      .then(
        (stored) => {
          if (stored) for (const ref of b.refs) ref.completion.stored(b.encoder.table);
        },
        (err: Error) => (this.failure ??= err),
      )
      .finally(() => {
        this.heldBytes -= held;
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
    await this.queue.onIdle();
    await this.deadLetter.join();
    this.poll();
  }

  /** True when stored; false when the batch went to the DLQ instead. */
  private async insertWithRetry(b: TableBatch): Promise<boolean> {
    const table = b.encoder.table;
    const body = b.body.views(); // streamed chunk by chunk: no concatenated copy
    this.metrics.batchRows.observe({ table }, b.rows);
    this.metrics.batchBytes.observe({ table }, b.body.length);
    let backoff = 250;
    for (let attempt = 1; ; attempt++) {
      const started = process.hrtime.bigint();
      try {
        await this.store(table, b.encoder.columns, body, `staas-sink-${randomUUID()}`);
        this.metrics.insertSeconds.observe({ table }, Number(process.hrtime.bigint() - started) / 1e9);
        this.metrics.rowsInserted.inc({ table }, b.rows);
        this.lastProgressAt = Date.now();
        this.lastError = undefined;
        if (attempt > 1) this.log.info(`insert into ${table} succeeded after ${attempt} attempts`);
        return true;
      } catch (err) {
        const { kind, name, why } = describeInsertError(err);
        if (kind === 'transient' && !this.stopping) {
          this.lastError = (err as Error).message.split('\n')[0];
          this.metrics.insertRetries.inc({ table });
          if (attempt === 1 || attempt % 10 === 0)
            this.log.warn(`insert into ${table} failed (${(err as Error).message.split('\n')[0]}); retrying`);
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
