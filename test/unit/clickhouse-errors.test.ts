import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLICKHOUSE_ERRORS, classifyInsertError, describeInsertError } from '../../ingest/sink/clickhouse-errors.ts';

/** An error as @clickhouse/client raises it from a current server (code as a string, name suffix). */
const current = (code: number, text: string) => Object.assign(new Error(text), { code: String(code), type: 'X' });
/** An error as it comes from 18.16: a plain Error with "Code: N" in its message. */
const old = (code: number, text: string) => new Error(`Code: ${code}, e.displayText() = DB::Exception: ${text}, e.what() = DB::Exception`);

describe('ClickHouse insert error classification (one table)', () => {
  it('retries "too many parts" (merges behind) and stops on "too many partitions" (a server limit below ours)', () => {
    const parts = 'Too many parts (300). Merges are processing significantly slower than inserts';
    assert.equal(classifyInsertError(old(252, parts)), 'transient');
    assert.equal(classifyInsertError(current(252, parts)), 'transient');
    const partitions =
      'Too many partitions for single INSERT block (more than 100). The limit is controlled by max_partitions_per_insert_block setting. (TOO_MANY_PARTS)';
    const d = describeInsertError(current(252, partitions));
    assert.equal(d.kind, 'fatal');
    assert.equal(d.name, 'TOO_MANY_PARTS');
    assert.match(d.why ?? '', /max_partitions_per_insert_block/);
  });

  it('classifies each family the same on 18.16 messages and on current error objects', () => {
    const cases: [number, string][] = [
      [159, 'transient'],
      [202, 'transient'],
      [241, 'transient'],
      [243, 'transient'],
      [319, 'transient'],
      [33, 'data'],
      [53, 'data'],
      [321, 'data'],
      [60, 'fatal'],
      [81, 'fatal'],
      [516, 'fatal'],
    ];
    for (const [code, kind] of cases) {
      assert.equal(classifyInsertError(old(code, 'x')), kind, `18.16 code ${code}`);
      assert.equal(classifyInsertError(current(code, 'x')), kind, `current code ${code}`);
    }
  });

  it('retries when no server answered, stops on a code it does not know', () => {
    assert.deepEqual(describeInsertError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' })), {
      kind: 'transient',
      code: undefined,
      name: 'no server answer',
    });
    const unknown = describeInsertError(old(4242, 'something new'));
    assert.equal(unknown.kind, 'fatal');
    assert.equal(unknown.code, 4242);
  });

  it('has one entry per code and unique names', () => {
    const names = [...CLICKHOUSE_ERRORS.values()].map((e) => e.name);
    assert.equal(new Set(names).size, names.length);
    for (const [code, e] of CLICKHOUSE_ERRORS) assert.ok(Number.isInteger(code) && code > 0 && /^[A-Z_]+$/.test(e.name), `${code}`);
  });
});
