/**
 * Retention without TTL (18.16 has none): tables are partitioned by time, and expired partitions
 * are dropped whole. A partition expires when its newest possible row is older than the
 * retention of its data type, so nothing younger than the retention is ever dropped.
 *
 * Defaults are STaaS's: real-time trending 7 days, 5-minute averages 3 months, 1-hour averages
 * 2 years, longer windows 10 years, alarm events 1 year. Element data never expires.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { assertIdentifier } from './identifier.ts';

const DAY = 86_400_000;

export interface RetentionPolicy {
  realtimeDays: number;
  /** Window minutes -> days; windows not listed use `longAverageDays`. */
  averageDays: Record<number, number>;
  longAverageDays: number;
  alarmDays: number;
}

export const STAAS_RETENTION: RetentionPolicy = {
  realtimeDays: 7,
  averageDays: { 5: 92, 60: 731 },
  longAverageDays: 3653,
  alarmDays: 366,
};

export interface Partition {
  table: string;
  partition: string;
  partitionId: string;
}

/** The first instant after a YYYYMMDD day or a YYYYMM month, in UTC epoch ms. */
function endOf(period: string): number {
  const y = Number(period.slice(0, 4));
  const m = Number(period.slice(4, 6)) - 1;
  return period.length === 8 ? Date.UTC(y, m, Number(period.slice(6, 8)) + 1) : Date.UTC(y, m + 1, 1);
}

/** Which partitions are past their retention at `now` (pure: unit-tested). */
export function expiredPartitions(parts: readonly Partition[], now: number, policy: RetentionPolicy = STAAS_RETENTION): Partition[] {
  return parts.filter((p) => {
    let days: number;
    let period: string;
    if (p.table === 'trend_realtime' && /^\d{8}$/.test(p.partition)) {
      days = policy.realtimeDays;
      period = p.partition;
    } else if (p.table === 'alarm_events' && /^\d{6}$/.test(p.partition)) {
      days = policy.alarmDays;
      period = p.partition;
    } else {
      const m = /^\((\d+),\s*(\d{6})\)$/.exec(p.partition);
      if (p.table !== 'trend_average' || m === null) return false; // unknown layout: never drop
      days = policy.averageDays[Number(m[1])] ?? policy.longAverageDays;
      period = m[2]!;
    }
    return endOf(period) <= now - days * DAY;
  });
}

/** Drops the expired partitions of the staas tables in `db`; returns what was (or would be) dropped. */
export async function applyRetention(
  client: ClickHouseClient,
  db: string,
  now = Date.now(),
  opts: { dryRun?: boolean; policy?: RetentionPolicy } = {},
): Promise<Partition[]> {
  assertIdentifier(db);
  const rs = await client.query({
    query: `SELECT DISTINCT table, partition, partition_id FROM system.parts WHERE active AND database = '${db}' AND table IN ('trend_realtime', 'trend_average', 'alarm_events')`,
    format: 'JSONEachRow',
  });
  const parts = (await rs.json<{ table: string; partition: string; partition_id: string }>()).map((r) => ({
    table: r.table,
    partition: r.partition,
    partitionId: r.partition_id,
  }));
  const expired = expiredPartitions(parts, now, opts.policy);
  if (opts.dryRun !== true) {
    for (const p of expired) {
      if (!/^[0-9a-zA-Z_-]+$/.test(p.partitionId)) throw new Error(`unexpected partition id ${JSON.stringify(p.partitionId)}`);
      await client.command({ query: `ALTER TABLE ${db}.${assertIdentifier(p.table)} DROP PARTITION ID '${p.partitionId}'` });
    }
  }
  return expired;
}
