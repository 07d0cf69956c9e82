/**
 * ClickHouse's liveness as /health reports it, also while the sink is idle: one `/ping` request
 * every `intervalMs` (at most one at a time), each given at most `intervalMs` or 5 s. Inserts
 * notice a ClickHouse that is down only when some are waiting; this notices it when none are.
 */
import type { ClickHouseClient } from '@clickhouse/client';

export class ClickHousePing {
  private timer: NodeJS.Timeout | undefined;
  private pinging = false;
  private down: { since: number; error: string } | undefined;

  constructor(
    private readonly ch: ClickHouseClient,
    private readonly intervalMs: number,
    private readonly log: { info(m: string): void; warn(m: string): void },
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.ping(), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** While the last ping failed: "ClickHouse unreachable for N s: why" (for /health); else undefined. */
  reason(now = Date.now()): string | undefined {
    if (this.down === undefined) return undefined;
    return `ClickHouse unreachable for ${Math.round((now - this.down.since) / 1000)} s: ${this.down.error}`;
  }

  /** One ping; logs the first failure of a streak and the recovery. Never throws. */
  async ping(): Promise<void> {
    if (this.pinging) return;
    this.pinging = true;
    const timeoutMs = Math.min(5000, this.intervalMs);
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const r = await this.ch.ping({ select: false, abort_signal: signal });
      if (!r.success) throw r.error;
      if (this.down !== undefined) this.log.info('ClickHouse answers again');
      this.down = undefined;
    } catch (err) {
      const error = signal.aborted ? `no answer to a ping within ${timeoutMs} ms` : (err as Error).message;
      if (this.down === undefined) this.log.warn(`ClickHouse is unreachable: ${error}`);
      this.down = { since: this.down?.since ?? Date.now(), error };
    } finally {
      this.pinging = false;
    }
  }
}
