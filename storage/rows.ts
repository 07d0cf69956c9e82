/**
 * Records -> ClickHouse rows, per table. Column names follow storage/schema.ts. Trend points
 * split by tier: real-time changes (windowMinutes 0) and agent-computed averages.
 */
import type { AlarmEvent, ElementRow, RecordOf, RecordType, TrendPoint } from '../schemas/records.ts';
import type { TableName } from './schema.ts';

export type Row = Record<string, unknown>;

function realtimeRow(p: TrendPoint): Row {
  return {
    dms_id: p.dmsId,
    dma_id: p.dmaId,
    element_id: p.elementId,
    parameter_id: p.parameterId,
    idx: p.index,
    ts: p.timestamp,
    value: p.value,
    value_discrete: p.discreteValue ?? '',
    status: p.status,
  };
}

function averageRow(p: TrendPoint): Row {
  return {
    dms_id: p.dmsId,
    dma_id: p.dmaId,
    element_id: p.elementId,
    parameter_id: p.parameterId,
    idx: p.index,
    window_minutes: p.windowMinutes,
    ts: p.timestamp,
    value: p.value,
    min: p.min,
    max: p.max,
    value_discrete: p.discreteValue ?? '',
    max_discrete: p.discreteMax ?? '',
    samples: p.samples,
    status: p.status,
  };
}

function alarmRow(a: AlarmEvent): Row {
  return {
    dms_id: a.dmsId,
    dma_id: a.dmaId,
    element_id: a.elementId,
    parameter_id: a.parameterId,
    idx: a.index,
    display_key: a.displayKey,
    alarm_id: a.alarmId,
    root_alarm_id: a.rootAlarmId,
    previous_alarm_id: a.previousAlarmId,
    severity: a.severity,
    severity_range: a.severityRange,
    alarm_type: a.alarmType,
    status: a.status,
    user_status: a.userStatus,
    value: a.value,
    display_value: a.displayValue,
    ts: a.timestamp,
    created_at: a.createdAt,
    root_created_at: a.rootCreatedAt,
    owner: a.owner,
    comment: a.comment,
    element_name: a.elementName,
    parameter_name: a.parameterName,
  };
}

function elementRowRow(e: ElementRow): Row {
  return {
    dms_id: e.dmsId,
    dma_id: e.dmaId,
    element_id: e.elementId,
    table_parameter_id: e.tableParameterId,
    primary_key: e.primaryKey,
    display_key: e.displayKey,
    cell_ids: e.columns.map((c) => c.columnId),
    cell_numbers: e.columns.map((c) => (typeof c.value === 'number' ? c.value : null)),
    cell_texts: e.columns.map((c) => (typeof c.value === 'string' ? c.value : null)),
    ts: e.timestamp,
    // 0 means "use the timestamp": an agent without its own counter still gets last-write-wins.
    version: e.version === 0 ? e.timestamp : e.version,
    deleted: e.deleted ? 1 : 0,
  };
}

/** Rows of one batch, grouped by the table they go to. */
export function toRows<T extends RecordType>(type: T, records: readonly RecordOf[T][]): Map<TableName, Row[]> {
  const out = new Map<TableName, Row[]>();
  const push = (table: TableName, row: Row) => {
    const rows = out.get(table);
    if (rows === undefined) out.set(table, [row]);
    else rows.push(row);
  };
  for (const r of records) {
    if (type === 'trend') {
      const p = r as TrendPoint;
      if (p.windowMinutes === 0) push('trend_realtime', realtimeRow(p));
      else push('trend_average', averageRow(p));
    } else if (type === 'alarm') push('alarm_events', alarmRow(r as AlarmEvent));
    else push('element_rows', elementRowRow(r as ElementRow));
  }
  return out;
}
