/**
 * Collects encoded rows per ClickHouse table and hands a table's batch on when it reaches its
 * row count, byte size or age. Like arroyo's Reduce, it sends ready batches on *before* taking
 * a message, so a rejection downstream rejects the message without holding it twice. It owns
 * the sink's memory bound: rows are copied into chunks the batch owns (RowChunks), and while open
 * batches and in-flight inserts retain `maxBufferedBytes`, messages are rejected (their
 * partitions pause) and poll sends the open batches on. On a cluster (Insert lanes, one per
 * shard) each message's rows are split by shard into per-shard batches, and each shard has an
 * equal share of the cap: a shard that is down stops only the messages that have rows for it.
 */
import type { TableName } from '../../../storage/schema.ts';
import { tableFeed } from '../completion.ts';
import { messageBytes } from '../detach.ts';
import type { TableEncoder, TableRows } from '../encoders.ts';
import { RowChunks, type ChunkPool } from '../row-chunks.ts';
import type { Encoded } from './decode.ts';
import { ONE_LANE, type InsertLanes } from './insert.ts';
import { MessageRejected, type MessageRef, type Step } from './step.ts';

export interface TableBatch {
  encoder: TableEncoder<never>;
  /** The Insert lane (a cluster's shard) of every row; 0 without a cluster. */
  lane: number;
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
  /**
   * The union of its parts' TableRows.partitionKeys (its partitions are at most as many; its
   * rows' UTC days, for late-write markers); undefined once a part came without them.
   */
  partitionKeys: Set<number> | undefined;
  /** The union of its parts' DMS ids (TableRows.dmsIds); undefined once a part came without them. */
  dmsIds: Set<number> | undefined;
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

/** One table's rows of a message for one lane. */
interface Part {
  encoder: TableEncoder<never>;
  lane: number;
  body: Buffer;
  rows: number;
  /** The message's partition keys for the table (a superset for one lane's share of them). */
  partitionKeys: readonly number[] | undefined;
  /** The DMS ids of the part's rows, when known. */
  dmsIds: readonly number[] | undefined;
}

export class TableBatches implements Step<Encoded> {
  /** Open batches by table and lane. */
  private readonly open = new Map<string, TableBatch>();

  constructor(
    private readonly limits: BatchLimits,
    private readonly next: Step<TableBatch>,
    /** Bytes retained downstream (the Insert step's batches) of one lane, or all with none; counted against the cap. */
    private readonly downstreamBytes: (lane?: number) => number = () => 0,
    /** A cluster's shards: each message's rows are split by lane, and each lane has its share of the cap. */
    private readonly lanes: InsertLanes = ONE_LANE,
    /** Where batches' row chunks come from (and go back to once stored, by the Insert step). */
    private readonly chunkPool?: ChunkPool,
  ) {}

  /** Bytes retained by open batches (row chunks allocated, and the messages they keep), of one lane or all. */
  bytes(lane?: number): number {
    let n = 0;
    for (const b of this.open.values()) if (lane === undefined || b.lane === lane) n += retainedBytes(b);
    return n;
  }

  /** Open batches and in-flight inserts hold the cap: messages are rejected until inserts drain. */
  get full(): boolean {
    return this.bytes() + this.downstreamBytes() >= this.limits.maxBufferedBytes;
  }

  /**
   * Whether `lane` holds less than its share of the cap (maxBufferedBytes / lanes): a shard that
   * is down stops at its share, and its partitions pause, while the others keep theirs.
   */
  laneHasRoom(lane: number): boolean {
    return this.held(lane) < this.limits.maxBufferedBytes / this.lanes.count;
  }

  submit({ ref, tables }: Encoded): void {
    const parts = this.partsOf(tables);
    for (const p of parts) {
      const b = this.open.get(batchKey(p.encoder.table, p.lane));
      if (b !== undefined && this.ready(b, 0)) this.flush(b); // throws MessageRejected: nothing taken
    }
    // Over a lane's share of the memory cap: take nothing more for it now (poll sends its open
    // batches on, and their memory is freed once stored). A lane holding nothing takes a message
    // larger than its share.
    const full = [...new Set(parts.map((p) => p.lane))].filter((l) => !this.laneHasRoom(l) && this.held(l) > 0);
    if (full.length > 0) throw new MessageRejected('memory', this.lanes.count > 1 ? full : undefined);
    ref.completion.feeds(parts.map((p) => tableFeed(p.encoder.table, p.lane, this.lanes.count))); // none (an empty batch): done at once
    for (const p of parts) {
      const key = batchKey(p.encoder.table, p.lane);
      let b = this.open.get(key);
      if (b === undefined)
        this.open.set(
          key,
          (b = {
            encoder: p.encoder,
            lane: p.lane,
            body: new RowChunks(this.chunkPool),
            rows: 0,
            messageBytes: 0,
            openedAt: Date.now(),
            refs: [],
            partitionKeys: new Set(),
            dmsIds: new Set(),
          }),
        );
      b.body.append(p.body);
      if (p.partitionKeys === undefined) b.partitionKeys = undefined;
      else if (b.partitionKeys !== undefined) for (const k of p.partitionKeys) b.partitionKeys.add(k);
      if (p.dmsIds === undefined) b.dmsIds = undefined;
      else if (b.dmsIds !== undefined) for (const d of p.dmsIds) b.dmsIds.add(d);
      b.rows += p.rows;
      if (p === parts[0]) b.messageBytes += messageBytes(ref.message);
      b.refs.push(ref);
    }
    // Full batches leave now if there is room; otherwise with the next message or poll.
    for (const p of parts) {
      const b = this.open.get(batchKey(p.encoder.table, p.lane));
      if (b !== undefined && this.ready(b, 0)) this.tryFlush(b);
    }
  }

  poll(): void {
    const now = Date.now();
    // The lanes at their share when poll began send every open batch on.
    const pressed = new Set<number>();
    for (let l = 0; l < this.lanes.count; l++) if (!this.laneHasRoom(l)) pressed.add(l);
    for (const b of [...this.open.values()]) if (pressed.has(b.lane) || this.ready(b, now)) this.tryFlush(b);
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

  /** Bytes `lane` retains here and downstream. */
  private held(lane: number): number {
    return this.bytes(lane) + this.downstreamBytes(lane);
  }

  /**
   * A message's rows per table and lane: with one lane each table's rows whole; on a cluster split
   * by shard (rows that are not whole go whole to lane 0, whose server names the problem: the DLQ).
   */
  private partsOf(tables: readonly TableRows[]): Part[] {
    const whole = (t: TableRows, lane: number): Part => ({
      encoder: t.encoder,
      lane,
      body: t.body,
      rows: t.rows,
      partitionKeys: t.partitionKeys,
      dmsIds: t.dmsIds,
    });
    if (this.lanes.count === 1) return tables.map((t) => whole(t, 0));
    const parts: Part[] = [];
    for (const t of tables) {
      // Every DMS of the message on one shard (the Writer groups partitions by shard): no split.
      const lane = t.dmsIds === undefined || t.dmsIds.length === 0 ? -1 : this.lanes.laneOf(t.dmsIds[0]!);
      if (lane >= 0 && t.dmsIds!.every((d) => this.lanes.laneOf(d) === lane)) {
        parts.push(whole(t, lane));
        continue;
      }
      const rows: number[] = [];
      let bodies: Buffer[];
      try {
        bodies = this.lanes.split(t.encoder.table, t.encoder.columns, [t.body], rows);
      } catch {
        parts.push(whole(t, 0));
        continue;
      }
      for (const [lane, body] of bodies.entries())
        if (body.length > 0)
          parts.push({
            encoder: t.encoder,
            lane,
            body,
            rows: rows[lane]!,
            partitionKeys: t.partitionKeys,
            dmsIds: t.dmsIds?.filter((d) => this.lanes.laneOf(d) === lane),
          });
    }
    return parts;
  }

  /** Full by rows or bytes; with `now`, also old enough. */
  private ready(b: TableBatch, now: number): boolean {
    return b.rows >= this.limits.rows || b.body.length >= this.limits.bytes || (now > 0 && now - b.openedAt >= this.limits.ageMs);
  }

  private flush(b: TableBatch): void {
    this.next.submit(b);
    this.open.delete(batchKey(b.encoder.table, b.lane));
  }

  private tryFlush(b: TableBatch): void {
    try {
      this.flush(b);
    } catch (err) {
      if (!(err instanceof MessageRejected)) throw err;
    }
  }
}

function batchKey(table: TableName, lane: number): string {
  return `${table}#${lane}`;
}

/** Bytes a batch retains: its row chunks as allocated, and the Kafka messages it keeps. */
export function retainedBytes(b: TableBatch): number {
  return b.body.capacity + b.messageBytes;
}
