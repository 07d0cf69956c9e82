import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Batcher, RecordTooLargeError, type OpenBatch } from '../../ingest/writer/batcher.ts';
import { decodeBatch } from '../../schemas/container.ts';
import type { TrendPoint } from '../../schemas/records.ts';
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
  function setup(limits: { records: number; bytes: number; lingerMs: number } = { records: 3, bytes: 100_000, lingerMs: 50 }) {
    let now = 0;
    const sealed: OpenBatch[] = [];
    const b = new Batcher(
      { ...limits, bytes: () => limits.bytes },
      (x) => sealed.push(x),
      () => now,
    );
    return { b, sealed, tick: (ms: number) => (now += ms) };
  }
  const recordsOf = (s: OpenBatch) => (decodeBatch(s.body.seal()).records as TrendPoint[]).map((r) => ({ ...r }));

  it('seals a partition batch at its record count, keeping partitions and types apart', () => {
    const { b, sealed } = setup();
    for (let i = 0; i < 7; i++) b.add('trend', i % 2, trendPoint(i));
    b.add('element', 0, toElementRow({ dmsId: 7, dmaId: 1, elementId: 1, tableParameterId: 1000, primaryKey: 'k', timestamp: TS }));
    assert.deepEqual(
      sealed.map((s) => [s.type, s.partition, s.body.count, recordsOf(s)[0]!.timestamp, s.key]),
      [
        ['trend', 0, 3, trendPoint(0).timestamp, '7:101/1000'],
        ['trend', 1, 3, trendPoint(1).timestamp, '7:101/1001'],
      ],
    );
    assert.deepEqual(recordsOf(sealed[0]!), [trendPoint(0), trendPoint(2), trendPoint(4)]);
  });

  it('seals in encoded bytes: a batch never passes its limit, the record that would pass it starts the next one', () => {
    // Cyrillic: 2 UTF-8 bytes per character, so a length-based estimate would be half the truth.
    const row = (i: number) =>
      toElementRow({
        dmsId: 1,
        dmaId: 1,
        elementId: 1,
        tableParameterId: 1000,
        primaryKey: `k${i}`,
        timestamp: TS,
        columns: [{ columnId: 1001, value: 'Ж'.repeat(9000) }],
      });
    const limit = 100_000;
    const { b, sealed } = setup({ records: 10_000, bytes: limit, lingerMs: 50 });
    for (let i = 0; i < 20; i++) b.add('element', 0, row(i));
    b.sealAll();
    const sizes = sealed.map((s) => s.body.seal().length);
    assert.ok(
      sizes.every((n) => n <= limit),
      sizes.join(', '),
    );
    assert.ok(
      sizes.slice(0, -1).every((n) => n > limit - 18_100),
      `full batches: ${sizes.join(', ')}`,
    );
    assert.deepEqual(
      sealed.flatMap((s) => (decodeBatch(s.body.seal()).records as { primaryKey: string }[]).map((r) => r.primaryKey)),
      Array.from({ length: 20 }, (_, i) => `k${i}`),
    );
    assert.equal(b.bytes, 0);
  });

  it('keeps every record once, in order per partition, within both limits, whatever the sizes and counts (records encoded as they wait)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            partition: fc.nat(2),
            discrete: fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: fc.nat(2_000), weight: 1 }),
          }),
          { minLength: 1, maxLength: 1_500 },
        ),
        fc.integer({ min: 1, max: 700 }),
        fc.integer({ min: 6_000, max: 60_000 }),
        (adds, records, bytes) => {
          const point = (i: number, discrete: number) =>
            trendPoint(i, discrete === 0 ? {} : { discreteValue: 'd'.repeat(discrete), value: null });
          const { b, sealed } = setup({ records, bytes, lingerMs: 50 });
          adds.forEach((a, i) => b.add('trend', a.partition, point(i, a.discrete)));
          b.sealAll();
          assert.equal(b.bytes, 0);
          for (const s of sealed) {
            assert.ok(s.body.count <= records, `${s.body.count} records in a batch, limit ${records}`);
            assert.ok(s.body.seal().length <= bytes, `${s.body.seal().length} bytes in a batch, limit ${bytes}`);
          }
          for (const partition of [0, 1, 2]) {
            const want = adds.flatMap((a, i) => (a.partition === partition ? [point(i, a.discrete).timestamp] : []));
            const got = sealed.filter((s) => s.partition === partition).flatMap((s) => recordsOf(s).map((r) => r.timestamp));
            assert.deepEqual(got, want);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('refuses a record that alone exceeds the limit and keeps the open batch as it was', () => {
    const { b, sealed } = setup({ records: 100, bytes: 5_000, lingerMs: 50 });
    b.add('trend', 0, trendPoint(1));
    const held = b.bytes;
    const big = toTrendPoint({ dmsId: 7, dmaId: 1, elementId: 1, parameterId: 1, timestamp: TS, discreteValue: 'x'.repeat(6_000) });
    assert.throws(
      () => b.add('trend', 0, big),
      (e: unknown) => e instanceof RecordTooLargeError && e.limit === 5_000 && /invalid trend record/.test(e.message),
    );
    assert.throws(() => b.add('trend', 3, big), RecordTooLargeError);
    assert.equal(b.bytes, held);
    b.sealAll();
    assert.deepEqual(sealed.map(recordsOf), [[trendPoint(1)]]);
  });

  it('accounts the bytes it holds (at least what the sealed containers measure) and none once sealed', () => {
    const { b, sealed } = setup({ records: 5, bytes: 100_000, lingerMs: 50 });
    for (let i = 0; i < 12; i++) b.add('trend', i % 2, trendPoint(i));
    const before = b.bytes;
    b.sealAll();
    const sealedBytes = sealed.slice(-2).reduce((n, s) => n + s.body.seal().length, 0);
    assert.ok(before >= sealedBytes && before < 3 * sealedBytes, `${before} vs ${sealedBytes}`);
    assert.equal(b.bytes, 0);
  });

  it('seals batches older than the linger time, and everything on sealAll', () => {
    const { b, sealed, tick } = setup();
    b.add('trend', 0, trendPoint(1));
    tick(30);
    b.add('element', 2, toElementRow({ dmsId: 7, dmaId: 1, elementId: 1, tableParameterId: 1000, primaryKey: 'k', timestamp: TS }));
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
