/**
 * The ClickHouse DDL of staas, created idempotently. It uses only what 18.16 (tested here) and
 * current ClickHouse both accept: MergeTree family engines, UInt64 epoch-ms time columns with
 * partitions derived from them, no TTL/CODEC/LowCardinality (see shared/clickhouse-18.16.md).
 *
 * Idempotent storage: every table is a ReplacingMergeTree keyed on the record's natural key,
 * so a batch delivered twice collapses to one row (reads use FINAL or argMax by key).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { assertIdentifier } from './identifier.ts';

/** Day partitions for real-time trends: retention (7 days) drops whole days. */
const DAY = 'toYYYYMMDD(toDateTime(intDiv(ts, 1000)))';
const MONTH = 'toYYYYMM(toDateTime(intDiv(ts, 1000)))';

export const TABLES = ['trend_realtime', 'trend_average', 'alarm_events', 'alarm_active', 'element_rows'] as const;
export type TableName = (typeof TABLES)[number];

/** Cleared in DataMiner's alarm type ids: the event that ends a tree. */
export const ALARM_TYPE_CLEARED = 11;

/** Tables of the Query API's own state (not data the agents write). */
export const API_TABLES = ['api_tokens'] as const;

export function ddl(db: string): Record<TableName | 'alarm_active_mv' | (typeof API_TABLES)[number], string> {
  assertIdentifier(db);
  return {
    // One row per real-time change of one parameter (or table cell).
    trend_realtime: `CREATE TABLE IF NOT EXISTS ${db}.trend_realtime (
      dms_id Int32, dma_id Int32, element_id Int32, parameter_id Int32, idx String,
      ts UInt64,
      value Nullable(Float64),
      value_discrete String,
      status Int16
    ) ENGINE = ReplacingMergeTree()
    PARTITION BY ${DAY}
    ORDER BY (dms_id, dma_id, element_id, parameter_id, idx, ts)`,

    // Agent-computed averages (5 min / 1 h / long window); partitioned by window so each tier
    // keeps its own retention, and by month so ten years stay a few hundred partitions.
    trend_average: `CREATE TABLE IF NOT EXISTS ${db}.trend_average (
      dms_id Int32, dma_id Int32, element_id Int32, parameter_id Int32, idx String,
      window_minutes UInt16,
      ts UInt64,
      value Nullable(Float64),
      min Nullable(Float64),
      max Nullable(Float64),
      value_discrete String,
      max_discrete String,
      samples UInt32,
      status Int16
    ) ENGINE = ReplacingMergeTree()
    PARTITION BY (window_minutes, ${MONTH})
    ORDER BY (dms_id, dma_id, element_id, parameter_id, idx, window_minutes, ts)`,

    // Every alarm state change; an event is unique by (tree, alarm id).
    alarm_events: `CREATE TABLE IF NOT EXISTS ${db}.alarm_events (
      dms_id Int32, dma_id Int32, element_id Int32, parameter_id Int32, idx String, display_key String,
      alarm_id Int64, root_alarm_id Int64, previous_alarm_id Int64,
      severity Int16, severity_range Int16, alarm_type Int16, status Int16, user_status Int16,
      value String, display_value String,
      ts UInt64, created_at UInt64, root_created_at UInt64,
      owner Nullable(String), comment Nullable(String),
      element_name String, parameter_name String
    ) ENGINE = ReplacingMergeTree()
    PARTITION BY ${MONTH}
    ORDER BY (dms_id, dma_id, element_id, root_alarm_id, alarm_id)`,

    // The current state of every alarm tree: its latest event (DataMiner event ids grow within a
    // tree). Active alarms are the trees whose latest event is not a clear: FINAL ... cleared = 0.
    alarm_active: `CREATE TABLE IF NOT EXISTS ${db}.alarm_active (
      dms_id Int32, dma_id Int32, element_id Int32, root_alarm_id Int64,
      alarm_id Int64, version UInt64, parameter_id Int32, idx String, display_key String,
      severity Int16, alarm_type Int16, status Int16, user_status Int16,
      value String, display_value String,
      ts UInt64, root_created_at UInt64,
      owner Nullable(String), comment Nullable(String),
      element_name String, parameter_name String,
      cleared UInt8
    ) ENGINE = ReplacingMergeTree(version)
    ORDER BY (dms_id, dma_id, element_id, root_alarm_id)`,

    // Fed by every alarm event insert (alarms are low-volume: the view's cost does not matter).
    // Every column is cast to the target's exact type: 18.16 refuses any mismatch.
    alarm_active_mv: `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.alarm_active_mv TO ${db}.alarm_active AS
    SELECT dms_id, dma_id, element_id, root_alarm_id, alarm_id, toUInt64(alarm_id) AS version,
      parameter_id, idx, display_key, severity, alarm_type, status, user_status, value, display_value,
      ts, root_created_at, owner, comment, element_name, parameter_name,
      toUInt8(alarm_type = ${ALARM_TYPE_CLEARED}) AS cleared
    FROM ${db}.alarm_events`,

    // Current table rows: last write wins by version; element data never expires, so no partitions.
    element_rows: `CREATE TABLE IF NOT EXISTS ${db}.element_rows (
      dms_id Int32, dma_id Int32, element_id Int32, table_parameter_id Int32,
      primary_key String, display_key String,
      cell_ids Array(Int32),
      cell_numbers Array(Nullable(Float64)),
      cell_texts Array(Nullable(String)),
      ts UInt64,
      version UInt64,
      deleted UInt8
    ) ENGINE = ReplacingMergeTree(version)
    ORDER BY (dms_id, dma_id, element_id, table_parameter_id, primary_key)`,

    // Bearer tokens of the Query API, stored as SHA-256 hashes only; every API instance reads
    // them per request, so a revocation (a newer version with revoked_at set) holds everywhere.
    api_tokens: `CREATE TABLE IF NOT EXISTS ${db}.api_tokens (
      token_hash String, token_id String, kind String, dms_id Int32, name String,
      scopes Array(String), elements Array(String),
      created_at UInt64, expires_at UInt64, revoked_at UInt64,
      version UInt64
    ) ENGINE = ReplacingMergeTree(version)
    ORDER BY token_hash`,
  };
}

/** Creates the database and any missing table; returns the table names. */
export async function ensureSchema(client: ClickHouseClient, db: string): Promise<TableName[]> {
  assertIdentifier(db);
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  for (const statement of Object.values(ddl(db))) {
    await client.command({ query: statement });
  }
  return [...TABLES];
}
