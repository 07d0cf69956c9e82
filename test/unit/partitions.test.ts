import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { alarmEncoder, averageEncoder, elementRowEncoder, realtimeEncoder, type TableEncoder } from '../../ingest/sink/encoders.ts';
import { RowBinaryWriter } from '../../ingest/sink/rowbinary.ts';
import {
  MAX_PARTITIONS_PER_INSERT,
  columnTypes,
  insertBodies,
  rowPartitions,
  splitByPartition,
  utcPeriod,
} from '../../storage/partitions.ts';
import { alarmEvent, averagePoint, elementRow, trendPoint } from '../support/records.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

function encode<T>(encoder: TableEncoder<T>, records: readonly T[]): Buffer {
  const w = new RowBinaryWriter(256);
  for (const r of records) encoder.write(w, r);
  return Buffer.from(w.result());
}

describe('partition split of RowBinary inserts', () => {
  it('knows every column the encoders write, with the DDL types', () => {
    for (const e of [realtimeEncoder, averageEncoder, alarmEncoder, elementRowEncoder]) {
      const types = columnTypes(e.table);
      for (const c of e.columns) assert.ok(types.has(c), `${e.table}.${c}`);
    }
    assert.equal(columnTypes('trend_realtime').get('value'), 'Nullable(Float64)');
    assert.equal(columnTypes('element_rows').get('cell_numbers'), 'Array(Nullable(Float64))');
  });

  it('prints UTC periods as toYYYYMMDD / toYYYYMM do', () => {
    assert.equal(utcPeriod(Date.UTC(2026, 10, 29, 23, 59, 59, 999), 'day'), '20261129');
    assert.equal(utcPeriod(Date.UTC(2026, 10, 30), 'day'), '20261130');
    assert.equal(utcPeriod(Date.UTC(2026, 11, 31, 23, 59), 'month'), '202612');
    assert.equal(utcPeriod(Date.UTC(2027, 0, 1), 'month'), '202701');
  });

  it("walks real-time rows (strings, nulls) and names each row's UTC day", () => {
    const points = [0, 1, 2, 3, 4].map((i) => trendPoint(i, { timestamp: T0 + i * DAY - 1, index: 'x'.repeat(i * 70) }));
    const body = encode(realtimeEncoder, points);
    const rows = rowPartitions('trend_realtime', realtimeEncoder.columns, body);
    assert.deepEqual(
      rows.map((r) => r.partition),
      ['20251231', '20260101', '20260102', '20260103', '20260104'],
    );
    assert.equal(rows[0]!.start, 0);
    assert.equal(rows.at(-1)!.end, body.length);
    for (let i = 1; i < rows.length; i++) assert.equal(rows[i]!.start, rows[i - 1]!.end);
    assert.deepEqual(Buffer.from(body.subarray(rows[2]!.start, rows[2]!.end)), encode(realtimeEncoder, [points[2]!]));
  });

  it('keys averages by (window, month) and alarm events by month', () => {
    const avg = [averagePoint(0, 5), averagePoint(1, 60), { ...averagePoint(2, 5), timestamp: Date.UTC(2026, 1, 1) }];
    assert.deepEqual(
      rowPartitions('trend_average', averageEncoder.columns, encode(averageEncoder, avg)).map((r) => r.partition),
      ['(5,202611)', '(60,202611)', '(5,202602)'],
    );
    const alarms = [alarmEvent(0), { ...alarmEvent(1), timestamp: Date.UTC(2025, 11, 31, 23) }];
    assert.deepEqual(
      rowPartitions('alarm_events', alarmEncoder.columns, encode(alarmEncoder, alarms)).map((r) => r.partition),
      ['202611', '202512'],
    );
  });

  it('splits 250 days into bodies of at most 50 days, each day whole, every row once', () => {
    const points: ReturnType<typeof trendPoint>[] = [];
    for (let i = 0; i < 1000; i++) points.push(trendPoint(i, { timestamp: T0 + (i % 250) * DAY + i }));
    const body = encode(realtimeEncoder, points);
    const bodies = insertBodies('trend_realtime', realtimeEncoder.columns, body);
    assert.equal(bodies.length, 5);
    const seen = new Map<string, number>();
    let rows = 0;
    for (const [n, b] of bodies.entries()) {
      const days = new Set(rowPartitions('trend_realtime', realtimeEncoder.columns, b).map((r) => r.partition));
      assert.ok(days.size <= MAX_PARTITIONS_PER_INSERT, `body ${n}: ${days.size} partitions`);
      for (const d of days) {
        assert.equal(seen.get(d), undefined, `day ${d} in two bodies`);
        seen.set(d, n);
      }
      rows += rowPartitions('trend_realtime', realtimeEncoder.columns, b).length;
    }
    assert.equal(rows, 1000);
    assert.equal(seen.size, 250);
    // Rows of one day keep their order.
    const first = rowPartitions('trend_realtime', realtimeEncoder.columns, bodies[0]!).filter((r) => r.partition === '20260101');
    assert.deepEqual(
      first.map((r) => bodies[0]!.subarray(r.start, r.end)),
      [0, 250, 500, 750].map((i) => encode(realtimeEncoder, [points[i]!])),
    );
  });

  it('leaves a body within the limit as it is, and tables without partitions alone', () => {
    const body = encode(realtimeEncoder, [trendPoint(1), trendPoint(2)]);
    const [only, ...rest] = insertBodies('trend_realtime', realtimeEncoder.columns, body);
    assert.equal(only, body);
    assert.equal(rest.length, 0);
    const rowsBody = encode(elementRowEncoder, [elementRow(1), elementRow(2)]);
    assert.deepEqual(insertBodies('element_rows', elementRowEncoder.columns, rowsBody), [rowsBody]);
  });

  it('groups by any partition key with a given limit (pure)', () => {
    const body = Buffer.from('aabbccddee');
    const spans = ['x', 'y', 'x', 'z', 'y'].map((partition, i) => ({ start: i * 2, end: i * 2 + 2, partition }));
    assert.deepEqual(
      splitByPartition(body, spans, 2).map((b) => b.toString()),
      ['aaccbbee', 'dd'],
    );
    assert.throws(() => splitByPartition(body, spans, 0), RangeError);
  });

  it('refuses a body that is not whole rows', () => {
    const body = encode(realtimeEncoder, [trendPoint(1)]);
    assert.throws(() => rowPartitions('trend_realtime', realtimeEncoder.columns, body.subarray(0, body.length - 3)), RangeError);
    assert.throws(() => rowPartitions('trend_realtime', realtimeEncoder.columns, body.subarray(0, 20)), RangeError, 'cut inside ts');
    assert.throws(() => insertBodies('trend_realtime', realtimeEncoder.columns, body.subarray(0, 20)), RangeError);
  });
});
