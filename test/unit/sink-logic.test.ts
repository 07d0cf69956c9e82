import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Producer } from 'kafkajs';
import { classifyInsertError } from '../../ingest/sink/clickhouse-errors.ts';
import { DeadLetters, DlqRateExceeded, dlqRecordBytes, fitDlqRecord } from '../../ingest/sink/dlq.ts';
import { PartitionProgress } from '../../ingest/sink/offsets.ts';
import { invalidRecords } from '../../ingest/sink/validate.ts';
import { toTrendPoint } from '../../schemas/validate.ts';
import { trendPoint } from '../support/records.ts';

describe('partition progress (what may be committed)', () => {
  it('commits only past messages that are done, in offset order', () => {
    const p = new PartitionProgress();
    for (const o of [10, 11, 12, 13]) p.begin(o);
    p.done(12);
    assert.equal(p.take(), undefined, '10 and 11 are not stored yet');
    p.done(10);
    assert.equal(p.take(), 11, 'next to read after 10');
    assert.equal(p.take(), undefined, 'nothing new');
    p.done(11);
    assert.equal(p.take(), 13, '11 and 12 done: next is 13');
    p.done(13);
    assert.equal(p.take(), 14);
    assert.equal(p.pending, 0);
  });

  it('gives back an offset whose commit failed, unless a later one waits', () => {
    const p = new PartitionProgress();
    p.begin(1);
    p.begin(2);
    p.done(1);
    assert.equal(p.take(), 2);
    p.restore(2);
    p.done(2);
    p.restore(2);
    assert.equal(p.take(), 3);
  });

  it('refuses offsets that go backwards and ignores completions it forgot', () => {
    const p = new PartitionProgress();
    p.begin(5);
    assert.throws(() => p.begin(5), /offset 5 begun after 5/);
    p.done(99);
    assert.equal(p.take(), undefined);
  });
});

describe('DLQ guard', () => {
  const noProducer = {} as Producer;

  it('stops when the share of invalid messages in the window passes the limit', () => {
    const d = new DeadLetters(noProducer, 'dlq', { maxRatio: 0.5, minInvalid: 10, windowMessages: 100 });
    for (let i = 0; i < 90; i++) d.observe(false);
    for (let i = 0; i < 10; i++) d.observe(true); // 10% invalid: fine
    assert.throws(() => {
      for (let i = 0; i < 200; i++) d.observe(true);
    }, DlqRateExceeded);
  });

  it('tolerates a few invalid messages in a healthy stream', () => {
    const d = new DeadLetters(noProducer, 'dlq', { maxRatio: 0.5, minInvalid: 10, windowMessages: 100 });
    for (let i = 0; i < 100; i++) d.observe(false);
    for (let i = 0; i < 9; i++) d.observe(true); // a burst below the minimum count
    for (let i = 0; i < 1000; i++) d.observe(i % 20 === 0); // 5% invalid
  });
});

describe('ClickHouse error classification', () => {
  it('retries what may pass, dead-letters bad data, stops on the rest', () => {
    assert.equal(
      classifyInsertError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' })),
      'transient',
    );
    assert.equal(classifyInsertError(new Error('Code: 252, e.displayText() = DB::Exception: Too many parts')), 'transient');
    assert.equal(classifyInsertError(new Error('Code: 33, e.displayText() = DB::Exception: Cannot read all data')), 'data');
    assert.equal(classifyInsertError(new Error('Code: 60, e.displayText() = DB::Exception: Table staas.x does not exist')), 'fatal');
  });
});

describe('sink record validation', () => {
  it('never accepts on its fast path what the full check refuses', () => {
    let seed = 11;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
    const ts = Date.UTC(2026, 0, 1);
    for (let i = 0; i < 5000; i++) {
      const p = {
        ...trendPoint(i),
        // Avro ints decode from varints of up to 5 bytes: values past int32 reach the check.
        dmsId: pick([0, 1, -1, 2 ** 31 - 1, 2 ** 31, 2 ** 32]),
        dmaId: pick([1, 2 ** 31 - 1, 2 ** 31]),
        elementId: pick([1, 2 ** 31]),
        parameterId: pick([-2, -1, 0, 5, 2 ** 31 - 1, 2 ** 31]),
        timestamp: pick([ts, ts + 0.5, 5, 4_102_444_800_000, 946_684_800_000]),
        windowMinutes: pick([0, 5, 65_536]),
        value: pick([null, 1.5, NaN, Infinity]),
        min: pick([null, 0, -Infinity]),
        samples: pick([0, 3, -1, 2 ** 31 - 1, 2 ** 31]),
        status: pick([0, 5, 40_000]),
        index: pick(['', 'x'.repeat(256), 'é'.repeat(300), 'x'.repeat(800)]),
        discreteValue: pick([null, 'on']),
      };
      let fullOk = true;
      try {
        toTrendPoint(p);
      } catch {
        fullOk = false;
      }
      assert.equal(invalidRecords('trend', [p]) === undefined, fullOk, JSON.stringify(p).slice(0, 200));
    }
  });
});

describe('partition progress with rejected and re-delivered messages', () => {
  it('forgets a rejected message so it can be begun again, and recognises re-deliveries', () => {
    const p = new PartitionProgress();
    p.begin(1);
    p.begin(2);
    p.done(1);
    assert.equal(p.take(), 2);
    p.begin(3);
    p.forget(3); // rejected: read again later
    assert.equal(p.seen(3), false);
    assert.equal(p.seen(2), true, '2 is still being handled');
    p.begin(3);
    p.done(2);
    p.done(3);
    assert.equal(p.take(), 4);
    assert.throws(() => p.forget(3), /only forget the last begun offset/);
  });
});

describe('DLQ copies that would not fit the DLQ topic', () => {
  const headers = { 'dlq-reason': 'not-avro', 'dlq-source-topic': 't', 'original-staas-type': 'trend' };

  it('are sent whole when they fit', () => {
    const r = { key: Buffer.from('k'), value: Buffer.alloc(1000), headers };
    assert.equal(fitDlqRecord(r, 10_000), r);
  });

  it('lose the end of their value first, saying so and how large the original was', () => {
    const value = Buffer.alloc(10_000, 7);
    const r = fitDlqRecord({ key: Buffer.from('k'), value, headers }, 5000);
    assert.ok(dlqRecordBytes(r) <= 5000, `${dlqRecordBytes(r)} bytes`);
    assert.ok(r.value!.length > 4000 - 512 && r.value!.equals(value.subarray(0, r.value!.length)), `${r.value!.length} bytes kept`);
    assert.equal(r.headers['dlq-truncated'], 'value');
    assert.equal(r.headers['dlq-original-bytes'], '10000');
    assert.equal(r.headers['original-staas-type'], 'trend');
  });

  it('then their original headers and key, never the dlq-* headers', () => {
    const r = fitDlqRecord({ key: Buffer.alloc(300, 1), value: Buffer.alloc(100), headers }, 0);
    assert.deepEqual(
      [r.key!.length, r.value!.length, r.headers['dlq-truncated'], r.headers['original-staas-type'], r.headers['dlq-reason']],
      [0, 0, 'value,headers,key', undefined, 'not-avro'],
    );
  });
});
