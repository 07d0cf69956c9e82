/**
 * How a consumer baseline is timed (bench/baselines/kafka-engine.ts, sink-drain.ts): from a start
 * the caller marks, the row count of `<database>.trend_realtime` is polled until it holds every
 * row or stops growing; throughput and the CPU of each watched process count up to the last
 * growth, so the idle wait that proves a stall is left out.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { cpuMs } from '../procs.ts';

/** What a drain stored, how fast, at what CPU per million rows (per watched process), lost and repeated. */
export interface Drained<K extends string> {
  stored: number;
  pointsPerS: number;
  /** CPU-seconds per million rows stored, per watched process and in `total`. */
  cpuSPerMillion: Record<K | 'total', number>;
  /** Rows of the expected ones never seen, and rows seen more than once (by sorting key). */
  lost: number;
  repeated: number;
}

/** A drain timed from now: `until` watches it; the CPU of `pids` counts from this call. */
export function drainWatch<K extends string>(pids: Record<K, number>): { until: typeof until } {
  const names = Object.keys(pids) as K[];
  const cpu = (fallback?: Record<K, number>) =>
    Object.fromEntries(names.map((k) => [k, cpuMs(pids[k]) ?? fallback?.[k] ?? 0])) as Record<K, number>;
  const cpu0 = cpu();
  const started = performance.now();
  /**
   * Polls every `pollMs` until the table holds `rows` rows or grew nothing for `stallMs`.
   */
  async function until(client: ClickHouseClient, database: string, rows: number, pollMs: number, stallMs = 30_000): Promise<Drained<K>> {
    const count = async (expr: string) =>
      Number(
        (
          await (
            await client.query({ query: `SELECT ${expr} AS n FROM ${database}.trend_realtime`, format: 'JSONEachRow' })
          ).json<{ n: string }>()
        )[0]?.n ?? 0,
      );
    let stored = 0;
    let lastGrowth = started;
    let cpuAtGrowth = cpu0;
    while (stored < rows && performance.now() - lastGrowth < stallMs) {
      await new Promise((r) => setTimeout(r, pollMs));
      const n = await count('count()');
      if (n > stored) {
        stored = n;
        lastGrowth = performance.now();
        cpuAtGrowth = cpu(cpu0);
      }
    }
    const perMillion = (ms: number) => Math.round((ms / 1000 / (Math.max(1, stored) / 1e6)) * 100) / 100;
    const cpuSPerMillion = Object.fromEntries(names.map((k) => [k, perMillion(cpuAtGrowth[k] - cpu0[k])])) as Record<K | 'total', number>;
    cpuSPerMillion.total = Math.round(names.reduce((sum, k) => sum + cpuSPerMillion[k], 0) * 100) / 100;
    const distinct = await count('uniqExact(dms_id, dma_id, element_id, parameter_id, idx, ts)');
    return {
      stored,
      pointsPerS: Math.round(Math.min(stored, rows) / Math.max((lastGrowth - started) / 1000, 0.001)),
      cpuSPerMillion,
      lost: Math.max(0, rows - distinct),
      repeated: Math.max(0, stored - distinct),
    };
  }
  return { until };
}
