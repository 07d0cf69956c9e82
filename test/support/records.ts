/** Sample records for tests: deterministic for a given seed index. */
import assert from 'node:assert/strict';
import type { AlarmEvent, ElementRow, TrendPoint } from '../../schemas/records.ts';

const BASE_TS = Date.UTC(2026, 10, 1, 12, 0, 0);

export function trendPoint(i: number, over: Partial<TrendPoint> = {}): TrendPoint {
  return {
    dmsId: 7,
    dmaId: 101,
    elementId: 1000 + (i % 10),
    parameterId: 200 + (i % 3),
    index: i % 4 === 0 ? `row/${i}` : '',
    timestamp: BASE_TS + i * 1000,
    windowMinutes: 0,
    value: i % 5 === 0 ? null : i * 1.5,
    discreteValue: i % 5 === 0 ? `state-${i}` : null,
    min: null,
    max: null,
    discreteMax: null,
    samples: 0,
    status: 0,
    ...over,
  };
}

export function averagePoint(i: number, windowMinutes = 5): TrendPoint {
  return trendPoint(i, {
    windowMinutes,
    timestamp: BASE_TS + i * windowMinutes * 60_000,
    value: 10 + i,
    min: 5 + i,
    max: 20 + i,
    samples: 30,
    status: windowMinutes,
    discreteValue: null,
  });
}

export function alarmEvent(i: number, over: Partial<AlarmEvent> = {}): AlarmEvent {
  return {
    dmsId: 7,
    dmaId: 101,
    elementId: 1000 + (i % 10),
    parameterId: 300,
    index: '',
    displayKey: '',
    alarmId: 5000 + i,
    rootAlarmId: 5000 + i - (i % 3),
    previousAlarmId: i % 3 === 0 ? 0 : 5000 + i - 1,
    severity: 1 + (i % 4),
    severityRange: 6,
    alarmType: i % 3 === 0 ? 10 : 8,
    status: 1,
    userStatus: 0,
    value: `${i}`,
    displayValue: `${i} dBm`,
    timestamp: BASE_TS + i * 1000,
    createdAt: BASE_TS + i * 1000,
    rootCreatedAt: BASE_TS + (i - (i % 3)) * 1000,
    owner: i % 2 === 0 ? null : 'operator',
    comment: i % 2 === 0 ? null : 'it\'s "quoted"\n',
    elementName: `element ${1000 + (i % 10)}`,
    parameterName: 'RX level',
    ...over,
  };
}

export function elementRow(i: number, over: Partial<ElementRow> = {}): ElementRow {
  return {
    dmsId: 7,
    dmaId: 101,
    elementId: 1000 + (i % 10),
    tableParameterId: 1000,
    primaryKey: `key-${i}`,
    displayKey: `Interface ${i}`,
    columns: [
      { columnId: 1002, value: i * 2.5 },
      { columnId: 1003, value: `up ${i}` },
      { columnId: 1004, value: null },
    ],
    timestamp: BASE_TS + i * 1000,
    version: i + 1,
    deleted: false,
    ...over,
  };
}

/**
 * A copy of one trend row's RowBinary as the Sink's encoders write it (realtime or average layout),
 * of a point with idx '' and every double NULL, with each NULL's flag byte set to `flag`
 * (ClickHouse reads any non-zero flag byte as NULL). Throws AssertionError when a flag byte is not
 * where the layout puts it, or not 1.
 */
export function nullFlagsAs(row: Buffer, average: boolean, flag: number): Buffer {
  const b = Buffer.from(row);
  // The four Int32 ids, idx '' (one byte), the window (averages), the time, then one flag byte per NULL double.
  const at = 16 + 1 + (average ? 2 : 0) + 8;
  for (let k = 0; k < (average ? 3 : 1); k++) {
    assert.equal(b[at + k], 1);
    b[at + k] = flag;
  }
  return b;
}
