/**
 * The Writer's ordered outbox: sealed batches wait here, one FIFO lane per topic partition (so
 * per element, whose records all map to one partition), until Kafka has them or the spool does.
 *
 * LIVE: each lane sends its head, one batch at a time per lane and at most `maxInFlight` over
 * all lanes; a lane's next batch leaves only after its head was acknowledged. SPOOLING (entered
 * when a send fails for a transient reason): every lane that is not waiting for an answer moves
 * its batches, head first, to the end of the disk spool, which a drain sends in order; a lane
 * waiting for an answer keeps its batches until the answer comes (a failed head is spooled
 * before its followers). The spool is therefore the same queue continued on disk: no switch of
 * mode can reorder a partition. Back to LIVE when the drain has emptied the spool.
 *
 * A spool append that fails (ENOSPC, EFBIG, EIO) leaves the batch, and every later batch of its
 * lane, in memory; appends are tried again every second. Memory then grows, and the Writer holds
 * its callers back on `memoryBytes`.
 */
import type { Spool } from './spool.ts';
import type { SealedBatch } from './sealed-batch.ts';

export interface OutboxOptions {
  maxInFlight: number;
  /** At this many spooled bytes: 'drop' discards batches bound for the spool (counted), 'block' spools on (callers are held back by the Writer). */
  spoolMaxBytes: number;
  onFull: 'block' | 'drop';
  /** How often a failed spool append is tried again (ms). */
  spoolRetryMs?: number;
}

export interface OutboxEvents {
  /** Sends one batch; resolves once Kafka has it (or it was set aside for good), rejects on a transient failure. */
  deliver(batch: SealedBatch): Promise<void>;
  /** A send failed for a transient reason: the drain must run. */
  spooling(reason: unknown): void;
  spooled(batch: SealedBatch): void;
  dropped(batch: SealedBatch): void;
  spoolFailed(err: unknown): void;
  /** Something moved (memory freed, mode changed): waiters may go on. */
  progress(): void;
}

interface Lane {
  queue: SealedBatch[];
  /** A send of the head is in flight. */
  busy: boolean;
}

export class Outbox {
  private modeNow: 'live' | 'spooling' = 'live';
  private readonly lanes = new Map<string, Lane>();
  /** Lanes with batches to send, in the order they became ready (round robin under maxInFlight). */
  private readonly ready = new Set<Lane>();
  private memory = 0;
  private inFlight = 0;
  private spoolError: unknown;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly spool: Spool,
    private readonly opts: OutboxOptions,
    private readonly events: OutboxEvents,
  ) {}

  get mode(): 'live' | 'spooling' {
    return this.modeNow;
  }

  /** Bytes of sealed batches waiting here (sending included). */
  get memoryBytes(): number {
    return this.memory;
  }

  /** The last spool append error while batches still wait for the spool; undefined when none. */
  get spoolFailure(): unknown {
    return this.spoolError;
  }

  /** Whether every batch has left (to Kafka or the spool) and no send is in flight. */
  get empty(): boolean {
    return this.memory === 0 && this.inFlight === 0;
  }

  push(batch: SealedBatch): void {
    const key = `${batch.topic}\u0000${batch.partition}`;
    let lane = this.lanes.get(key);
    if (lane === undefined) this.lanes.set(key, (lane = { queue: [], busy: false }));
    lane.queue.push(batch);
    this.memory += batch.value.length;
    if (!lane.busy) this.ready.add(lane);
    this.pump();
  }

  /** From now on batches go to the spool (called on a failed send, or at start with a spool to drain). */
  enterSpooling(): void {
    this.modeNow = 'spooling';
    this.pump();
  }

  /** The spool is empty: send live again (batches a failed append kept in memory go first, in order). */
  resumeLive(): void {
    this.modeNow = 'live';
    this.spoolError = undefined;
    for (const lane of this.lanes.values()) if (!lane.busy && lane.queue.length > 0) this.ready.add(lane);
    this.pump();
  }

  /** Stops the append retry timer; nothing moves after this (the spool is about to close). */
  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
  }

  private pump(): void {
    if (this.closed) return;
    if (this.modeNow === 'spooling') {
      for (const lane of this.lanes.values()) if (!lane.busy && lane.queue.length > 0 && !this.toSpool(lane)) break;
      this.ready.clear();
    } else {
      for (const lane of this.ready) {
        if (this.inFlight >= this.opts.maxInFlight) break;
        this.ready.delete(lane);
        if (!lane.busy && lane.queue.length > 0) this.send(lane);
      }
    }
    this.events.progress();
  }

  private send(lane: Lane): void {
    const batch = lane.queue[0]!;
    lane.busy = true;
    this.inFlight++;
    let failure: { err: unknown } | undefined;
    this.events
      .deliver(batch)
      .then(
        () => {
          lane.queue.shift();
          this.memory -= batch.value.length;
        },
        (err: unknown) => {
          // The batch stays at the head of its lane: it is spooled before its followers.
          if (this.modeNow === 'live') failure = { err };
          this.modeNow = 'spooling';
        },
      )
      .finally(() => {
        lane.busy = false;
        this.inFlight--;
        if (lane.queue.length > 0) this.ready.add(lane);
        this.pump();
        // Announced once the failed batch is in the spool (or held, if the spool refused it), so
        // the drain that starts now finds it there.
        if (failure !== undefined) this.events.spooling(failure.err);
      });
  }

  /** Moves a lane's batches to the spool in order; false when an append failed (retried later). */
  private toSpool(lane: Lane): boolean {
    while (lane.queue.length > 0) {
      const batch = lane.queue[0]!;
      if (this.opts.onFull === 'drop' && this.spool.bytes >= this.opts.spoolMaxBytes) {
        this.events.dropped(batch);
      } else {
        try {
          this.spool.append(batch);
        } catch (err) {
          if (this.spoolError === undefined) this.events.spoolFailed(err);
          this.spoolError = err;
          this.retryTimer ??= setTimeout(() => {
            this.retryTimer = undefined;
            this.pump();
          }, this.opts.spoolRetryMs ?? 1000).unref();
          return false;
        }
        this.spoolError = undefined;
        this.events.spooled(batch);
      }
      lane.queue.shift();
      this.memory -= batch.value.length;
    }
    return true;
  }
}
