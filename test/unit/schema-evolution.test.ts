/**
 * Evolution rule 4 (schemas/README.md): unions may gain branches at the end. A newer writer's
 * values of branches this reader knows (or promotes into one, long -> double) are read; a value
 * of a branch it lacks is refused with its own reason.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type avro from 'avsc';
import { decodeBatch, encodeBatch } from '../../schemas/container.ts';
import { AvroDecodeError } from '../../schemas/errors.ts';
import { parseWriter, resolveWriter } from '../../schemas/evolution.ts';
import { typeExtends } from '../../schemas/lock.ts';
import { READER_TYPES } from '../../schemas/records.ts';
import { elementRow, trendPoint } from '../support/records.ts';

type Json = Record<string, unknown>;

/** The element-row schema whose Cell.value union is [null, double, string, ...extra]. */
function elementWriter(extra: string[]): avro.Type {
  const schema = structuredClone(READER_TYPES.element.schema()) as Json;
  const columns = (schema.fields as Json[]).find((f) => f.name === 'columns')!;
  const cell = (columns.type as Json).items as Json;
  const value = (cell.fields as Json[]).find((f) => f.name === 'value')!;
  value.type = ['null', 'double', 'string', ...extra];
  return parseWriter(schema as avro.Schema);
}

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

function decodeFailure(buf: Buffer): AvroDecodeError {
  try {
    decodeBatch(buf);
  } catch (err) {
    assert.ok(err instanceof AvroDecodeError, String(err));
    return err;
  }
  assert.fail('decoded without error');
}

describe('a newer writer whose unions gained branches', () => {
  it('reads values of known branches when the writer added boolean', () => {
    const writer = elementWriter(['boolean']);
    const rows = [
      elementRow(1),
      elementRow(2, {
        columns: [
          { columnId: 5, value: null },
          { columnId: 6, value: 'up' },
          { columnId: 7, value: -1.5 },
        ],
      }),
    ];
    const out = decodeBatch(encodeBatch('element', rows, { writerType: writer }));
    assert.equal(out.type, 'element');
    assert.deepEqual(plain(out.records), plain(rows));
  });

  it('refuses a message holding a boolean, naming the record and the field', () => {
    const writer = elementWriter(['boolean']);
    const rows = [elementRow(1), elementRow(2, { columns: [{ columnId: 5, value: true as never }] })];
    const err = decodeFailure(encodeBatch('element', rows, { writerType: writer }));
    assert.equal(err.failure, 'unsupported-branch');
    assert.match(err.message, /record 1: columns\.0\.value holds a boolean \(true\)/);
  });

  it('loads a writer that added long (ambiguous beside double when unwrapped) and reads longs as doubles', () => {
    const writer = elementWriter(['long', 'boolean']);
    // The writer's own type has wrapped unions: values name their branch.
    const wrapped = (v: unknown) =>
      v === null ? null : typeof v === 'string' ? { string: v } : typeof v === 'boolean' ? { boolean: v } : v;
    const record = (columns: [number, unknown][]) => ({
      ...elementRow(3),
      columns: columns.map(([columnId, value]) => ({ columnId, value: wrapped(value) })),
    });
    const good = record([
      [1, { long: 2 ** 40 }],
      [2, { double: 0.25 }],
      [3, 'x'],
      [4, null],
    ]);
    const out = decodeBatch(encodeBatch('element', [good] as never, { writerType: writer }));
    assert.deepEqual((out.records[0] as { columns: unknown[] }).columns.map(plain), [
      { columnId: 1, value: 2 ** 40 },
      { columnId: 2, value: 0.25 },
      { columnId: 3, value: 'x' },
      { columnId: 4, value: null },
    ]);
    const bad = record([[1, true]]);
    assert.equal(decodeFailure(encodeBatch('element', [bad] as never, { writerType: writer })).failure, 'unsupported-branch');
  });

  it('widens only what the writer added, and leaves the current schema unresolved', () => {
    const same = resolveWriter(READER_TYPES.element, parseWriter(READER_TYPES.element.schema()));
    assert.equal(same.resolver, undefined);
    assert.deepEqual(same.addedBranches, []);
    const added = resolveWriter(READER_TYPES.element, elementWriter(['long', 'boolean']));
    assert.deepEqual(added.addedBranches, ['staas.v1.ElementRow.columns[].value: boolean'], 'long reads as double: nothing to add for it');
  });

  it('still refuses a retyped field, and a union that lost or reordered a branch of ours cannot pass the lock', () => {
    const schema = structuredClone(READER_TYPES.trend.schema()) as Json;
    (schema.fields as Json[]).find((f) => f.name === 'value')!.type = ['null', 'boolean'];
    const records = [{ ...trendPoint(1), value: true }];
    assert.equal(
      decodeFailure(encodeBatch('trend', records as never, { writerType: parseWriter(schema as avro.Schema) })).failure,
      'unsupported-branch',
    );
    const retyped = structuredClone(READER_TYPES.trend.schema()) as Json;
    (retyped.fields as Json[]).find((f) => f.name === 'dmsId')!.type = 'boolean';
    const buf = encodeBatch('trend', [{ ...trendPoint(1), dmsId: true }] as never, { writerType: parseWriter(retyped as avro.Schema) });
    assert.equal(decodeFailure(buf).failure, 'incompatible-schema');
  });
});

describe('the lock accepts unions that gained branches at the end, nothing else', () => {
  it('compares types', () => {
    assert.ok(typeExtends(['null', 'double', 'string', 'boolean'], ['null', 'double', 'string']));
    assert.ok(typeExtends(['null', 'double', 'string'], ['null', 'double', 'string']));
    assert.ok(!typeExtends(['null', 'boolean', 'double', 'string'], ['null', 'double', 'string']), 'inserted, not appended');
    assert.ok(!typeExtends(['null', 'double'], ['null', 'double', 'string']), 'a branch removed');
    assert.ok(!typeExtends('long', 'int'));
    const cells = (value: unknown) => ({
      type: 'array',
      items: {
        type: 'record',
        name: 'Cell',
        fields: [
          { name: 'columnId', type: 'int' },
          { name: 'value', type: value },
        ],
      },
    });
    assert.ok(typeExtends(cells(['null', 'double', 'string', 'long']), cells(['null', 'double', 'string'])), 'nested');
    assert.ok(!typeExtends(cells(['null', 'string']), cells(['null', 'double', 'string'])));
  });
});
