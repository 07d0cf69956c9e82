/**
 * Collects encoded rows per ClickHouse table and hands a table's batch on when it reaches its
 * row count, byte size or age. Like arroyo's Reduce, it sends ready batches on *before* taking
 * a message, so a rejection downstream rejects the message without holding it twice. It owns
 * the sink's memory bound: rows are copied into chunks the batch owns (RowChunks), and while open
 * batches and in-flight inserts retain `maxBufferedBytes`, messages are rejected (their
 * partitions pause) and poll sends the open batches on.
 */
import type { TableName } from '../../../storage/schema.ts';
import type { TableEncoder } from '../encoders.ts';
import { RowChunks } from '../row-chunks.ts';
import type { Encoded } from './decode.ts';
import { MessageRejected, type MessageRef, type Step } from './step.ts';

export interface TableBatch {
  encoder: TableEncoder<never>;
  /** The rows, copied in from each message (the batch's own memory). */
  body: RowChunks;
  rows: number;
  /**
   * Bytes of the Kafka messages this batch keeps alive through `refs` (a message's value stays
   * until it is done: an insert refused as bad data dead-letters the original). Counted once, in
   * the first table a message feeds.
   */
  messageBytes: number;
  openedAt: number;
  /** The messages that fed this batch. */
  refs: MessageRef[];
}

export interface BatchLimits {
  rows: number;
  /** RowBinary bytes of one batch. */
  bytes: number;
  ageMs: number;
  /**
   * Bytes retained by open batches and in-flight inserts together (what RowChunks allocated):
   * at this cap a message is rejected, which pauses its partition until inserts drain.
   */
  maxBufferedBytes: number;
}

export class TableBatches implements Step<Encoded> {
  private readonly open = new Map<TableName, TableBatch>();

  constructor(
    private readonly limits: BatchLimits,
    private readonly next: Step<TableBatch>,
    /** Bytes retained downstream (the Insert step's batches), counted against the cap. */
    private readonly downstreamBytes: () => number = () => 0,
  ) {}

  /** Bytes retained by open batches (row chunks allocated, and the messages they keep). */
  get bytes(): number {
    let n = 0;
    for (const b of this.open.values()) n += retainedBytes(b);
    return n;
  }

  /** Open batches and in-flight inserts hold the cap: messages are rejected until inserts drain. */
  get full(): boolean {
    return this.bytes + this.downstreamBytes() >= this.limits.maxBufferedBytes;
  }

  submit({ ref, tables }: Encoded): void {
    for (const t of tables) {
      const b = this.open.get(t.encoder.table);
      if (b !== undefined && this.ready(b, 0)) this.flush(b); // throws MessageRejected: nothing taken
    }
    // Over the memory cap: take nothing more for now (poll sends the open batches on, and their
    // memory is freed once stored). With nothing held at all, a message larger than the cap passes.
    if (this.full && (this.open.size > 0 || this.downstreamBytes() > 0)) throw new MessageRejected('memory');
    ref.completion.feeds(tables.map((t) => t.encoder.table)); // none (an empty batch): done at once
    for (const t of tables) {
      let b = this.open.get(t.encoder.table);
      if (b === undefined)
        this.open.set(
          t.encoder.table,
          (b = { encoder: t.encoder, body: new RowChunks(), rows: 0, messageBytes: 0, openedAt: Date.now(), refs: [] }),
        );
      b.body.append(t.body);
      b.rows += t.rows;
      if (t === tables[0]) b.messageBytes += messageBytes(ref);
      b.refs.push(ref);
    }
    // Full batches leave now if there is room; otherwise with the next message or poll.
    for (const t of tables) {
      const b = this.open.get(t.encoder.table);
      if (b !== undefined && this.ready(b, 0)) this.tryFlush(b);
    }
  }

  poll(): void {
    const now = Date.now();
    const full = this.full;
    for (const b of [...this.open.values()]) if (full || this.ready(b, now)) this.tryFlush(b);
    this.next.poll();
  }

  async join(): Promise<void> {
    for (const b of [...this.open.values()]) {
      for (;;) {
        try {
          this.flush(b);
          break;
        } catch (err) {
          if (!(err instanceof MessageRejected)) throw err;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    }
    await this.next.join();
  }

  /** Full by rows or bytes; with `now`, also old enough. */
  private ready(b: TableBatch, now: number): boolean {
    return b.rows >= this.limits.rows || b.body.length >= this.limits.bytes || (now > 0 && now - b.openedAt >= this.limits.ageMs);
  }

  private flush(b: TableBatch): void {
    this.next.submit(b);
    this.open.delete(b.encoder.table);
  }

  private tryFlush(b: TableBatch): void {
    try {
      this.flush(b);
    } catch (err) {
      if (!(err instanceof MessageRejected)) throw err;
    }
  }
}

/** Bytes a batch retains: its row chunks as allocated, and the Kafka messages it keeps. */
export function retainedBytes(b: TableBatch): number {
  return b.body.capacity + b.messageBytes;
}

/** A consumed message's bytes (value, key, headers) plus ~200 bytes of objects around them. */
function messageBytes(ref: MessageRef): number {
  const m = ref.message;
  let n = 200 + (m.value?.length ?? 0) + (m.key?.length ?? 0);
  for (const [k, v] of Object.entries(m.headers ?? {})) n += k.length + (Buffer.isBuffer(v) ? v.length : String(v).length);
  return n;
}
