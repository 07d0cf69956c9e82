import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { deflateRawSync } from 'node:zlib';
import { describe, it } from 'node:test';
import avro from 'avsc';
import { decodeBatch, encodeBatch } from '../../schemas/container.ts';
import { AvroDecodeError } from '../../schemas/errors.ts';
import { READER_TYPES, type RecordOf, type RecordType } from '../../schemas/records.ts';
import { alarmEvent, averagePoint, elementRow, trendPoint } from '../support/records.ts';

const SAMPLES: { [T in RecordType]: RecordOf[T][] } = {
  trend: [...Array.from({ length: 50 }, (_, i) => trendPoint(i)), averagePoint(1, 5), averagePoint(2, 60)],
  alarm: Array.from({ length: 20 }, (_, i) => alarmEvent(i)),
  element: [...Array.from({ length: 20 }, (_, i) => elementRow(i)), elementRow(99, { deleted: true, columns: [] })],
};

/** Plain objects (avsc decodes to record class instances). */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

function expectDecodeError(buf: Buffer, ...failures: string[]): AvroDecodeError {
  return expectDecodeErrorCounted(buf, undefined, ...failures);
}

function expectDecodeErrorCounted(buf: Buffer, expectedCount: number | undefined, ...failures: string[]): AvroDecodeError {
  try {
    decodeBatch(buf, expectedCount);
  } catch (err) {
    assert.ok(err instanceof AvroDecodeError, `expected AvroDecodeError, got ${String(err)}`);
    if (failures.length > 0) assert.ok(failures.includes(err.failure), `failure ${err.failure} not in ${failures.join('|')}`);
    return err;
  }
  assert.fail('decoded without error');
}

describe('Avro container batches', () => {
  for (const type of ['trend', 'alarm', 'element'] as const) {
    it(`round-trips a batch of ${type} records`, () => {
      const buf = encodeBatch(type, SAMPLES[type]);
      const out = decodeBatch(buf);
      assert.equal(out.type, type);
      assert.deepEqual(plain(out.records), plain(SAMPLES[type]));
    });

    it(`round-trips ${type} records with the deflate codec`, () => {
      const out = decodeBatch(encodeBatch(type, SAMPLES[type], { codec: 'deflate' }));
      assert.deepEqual(plain(out.records), plain(SAMPLES[type]));
    });
  }

  it('keeps doubles exactly, including NaN and infinities', () => {
    const values = [0, -0, 1e-300, Number.MAX_VALUE, Math.PI, NaN, Infinity, -Infinity];
    const records = values.map((value, i) => trendPoint(i, { value }));
    const out = decodeBatch(encodeBatch('trend', records)).records as RecordOf['trend'][];
    assert.deepEqual(
      out.map((r) => r.value),
      values,
    );
    assert.ok(Object.is(out[1]!.value, -0));
  });

  it('encodes an empty batch as a header-only file', () => {
    const out = decodeBatch(encodeBatch('alarm', []));
    assert.equal(out.type, 'alarm');
    assert.deepEqual(out.records, []);
  });

  it('is readable by a standard Avro container reader (avsc BlockDecoder)', async () => {
    const buf = encodeBatch('element', SAMPLES.element, { codec: 'deflate' });
    const decoder = new avro.streams.BlockDecoder({ parseHook: (schema) => avro.Type.forSchema(schema, { wrapUnions: false }) });
    const records: unknown[] = [];
    let schemaName = '';
    decoder.on('metadata', (type: avro.Type) => (schemaName = type.name ?? ''));
    await new Promise<void>((resolve, reject) => {
      decoder.on('data', (r: unknown) => records.push(r));
      decoder.on('end', resolve);
      decoder.on('error', reject);
      Readable.from([buf]).pipe(decoder);
    });
    assert.equal(schemaName, 'staas.v1.ElementRow');
    assert.deepEqual(plain(records), plain(SAMPLES.element));
  });

  it('decodes a stream written by avsc BlockEncoder', async () => {
    const encoder = new avro.streams.BlockEncoder(READER_TYPES.trend, { codec: 'deflate' });
    const chunks: Buffer[] = [];
    encoder.on('data', (c: Buffer) => chunks.push(c));
    const done = new Promise((resolve) => encoder.on('end', resolve));
    for (const r of SAMPLES.trend) encoder.write(r);
    encoder.end();
    await done;
    const out = decodeBatch(Buffer.concat(chunks));
    assert.deepEqual(plain(out.records), plain(SAMPLES.trend));
  });
});

describe('schema evolution', () => {
  const current = READER_TYPES.trend.schema() as { fields: { name: string }[] };

  it('reads a batch from an older writer that lacked a field with a default', () => {
    const older = avro.Type.forSchema(
      { ...current, fields: current.fields.filter((f) => f.name !== 'samples' && f.name !== 'discreteMax') } as avro.Schema,
      { wrapUnions: false },
    );
    const records = [trendPoint(1), trendPoint(2)].map(({ samples: _s, discreteMax: _d, ...rest }) => rest);
    const out = decodeBatch(encodeBatch('trend', records as never, { writerType: older }));
    assert.equal(out.type, 'trend');
    const got = out.records as RecordOf['trend'][];
    assert.equal(got[0]!.samples, 0, 'the default fills the missing field');
    assert.equal(got[1]!.discreteMax, null);
    assert.equal(got[1]!.value, trendPoint(2).value);
  });

  it('reads a batch from a newer writer with an extra field by skipping it', () => {
    const newer = avro.Type.forSchema(
      { ...current, fields: [...current.fields, { name: 'unit', type: 'string', default: '' }] } as avro.Schema,
      { wrapUnions: false },
    );
    const out = decodeBatch(encodeBatch('trend', [{ ...trendPoint(3), unit: 'dBm' }] as never, { writerType: newer }));
    assert.deepEqual(plain(out.records), plain([trendPoint(3)]));
  });

  it('rejects a writer schema that retyped a field', () => {
    const retyped = avro.Type.forSchema(
      { ...current, fields: current.fields.map((f) => (f.name === 'dmsId' ? { name: 'dmsId', type: 'string' } : f)) } as avro.Schema,
      { wrapUnions: false },
    );
    const buf = encodeBatch('trend', [{ ...trendPoint(1), dmsId: 'seven' }] as never, { writerType: retyped });
    expectDecodeError(buf, 'incompatible-schema');
  });

  it('rejects valid Avro of a schema that is no staas record type', () => {
    const foreign = avro.Type.forSchema({ type: 'record', name: 'acme.Thing', fields: [{ name: 'x', type: 'int' }] });
    const buf = encodeBatch('trend', [{ x: 1 }] as never, { writerType: foreign });
    const err = expectDecodeError(buf, 'unknown-schema');
    assert.match(err.message, /acme\.Thing/);
  });
});

describe('damaged input', () => {
  const good = encodeBatch('alarm', SAMPLES.alarm);

  it('reports every truncation as a typed error', () => {
    for (let n = 0; n < good.length; n++) {
      expectDecodeErrorCounted(good.subarray(0, n), SAMPLES.alarm.length, 'truncated', 'corrupt', 'not-avro');
    }
  });

  it('checks the record count the producer announced', () => {
    assert.equal(decodeBatch(good, SAMPLES.alarm.length).records.length, SAMPLES.alarm.length);
    expectDecodeErrorCounted(good, SAMPLES.alarm.length + 1, 'truncated');
  });

  it('reports bytes that are not Avro', () => {
    expectDecodeError(Buffer.from('{"dmsId": 1}'), 'not-avro');
    expectDecodeError(Buffer.alloc(0), 'truncated');
  });

  it('reports a flipped sync marker', () => {
    const bad = Buffer.from(good);
    bad[bad.length - 1]! ^= 0xff;
    expectDecodeError(bad, 'corrupt');
  });

  for (const [name, batch] of [
    ['alarm events', good],
    ['element rows (nested arrays)', encodeBatch('element', SAMPLES.element)],
  ] as const) {
    it(`never throws anything but AvroDecodeError on random corruption of ${name}`, () => {
      let seed = 42;
      const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
      let decoded = 0;
      for (let trial = 0; trial < 2000; trial++) {
        const bad = Buffer.from(batch);
        const flips = 1 + Math.floor(rand() * 4);
        for (let f = 0; f < flips; f++) bad[Math.floor(rand() * bad.length)] = Math.floor(rand() * 256);
        try {
          decodeBatch(bad);
          decoded++; // a flip inside a string value still decodes: fine, the checks downstream validate values
        } catch (err) {
          assert.ok(err instanceof AvroDecodeError, `trial ${trial}: ${String(err)}`);
        }
      }
      assert.ok(decoded < 2000, 'most corruptions are detected');
    });
  }

  it('rejects a corrupted array count without looping over it', () => {
    // One element row whose columns array claims 2^30 cells: avsc alone would loop ~10^9 times.
    const row = elementRow(1, { columns: [{ columnId: 1, value: null }] });
    const one = encodeBatch('element', [row]);
    const headerLength = encodeBatch('element', []).length;
    const sync = one.subarray(one.length - 16);
    const record = READER_TYPES.element.toBuffer(row);
    const at = record.indexOf(Buffer.from([0x02, 0x02, 0x00, 0x00])); // count 1, cell {columnId 1, null}, end
    assert.ok(at > 0);
    // The record ends right after the count: past the end avsc reads zeros, i.e. endless null cells.
    const hostile = Buffer.concat([record.subarray(0, at), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x08])]);
    const zigzag = (n: number) => avro.Type.forSchema('long').toBuffer(n);
    const bad = Buffer.concat([one.subarray(0, headerLength), zigzag(1), zigzag(hostile.length), hostile, sync]);
    const started = Date.now();
    expectDecodeError(bad, 'corrupt', 'truncated');
    assert.ok(Date.now() - started < 1000);
  });

  it('rejects random bytes with the Avro magic in front', () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let trial = 0; trial < 500; trial++) {
      const junk = Buffer.concat([
        Buffer.from([0x4f, 0x62, 0x6a, 0x01]),
        Buffer.from(Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() * 256))),
      ]);
      expectDecodeError(junk);
    }
  });
});

describe('decode limits (deflate bombs)', () => {
  const points = Array.from({ length: 50 }, (_, i) => trendPoint(i));

  it('refuses more records than the limit before decoding any', () => {
    const buf = encodeBatch('trend', points, { codec: 'deflate' });
    assert.throws(
      () => decodeBatch(buf, undefined, { maxRecords: 49, maxDecodedBytes: 1 << 20 }),
      (e: unknown) => e instanceof AvroDecodeError && e.failure === 'too-large' && /50, over the limit of 49/.test(e.message),
    );
    assert.equal(decodeBatch(buf, undefined, { maxRecords: 50, maxDecodedBytes: 1 << 20 }).records.length, 50);
  });

  it('stops inflating at the byte limit', () => {
    const buf = encodeBatch('trend', points, { codec: 'deflate' });
    const bytes = encodeBatch('trend', points).length; // about the inflated size
    assert.throws(
      () => decodeBatch(buf, undefined, { maxRecords: 1000, maxDecodedBytes: Math.floor(bytes / 4) }),
      (e: unknown) => e instanceof AvroDecodeError && e.failure === 'too-large' && /inflates to more than/.test(e.message),
    );
  });

  it('refuses a count the bytes cannot hold (14 bytes at least per trend record)', () => {
    const header = encodeBatch('trend', [], { codec: 'deflate' });
    const sync = header.subarray(header.length - 16);
    const data = deflateRawSync(Buffer.alloc(14 * 1000));
    const long = avro.Type.forSchema('long');
    const buf = Buffer.concat([header, long.toBuffer(2_000_000), long.toBuffer(data.length), data, sync]);
    assert.throws(
      () => decodeBatch(buf, undefined, { maxRecords: 10_000_000, maxDecodedBytes: 1 << 20 }),
      (e: unknown) =>
        e instanceof AvroDecodeError && e.failure === 'too-large' && /2000000 records: at least 28000000 bytes/.test(e.message),
    );
  });
});
