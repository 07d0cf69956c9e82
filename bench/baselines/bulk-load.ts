/**
 * The ceiling: ClickHouse's own bulk load of the baseline rows (RowBinary over HTTP, one INSERT
 * per million rows, nothing else running on our side). What no pipeline in front of ClickHouse
 * can beat on this machine.
 */
import { createClickHouse } from '../../storage/client.ts';
import type { ClickHouseConnection } from '../../config/connections.ts';
import { cleanUpAtEnd } from '../interrupt.ts';
import { cpuMs } from '../procs.ts';
import { BASELINE_DB, countRows, freshTable, rowBinary } from './rows.ts';

export interface BulkLoadResult {
  rows: number;
  pointsPerS: number;
  /** ClickHouse server CPU-seconds per million rows. */
  clickhouseCpuSPerMillion: number;
}

/** Loads `rows` rows (encoded beforehand, not timed) and times the inserts; `clickhousePid` for its CPU. */
export async function bulkLoad(conn: ClickHouseConnection, rows: number, clickhousePid: number): Promise<BulkLoadResult> {
  const client = createClickHouse(conn);
  // Ctrl-C ends the process without running `finally`: the table would stay.
  const end = cleanUpAtEnd(async () => {
    await client.command({ query: `DROP DATABASE IF EXISTS ${BASELINE_DB}` }).catch(() => undefined);
    await client.close();
  });
  try {
    await freshTable(client);
    const chunk = 1_000_000;
    const bodies: Buffer[] = [];
    for (let from = 0; from < rows; from += chunk) bodies.push(rowBinary(from, Math.min(rows, from + chunk)));
    const url = new URL(conn.url);
    url.searchParams.set('query', `INSERT INTO ${BASELINE_DB}.trend_realtime FORMAT RowBinary`);
    const auth = `Basic ${Buffer.from(`${conn.username}:${conn.password}`).toString('base64')}`;
    const cpu0 = cpuMs(clickhousePid) ?? 0;
    const started = performance.now();
    for (const body of bodies) {
      const res = await fetch(url, { method: 'POST', body, headers: { authorization: auth } });
      if (!res.ok) throw new Error(`bulk load: ClickHouse answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    }
    const seconds = (performance.now() - started) / 1000;
    const cpuS = ((cpuMs(clickhousePid) ?? cpu0) - cpu0) / 1000;
    const stored = await countRows(client);
    if (stored !== rows) throw new Error(`bulk load: ${stored} rows stored of ${rows}`);
    return { rows, pointsPerS: Math.round(rows / seconds), clickhouseCpuSPerMillion: Math.round((cpuS / (rows / 1e6)) * 100) / 100 };
  } finally {
    await end();
  }
}
