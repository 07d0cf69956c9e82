/**
 * One suite of invariants that every step of the Sink passes (after getsentry/arroyo's
 * tests/processing/strategies/test_all.py): each step is driven through the real chain below it,
 * with fakes only at the edges (ClickHouse, the DLQ producer, the commit call; see chain.ts).
 *   1. A rejected submit has no side effects (nothing stored, sent, delivered or marked).
 *   2. `join` delivers each message to the commit step exactly once.
 *   3. Nothing is committed before all its tables acknowledged (or its DLQ copy was).
 *   4. `poll` rethrows failures of asynchronous work.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Completion } from '../../../../ingest/sink/completion.ts';
import { encodeForTables } from '../../../../ingest/sink/encoders.ts';
import { MessageRejected, type MessageRef, type Step } from '../../../../ingest/sink/steps/step.ts';
import { RowChunks } from '../../../../ingest/sink/row-chunks.ts';
import type { TableBatch } from '../../../../ingest/sink/steps/table-batch.ts';
import type { TrendPoint } from '../../../../schemas/records.ts';
import { averagePoint, trendPoint } from '../../../support/records.ts';
import { chain, settle, trendMessage, type Chain, type ChainOptions } from './chain.ts';

/** One real-time point, or (two tables) a real-time point and an average. */
const points = (i: number, twoTables = false): TrendPoint[] => (twoTables ? [trendPoint(i), averagePoint(i, 5)] : [trendPoint(i)]);

interface StepCase {
  name: string;
  options?: ChainOptions;
  step(c: Chain): Step<never>;
  /** The step's input for one consumed message (the message feeds two tables if `twoTables`). */
  item(c: Chain, ref: MessageRef, twoTables: boolean): unknown;
  /** Items per message: Insert takes one batch per table. */
  items?(c: Chain, ref: MessageRef, twoTables: boolean): unknown[];
  /** A consumed message for this step. */
  message(c: Chain, i: number, twoTables?: boolean): MessageRef;
  /** Makes the next submit reject; `drain` gives room again. Absent: the step never rejects. */
  fill?(c: Chain): void;
  drain?(c: Chain): void;
  /** Makes asynchronous work fail; returns what poll must throw. Absent: see `noAsyncFailure`. */
  failAsync?(c: Chain): RegExp;
  noAsyncFailure?: string;
  /** What the message waits for before it may be committed, and how to grant it. */
  hold(c: Chain): void;
  grant(c: Chain, which: 'first' | 'rest'): void;
}

const trendRef = (c: Chain, i: number, twoTables = false) => {
  const m = trendMessage(points(i, twoTables));
  return c.ref(m.value, { headers: m.headers });
};

const holdInserts = (c: Chain) => (c.clickhouse.auto = false);
const grantInserts = (c: Chain, which: 'first' | 'rest') => {
  if (which === 'first') c.clickhouse.ack('trend_realtime');
  else {
    c.clickhouse.auto = true;
    c.clickhouse.ack('trend_realtime');
    c.clickhouse.ack('trend_average');
  }
};

/** One table batch per table of the message, as TableBatches would hand them on. */
function batchesOf(ref: MessageRef, twoTables: boolean): TableBatch[] {
  const tables = encodeForTables('trend', points(Number(ref.offset), twoTables));
  ref.completion.feeds(tables.map((t) => t.encoder.table));
  return tables.map((t) => {
    const body = new RowChunks();
    body.append(t.body);
    return {
      encoder: t.encoder,
      lane: 0,
      body,
      rows: t.rows,
      messageBytes: 0,
      openedAt: 0,
      refs: [ref],
      partitionKeys: undefined,
      dmsIds: undefined,
    };
  });
}

const CASES: StepCase[] = [
  {
    name: 'Decode',
    options: { batchRows: 1, maxInFlight: 1, maxDlqPending: 1 },
    step: (c) => c.decode,
    item: (_c, ref) => ref,
    message: trendRef,
    // Decode starts on a message only when the DLQ step has room: one held dead letter fills it.
    fill: (c) => {
      c.dlqProducer.auto = false;
      c.decode.submit(c.ref(Buffer.from('not avro')));
    },
    drain: (c) => {
      c.dlqProducer.auto = true;
      c.dlqProducer.release();
    },
    failAsync: (c) => {
      c.clickhouse.fatal = new Error('Code: 60, e.displayText() = DB::Exception: Table unit.trend_realtime does not exist');
      c.decode.submit(trendRef(c, 1));
      return /Code: 60/;
    },
    hold: holdInserts,
    grant: grantInserts,
  },
  {
    name: 'TableBatches',
    options: { batchRows: 1, maxInFlight: 1 },
    step: (c) => c.batches,
    item: (_c, ref, twoTables) => ({ ref, tables: encodeForTables('trend', points(Number(ref.offset), twoTables)) }),
    message: trendRef,
    // One insert in flight (held) and a full batch waiting: the next message cannot be taken.
    fill: (c) => {
      c.clickhouse.auto = false;
      for (let i = 0; i < 2; i++) {
        const ref = trendRef(c, 100 + i);
        c.batches.submit({ ref, tables: encodeForTables('trend', points(100 + i)) });
      }
    },
    drain: (c) => {
      c.clickhouse.auto = true;
      c.clickhouse.ack('trend_realtime');
    },
    failAsync: (c) => {
      c.clickhouse.fatal = new Error('Code: 60, e.displayText() = DB::Exception: Table unit.trend_realtime does not exist');
      const ref = trendRef(c, 1);
      c.batches.submit({ ref, tables: encodeForTables('trend', points(1)) });
      return /Code: 60/;
    },
    hold: holdInserts,
    grant: grantInserts,
  },
  {
    name: 'Insert',
    options: { maxInFlight: 1 },
    step: (c) => c.insert,
    item: (_c, ref, twoTables) => batchesOf(ref, twoTables)[0],
    items: (_c, ref, twoTables) => batchesOf(ref, twoTables),
    message: trendRef,
    fill: (c) => {
      c.clickhouse.auto = false;
      c.insert.submit(batchesOf(trendRef(c, 100), false)[0]!);
    },
    drain: (c) => {
      c.clickhouse.auto = true;
      c.clickhouse.ack('trend_realtime');
    },
    failAsync: (c) => {
      c.clickhouse.fatal = new Error('Code: 60, e.displayText() = DB::Exception: Table unit.trend_realtime does not exist');
      c.insert.submit(batchesOf(trendRef(c, 1), false)[0]!);
      return /Code: 60/;
    },
    hold: holdInserts,
    grant: grantInserts,
  },
  {
    name: 'DeadLetter',
    options: { maxDlqPending: 1 },
    step: (c) => c.deadLetter,
    item: (_c, ref) => ({ ref, reason: 'corrupt', detail: 'unit test' }),
    message: (c) => c.ref(Buffer.from('not avro')),
    fill: (c) => {
      c.dlqProducer.auto = false;
      c.deadLetter.submit({ ref: c.ref(Buffer.from('not avro')), reason: 'corrupt', detail: 'filler' });
    },
    drain: (c) => {
      c.dlqProducer.auto = true;
      c.dlqProducer.release();
    },
    failAsync: (c) => {
      c.dlqProducer.fail = new Error('broker gone');
      c.deadLetter.submit({ ref: c.ref(Buffer.from('x')), reason: 'corrupt', detail: 'unit test' });
      return /sending it to the DLQ \(corrupt\) failed: broker gone/;
    },
    hold: (c) => (c.dlqProducer.auto = false),
    grant: (c, which) => {
      if (which === 'rest') {
        c.dlqProducer.auto = true;
        c.dlqProducer.release();
      }
    },
  },
  {
    name: 'CommitOffsets',
    step: (c) => c.commit,
    // The commit step takes messages that are done; their Completion is what hands them over.
    item: (_c, ref) => ref,
    message: (c, i) => {
      const ref = c.ref(Buffer.from(`m${i}`));
      ref.completion = new Completion(() => undefined);
      ref.completion.feeds([]);
      return ref;
    },
    noAsyncFailure: 'a failed commit is retried at the next poll, not thrown (a later offset supersedes it)',
    hold: () => undefined,
    grant: () => undefined,
  },
];

const itemsOf = (s: StepCase, c: Chain, ref: MessageRef, twoTables = false): unknown[] =>
  s.items?.(c, ref, twoTables) ?? [s.item(c, ref, twoTables)];

/** What a submit could have changed, outside the step itself. */
function effects(c: Chain, ref: MessageRef) {
  return {
    stored: c.clickhouse.stored.length,
    held: c.clickhouse.held.length,
    dlqSent: c.dlqProducer.sent.length,
    dlqHeld: c.dlqProducer.held.length,
    delivered: c.delivered.length,
    bufferedBytes: c.batches.bytes() + c.insert.bytes(),
    inFlight: c.insert.inFlight,
    waitingFor: ref.completion.waitingFor,
    done: ref.completion.done,
  };
}

async function commitNow(c: Chain): Promise<void> {
  await settle();
  await c.commit.join();
}

for (const s of CASES) {
  describe(`step invariants: ${s.name}`, () => {
    it('a rejected submit has no side effects, and the same message is taken once there is room', async (t) => {
      if (s.fill === undefined) return t.skip('never rejects');
      const c = chain(s.options);
      const step = s.step(c);
      s.fill(c);
      await settle();
      const ref = s.message(c, 1);
      const [item] = itemsOf(s, c, ref);
      const before = effects(c, ref);
      assert.throws(() => step.submit(item as never), MessageRejected);
      await settle();
      assert.deepEqual(effects(c, ref), before);
      s.drain!(c);
      await settle();
      step.submit(item as never);
      await step.join();
      await commitNow(c);
      assert.equal(c.delivered.filter((r) => r === ref).length, 1, 'delivered once after the retry');
    });

    it('join delivers each message to the commit step exactly once', async () => {
      const c = chain({ ...s.options, maxInFlight: 64, maxDlqPending: 64 });
      const step = s.step(c);
      const refs: MessageRef[] = [];
      for (let i = 0; i < 20; i++) {
        const ref = s.message(c, i, i % 3 === 0);
        refs.push(ref);
        for (const item of itemsOf(s, c, ref, i % 3 === 0)) step.submit(item as never);
      }
      await step.join();
      await commitNow(c);
      assert.deepEqual(
        c.delivered.map((r) => r.offset).sort((a, b) => Number(a) - Number(b)),
        refs.map((r) => r.offset),
      );
      assert.equal(c.committed.get(`${refs[0]!.topic}[0]`), String(Number(refs.at(-1)!.offset) + 1));
    });

    it('commits nothing before all its tables acknowledged', async () => {
      const c = chain({ ...s.options, batchRows: 1, maxInFlight: 4, maxDlqPending: 4 });
      const step = s.step(c);
      if (s.name === 'CommitOffsets') {
        // The commit step itself refuses a message its Completion does not call done.
        const ref = c.ref(Buffer.from('m'));
        ref.completion.feeds(['trend_realtime', 'trend_average']);
        assert.throws(() => step.submit(ref as never), /is not done: waits for trend_realtime, trend_average/);
        await commitNow(c);
        assert.equal(c.committed.size, 0);
        return;
      }
      s.hold(c);
      const ref = s.message(c, 1, true);
      for (const item of itemsOf(s, c, ref, true)) step.submit(item as never);
      await commitNow(c);
      s.grant(c, 'first');
      await commitNow(c);
      assert.deepEqual([c.delivered.length, c.committed.size], [0, 0], `waits for ${ref.completion.waitingFor.join(', ')}`);
      s.grant(c, 'rest');
      await step.join();
      await commitNow(c);
      assert.deepEqual(c.delivered, [ref]);
      assert.equal(c.committed.get(`${ref.topic}[0]`), String(Number(ref.offset) + 1));
    });

    it('poll rethrows a failure of asynchronous work', async (t) => {
      if (s.failAsync === undefined) return t.skip(s.noAsyncFailure ?? '');
      const c = chain({ ...s.options, batchRows: 1 });
      const step = s.step(c);
      const expected = s.failAsync(c);
      await settle();
      assert.throws(() => step.poll(), expected);
      await commitNow(c);
      assert.equal(c.committed.size, 0, 'nothing committed past the failure');
    });
  });
}
