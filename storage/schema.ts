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

/**
 * Partitions are cut in UTC whatever the server's time zone, so retention (which computes the
 * end of a day or month in UTC) drops a partition only when its newest possible row is past the
 * retention. `toDateTime(x, 'UTC')` runs on 18.16 and current servers alike.
 *
 * Tables created by an earlier staas partitioned by `toDateTime(intDiv(ts, 1000))`, in the
 * server's zone. CREATE TABLE IF NOT EXISTS leaves them as they are (a partition key cannot be
 * altered): on a server in UTC nothing differs; elsewhere retention reads each table's key and the
 * server's zone and computes those partitions' ends in that zone (storage/retention.ts), and
 * inserts stay within 100 of those partitions (storage/partitions.ts). See the README to move
 * such a table to UTC partitions.
 */
const DAY = "toYYYYMMDD(toDateTime(intDiv(ts, 1000), 'UTC'))";
const MONTH = "toYYYYMM(toDateTime(intDiv(ts, 1000), 'UTC'))";

export const TABLES = ['trend_realtime', 'trend_average', 'alarm_events', 'alarm_active', 'element_rows'] as const;
export type TableName = (typeof TABLES)[number];

/** Cleared in DataMiner's alarm type ids: the event that ends a tree. */
export const ALARM_TYPE_CLEARED = 11;
/** Cleared in DataMiner's alarm status ids (an event with this status ends its tree too). */
export const ALARM_STATUS_CLEARED = 11;
/** Information in DataMiner's severity ids: information events are born cleared (no active tree). */
export const SEVERITY_INFORMATION = 13;

/**
 * Whether an alarm event leaves its tree inactive, as SQL over alarm_events' columns: a clear
 * (alarm type 11), status Cleared (11), or an information event (severity 13, "born cleared").
 */
export const ALARM_ENDS_TREE = `(alarm_type = ${ALARM_TYPE_CLEARED} OR status = ${ALARM_STATUS_CLEARED} OR severity = ${SEVERITY_INFORMATION})`;

/** Columns alarm_active gained after its first release (name, exact type), appended in this order. */
export const ALARM_ACTIVE_ADDED_COLUMNS = [
  ['previous_alarm_id', 'Int64'],
  ['severity_range', 'Int16'],
  ['created_at', 'UInt64'],
] as const;

/**
 * The SELECT that turns alarm_events rows into alarm_active rows: the materialized view's query,
 * also used to repopulate alarm_active after the view changed. Every column is cast to
 * alarm_active's exact type (18.16 refuses a mismatch in a view).
 */
export function alarmActiveSelect(db: string): string {
  assertIdentifier(db);
  return `SELECT toInt32(dms_id) AS dms_id, toInt32(dma_id) AS dma_id, toInt32(element_id) AS element_id,
      toInt64(root_alarm_id) AS root_alarm_id, toInt64(alarm_id) AS alarm_id, toUInt64(alarm_id) AS version,
      toInt32(parameter_id) AS parameter_id, idx, display_key,
      toInt16(severity) AS severity, toInt16(alarm_type) AS alarm_type, toInt16(status) AS status,
      toInt16(user_status) AS user_status, value, display_value,
      toUInt64(ts) AS ts, toUInt64(root_created_at) AS root_created_at, owner, comment, element_name, parameter_name,
      toUInt8(${ALARM_ENDS_TREE}) AS cleared,
      toInt64(previous_alarm_id) AS previous_alarm_id, toInt16(severity_range) AS severity_range, toUInt64(created_at) AS created_at
    FROM ${db}.alarm_events`;
}

/**
 * Whether a materialized view's `create_table_query` (as system.tables shows it) is the current
 * alarm_active_mv: it applies the whole "ends the tree" rule and fills the added columns. The
 * server reformats the query (parentheses, spacing), so both sides are compared without them.
 */
export function isCurrentAlarmActiveView(createTableQuery: string): boolean {
  const flat = (s: string) => s.replace(/[\s()`"]/g, '').toLowerCase();
  const q = flat(createTableQuery);
  return (
    q.includes(flat(`status = ${ALARM_STATUS_CLEARED}`)) &&
    q.includes(flat(`severity = ${SEVERITY_INFORMATION}`)) &&
    ALARM_ACTIVE_ADDED_COLUMNS.every(([name]) => q.includes(`${name}as${name}`))
  );
}

/** Tables of the Query API's own state (not data the agents write). */
export const API_TABLES = ['api_tokens'] as const;

/**
 * Tables of markers the pipeline writes about the data (not data the agents write):
 * trend_late_writes tells the Query API that trend rows of days that had already ended changed.
 */
export const MARKER_TABLES = ['trend_late_writes'] as const;
export type MarkerTableName = (typeof MARKER_TABLES)[number];

/** Every table rows are inserted into: the agents' data and the markers about it. */
export type InsertTable = TableName | MarkerTableName;

/** trend_late_writes' dms_id when the DMSs of the changed rows are not known: every DMS. */
export const EVERY_DMS = -1;
/** trend_late_writes' first_day and last_day when the changed days are not known: every day (the UInt32 range). */
export const EVERY_DAY = { first: 0, last: 0xffff_ffff } as const;

export function ddl(db: string): Record<InsertTable | 'alarm_active_mv' | (typeof API_TABLES)[number], string> {
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
    // tree), one row per tree after merges. Active alarms are the trees whose latest event does not
    // end the tree: FINAL, then cleared = 0 in an outer SELECT. Cleared trees are deleted for good
    // by storage/alarm-active.ts, so the table holds the active set, not the alarm history.
    // The last three columns came later: they stay last so that a migrated table (ALTER ADD
    // COLUMN appends) and a new one have the same layout.
    alarm_active: `CREATE TABLE IF NOT EXISTS ${db}.alarm_active (
      dms_id Int32, dma_id Int32, element_id Int32, root_alarm_id Int64,
      alarm_id Int64, version UInt64, parameter_id Int32, idx String, display_key String,
      severity Int16, alarm_type Int16, status Int16, user_status Int16,
      value String, display_value String,
      ts UInt64, root_created_at UInt64,
      owner Nullable(String), comment Nullable(String),
      element_name String, parameter_name String,
      cleared UInt8,
      ${ALARM_ACTIVE_ADDED_COLUMNS.map(([name, type]) => `${name} ${type}`).join(', ')}
    ) ENGINE = ReplacingMergeTree(version)
    ORDER BY (dms_id, dma_id, element_id, root_alarm_id)`,

    // Fed by every alarm event insert (alarms are low-volume: the view's cost does not matter).
    // Every column is cast to the target's exact type: 18.16 refuses any mismatch.
    alarm_active_mv: `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.alarm_active_mv TO ${db}.alarm_active AS
    ${alarmActiveSelect(db)}`,

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

    // Markers of "trend rows of UTC days that had already ended changed", which the Query API
    // polls to drop the ended days it caches: the sink writes one per DMS after it stored rows of
    // such days (ingest/sink/late-writes.ts), retention one after it dropped a trend partition
    // (storage/retention.ts). dms_id -1 (EVERY_DMS): every DMS. first_day..last_day: an inclusive
    // range of UTC day numbers (floor(ts / 86400000)); 0..4294967295 (EVERY_DAY): every day.
    // marker_id is random, so two markers of one second stay two rows; written_at is the server's
    // clock at the insert. Kept two days (storage/retention.ts): the API reads only recent rows.
    trend_late_writes: `CREATE TABLE IF NOT EXISTS ${db}.trend_late_writes (
      dms_id Int32,
      first_day UInt32,
      last_day UInt32,
      marker_id String,
      written_at DateTime DEFAULT now()
    ) ENGINE = ReplacingMergeTree()
    PARTITION BY toDate(written_at)
    ORDER BY (written_at, marker_id)`,
  };
}

/**
 * Creates the database and any missing table; returns the table names. Also migrates an older
 * alarm_active in place (see migrateAlarmActive). Safe to run again and from several processes.
 */
export async function ensureSchema(
  client: ClickHouseClient,
  db: string,
  /** Rewrites each table's CREATE statement (cluster mode: the Replicated engine, storage/cluster-schema.ts). */
  opts: { engine?: (table: string, statement: string) => string } = {},
): Promise<TableName[]> {
  assertIdentifier(db);
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  const { alarm_active_mv: view, ...tables } = ddl(db);
  for (const [table, statement] of Object.entries(tables)) {
    await client.command({ query: opts.engine === undefined ? statement : opts.engine(table, statement) });
  }
  await migrateAlarmActive(client, db, view);
  return [...TABLES];
}

async function rowsOf<T>(client: ClickHouseClient, query: string): Promise<T[]> {
  const rs = await client.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}

/**
 * Brings alarm_active and its materialized view to the current definition, idempotently
 * (18.16 has no MODIFY QUERY: a view changes by DROP + CREATE):
 * 1. adds the columns an older alarm_active lacks (ALTER ADD COLUMN appends; existing rows get
 *    defaults until step 3 rewrites them);
 * 2. when the view is older than this code (system.tables' create_table_query lacks the current
 *    rule), repopulates first — the old view keeps feeding meanwhile, so a crash here leaves the
 *    old view in place and the next run starts over — then drops it;
 * 3. creates the view if missing, and repopulates again: every alarm_active row again with the
 *    current `cleared` rule (trees whose events retention already dropped keep their row), then
 *    every alarm_events row through the view's SELECT. Equal versions resolve to the row
 *    inserted last (ReplacingMergeTree), so the rewritten rows win; repeats collapse. The second
 *    pass catches events other sinks stored while no current view existed.
 * Left over: a crash between creating the view and the end of step 3 (seconds) can leave rows
 * that other running sinks stored during the switch with the old `cleared` rule.
 */
async function migrateAlarmActive(client: ClickHouseClient, db: string, createView: string): Promise<void> {
  const columns = new Set(
    (await rowsOf<{ name: string }>(client, `SELECT name FROM system.columns WHERE database = '${db}' AND table = 'alarm_active'`)).map(
      (c) => c.name,
    ),
  );
  for (const [name, type] of ALARM_ACTIVE_ADDED_COLUMNS) {
    if (!columns.has(name)) await client.command({ query: `ALTER TABLE ${db}.alarm_active ADD COLUMN ${name} ${type}` });
  }
  const [view] = await rowsOf<{ create_table_query: string }>(
    client,
    `SELECT create_table_query FROM system.tables WHERE database = '${db}' AND name = 'alarm_active_mv'`,
  );
  if (view !== undefined && isCurrentAlarmActiveView(view.create_table_query)) return;
  if (view !== undefined) {
    await repopulateAlarmActive(client, db);
    await client.command({ query: `DROP TABLE IF EXISTS ${db}.alarm_active_mv` });
  }
  await client.command({ query: createView });
  await repopulateAlarmActive(client, db);
}

/** Rewrites alarm_active with the current rule: its own rows, then every stored event. */
async function repopulateAlarmActive(client: ClickHouseClient, db: string): Promise<void> {
  const columns = `dms_id, dma_id, element_id, root_alarm_id, alarm_id, version, parameter_id, idx, display_key,
    severity, alarm_type, status, user_status, value, display_value, ts, root_created_at, owner, comment,
    element_name, parameter_name, cleared, ${ALARM_ACTIVE_ADDED_COLUMNS.map(([name]) => name).join(', ')}`;
  const own = columns.replace(/\bcleared\b/, `toUInt8(${ALARM_ENDS_TREE}) AS cleared`);
  await client.command({ query: `INSERT INTO ${db}.alarm_active (${columns}) SELECT ${own} FROM ${db}.alarm_active FINAL` });
  await client.command({ query: `INSERT INTO ${db}.alarm_active (${columns}) ${alarmActiveSelect(db)}` });
}
