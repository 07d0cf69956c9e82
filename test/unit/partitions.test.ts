import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { alarmEncoder, averageEncoder, elementRowEncoder, realtimeEncoder, type TableEncoder } from '../../ingest/sink/encoders.ts';
import { RowBinaryWriter } from '../../storage/rowbinary-writer.ts';
import {
  MAX_PARTITIONS_PER_INSERT,
  columnTypes,
  countPartitions,
  insertBodies,
  partitionBodies,
  rowPartitions,
  utcPeriod,
} from '../../storage/partitions.ts';
import { alarmEvent, averagePoint, elementRow, nullFlagsAs, trendPoint } from '../support/records.ts';

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

  it('reads a Nullable flag other than 0 as NULL, as ClickHouse does (any non-zero byte)', () => {
    for (const [table, encoder, nulls] of [
      ['trend_realtime', realtimeEncoder, 1],
      ['trend_average', averageEncoder, 3],
    ] as const) {
      const points = [0, 1, 2].map((i) =>
        trendPoint(i, { index: '', timestamp: T0 + i * DAY, windowMinutes: nulls === 1 ? 0 : 5, value: null, min: null, max: null }),
      );
      const rows = points.map((p) => encode(encoder, [p]));
      const flagged = Buffer.concat(rows.map((r) => nullFlagsAs(r, nulls === 3, 2)));
      const spans = rowPartitions(table, encoder.columns, flagged);
      assert.deepEqual(
        spans.map((r) => r.end - r.start),
        rows.map((r) => r.length),
      );
      assert.equal(countPartitions(table, encoder.columns, [flagged]), table === 'trend_realtime' ? 3 : 1);
    }
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

  it('groups partitions in the order they first appear, rows of one partition in their order, at most the limit per body', () => {
    const days = [0, 1, 0, 2, 1];
    const points = days.map((d, i) => trendPoint(i, { timestamp: T0 + d * DAY + i }));
    const body = encode(realtimeEncoder, points);
    const row = (i: number) => encode(realtimeEncoder, [points[i]!]);
    const chunks = [body.subarray(0, 50), body.subarray(50)]; // the first row straddles the two
    assert.deepEqual(
      [...partitionBodies('trend_realtime', realtimeEncoder.columns, chunks, 2)],
      [Buffer.concat([row(0), row(2), row(1), row(4)]), row(3)],
    );
    assert.throws(() => [...partitionBodies('trend_realtime', realtimeEncoder.columns, chunks, 0)], RangeError);
  });

  it('refuses a body that is not whole rows', () => {
    const body = encode(realtimeEncoder, [trendPoint(1)]);
    assert.throws(() => rowPartitions('trend_realtime', realtimeEncoder.columns, body.subarray(0, body.length - 3)), RangeError);
    assert.throws(() => rowPartitions('trend_realtime', realtimeEncoder.columns, body.subarray(0, 20)), RangeError, 'cut inside ts');
    assert.throws(() => insertBodies('trend_realtime', realtimeEncoder.columns, body.subarray(0, 20)), RangeError);
  });

  it('counts and splits the partitions of a body given in chunks cut anywhere (rows straddling chunks, long strings) as the whole body has', () => {
    // Strings up to 12,000 bytes: rows longer than the first look at a straddling row (4 KiB).
    const text = fc.oneof(
      fc.constant(''),
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.tuple(fc.string({ unit: 'grapheme', maxLength: 8 }), fc.integer({ min: 2000, max: 6000 })).map(([s, n]) => s + 'ü'.repeat(n)),
    );
    const rows = fc.array(
      fc.record({
        day: fc.integer({ min: -3, max: 80 }),
        index: text,
        window: fc.constantFrom(5, 60, 120),
      }),
      { minLength: 1, maxLength: 20 },
    );
    const bodyOf = (table: 'trend_realtime' | 'trend_average' | 'alarm_events', rs: { day: number; index: string; window: number }[]) => {
      const ts = (r: { day: number }, i: number) => T0 + r.day * DAY + i;
      if (table === 'trend_realtime')
        return encode(
          realtimeEncoder,
          rs.map((r, i) => trendPoint(i, { timestamp: ts(r, i), index: r.index })),
        );
      if (table === 'trend_average')
        return encode(
          averageEncoder,
          rs.map((r, i) => ({ ...averagePoint(i, r.window), timestamp: ts(r, i), index: r.index })),
        );
      return encode(
        alarmEncoder,
        rs.map((r, i) => alarmEvent(i, { timestamp: ts(r, i), value: r.index })),
      );
    };
    const columnsOf = {
      trend_realtime: realtimeEncoder.columns,
      trend_average: averageEncoder.columns,
      alarm_events: alarmEncoder.columns,
    };
    fc.assert(
      fc.property(
        fc.constantFrom('trend_realtime' as const, 'trend_average' as const, 'alarm_events' as const),
        rows,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
        (table, rs, cutsAt) => {
          const body = bodyOf(table, rs);
          const columns = columnsOf[table];
          const cuts = [...new Set(cutsAt.map((f) => Math.floor(f * body.length)))].sort((a, b) => a - b);
          const chunked = (b: Buffer) =>
            [...cuts, b.length].map((end, i) => b.subarray(Math.min(b.length, i === 0 ? 0 : cuts[i - 1]!), Math.min(b.length, end)));
          const chunks = chunked(body);
          const spans = rowPartitions(table, columns, body);
          assert.equal(countPartitions(table, columns, chunks), new Set(spans.map((r) => r.partition)).size);
          // Split at 3 partitions per body: the rows of the whole body, grouped by partition in the order seen.
          const groups = new Map<string, Buffer[]>();
          for (const r of spans) groups.set(r.partition, [...(groups.get(r.partition) ?? []), body.subarray(r.start, r.end)]);
          const expected = [];
          const all = [...groups.values()];
          for (let g = 0; g < all.length; g += 3) expected.push(Buffer.concat(all.slice(g, g + 3).flat()));
          assert.deepEqual([...partitionBodies(table, columns, chunks, 3)], expected);
          // Cut short inside its last row: refused, however it is chunked.
          assert.throws(() => countPartitions(table, columns, chunked(body.subarray(0, body.length - 1))), RangeError);
        },
      ),
      { numRuns: 300 },
    );
  });
});
