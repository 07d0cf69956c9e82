/**
 * One alarm event as every alarm route answers it, the columns it is read from (alarm_events and
 * alarm_active share them), and its JSON schema. Times are epoch ms; ids and enum values are
 * DataMiner's (severity, alarm type, status, user status ids: see domain.md §3).
 */
import { sql, type Sql } from '../../storage/sql.ts';

/** The alarm_events / alarm_active columns of an alarm item, in SELECT form. */
export const ALARM_COLUMNS: Sql = sql`dma_id, element_id, parameter_id, idx, display_key, alarm_id, root_alarm_id,
  previous_alarm_id, severity, severity_range, alarm_type, status, user_status, value, display_value, ts, created_at,
  root_created_at, owner, comment, element_name, parameter_name`;

/** A row of ALARM_COLUMNS as the reader returns it (64-bit integers as JSON numbers). */
export interface AlarmRow {
  dma_id: number;
  element_id: number;
  parameter_id: number;
  idx: string;
  display_key: string;
  alarm_id: number;
  root_alarm_id: number;
  previous_alarm_id: number;
  severity: number;
  severity_range: number;
  alarm_type: number;
  status: number;
  user_status: number;
  value: string;
  display_value: string;
  ts: number;
  created_at: number;
  root_created_at: number;
  owner: string | null;
  comment: string | null;
  element_name: string;
  parameter_name: string;
}

export interface AlarmItem {
  dmaId: number;
  elementId: number;
  parameterId: number;
  index: string;
  displayKey: string;
  alarmId: number;
  rootAlarmId: number;
  previousAlarmId: number;
  severity: number;
  severityRange: number;
  alarmType: number;
  status: number;
  userStatus: number;
  value: string;
  displayValue: string;
  time: number;
  createdAt: number;
  rootCreatedAt: number;
  owner: string | null;
  comment: string | null;
  elementName: string;
  parameterName: string;
}

export function toAlarmItem(r: AlarmRow): AlarmItem {
  return {
    dmaId: r.dma_id,
    elementId: r.element_id,
    parameterId: r.parameter_id,
    index: r.idx,
    displayKey: r.display_key,
    alarmId: r.alarm_id,
    rootAlarmId: r.root_alarm_id,
    previousAlarmId: r.previous_alarm_id,
    severity: r.severity,
    severityRange: r.severity_range,
    alarmType: r.alarm_type,
    status: r.status,
    userStatus: r.user_status,
    value: r.value,
    displayValue: r.display_value,
    time: r.ts,
    createdAt: r.created_at,
    rootCreatedAt: r.root_created_at,
    owner: r.owner,
    comment: r.comment,
    elementName: r.element_name,
    parameterName: r.parameter_name,
  };
}

const int = (description: string) => ({ type: 'integer', description }) as const;
const str = (description: string) => ({ type: 'string', description }) as const;

/** JSON schema of one alarm item (response serialisation and the OpenAPI document). */
export const alarmItemSchema = {
  $id: 'AlarmEvent',
  type: 'object',
  additionalProperties: false,
  required: [
    'dmaId',
    'elementId',
    'parameterId',
    'index',
    'displayKey',
    'alarmId',
    'rootAlarmId',
    'previousAlarmId',
    'severity',
    'severityRange',
    'alarmType',
    'status',
    'userStatus',
    'value',
    'displayValue',
    'time',
    'createdAt',
    'rootCreatedAt',
    'owner',
    'comment',
    'elementName',
    'parameterName',
  ],
  properties: {
    dmaId: int('agent where the element was created'),
    elementId: int('element id'),
    parameterId: int('parameter id (-1: element-level alarm)'),
    index: str('table row primary key; empty for a standalone parameter'),
    displayKey: str('table row display key'),
    alarmId: int('this event; unique within its tree'),
    rootAlarmId: int("the tree's first event (tree = dmaId/elementId/rootAlarmId)"),
    previousAlarmId: int('the event this one follows; 0 for the root'),
    severity: int('DataMiner severity id: 1 Critical, 2 Major, 3 Minor, 4 Warning, 5 Normal, 13 Information, …'),
    severityRange: int('6 High, 7 Low, 5 Normal'),
    alarmType: int('DataMiner alarm type id: 10 New Alarm, 11 Cleared, 8 Escalated, 19 Acknowledged, …'),
    status: int('DataMiner status id: 12 Open, 11 Cleared, 25 Mask, 54 Clearable'),
    userStatus: int('18 Not Assigned, 19 Acknowledged, 20 Resolved, 21 Unresolved'),
    value: str('raw value that caused the event'),
    displayValue: str('value as displayed'),
    time: int('time of the event (epoch ms)'),
    createdAt: int('creation time of the event (epoch ms)'),
    rootCreatedAt: int("creation time of the tree's root (epoch ms)"),
    owner: { type: 'string', nullable: true, description: 'owner; null when none' },
    comment: { type: 'string', nullable: true, description: 'comment; null when none' },
    elementName: str('element name at the time of the event'),
    parameterName: str('parameter description at the time of the event'),
  },
} as const;
