/** TableBatches driven with a recording next step (as arroyo tests its strategies): exact hand-offs and rejections. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { Completion } from '../../../../ingest/sink/completion.ts';
import { encodeForTables } from '../../../../ingest/sink/encoders.ts';
import { MessageRejected, type MessageRef, type Step } from '../../../../ingest/sink/steps/step.ts';
import { TableBatches, type TableBatch } from '../../../../ingest/sink/steps/table-batch.ts';
import { alarmEvent, trendPoint } from '../../../support/records.ts';

class Recorder<T> implements Step<T> {
  items: T[] = [];
  reject = false;
  submit(item: T): void {
    if (this.reject) throw new MessageRejected('recorder');
    this.items.push(item);
  }
  poll(): void {}
  join(): Promise<void> {
    return Promise.resolve();
  }
}

let offset = 0;
const done: MessageRef[] = [];
const ref = (): MessageRef => {
  const r: MessageRef = {
    topic: 't',
    partition: 0,
    offset: String(offset++),
    message: {} as KafkaMessage,
    completion: new Completion(() => done.push(r)),
    generation: 0,
  };
  return r;
};

describe('TableBatches step', () => {
  it('hands a table batch on at its row limit, with the messages that fed it', () => {
    const next = new Recorder<TableBatch>();
    const step = new TableBatches({ rows: 4, bytes: 1 << 20, ageMs: 60_000, maxBufferedBytes: 1 << 30 }, next);
    const refs = [ref(), ref(), ref()];
    step.submit({ ref: refs[0]!, tables: encodeForTables('trend', [trendPoint(1), trendPoint(2)]) });
    step.submit({ ref: refs[1]!, tables: encodeForTables('alarm', [alarmEvent(1)]) });
    assert.equal(next.items.length, 0);
    step.submit({ ref: refs[2]!, tables: encodeForTables('trend', [trendPoint(3), trendPoint(4)]) });
    assert.deepEqual(
      next.items.map((b) => [b.encoder.table, b.rows, b.refs.map((r) => r.offset)]),
      [['trend_realtime', 4, [refs[0]!.offset, refs[2]!.offset]]],
    );
    assert.deepEqual(refs[1]!.completion.waitingFor, ['alarm_events'], 'the alarm message waits for its table');
  });

  it('rejects a message without taking it when a full batch cannot be handed on', () => {
    const next = new Recorder<TableBatch>();
    const step = new TableBatches({ rows: 2, bytes: 1 << 20, ageMs: 60_000, maxBufferedBytes: 1 << 30 }, next);
    next.reject = true;
    step.submit({ ref: ref(), tables: encodeForTables('trend', [trendPoint(1), trendPoint(2)]) }); // full, kept
    const rejected = ref();
    assert.throws(() => step.submit({ ref: rejected, tables: encodeForTables('trend', [trendPoint(3)]) }), MessageRejected);
    assert.deepEqual(rejected.completion.waitingFor, ['decode'], 'not taken');
    next.reject = false;
    step.submit({ ref: rejected, tables: encodeForTables('trend', [trendPoint(3)]) });
    assert.deepEqual(
      next.items.map((b) => b.rows),
      [2],
    );
  });

  it("bounds a batch's partitions by the union of its messages' keys, or not at all once one came without", () => {
    const next = new Recorder<TableBatch>();
    const step = new TableBatches({ rows: 6, bytes: 1 << 20, ageMs: 60_000, maxBufferedBytes: 1 << 30 }, next);
    const withKeys = (keys: number[] | undefined) =>
      encodeForTables('trend', [trendPoint(1), trendPoint(2)]).map((t) => ({ ...t, partitionKeys: keys }));
    step.submit({ ref: ref(), tables: withKeys([10, 11]) });
    step.submit({ ref: ref(), tables: withKeys([11, 12]) });
    step.submit({ ref: ref(), tables: withKeys([10]) });
    step.submit({ ref: ref(), tables: withKeys([20]) });
    step.submit({ ref: ref(), tables: withKeys(undefined) });
    step.submit({ ref: ref(), tables: withKeys([30]) });
    assert.deepEqual(
      next.items.map((b) => (b.partitionKeys === undefined ? undefined : [...b.partitionKeys].sort())),
      [[10, 11, 12], undefined],
    );
  });

  it('completes a message with no rows at once', () => {
    const step = new TableBatches({ rows: 10, bytes: 1 << 20, ageMs: 60_000, maxBufferedBytes: 1 << 30 }, new Recorder());
    const empty = ref();
    step.submit({ ref: empty, tables: [] });
    assert.equal(done.at(-1), empty);
  });
});

describe('TableBatches memory cap', () => {
  it('rejects messages while batches and inserts retain the cap, sends its batches on at poll, takes again once drained', () => {
    const next = new Recorder<TableBatch>();
    let downstream = 0;
    const step = new TableBatches({ rows: 1_000_000, bytes: 1 << 30, ageMs: 60_000, maxBufferedBytes: 128 * 1024 }, next, () => downstream);
    step.submit({ ref: ref(), tables: encodeForTables('trend', [trendPoint(1)]) });
    step.submit({ ref: ref(), tables: encodeForTables('alarm', [alarmEvent(1)]) });
    assert.equal(
      step.bytes(),
      128 * 1024 + 2 * 200,
      'two open batches of one 64 KiB chunk each and the (empty) messages they keep: what they retain, not the 200 bytes of rows',
    );
    assert.equal(step.full, true);
    const rejected = ref();
    assert.throws(() => step.submit({ ref: rejected, tables: encodeForTables('trend', [trendPoint(2)]) }), /memory is full/);
    assert.deepEqual(rejected.completion.waitingFor, ['decode'], 'not taken');
    step.poll();
    assert.deepEqual(
      next.items.map((b) => b.encoder.table),
      ['trend_realtime', 'alarm_events'],
      'poll sent the open batches on',
    );
    downstream = 128 * 1024; // now retained by the inserts
    assert.throws(() => step.submit({ ref: rejected, tables: encodeForTables('trend', [trendPoint(2)]) }), /memory is full/);
    downstream = 0; // stored
    step.submit({ ref: rejected, tables: encodeForTables('trend', [trendPoint(2)]) });
    assert.deepEqual(rejected.completion.waitingFor, ['trend_realtime']);
  });

  it('takes a message larger than the cap when nothing else is held (else it could never pass)', () => {
    const step = new TableBatches({ rows: 1_000_000, bytes: 1 << 30, ageMs: 60_000, maxBufferedBytes: 1024 }, new Recorder());
    const big = ref();
    step.submit({
      ref: big,
      tables: encodeForTables(
        'trend',
        Array.from({ length: 100 }, (_, i) => trendPoint(i)),
      ),
    });
    assert.deepEqual(big.completion.waitingFor, ['trend_realtime']);
  });
});
