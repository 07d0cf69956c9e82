/**
 * Retention without TTL (18.16 has none): tables are partitioned by time, and expired partitions
 * are dropped whole. A partition expires when its newest possible row is older than the
 * retention of its data type, so nothing younger than the retention is ever dropped.
 *
 * Partitions are cut in UTC (storage/schema.ts); tables created by an earlier staas are cut in the
 * server's time zone, and their partitions' ends are computed in that zone (partitionZones).
 *
 * Defaults are STaaS's: real-time trending 7 days, 5-minute averages 3 months, 1-hour averages
 * 2 years, longer windows 10 years, alarm events 1 year. Element data never expires. Late-write
 * markers (trend_late_writes) are kept 2 days.
 *
 * Dropping a trend partition changes days the Query API may have cached: retention writes a
 * late-write marker for every UTC day the partition can hold (storage/late-writes.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import { assertIdentifier } from './identifier.ts';
import { DAY_MS as DAY, insertLateWrites, type LateWrite } from './late-writes.ts';
import { EVERY_DMS } from './schema.ts';

export interface RetentionPolicy {
  realtimeDays: number;
  /** Window minutes -> days; windows not listed use `longAverageDays`. */
  averageDays: Record<number, number>;
  longAverageDays: number;
  alarmDays: number;
  /**
   * Late-write markers (trend_late_writes, partitioned by the server's date of written_at): the
   * Query API reads only the markers written since its last poll (about a second ago), and one
   * that starts has nothing cached; two days leave room for an API that lags.
   */
  lateWriteDays: number;
}

export const STAAS_RETENTION: RetentionPolicy = {
  realtimeDays: 7,
  averageDays: { 5: 92, 60: 731 },
  longAverageDays: 3653,
  alarmDays: 366,
  lateWriteDays: 2,
};

/** The tables retention drops partitions of. */
const RETAINED_TABLES = "('trend_realtime', 'trend_average', 'alarm_events', 'trend_late_writes')";

export interface Partition {
  table: string;
  partition: string;
  partitionId: string;
}

/**
 * The first instant after local midnight of (year, month0, day) in `timeZone` (an IANA name as
 * ClickHouse's timezone() returns it), in epoch ms. Throws RangeError for a zone the runtime's
 * ICU does not know.
 */
export function midnightIn(timeZone: string, year: number, month0: number, day: number): number {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  /** How far the zone's wall clock is ahead of UTC at `t` (ms). */
  const offsetAt = (t: number) => {
    const f = Object.fromEntries(format.formatToParts(new Date(t)).map((x) => [x.type, Number(x.value)]));
    return Date.UTC(f.year!, f.month! - 1, f.day, f.hour, f.minute, f.second) - Math.floor(t / 1000) * 1000;
  };
  const wall = Date.UTC(year, month0, day);
  // The offset at the guess may differ from the offset at the answer across a DST change: settle it.
  let t = wall - offsetAt(wall);
  t = wall - offsetAt(t);
  return t;
}

/** The first instant after a YYYYMMDD day or a YYYYMM month in `timeZone` (default UTC), in epoch ms. */
export function endOf(period: string, timeZone = 'UTC'): number {
  const y = Number(period.slice(0, 4));
  const m = Number(period.slice(4, 6)) - 1;
  const [month0, day] = period.length === 8 ? [m, Number(period.slice(6, 8)) + 1] : [m + 1, 1];
  return isUtc(timeZone) ? Date.UTC(y, month0, day) : midnightIn(timeZone, y, month0, day);
}

function isUtc(timeZone: string): boolean {
  return /^(Etc\/)?(UTC|UCT|GMT|Zulu|Universal|Greenwich)(\+0|-0|0)?$/i.test(timeZone);
}

/**
 * `timeZone` when the runtime knows it; else UTC-12, where days end last, so that a partition is
 * never dropped early (at worst up to a day late).
 */
function knownZone(timeZone: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return timeZone;
  } catch {
    return 'Etc/GMT+12';
  }
}

/**
 * Which partitions are past their retention at `now` (pure: unit-tested). `zones`: the time zone
 * each table's partitions are cut in (tables not listed: UTC, as storage/schema.ts creates them).
 */
export function expiredPartitions(
  parts: readonly Partition[],
  now: number,
  policy: RetentionPolicy = STAAS_RETENTION,
  zones: Readonly<Record<string, string>> = {},
): Partition[] {
  return parts.filter((p) => {
    let days: number;
    let period: string;
    if (p.table === 'trend_realtime' && /^\d{8}$/.test(p.partition)) {
      days = policy.realtimeDays;
      period = p.partition;
    } else if (p.table === 'alarm_events' && /^\d{6}$/.test(p.partition)) {
      days = policy.alarmDays;
      period = p.partition;
    } else if (p.table === 'trend_late_writes' && LATE_WRITE_DATE.test(p.partition)) {
      days = policy.lateWriteDays;
      period = p.partition.replace(/\D/g, '');
    } else {
      const m = /^\((\d+),\s*(\d{6})\)$/.exec(p.partition);
      if (p.table !== 'trend_average' || m === null) return false; // unknown layout: never drop
      days = policy.averageDays[Number(m[1])] ?? policy.longAverageDays;
      period = m[2]!;
    }
    return endOf(period, zones[p.table]) <= now - days * DAY;
  });
}

/** A trend_late_writes partition as system.parts prints a Date (quoted on some versions). */
const LATE_WRITE_DATE = /^'?\d{4}-\d{2}-\d{2}'?$/;

/**
 * The UTC day numbers (floor(ts / DAY)) a trend partition can hold, one day wider on each side
 * (pure: unit-tested): a table of an earlier staas cuts days and months in the server's zone,
 * whose offset from UTC is under a day. Undefined for a partition of another table or layout.
 */
export function partitionDays(p: Pick<Partition, 'table' | 'partition'>): { firstDay: number; lastDay: number } | undefined {
  if (p.table === 'trend_realtime' && /^\d{8}$/.test(p.partition)) {
    const y = Number(p.partition.slice(0, 4));
    const m = Number(p.partition.slice(4, 6)) - 1;
    const day = Date.UTC(y, m, Number(p.partition.slice(6, 8))) / DAY;
    return { firstDay: day - 1, lastDay: day + 1 };
  }
  const avg = /^\((\d+),\s*(\d{4})(\d{2})\)$/.exec(p.partition);
  if (p.table === 'trend_average' && avg !== null) {
    const y = Number(avg[2]);
    const m = Number(avg[3]) - 1;
    // From the day before the month's first to the day after its last (the next month's first).
    return { firstDay: Date.UTC(y, m, 1) / DAY - 1, lastDay: Date.UTC(y, m + 1, 1) / DAY };
  }
  return undefined;
}

/** The late-write markers for dropping `parts`: every DMS, the days each trend partition can hold. */
export function dropMarkers(parts: readonly Pick<Partition, 'table' | 'partition'>[]): LateWrite[] {
  const markers: LateWrite[] = [];
  for (const p of parts) {
    const days = partitionDays(p);
    if (days !== undefined) markers.push({ dmsId: EVERY_DMS, ...days });
  }
  return markers;
}

/**
 * The time zone each partitioned table's partitions are cut in: UTC when its partition key says
 * so (storage/schema.ts since UTC partitions), else the server's zone (tables of an earlier staas;
 * trend_late_writes, cut by the server's date of written_at).
 */
export async function partitionZones(client: ClickHouseClient, db: string): Promise<Record<string, string>> {
  assertIdentifier(db);
  const rs = await client.query({
    query: `SELECT name, partition_key, timezone() AS tz FROM system.tables WHERE database = '${db}' AND name IN ${RETAINED_TABLES}`,
    format: 'JSONEachRow',
  });
  const zones: Record<string, string> = {};
  for (const r of await rs.json<{ name: string; partition_key: string; tz: string }>()) {
    zones[r.name] = /'UTC'/.test(r.partition_key) ? 'UTC' : knownZone(r.tz);
  }
  return zones;
}

/**
 * Drops the expired partitions of the staas tables in `db`; returns what was (or would be)
 * dropped. Dropped trend partitions are announced with late-write markers in `db` (on a cluster,
 * the server's local database: readers see them through the Distributed table) twice: before the
 * drops (when that insert fails, nothing is dropped: the next run tries again) and after them
 * (retried a few times; when it still fails, this rejects). The first covers a process that
 * stops between a drop and the second, after which no later run would know the partition was
 * there; the second, an API that re-read a day between the first and the drop.
 */
export async function applyRetention(
  client: ClickHouseClient,
  db: string,
  now = Date.now(),
  opts: { dryRun?: boolean; policy?: RetentionPolicy } = {},
): Promise<Partition[]> {
  assertIdentifier(db);
  const rs = await client.query({
    query: `SELECT DISTINCT table, partition, partition_id FROM system.parts WHERE active AND database = '${db}' AND table IN ${RETAINED_TABLES}`,
    format: 'JSONEachRow',
  });
  const parts = (await rs.json<{ table: string; partition: string; partition_id: string }>()).map((r) => ({
    table: r.table,
    partition: r.partition,
    partitionId: r.partition_id,
  }));
  const expired = expiredPartitions(parts, now, opts.policy, await partitionZones(client, db));
  if (opts.dryRun !== true) {
    for (const p of expired)
      if (!/^[0-9a-zA-Z_-]+$/.test(p.partitionId)) throw new Error(`unexpected partition id ${JSON.stringify(p.partitionId)}`);
    const markers = dropMarkers(expired);
    await insertLateWrites(client, db, markers);
    for (const p of expired)
      await client.command({ query: `ALTER TABLE ${db}.${assertIdentifier(p.table)} DROP PARTITION ID '${p.partitionId}'` });
    for (let attempt = 1; markers.length > 0; attempt++) {
      try {
        await insertLateWrites(client, db, markers);
        break;
      } catch (err) {
        if (attempt >= MARKER_ATTEMPTS) throw err;
        await sleep(250 * 2 ** attempt);
      }
    }
  }
  return expired;
}

/** Attempts at the markers after the drops (500 ms, 1, 2 and 4 s apart). */
const MARKER_ATTEMPTS = 5;
