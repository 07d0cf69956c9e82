import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import avro from 'avsc';
import { LOCK_FILE, currentFields, typeExtends, type LockedField } from '../../schemas/lock.ts';
import { READER_TYPES, RECORD_TYPES } from '../../schemas/records.ts';
import { alarmEvent, elementRow, trendPoint } from '../support/records.ts';

const lock = JSON.parse(readFileSync(LOCK_FILE, 'utf8')) as Record<string, LockedField[]>;

describe('schemas follow the evolution rule', () => {
  const current = currentFields();
  for (const [name, locked] of Object.entries(lock)) {
    it(`${name} keeps every released field with its type (unions may gain branches at the end)`, () => {
      const fields = current[name];
      assert.ok(fields !== undefined, `record ${name} was removed or renamed`);
      for (const f of locked) {
        const now: LockedField | undefined = fields.find((x) => x.name === f.name);
        assert.ok(now !== undefined, `field ${name}.${f.name} was removed`);
        assert.ok(
          typeExtends(now.type, f.type),
          `field ${name}.${f.name} changed type: ${JSON.stringify(f.type)} -> ${JSON.stringify(now.type)}`,
        );
      }
    });
  }

  it('gives every field added since the lock a default', () => {
    for (const t of RECORD_TYPES) {
      const schema = READER_TYPES[t].schema({ exportAttrs: true }) as { name: string; fields: { name: string; default?: unknown }[] };
      const released = new Set((lock[schema.name] ?? []).map((f) => f.name));
      for (const f of schema.fields) {
        if (!released.has(f.name)) assert.ok('default' in f, `new field ${schema.name}.${f.name} needs a default`);
      }
    }
  });

  it('reads data of every locked schema version with the current schema', () => {
    for (const t of RECORD_TYPES) {
      const reader = READER_TYPES[t];
      const name = reader.name!;
      const old = avro.Type.forSchema({ type: 'record', name, fields: lock[name]! } as avro.Schema, { wrapUnions: false });
      assert.doesNotThrow(() => reader.createResolver(old));
    }
  });
});

describe('TypeScript shapes match the schemas', () => {
  const samples = { trend: trendPoint(1), alarm: alarmEvent(1), element: elementRow(1) };
  for (const t of RECORD_TYPES) {
    it(`${t}: the interface's fields are exactly the schema's`, () => {
      const schema = READER_TYPES[t].schema() as { fields: { name: string }[] };
      assert.deepEqual(Object.keys(samples[t]).sort(), schema.fields.map((f) => f.name).sort());
      const errors: string[] = [];
      READER_TYPES[t].isValid(samples[t], { errorHook: (path) => errors.push(path.join('.')) });
      assert.deepEqual(errors, []);
    });
  }
});
