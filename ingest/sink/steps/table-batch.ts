/**
 * Collects encoded rows per ClickHouse table and hands a table's batch on when it reaches its
 * row count, byte size or age. Like arroyo's Reduce, it sends ready batches on *before* taking
 * a message, so a rejection downstream rejects the message without holding it twice.
 */
import type { TableName } from '../../../storage/schema.ts';
import type { TableEncoder } from '../encoders.ts';
import type { Encoded } from './decode.ts';
import { MessageRejected, type MessageRef, type Step } from './step.ts';

export interface TableBatch {
  encoder: TableEncoder<never>;
  bodies: Buffer[];
  rows: number;
  bytes: number;
  openedAt: number;
  /** The messages that fed this batch. */
  refs: MessageRef[];
}

export interface BatchLimits {
  rows: number;
  bytes: number;
  ageMs: number;
}

export class TableBatches implements Step<Encoded> {
  private readonly open = new Map<TableName, TableBatch>();

  constructor(
    private readonly limits: BatchLimits,
    private readonly next: Step<TableBatch>,
  ) {}

  /** Bytes held in open batches. */
  get bytes(): number {
    let n = 0;
    for (const b of this.open.values()) n += b.bytes;
    return n;
  }

  submit({ ref, tables }: Encoded): void {
    for (const t of tables) {
      const b = this.open.get(t.encoder.table);
      if (b !== undefined && this.ready(b, 0)) this.flush(b); // throws MessageRejected: nothing taken
    }
    ref.completion.feeds(tables.map((t) => t.encoder.table)); // none (an empty batch): done at once
    for (const t of tables) {
      let b = this.open.get(t.encoder.table);
      if (b === undefined)
        this.open.set(t.encoder.table, (b = { encoder: t.encoder, bodies: [], rows: 0, bytes: 0, openedAt: Date.now(), refs: [] }));
      b.bodies.push(t.body);
      b.rows += t.rows;
      b.bytes += t.body.length;
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
    for (const b of [...this.open.values()]) if (this.ready(b, now)) this.tryFlush(b);
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
    return b.rows >= this.limits.rows || b.bytes >= this.limits.bytes || (now > 0 && now - b.openedAt >= this.limits.ageMs);
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
