/**
 * Sends the spool to Kafka, oldest entry first, at most `bytesPerSecond` (a long backlog never
 * floods Kafka or the network), backing off while Kafka does not take it; returns when the spool
 * is empty (the Writer then sends live again) or when stopped.
 */
import type { Spool, SpoolEntry } from './spool.ts';

export interface DrainDeps {
  spool: Spool;
  /** As Delivery.deliver: resolves when Kafka has the entry (or set it aside), rejects on a transient failure. */
  deliver(entry: SpoolEntry): Promise<void>;
  /** Called before each send: e.g. learn partition counts once Kafka answers. */
  beforeSend(): Promise<void>;
  bytesPerSecond: number;
  stopped(): boolean;
  /** An entry left the spool. */
  advanced(): void;
  log: { info(msg: string): void; warn(msg: string): void };
}

export class Drain {
  private credit = 0;
  private creditAt = Date.now();
  private wake: (() => void) | undefined;

  constructor(private readonly deps: DrainDeps) {}

  /** Ends a back-off or pacing sleep early (close() must not wait out a 10 s back-off). */
  interrupt(): void {
    this.wake?.();
  }

  /** Runs until the spool is empty (true) or the drain was stopped (false). */
  async run(): Promise<boolean> {
    const { spool } = this.deps;
    let backoff = 250;
    while (!this.deps.stopped()) {
      try {
        // Reading the spool can fail too (EIO, EMFILE, a full disk for the cursor): it is tried
        // again like a send, never ends the drain.
        const entry = spool.peek();
        if (entry === undefined) return true;
        await this.pace(entry.value.length);
        await this.deps.beforeSend();
        await this.deps.deliver(entry);
        spool.advance();
        backoff = 250;
        this.deps.advanced();
      } catch (err) {
        if (backoff >= 4000) this.deps.log.warn(`the spool does not drain (${(err as Error).message}); it holds ${spool.bytes} bytes`);
        // Not unref'd: a writer with a backlog to deliver keeps the process alive until close().
        await this.sleep(backoff, false);
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
    return false;
  }

  /** Waits `ms` (ended early by `interrupt`). */
  pause(ms: number): Promise<void> {
    return this.sleep(ms, false);
  }

  /** Token bucket: waits until `bytes` fit in the rate. */
  private async pace(bytes: number): Promise<void> {
    const now = Date.now();
    const rate = this.deps.bytesPerSecond;
    this.credit = Math.min(rate, this.credit + ((now - this.creditAt) / 1000) * rate);
    this.creditAt = now;
    this.credit -= bytes;
    if (this.credit < 0) await this.sleep((-this.credit / rate) * 1000, true);
  }

  private sleep(ms: number, unref: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      if (unref) timer.unref();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    }).finally(() => (this.wake = undefined));
  }
}
