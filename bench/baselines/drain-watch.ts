/**
 * How a consumer baseline is timed (bench/baselines/kafka-engine.ts, sink-drain.ts): from a start
 * the caller marks, `<database>.trend_realtime` is polled until it holds every row (distinct by
 * sorting key) or stops growing; throughput (distinct rows) and the CPU of each watched process
 * count up to the last growth, so the idle wait that proves a stall is left out. CPU per million
 * is per distinct row delivered: what repeats cost counts against the consumer that repeats.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { cpuMs } from '../procs.ts';
import { stopIfInterrupted } from '../interrupt.ts';

/** What a drain stored, how fast, at what CPU per million rows (per watched process), lost and repeated. */
export interface Drained<K extends string> {
  stored: number;
  pointsPerS: number;
  /** CPU-seconds per million distinct rows stored, per watched process and in `total`. */
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
   * Polls every `pollMs` until the table holds `rows` distinct rows (by sorting key) or grew
   * nothing for `stallMs`. The row count is polled; the distinct count (a heavier statement) only
   * once the count reached `rows`, at most once a second: a consumer that repeats rows reaches
   * the count before it has every row, and stopping there counted rows still on their way as lost.
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
    const distinctRows = () => count('uniqExact(dms_id, dma_id, element_id, parameter_id, idx, ts)');
    let stored = 0;
    let distinct = 0;
    let distinctAt = -Infinity;
    let lastGrowth = started;
    let cpuAtGrowth = cpu0;
    while (distinct < rows && performance.now() - lastGrowth < stallMs) {
      await new Promise((r) => setTimeout(r, pollMs));
      stopIfInterrupted();
      const n = await count('count()');
      if (n > stored) {
        stored = n;
        lastGrowth = performance.now();
        cpuAtGrowth = cpu(cpu0);
      }
      if (stored >= rows && performance.now() - distinctAt >= 1000) {
        distinctAt = performance.now();
        distinct = await distinctRows();
      }
    }
    distinct = await distinctRows();
    const perMillion = (ms: number) => Math.round((ms / 1000 / (Math.max(1, Math.min(distinct, rows)) / 1e6)) * 100) / 100;
    const cpuSPerMillion = Object.fromEntries(names.map((k) => [k, perMillion(cpuAtGrowth[k] - cpu0[k])])) as Record<K | 'total', number>;
    cpuSPerMillion.total = Math.round(names.reduce((sum, k) => sum + cpuSPerMillion[k], 0) * 100) / 100;
    return {
      stored,
      pointsPerS: Math.round(Math.min(distinct, rows) / Math.max((lastGrowth - started) / 1000, 0.001)),
      cpuSPerMillion,
      lost: Math.max(0, rows - distinct),
      repeated: Math.max(0, stored - distinct),
    };
  }
  return { until };
}
