/** When a message is done (ingest/sink/completion.ts), alone and through the chain of steps. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Completion } from '../../../ingest/sink/completion.ts';
import { averagePoint, trendPoint } from '../../support/records.ts';
import { chain, settle, trendMessage } from './steps/chain.ts';

describe('Completion', () => {
  it('is done when every table it fed stored its rows, and says so once', () => {
    let calls = 0;
    const c = new Completion(() => calls++);
    c.feeds(['trend_realtime', 'trend_average']);
    c.stored('trend_realtime');
    assert.deepEqual([c.done, calls, c.waitingFor], [false, 0, ['trend_average']]);
    c.stored('trend_average');
    c.stored('trend_average');
    assert.deepEqual([c.done, calls], [true, 1]);
  });

  it('after a refusal, waits for its DLQ copy and for its other tables', () => {
    let calls = 0;
    const c = new Completion(() => calls++);
    c.feeds(['trend_realtime', 'trend_average']);
    assert.equal(c.refused('trend_realtime'), true, 'first refusal: send it to the DLQ');
    c.deadLettering();
    c.deadLettered();
    assert.deepEqual([c.done, c.waitingFor], [false, ['trend_average']], 'the average insert is still pending');
    assert.equal(c.refused('trend_average'), false, 'dead-lettered once');
    assert.deepEqual([c.done, calls], [true, 1]);
  });

  it('a message dead-lettered while decoding is done when Kafka acknowledged the copy', () => {
    const c = new Completion(() => undefined);
    c.deadLettering();
    assert.deepEqual([c.done, c.waitingFor], [false, ['dlq']]);
    c.deadLettered();
    assert.equal(c.done, true);
    assert.throws(() => c.deadLettering(), /dead-lettered once/);
  });
});

describe('a batch ClickHouse refuses as bad data (issue 9: staas.trend[0]=42 committed with its average insert pending)', () => {
  it('commits none of its messages while their rows for another table are still queued', async () => {
    const c = chain({ batchRows: 1 });
    c.clickhouse.refuse.add('trend_realtime');
    c.clickhouse.auto = false;
    const m = trendMessage([trendPoint(1), averagePoint(1, 5)]);
    const ref = c.ref(m.value, { headers: m.headers });
    c.decode.submit(ref);
    await settle();
    await c.commit.join();
    assert.equal(c.dlqProducer.sent.length, 1, 'the message went to the DLQ as a whole');
    assert.equal(c.dlqProducer.sent[0]!.headers['dlq-reason'], 'insert-rejected');
    assert.deepEqual([c.delivered.length, c.committed.size], [0, 0], 'not committed: its average insert is pending');
    c.clickhouse.ack('trend_average');
    await c.decode.join();
    await c.commit.join();
    assert.deepEqual(c.delivered, [ref]);
    assert.equal(c.committed.get(`${ref.topic}[0]`), String(Number(ref.offset) + 1));
  });

  it('dead-letters a message once when both of its tables refuse it', async () => {
    const c = chain({ batchRows: 1 });
    c.clickhouse.refuse.add('trend_realtime').add('trend_average');
    const m = trendMessage([trendPoint(1), averagePoint(1, 5)]);
    const ref = c.ref(m.value, { headers: m.headers });
    c.decode.submit(ref);
    await c.decode.join();
    await c.commit.join();
    assert.equal(c.dlqProducer.sent.length, 1);
    assert.deepEqual(c.delivered, [ref]);
  });
});
