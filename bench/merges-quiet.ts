/**
 * Waiting for ClickHouse to finish merging before a measurement: a merge of data stored earlier
 * (a day partition of the stack's own database can take minutes) would take cores from the run
 * and, in the end-to-end benchmark, count in ClickHouse's CPU.
 */
import type { ClickHouseClient } from '@clickhouse/client';

/**
 * Polls `system.merges` (every database) every 2 s until no merge runs or `limitS` seconds passed;
 * `say` is called once when it has to wait. Returns how many merges were still running (0 when
 * quiet). Throws what the client throws (ClickHouse unreachable).
 */
export async function waitMergesDone(ch: ClickHouseClient, limitS: number, say: (line: string) => void): Promise<number> {
  const deadline = Date.now() + limitS * 1000;
  for (let said = false; ; ) {
    const rs = await ch.query({ query: 'SELECT count() AS n FROM system.merges', format: 'JSONEachRow' });
    const n = Number((await rs.json<{ n: string | number }>())[0]?.n ?? 0);
    if (n === 0 || Date.now() > deadline) return n;
    if (!said) say(`ClickHouse is merging ${n} part set(s) of earlier data: waiting (at most ${limitS} s)`);
    said = true;
    await new Promise((r) => setTimeout(r, 2000));
  }
}
