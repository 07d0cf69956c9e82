/**
 * The invalidation feed of the cache of sealed trend days (trends/day-cache.ts): every second,
 * the markers the Sink and retention leave in `trend_late_writes` (dms_id, first_day..last_day
 * UTC day numbers, dms_id -1 = every DMS; `written_at` the server's clock at insert) since the
 * last poll drop those days from the cache.
 *
 * A marker is written after its rows were stored, so a read that missed the rows began before
 * the marker was visible, and the marker reaches the cache after that read: either the read's
 * answer is already stored (the marker drops it) or it is not yet (the cache refuses it:
 * TrendDayCache generations). Markers are re-read with an overlap of `OVERLAP_S` (inserts become
 * visible in `written_at` order only roughly: a slow insert, several Sinks and shards), and
 * recognised by `marker_id`. When no poll succeeded for longer than the overlap, markers may have
 * been missed: the cache stops serving, and is emptied by the next successful poll.
 *
 * In cluster mode a marker and its rows are replicated separately, and a read through the
 * Distributed table may land on a replica that has the marker but not yet the rows (or a drop):
 * each marker is applied again `REPLAY_MS` after it was first seen, dropping what such a read
 * stored in between.
 */
import type { Sql } from '../../storage/sql.ts';
import { sql } from '../../storage/sql.ts';
import type { ClickHouseReader } from '../reader.ts';
import type { TrendDayCache } from './day-cache.ts';

/** Markers are re-read this far back (s of written_at). */
export const OVERLAP_S = 30;
/** Each marker is applied again this long after it was first seen (ms): replicas catch up within it. */
export const REPLAY_MS = 10_000;
/** The cache serves only while the last successful poll is younger than this (ms). */
export const SERVE_WITHIN_MS = 5000;

interface MarkerRow {
  dms_id: number;
  first_day: number;
  last_day: number;
  marker_id: string;
  at: number;
}

export class LateWriteFeed {
  private timer: NodeJS.Timeout | undefined;
  /**
   * The newest written_at seen (s, server clock); undefined before the first marker, when each
   * poll reads the server's last OVERLAP_S seconds.
   */
  private cursor: number | undefined;
  /** Markers already applied, by id, with their written_at (forgotten past the overlap). */
  private readonly seen = new Map<string, number>();
  private lastSuccessAt = -Infinity;
  /** Markers to apply once more, oldest first (see REPLAY_MS). */
  private readonly replays: { dmsId: number; firstDay: number; lastDay: number; dueAt: number }[] = [];
  private polling: Promise<void> | undefined;
  /** The last poll's error, for logs and readiness; undefined after a success. */
  lastError: string | undefined;

  constructor(
    private readonly reader: ClickHouseReader,
    private readonly db: Sql,
    private readonly cache: TrendDayCache,
    /** Told when polls start failing and when they recover. */
    private readonly log: { warn(msg: string): void; info(msg: string): void } = { warn: () => undefined, info: () => undefined },
    private readonly intervalMs = 1000,
  ) {}

  /** Polls now and then every `intervalMs` until `stop`. */
  start(): void {
    if (this.timer !== undefined || this.cache.maxBytes === 0) return;
    const tick = () => {
      this.polling = this.poll().finally(() => {
        this.polling = undefined;
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.intervalMs).unref();
      });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  /**
   * Resolves once a poll that began after this call succeeded: every marker visible now has
   * reached the cache (for callers that wrote late rows and read them back at once, e.g. tests).
   * Throws after `timeoutMs` (the polls fail, or the feed is stopped).
   */
  async caughtUp(timeoutMs = 10_000): Promise<void> {
    if (this.cache.maxBytes === 0 || this.timer === undefined) return;
    const since = Date.now();
    while (this.lastSuccessAt < since) {
      if (Date.now() - since > timeoutMs)
        throw new Error(
          `the late-write feed did not poll successfully within ${timeoutMs} ms${this.lastError === undefined ? '' : `: ${this.lastError}`}`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
    this.cache.servingUntil = 0;
  }

  /** One poll: applies new markers; never throws (a failure is remembered in `lastError`). */
  async poll(now = Date.now()): Promise<void> {
    const started = now;
    try {
      const since = this.cursor === undefined ? sql`now() - ${OVERLAP_S}` : sql`toDateTime(${Math.max(0, this.cursor - OVERLAP_S)})`;
      const rows = await this.reader.rows<MarkerRow>(
        sql`SELECT dms_id, first_day, last_day, marker_id, toUInt32(written_at) AS at
          FROM ${this.db}.trend_late_writes WHERE written_at >= ${since}`,
        { label: 'trend.late-writes', maxThreads: 1, freshReplicas: true },
      );
      // Gap since the last success longer than the overlap: markers may be lost, start afresh.
      if (started - this.lastSuccessAt > SERVE_WITHIN_MS) this.cache.clear();
      for (const r of rows) {
        const at = Number(r.at);
        this.cursor = Math.max(this.cursor ?? 0, at);
        if (this.seen.has(r.marker_id)) continue;
        this.seen.set(r.marker_id, at);
        const marker = { dmsId: Number(r.dms_id), firstDay: Number(r.first_day), lastDay: Number(r.last_day) };
        this.cache.invalidate(marker.dmsId, marker.firstDay, marker.lastDay);
        this.replays.push({ ...marker, dueAt: started + REPLAY_MS });
      }
      while (this.replays.length > 0 && this.replays[0]!.dueAt <= started) {
        const m = this.replays.shift()!;
        this.cache.invalidate(m.dmsId, m.firstDay, m.lastDay);
      }
      if (this.cursor !== undefined) for (const [id, at] of this.seen) if (at < this.cursor - 2 * OVERLAP_S) this.seen.delete(id);
      this.lastSuccessAt = started;
      if (this.lastError !== undefined) this.log.info('late-write polls recovered: the cache of sealed trend days serves again');
      this.lastError = undefined;
      this.cache.servingUntil = started + SERVE_WITHIN_MS;
    } catch (err) {
      const first = this.lastError === undefined;
      this.lastError = (err as Error).message.split('\n')[0];
      if (first)
        this.log.warn(
          `late-write poll failed (${this.lastError}); the cache of sealed trend days is bypassed ${SERVE_WITHIN_MS / 1000} s after the last success, until polls succeed`,
        );
    }
  }
}
