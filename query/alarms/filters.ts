/**
 * The WHERE conditions of the alarm routes, built only with storage/sql.ts. They are split by
 * where they may go:
 * - `treeScope` and `keysetAfter` name only sorting-key columns of alarm_active / alarm_events
 *   (dms_id, dma_id, element_id, root_alarm_id, alarm_id), so they are safe inside the WHERE of
 *   a `FROM … FINAL` subquery (a key condition keeps or drops a whole collapsed row);
 * - `alarmConditions` names other columns, so over FINAL it belongs in an outer SELECT (18.16
 *   may apply a non-key WHERE as PREWHERE before FINAL collapses the rows).
 */
import { SEVERITY_INFORMATION } from '../../storage/schema.ts';
import { ident, join, sql, type Sql } from '../../storage/sql.ts';
import { tenantFilter, type Principal } from '../auth/access.ts';

/** Which element's alarms (element routes) or the whole DMS (when absent). */
export interface ElementScope {
  dmaId: number;
  elementId: number;
}

/** What the alarm listings filter on, besides the tree scope. Absent or empty = no condition. */
export interface AlarmFilter {
  /** One parameter of the element (element routes). */
  parameterId?: number;
  /** One table row of that parameter: the row's primary key (`idx`). */
  index?: string;
  /** DataMiner severity ids (1 Critical … 13 Information …), any of them. */
  severity?: readonly number[];
  /** DataMiner alarm type ids (10 New Alarm, 11 Cleared, 8 Escalated, 19 Acknowledged, …), any of them. */
  alarmType?: readonly number[];
  /** Owner name, exactly (alarms without an owner never match). */
  owner?: string;
  /** Leave out information events (severity 13), as DataMiner's history does by default. */
  excludeInformationEvents?: boolean;
}

/** The caller's DMS (and shared elements), narrowed to one element when given: key columns only. */
export function treeScope(p: Principal, element?: ElementScope): Sql {
  const tenant = tenantFilter(p);
  if (element === undefined) return tenant;
  return sql`${tenant} AND dma_id = ${element.dmaId} AND element_id = ${element.elementId}`;
}

function anyOf(column: string, values: readonly number[]): Sql {
  return sql`${ident(column)} IN (${join(
    values.map((v) => sql`${v}`),
    ', ',
  )})`;
}

/** The filter's conditions joined by AND (`1` when there are none); non-key columns. */
export function alarmConditions(f: AlarmFilter): Sql {
  const parts: Sql[] = [];
  if (f.parameterId !== undefined) parts.push(sql`parameter_id = ${f.parameterId}`);
  if (f.index !== undefined) parts.push(sql`idx = ${f.index}`);
  if (f.severity !== undefined && f.severity.length > 0) parts.push(anyOf('severity', f.severity));
  if (f.alarmType !== undefined && f.alarmType.length > 0) parts.push(anyOf('alarm_type', f.alarmType));
  if (f.owner !== undefined) parts.push(sql`owner = ${f.owner}`);
  if (f.excludeInformationEvents === true) parts.push(sql`severity != ${SEVERITY_INFORMATION}`);
  return parts.length === 0 ? sql`1` : join(parts, ' AND ');
}

/**
 * Rows strictly after `key` in the order of `columns` (all ascending, or all descending): the
 * keyset condition of a page, written out as ORs and ANDs (portable, and usable by the primary
 * key index). `columns` are plain column names of our own, never request text.
 */
export function keysetAfter(columns: readonly string[], key: readonly number[], order: 'asc' | 'desc'): Sql {
  if (columns.length === 0 || columns.length !== key.length) throw new Error('a keyset needs one value per column');
  const build = (i: number): Sql => {
    const column = ident(columns[i]!);
    const step = order === 'asc' ? sql`${column} > ${key[i]!}` : sql`${column} < ${key[i]!}`;
    if (i === columns.length - 1) return step;
    return sql`(${step} OR (${column} = ${key[i]!} AND ${build(i + 1)}))`;
  };
  return build(0);
}
