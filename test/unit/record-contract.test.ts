/**
 * The record contract (schemas/validate.ts) over whole families of fields, read from the Avro
 * schemas themselves: every string field refuses a lone surrogate, every long id carries exactly
 * what avsc can encode, every record type (and a table cell) refuses a field it does not have.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeBatch, encodeBatch } from '../../schemas/container.ts';
import { READER_TYPES, RECORD_TYPES, type RecordType } from '../../schemas/records.ts';
import {
  checkTrendPoint,
  MAX_LONG,
  MAX_TS,
  MIN_TS,
  RecordValidationError,
  toAlarmEvent,
  toElementRow,
  toTrendPoint,
} from '../../schemas/validate.ts';

const TS = Date.UTC(2026, 5, 1);

/** A valid input of each type with every string field set (so each can be spoiled in turn). */
const VALID: Record<RecordType, Record<string, unknown>> = {
  trend: {
    dmsId: 1,
    dmaId: 2,
    elementId: 3,
    parameterId: 4,
    index: 'row',
    timestamp: TS,
    windowMinutes: 5,
    value: null,
    discreteValue: 'up',
    min: null,
    max: null,
    discreteMax: 'up',
    samples: 3,
  },
  alarm: {
    dmsId: 1,
    dmaId: 2,
    elementId: 3,
    parameterId: 4,
    index: 'row',
    displayKey: 'Row',
    alarmId: 9,
    rootAlarmId: 9,
    previousAlarmId: 0,
    severity: 2,
    alarmType: 10,
    status: 1,
    value: '91',
    displayValue: '91 %',
    timestamp: TS,
    owner: 'ops',
    comment: 'seen',
    elementName: 'srv-1',
    parameterName: 'CPU',
  },
  element: {
    dmsId: 1,
    dmaId: 2,
    elementId: 3,
    tableParameterId: 1000,
    primaryKey: 'eth0',
    displayKey: 'Eth 0',
    columns: [
      { columnId: 1001, value: 'up' },
      { columnId: 1002, value: 3.5 },
    ],
    timestamp: TS,
    version: 2,
  },
};

const CHECK: Record<RecordType, (input: never) => unknown> = { trend: toTrendPoint, alarm: toAlarmEvent, element: toElementRow };

function problemsOf(type: RecordType, input: Record<string, unknown>): string[] {
  try {
    CHECK[type](input as never);
  } catch (err) {
    assert.ok(err instanceof RecordValidationError, String(err));
    return err.problems;
  }
  return [];
}

/** The schema's fields of an Avro type name ('string', 'long') — plain or as a [null, T] union branch. */
function fieldsOfType(type: RecordType, avroType: string): string[] {
  const fields = (
    READER_TYPES[type] as unknown as { fields: { name: string; type: { typeName: string; types?: { typeName: string }[] } }[] }
  ).fields;
  return fields.filter((f) => f.type.typeName === avroType || (f.type.types ?? []).some((b) => b.typeName === avroType)).map((f) => f.name);
}

describe('record contract', () => {
  it('accepts the valid inputs (the baseline of every case below)', () => {
    for (const type of RECORD_TYPES) assert.deepEqual(problemsOf(type, VALID[type]), [], type);
  });

  it('refuses a lone surrogate in every string field of every record type, naming the field', () => {
    for (const type of RECORD_TYPES) {
      const strings = fieldsOfType(type, 'string');
      assert.ok(strings.length > 0, type);
      for (const field of strings) {
        for (const bad of ['\uD800', 'ok\uDC00', 'end\uDBFF']) {
          const problems = problemsOf(type, { ...VALID[type], [field]: bad });
          assert.ok(
            problems.some((p) => p.startsWith(`${field} is not valid Unicode`)),
            `${type}.${field} = ${JSON.stringify(bad)}: ${problems.join('; ')}`,
          );
        }
      }
    }
    // The cells of a table row.
    const problems = problemsOf('element', { ...VALID.element, columns: [{ columnId: 1001, value: 'a\uD83D' }] });
    assert.deepEqual(problems, ['columns[0].value is not valid Unicode: it holds a lone surrogate at index 1']);
    // A well-formed pair (an emoji) is fine.
    assert.deepEqual(problemsOf('alarm', { ...VALID.alarm, comment: 'fire 🔥' }), []);
  });

  it('refuses a field the schema does not have, naming it (a typo must not turn an average into a real-time point)', () => {
    for (const type of RECORD_TYPES) {
      const problems = problemsOf(type, { ...VALID[type], windowMinute: 5 });
      assert.equal(problems.length, 1, `${type}: ${problems.join('; ')}`);
      assert.match(problems[0]!, /^windowMinute is not a field of the schema \(allowed: dmsId, /);
    }
    assert.match(
      problemsOf('element', { ...VALID.element, columns: [{ columnId: 1001, value: 1, unit: '%' }] })[0]!,
      /^columns\[0\]\.unit is not a field of the schema \(allowed: columnId, value\)/,
    );
  });

  it('carries every long id up to 2^53 - 2 exactly through an Avro batch, and refuses 2^53 - 1', () => {
    assert.equal(MAX_LONG, Number.MAX_SAFE_INTEGER - 1);
    const longIds: [RecordType, string][] = [
      ['alarm', 'alarmId'],
      ['alarm', 'rootAlarmId'],
      ['alarm', 'previousAlarmId'],
      ['element', 'version'],
    ];
    // Every long of the schemas is either an id above or a time (bounded to 2000..2100).
    for (const type of RECORD_TYPES)
      for (const field of fieldsOfType(type, 'long'))
        assert.ok(longIds.some(([t, f]) => t === type && f === field) || /timestamp|At$/.test(field), `${type}.${field}`);
    for (const [type, field] of longIds) {
      const record = CHECK[type]({ ...VALID[type], [field]: MAX_LONG } as never) as Record<string, unknown>;
      const decoded = decodeBatch(encodeBatch(type, [record as never])).records[0] as unknown as Record<string, unknown>;
      assert.equal(decoded[field], MAX_LONG, `${type}.${field}`);
      assert.deepEqual(problemsOf(type, { ...VALID[type], [field]: MAX_LONG + 1 }), [
        `${field} must be an integer in [0, ${MAX_LONG}], got ${MAX_LONG + 1}`,
      ]);
    }
  });

  it('accepts records as the Sink decodes them (avsc class instances with methods on their prototype)', () => {
    for (const type of RECORD_TYPES) {
      const record = CHECK[type](VALID[type] as never);
      const decoded = decodeBatch(encodeBatch(type, [record as never])).records[0]!;
      assert.notEqual(Object.getPrototypeOf(decoded), Object.prototype, 'a class instance');
      assert.deepEqual(problemsOf(type, decoded as unknown as Record<string, unknown>), [], type);
    }
  });
});

describe('trend points: the plain path at the door decides as the full check', () => {
  const pick = <T>(...values: T[]) => fc.constantFrom(...values);
  const anyValue = pick<unknown>(
    undefined,
    null,
    0,
    -1,
    1.5,
    2 ** 31,
    -(2 ** 31) - 1,
    NaN,
    Infinity,
    '',
    'x',
    'x'.repeat(257),
    '\ud800',
    true,
    {},
    [],
  );
  /** A valid input (optional fields sometimes absent), then zero to two fields set to anything. */
  const valid = fc
    .record(
      {
        dmsId: fc.nat({ max: 2 ** 31 - 1 }),
        dmaId: fc.nat({ max: 2 ** 31 - 1 }),
        elementId: fc.nat({ max: 2 ** 31 - 1 }),
        parameterId: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
        index: fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 5 }), pick(null)),
        timestamp: fc.oneof(fc.integer({ min: MIN_TS, max: MAX_TS - 1 }), pick(MIN_TS, MAX_TS - 1)),
        windowMinutes: pick(0, 0, 5, 60, 65_535),
        value: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), pick(null)),
        discreteValue: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 5 }), pick(null, 'x'.repeat(256), 'x'.repeat(257))),
        min: fc.double({ noNaN: true, noDefaultInfinity: true }),
        max: fc.double({ noNaN: true, noDefaultInfinity: true }),
        discreteMax: fc.string({ maxLength: 5 }),
        samples: fc.nat({ max: 2 ** 31 - 1 }),
        status: fc.integer({ min: -32_768, max: 32_767 }),
      },
      { requiredKeys: ['dmsId', 'dmaId', 'elementId', 'parameterId', 'timestamp'] },
    )
    .map((i) => ((i.windowMinutes ?? 0) === 0 ? { ...i, min: undefined, max: undefined, samples: undefined } : i));
  const fields = [
    'dmsId',
    'dmaId',
    'elementId',
    'parameterId',
    'index',
    'timestamp',
    'windowMinutes',
    'value',
    'discreteValue',
    'min',
    'max',
    'discreteMax',
    'samples',
    'status',
    'windowMinute',
  ];
  const edge = fc.oneof(anyValue, pick<unknown>(MIN_TS - 1, MAX_TS, -2, 65_536, 32_768, -32_769, 2 ** 31, 'é', '\udc00x'));
  const input = fc
    .tuple(valid, fc.array(fc.tuple(fc.constantFrom(...fields), edge), { maxLength: 2 }))
    .map(([i, changes]) => Object.assign({ ...i }, Object.fromEntries(changes)) as Record<string, unknown>);
  const outcome = (f: () => unknown) => {
    try {
      return { ok: f() };
    } catch (err) {
      return { error: (err as Error).message };
    }
  };

  it('accepts and refuses the same inputs, with the same record or the same problems', () => {
    fc.assert(
      fc.property(input, (i) => {
        assert.deepEqual(
          outcome(() => toTrendPoint(i as never)),
          outcome(() => checkTrendPoint(i as never)),
        );
      }),
      { numRuns: 5000 },
    );
  });
});
