/**
 * Sink processes in one consumer group (issue 9 item 4), with the real broker and database: a
 * member killed with -9 loses its partitions to the other within the session timeout
 * (STAAS_SINK_SESSION_TIMEOUT_S, 10 s by default; it was a fixed 30 s), and a member stopped with
 * SIGTERM leaves the group, so the other takes over at once instead of after the timeout.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startSinkProcess, type SinkProcess } from '../../bench/sink-process.ts';
import { batchMessage } from '../../ingest/kafka/message.ts';
import { trendPoint } from '../support/records.ts';
import {
  createTestDatabase,
  createTestTopics,
  deleteTestTopics,
  queryRows,
  testKafka,
  uniqueName,
  withAdmin,
  type Int64Json,
} from '../support/services.ts';
import { until } from '../support/wait.ts';

const SESSION_TIMEOUT_MS = 10_000; // the default of STAAS_SINK_SESSION_TIMEOUT_S

describe('Sink group membership (sink processes, real broker and database)', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  it('moves a killed member’s partitions within the session timeout, and a SIGTERM’d member’s at once', async (t) => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 2);
    cleanup.push(() => deleteTestTopics(kafka, topics));
    const database = await createTestDatabase();
    cleanup.push(() => database.drop());
    const groupId = uniqueName('sink-members');
    const start = (): SinkProcess => {
      const sink = startSinkProcess({
        STAAS_TOPIC_PREFIX: topics.trend.replace(/\.trend$/, ''),
        STAAS_SINK_GROUP: groupId,
        STAAS_CLICKHOUSE_DATABASE: database.db,
        STAAS_SINK_BATCH_AGE_MS: '100',
      });
      cleanup.push(async () => {
        if (sink.child.exitCode === null && sink.child.signalCode === null) sink.child.kill('SIGKILL');
        await sink.exited;
      });
      return sink;
    };
    const members = async () =>
      withAdmin(kafka, async (a) => {
        const [g] = (await a.describeGroups([groupId])).groups;
        return g?.state === 'Stable' ? g.members.length : -1;
      });
    const producer = kafka.producer();
    await producer.connect();
    cleanup.push(() => producer.disconnect());
    let next = 0;
    /** One point to each partition; resolves with the number of points sent so far. */
    const sendToEveryPartition = async () => {
      for (const partition of [0, 1]) {
        const i = next++;
        await producer.send({
          topic: topics.trend,
          acks: -1,
          messages: [{ ...batchMessage('trend', [trendPoint(i, { elementId: i })], `k${i}`), partition }],
        });
      }
      return next;
    };
    const stored = async () =>
      Number((await queryRows<{ n: Int64Json }>(database.client, `SELECT count() AS n FROM ${database.db}.trend_realtime FINAL`))[0]!.n);

    const a = start();
    const b = start();
    await until('both members in the group', async () => (await members()) === 2, 60_000);
    let sent = await sendToEveryPartition();
    await until('the first points stored', async () => (await stored()) === sent, 30_000);

    // kill -9: no leave request; the coordinator notices when a's session times out.
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await a.exited;
    sent = await sendToEveryPartition();
    await until('b stores the killed member’s partition', async () => (await stored()) === sent, SESSION_TIMEOUT_MS + 20_000);
    const takeover = Date.now() - killedAt;
    assert.ok(takeover < SESSION_TIMEOUT_MS + 6000, `b resumed a's partition ${takeover} ms after the kill`);
    const lastJoin =
      b
        .output()
        .trim()
        .split('\n')
        .filter((l) => l.includes('joined group'))
        .at(-1) ?? '';
    assert.ok(lastJoin.includes(`"${topics.trend}":[0,1]`), `b owns both partitions: ${lastJoin}`);

    // SIGTERM: the member stores, commits and leaves; the other takes its partition at once.
    const c = start();
    await until('c joined', async () => (await members()) === 2, 60_000);
    sent = await sendToEveryPartition();
    await until('the points stored by both', async () => (await stored()) === sent, 30_000);
    const termAt = Date.now();
    c.child.kill('SIGTERM');
    assert.equal(await c.exited, 0);
    sent = await sendToEveryPartition();
    await until('b stores the stopped member’s partition', async () => (await stored()) === sent, SESSION_TIMEOUT_MS + 20_000);
    const handover = Date.now() - termAt;
    t.diagnostic(`kill -9 -> stored by the other member after ${takeover} ms; SIGTERM -> after ${handover} ms`);
    assert.ok(
      handover < SESSION_TIMEOUT_MS / 2,
      `b resumed c's partition ${handover} ms after SIGTERM (session timeout ${SESSION_TIMEOUT_MS} ms)`,
    );
    assert.equal(await members(), 1);
  });
});
