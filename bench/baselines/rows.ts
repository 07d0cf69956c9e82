/**
 * The rows every baseline loads: bench/points.ts's trend points (4 agents × 1,000 elements × 20
 * parameters, one in ten a table cell), as trend_realtime rows in a scratch database of the
 * staas schema — as JSON (one object per point) and as RowBinary in the table's column order.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { RowBinaryWriter } from '../../storage/rowbinary-writer.ts';
import { ddl } from '../../storage/schema.ts';
import { benchPoint } from '../points.ts';

/** The scratch database the baselines load into (dropped and created by `freshTable`). */
export const BASELINE_DB = 'staas_baseline';

/** Drops and creates `staas_baseline.trend_realtime` (the staas DDL, so the same engine and key). */
export async function freshTable(client: ClickHouseClient): Promise<void> {
  await client.command({ query: `DROP DATABASE IF EXISTS ${BASELINE_DB}` });
  await client.command({ query: `CREATE DATABASE ${BASELINE_DB}` });
  await client.command({ query: ddl(BASELINE_DB).trend_realtime });
}

/** Rows in the scratch table (duplicates included: nothing has merged them yet). */
export async function countRows(client: ClickHouseClient): Promise<number> {
  const rs = await client.query({ query: `SELECT count() AS n FROM ${BASELINE_DB}.trend_realtime`, format: 'JSONEachRow' });
  const [row] = await rs.json<{ n: string | number }>();
  return Number(row?.n ?? 0);
}

/** Point `i` as a JSONEachRow line of trend_realtime. */
export function jsonRow(i: number): string {
  const p = benchPoint(i);
  return JSON.stringify({
    dms_id: p.dmsId,
    dma_id: p.dmaId,
    element_id: p.elementId,
    parameter_id: p.parameterId,
    idx: p.index ?? '',
    ts: p.timestamp,
    value: p.value ?? null,
    value_discrete: '',
    status: 0,
  });
}

/** Points [from, to) as RowBinary rows of trend_realtime. */
export function rowBinary(from: number, to: number): Buffer {
  const w = new RowBinaryWriter(64 * (to - from));
  for (let i = from; i < to; i++) {
    const p = benchPoint(i);
    w.int32(p.dmsId);
    w.int32(p.dmaId);
    w.int32(p.elementId);
    w.int32(p.parameterId);
    w.string(p.index ?? '');
    w.uint64(p.timestamp);
    w.nullableFloat64(p.value ?? null);
    w.string('');
    w.int16(0);
  }
  return w.result();
}
