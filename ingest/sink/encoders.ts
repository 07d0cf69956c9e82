/**
 * Records -> RowBinary rows per ClickHouse table. The column lists match storage/schema.ts, in
 * order; test/integration/sink-encoders.test.ts inserts and selects every column back.
 */
import type { AlarmEvent, ElementRow, TrendPoint } from '../../schemas/records.ts';
import type { TableName } from '../../storage/schema.ts';
import { RowBinaryWriter } from '../../storage/rowbinary-writer.ts';
import { addKey, keysOrNone, partitionKey } from './trend-keys.ts';

export interface TableEncoder<T> {
  table: TableName;
  columns: readonly string[];
  write(w: RowBinaryWriter, r: T): void;
}

/** The leading key columns both trend tables share: dms_id, dma_id, element_id, parameter_id, idx. */
function writeSeries(w: RowBinaryWriter, p: TrendPoint): void {
  w.int32(p.dmsId);
  w.int32(p.dmaId);
  w.int32(p.elementId);
  w.int32(p.parameterId);
  w.string(p.index);
}

export const realtimeEncoder: TableEncoder<TrendPoint> = {
  table: 'trend_realtime',
  columns: ['dms_id', 'dma_id', 'element_id', 'parameter_id', 'idx', 'ts', 'value', 'value_discrete', 'status'],
  write(w, p) {
    writeSeries(w, p);
    w.uint64(p.timestamp);
    w.nullableFloat64(p.value);
    w.string(p.discreteValue ?? '');
    w.int16(p.status);
  },
};

export const averageEncoder: TableEncoder<TrendPoint> = {
  table: 'trend_average',
  columns: [
    'dms_id',
    'dma_id',
    'element_id',
    'parameter_id',
    'idx',
    'window_minutes',
    'ts',
    'value',
    'min',
    'max',
    'value_discrete',
    'max_discrete',
    'samples',
    'status',
  ],
  write(w, p) {
    writeSeries(w, p);
    w.uint16(p.windowMinutes);
    w.uint64(p.timestamp);
    w.nullableFloat64(p.value);
    w.nullableFloat64(p.min);
    w.nullableFloat64(p.max);
    w.string(p.discreteValue ?? '');
    w.string(p.discreteMax ?? '');
    w.uint32(p.samples);
    w.int16(p.status);
  },
};

export const alarmEncoder: TableEncoder<AlarmEvent> = {
  table: 'alarm_events',
  columns: [
    'dms_id',
    'dma_id',
    'element_id',
    'parameter_id',
    'idx',
    'display_key',
    'alarm_id',
    'root_alarm_id',
    'previous_alarm_id',
    'severity',
    'severity_range',
    'alarm_type',
    'status',
    'user_status',
    'value',
    'display_value',
    'ts',
    'created_at',
    'root_created_at',
    'owner',
    'comment',
    'element_name',
    'parameter_name',
  ],
  write(w, a) {
    w.int32(a.dmsId);
    w.int32(a.dmaId);
    w.int32(a.elementId);
    w.int32(a.parameterId);
    w.string(a.index);
    w.string(a.displayKey);
    w.int64(a.alarmId);
    w.int64(a.rootAlarmId);
    w.int64(a.previousAlarmId);
    w.int16(a.severity);
    w.int16(a.severityRange);
    w.int16(a.alarmType);
    w.int16(a.status);
    w.int16(a.userStatus);
    w.string(a.value);
    w.string(a.displayValue);
    w.uint64(a.timestamp);
    w.uint64(a.createdAt);
    w.uint64(a.rootCreatedAt);
    w.nullableString(a.owner);
    w.nullableString(a.comment);
    w.string(a.elementName);
    w.string(a.parameterName);
  },
};

export const elementRowEncoder: TableEncoder<ElementRow> = {
  table: 'element_rows',
  columns: [
    'dms_id',
    'dma_id',
    'element_id',
    'table_parameter_id',
    'primary_key',
    'display_key',
    'cell_ids',
    'cell_numbers',
    'cell_texts',
    'ts',
    'version',
    'deleted',
  ],
  write(w, e) {
    w.int32(e.dmsId);
    w.int32(e.dmaId);
    w.int32(e.elementId);
    w.int32(e.tableParameterId);
    w.string(e.primaryKey);
    w.string(e.displayKey);
    w.leb128(e.columns.length);
    for (const c of e.columns) w.int32(c.columnId);
    w.leb128(e.columns.length);
    for (const c of e.columns) w.nullableFloat64(typeof c.value === 'number' ? c.value : null);
    w.leb128(e.columns.length);
    for (const c of e.columns) w.nullableString(typeof c.value === 'string' ? c.value : null);
    w.uint64(e.timestamp);
    // 0 means "use the timestamp": an agent without its own counter still gets last-write-wins.
    w.uint64(e.version === 0 ? e.timestamp : e.version);
    w.uint8(e.deleted ? 1 : 0);
  },
};

export interface TableRows {
  encoder: TableEncoder<never>;
  /** The rows; with reused `TableWriters`, a view valid until their next use (copy what you keep). */
  body: Buffer;
  rows: number;
  /**
   * Numbers that bound the rows' partitions from above: the distinct (window, UTC day) pairs of
   * trend rows (ingest/sink/trend-keys.ts partitionKey; a partition is a day, or a window and a
   * month: never more partitions than pairs), so that the insert needs no walk over the rows to
   * count them (storage/insert.ts `partitionsAtMost`); also the days late-write markers name
   * (ingest/sink/late-writes.ts). Undefined when not gathered or past MAX_KEYS.
   */
  partitionKeys?: readonly number[];
  /**
   * The distinct DMS ids of the rows, when gathered (trend rows, at most MAX_KEYS): a message
   * whose DMSs all live on one shard goes to it whole, without a walk over its rows to split them
   * (TableBatches); late-write markers name them.
   */
  dmsIds?: readonly number[];
}

/**
 * One writer per table, reused for every message (the Decode step owns one set): encoding a
 * message allocates nothing, and whoever keeps rows copies them (TableBatches into its
 * RowChunks). Without them each message got fresh 64 KiB buffers that its batch kept alive.
 */
export class TableWriters {
  readonly realtime = new RowBinaryWriter();
  readonly average = new RowBinaryWriter();
  readonly other = new RowBinaryWriter();
}

/**
 * Encodes the records of one decoded batch, per target table (trend points split by tier).
 * `writers`: reused buffers (bodies are views into them); without, the bodies are new buffers
 * sized for the records.
 */
export function encodeForTables(type: 'trend' | 'alarm' | 'element', records: readonly unknown[], writers?: TableWriters): TableRows[] {
  const fresh = () => new RowBinaryWriter(Math.max(256, records.length * 64));
  if (type === 'trend') {
    const rt = writers?.realtime ?? fresh();
    const avg = writers?.average ?? fresh();
    rt.reset();
    avg.reset();
    let nRt = 0;
    let nAvg = 0;
    // The keys and DMS ids the transcoder gathers (ingest/sink/trend-keys.ts), gathered the same
    // way here: what the sink does with them (partition bounds, shards, late-write markers) must
    // not depend on the path a message took.
    const realtimeKeys: number[] = [];
    const averageKeys: number[] = [];
    const dmsIds: number[] = [];
    for (const p of records as TrendPoint[]) {
      addKey(dmsIds, p.dmsId);
      if (p.windowMinutes === 0) {
        realtimeEncoder.write(rt, p);
        addKey(realtimeKeys, partitionKey(0, p.timestamp));
        nRt++;
      } else {
        averageEncoder.write(avg, p);
        addKey(averageKeys, partitionKey(p.windowMinutes, p.timestamp));
        nAvg++;
      }
    }
    const out: TableRows[] = [];
    const dms = keysOrNone(dmsIds);
    if (nRt > 0) out.push({ encoder: realtimeEncoder, body: rt.result(), rows: nRt, partitionKeys: keysOrNone(realtimeKeys), dmsIds: dms });
    if (nAvg > 0)
      out.push({ encoder: averageEncoder, body: avg.result(), rows: nAvg, partitionKeys: keysOrNone(averageKeys), dmsIds: dms });
    return out;
  }
  const encoder = (type === 'alarm' ? alarmEncoder : elementRowEncoder) as TableEncoder<unknown>;
  const w = writers?.other ?? fresh();
  w.reset();
  for (const r of records) encoder.write(w, r);
  return records.length === 0 ? [] : [{ encoder: encoder, body: w.result(), rows: records.length }];
}
