/**
 * The record types of staas: the Avro schemas in this folder, loaded once, and the TypeScript
 * shapes that match them. The .avsc files are the contract; these interfaces follow them
 * (test/unit/schemas.test.ts checks that every interface field is a schema field and back).
 */
import { readFileSync } from 'node:fs';
import avro from 'avsc';

export interface TrendPoint {
  dmsId: number;
  dmaId: number;
  elementId: number;
  parameterId: number;
  index: string;
  timestamp: number;
  windowMinutes: number;
  value: number | null;
  discreteValue: string | null;
  min: number | null;
  max: number | null;
  discreteMax: string | null;
  samples: number;
  status: number;
}

export interface AlarmEvent {
  dmsId: number;
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
  timestamp: number;
  createdAt: number;
  rootCreatedAt: number;
  owner: string | null;
  comment: string | null;
  elementName: string;
  parameterName: string;
}

/** A table cell: avsc decodes a [null, double, string] union to the bare value. */
export interface Cell {
  columnId: number;
  value: number | string | null;
}

export interface ElementRow {
  dmsId: number;
  dmaId: number;
  elementId: number;
  tableParameterId: number;
  primaryKey: string;
  displayKey: string;
  columns: Cell[];
  timestamp: number;
  version: number;
  deleted: boolean;
}

export const RECORD_TYPES = ['trend', 'alarm', 'element'] as const;
export type RecordType = (typeof RECORD_TYPES)[number];

export interface RecordOf {
  trend: TrendPoint;
  alarm: AlarmEvent;
  element: ElementRow;
}

export type AnyRecord = RecordOf[RecordType];

const FILES: Record<RecordType, string> = { trend: './trend-point.avsc', alarm: './alarm-event.avsc', element: './element-row.avsc' };

/** The schema files, minified: written as-is into every container header (docs and logical types included). */
export const SCHEMA_JSON: Readonly<Record<RecordType, string>> = Object.freeze(
  Object.fromEntries(
    RECORD_TYPES.map((t) => [t, JSON.stringify(JSON.parse(readFileSync(new URL(FILES[t], import.meta.url), 'utf8')))]),
  ) as Record<RecordType, string>,
);

// wrapUnions false: a [null, T] union decodes to the bare value (or null), as the interfaces say.
const load = (t: RecordType) => avro.Type.forSchema(JSON.parse(SCHEMA_JSON[t]) as avro.Schema, { wrapUnions: false });

/** The current (reader) schema of each record type. */
export const READER_TYPES: Readonly<Record<RecordType, avro.Type>> = Object.freeze({
  trend: load('trend'),
  alarm: load('alarm'),
  element: load('element'),
});

/** Full Avro names, which identify a writer schema's record type across versions. */
export const TYPE_BY_NAME: ReadonlyMap<string, RecordType> = new Map(RECORD_TYPES.map((t) => [READER_TYPES[t].name ?? t, t]));
