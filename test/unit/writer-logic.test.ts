import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Batcher, type OpenBatch } from '../../ingest/writer/batcher.ts';
import { RecordValidationError, toAlarmEvent, toElementRow, toTrendPoint } from '../../schemas/validate.ts';
import { trendPoint } from '../support/records.ts';

const TS = Date.UTC(2026, 5, 1);

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RecordValidationError, String(err));
    return err.problems;
  }
  assert.fail('expected a RecordValidationError');
}

describe('record validation at the door', () => {
  it('fills schema defaults for optional fields', () => {
    assert.deepEqual(toTrendPoint({ dmsId: 1, dmaId: 2, elementId: 3, parameterId: 4, timestamp: TS, value: 1.5 }), {
      dmsId: 1,
      dmaId: 2,
      elementId: 3,
      parameterId: 4,
      index: '',
      timestamp: TS,
      windowMinutes: 0,
      value: 1.5,
      discreteValue: null,
      min: null,
      max: null,
      discreteMax: null,
      samples: 0,
      status: 0,
    });
    const a = toAlarmEvent({
      dmsId: 1,
      dmaId: 2,
      elementId: 3,
      alarmId: 9,
      rootAlarmId: 9,
      severity: 2,
      alarmType: 10,
      status: 1,
      timestamp: TS,
    });
    assert.equal(a.createdAt, TS);
    assert.equal(a.parameterId, -1);
    assert.equal(a.owner, null);
    const e = toElementRow({ dmsId: 1, dmaId: 2, elementId: 3, tableParameterId: 1000, primaryKey: 'k', timestamp: TS });
    assert.deepEqual(e.columns, []);
    assert.equal(e.deleted, false);
  });

  it('accepts a complete valid record unchanged', () => {
    const p = trendPoint(3);
    assert.deepEqual(toTrendPoint(p), p);
  });

  it('names every problem of a bad record', () => {
    const problems = problemsOf(() =>
      toTrendPoint({ dmsId: -1, dmaId: 1.5, elementId: 3, parameterId: -2, timestamp: TS / 1000, value: NaN, index: 'x'.repeat(800) }),
    );
    assert.deepEqual(problems, [
      'dmsId must be an integer in [0, 2147483647], got -1',
      'dmaId must be an integer in [0, 2147483647], got 1.5',
      'parameterId must be an integer in [-1, 2147483647], got -2',
      'index is 800 bytes, at most 768 allowed',
      `timestamp must be epoch milliseconds between 2000 and 2100, got ${TS / 1000}`,
      'value must be a finite number or null, got NaN',
      'a normal trend point needs a value or a discreteValue',
    ]);
  });

  it('refuses non-objects, wrong types and averages fields on real-time points', () => {
    assert.match(problemsOf(() => toTrendPoint(null as never))[0]!, /expected an object, got null/);
    assert.match(problemsOf(() => toTrendPoint('{}' as never))[0]!, /expected an object, got "\{\}"/);
    assert.deepEqual(
      problemsOf(() => toTrendPoint({ dmsId: 1, dmaId: 1, elementId: 1, parameterId: 1, timestamp: TS, value: 1, min: 0 })),
      ['min, max and samples belong to averages (windowMinutes > 0)'],
    );
    assert.deepEqual(
      problemsOf(() =>
        toElementRow({
          dmsId: 1,
          dmaId: 1,
          elementId: 1,
          tableParameterId: 1,
          primaryKey: '',
          timestamp: TS,
          columns: [{ columnId: 2, value: Infinity }],
          deleted: 'yes',
        } as never),
      ),
      [
        'columns[0].value must be a finite number or null, got Infinity',
        'deleted must be a boolean, got "yes"',
        'primaryKey is empty: a standalone parameter needs exactly one cell whose columnId equals tableParameterId',
      ],
    );
    // The standalone form itself is valid.
    const standalone = toElementRow({
      dmsId: 1,
      dmaId: 1,
      elementId: 1,
      tableParameterId: 7,
      primaryKey: '',
      timestamp: TS,
      columns: [{ columnId: 7, value: 'on' }],
    });
    assert.deepEqual(standalone.columns, [{ columnId: 7, value: 'on' }]);
  });
});

describe('batcher', () => {
  function setup(limits = { records: 3, bytes: 1000, lingerMs: 50 }) {
    let now = 0;
    const sealed: OpenBatch[] = [];
    const b = new Batcher(
      limits,
      (x) => sealed.push(x),
      () => now,
    );
    return { b, sealed, tick: (ms: number) => (now += ms) };
  }

  it('seals a partition batch at its record count, keeping partitions and types apart', () => {
    const { b, sealed } = setup();
    for (let i = 0; i < 7; i++) b.add('trend', i % 2, trendPoint(i), 10);
    b.add('alarm', 0, trendPoint(99), 10);
    assert.deepEqual(
      sealed.map((s) => [s.type, s.partition, s.records.length, s.records[0]!.timestamp]),
      [
        ['trend', 0, 3, trendPoint(0).timestamp],
        ['trend', 1, 3, trendPoint(1).timestamp],
      ],
    );
    assert.equal(b.bytes, 20);
  });

  it('seals at the byte limit', () => {
    const { b, sealed } = setup({ records: 100, bytes: 100, lingerMs: 50 });
    b.add('trend', 0, trendPoint(1), 60);
    assert.equal(sealed.length, 0);
    b.add('trend', 0, trendPoint(2), 60);
    assert.equal(sealed[0]?.records.length, 2);
    assert.equal(b.bytes, 0);
  });

  it('seals batches older than the linger time, and everything on sealAll', () => {
    const { b, sealed, tick } = setup();
    b.add('trend', 0, trendPoint(1), 10);
    tick(30);
    b.add('element', 2, trendPoint(2), 10);
    tick(25);
    b.sealExpired();
    assert.deepEqual(
      sealed.map((s) => s.type),
      ['trend'],
    );
    b.sealAll();
    assert.deepEqual(
      sealed.map((s) => s.type),
      ['trend', 'element'],
    );
  });
});
