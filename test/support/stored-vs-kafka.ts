/**
 * What Kafka holds against what ClickHouse stored: per table, the number of distinct natural keys
 * (a record delivered twice counts once, as ReplacingMergeTree collapses it under FINAL), and for
 * the trend tables exact checksums: the sum of timestamps and of trunc(value × 1000), both as
 * 64-bit integers so that the order of addition cannot change them.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Kafka } from 'kafkajs';
import type { Topics } from '../../ingest/kafka/topics.ts';
import type { AlarmEvent, ElementRow, TrendPoint } from '../../schemas/records.ts';
import { queryRows, readAllRecords, type Int64Json } from './services.ts';

export interface TableFigures {
  /** Distinct natural keys. */
  rows: number;
  /** Sum of `ts` (epoch ms) over those rows; 0 for tables without the checksum. */
  tsSum: bigint;
  /** Sum of trunc(value × 1000) over rows with a numeric value; 0 for tables without it. */
  valueSum: bigint;
}

export type StoredFigures = Record<'trend_realtime' | 'trend_average' | 'alarm_events' | 'element_rows', TableFigures>;

function figures<T>(records: T[], key: (r: T) => string, ts?: (r: T) => number, value?: (r: T) => number | null): TableFigures {
  const byKey = new Map<string, T>();
  for (const r of records) byKey.set(key(r), r);
  let tsSum = 0n;
  let valueSum = 0n;
  for (const r of byKey.values()) {
    if (ts !== undefined) tsSum += BigInt(ts(r));
    const v = value?.(r);
    if (v !== undefined && v !== null) valueSum += BigInt(Math.trunc(v * 1000));
  }
  return { rows: byKey.size, tsSum, valueSum };
}

/** The figures of every record on the pipeline's topics (read from the start). */
export async function kafkaFigures(kafka: Kafka, topics: Topics): Promise<StoredFigures> {
  const trend = await readAllRecords<TrendPoint>(kafka, topics.trend);
  const alarms = await readAllRecords<AlarmEvent>(kafka, topics.alarm);
  const rows = await readAllRecords<ElementRow>(kafka, topics.element);
  const element = (r: { dmsId: number; dmaId: number; elementId: number }) => `${r.dmsId}/${r.dmaId}/${r.elementId}`;
  const point = (p: TrendPoint) => `${element(p)}/${p.parameterId}/${p.index}/${p.windowMinutes}/${p.timestamp}`;
  return {
    trend_realtime: figures(
      trend.filter((p) => p.windowMinutes === 0),
      point,
      (p) => p.timestamp,
      (p) => p.value,
    ),
    trend_average: figures(
      trend.filter((p) => p.windowMinutes > 0),
      point,
      (p) => p.timestamp,
      (p) => p.value,
    ),
    alarm_events: figures(alarms, (a) => `${element(a)}/${a.rootAlarmId}/${a.alarmId}`),
    element_rows: figures(rows, (r) => `${element(r)}/${r.tableParameterId}/${r.primaryKey}`),
  };
}

/** The same figures from the tables of `db`, read with FINAL (duplicates collapsed). */
export async function storedFigures(client: ClickHouseClient, db: string): Promise<StoredFigures> {
  const read = async (table: keyof StoredFigures, checksums: boolean): Promise<TableFigures> => {
    const sums = checksums
      ? 'ifNull(sum(ts), 0) AS ts_sum, ifNull(sum(toInt64(value * 1000)), 0) AS value_sum'
      : '0 AS ts_sum, 0 AS value_sum';
    const [r] = await queryRows<{ rows: Int64Json; ts_sum: Int64Json; value_sum: Int64Json }>(
      client,
      `SELECT count() AS rows, ${sums} FROM ${db}.${table} FINAL`,
    );
    return { rows: Number(r!.rows), tsSum: BigInt(r!.ts_sum), valueSum: BigInt(r!.value_sum) };
  };
  return {
    trend_realtime: await read('trend_realtime', true),
    trend_average: await read('trend_average', true),
    alarm_events: await read('alarm_events', false),
    element_rows: await read('element_rows', false),
  };
}

/** Raw row count of the trend tables (before FINAL): at least the stored count; more when a batch was stored twice. */
export async function rawTrendRows(client: ClickHouseClient, db: string): Promise<number> {
  const [r] = await queryRows<{ n: Int64Json }>(
    client,
    `SELECT (SELECT count() FROM ${db}.trend_realtime) + (SELECT count() FROM ${db}.trend_average) AS n`,
  );
  return Number(r!.n);
}
