/**
 * The Sink when its topics change under it (issue 9 item 4), with the real broker and database:
 * a topic deleted and re-created, a committed offset removed by retention, partitions added, and
 * topics that do not exist yet when it starts.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { batchMessage } from '../../ingest/kafka/message.ts';
import { TopicIdReader } from '../../ingest/kafka/topic-ids.ts';
import { createTopicsWaiting, ensureTopics, topicsFor, type Topics } from '../../ingest/kafka/topics.ts';
import { readSinkConfig, type SinkConfig } from '../../ingest/sink/config.ts';
import { Sink } from '../../ingest/sink/sink.ts';
import { trendPoint } from '../support/records.ts';
import {
  connections,
  createTestDatabase,
  createTestTopics,
  deleteTestTopics,
  queryRows,
  testKafka,
  uniqueName,
  withAdmin,
  type Int64Json,
  type TestDatabase,
} from '../support/services.ts';
import { until } from '../support/wait.ts';

/** A sink on `topics` writing into `database`, its log lines and its metrics. */
async function startSink(topics: Topics, database: TestDatabase, groupId: string, over: Partial<SinkConfig> = {}) {
  const lines: string[] = [];
  const registry = new Registry();
  const sink = await Sink.create(
    readSinkConfig(process.env, {
      retentionIntervalMs: 0,
      topicPrefix: topics.trend.replace(/\.trend$/, ''),
      groupId,
      batchAgeMs: 100,
      commitIntervalMs: 200,
      metadataRefreshMs: 1000,
      ...over,
    }),
    { ...connections, clickhouse: { ...connections.clickhouse, database: database.db } },
    { registry, log: { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) } },
  );
  const started = sink.start();
  const metric = async (name: string) => (await registry.getSingleMetric(name)!.get()).values;
  return { sink, started, lines, metric };
}

/** Sends trend points [from, to) to one partition, one message each, in one request. */
async function sendPoints(kafka: Kafka, topic: string, from: number, to: number, partition = 0): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    const messages = [];
    for (let i = from; i < to; i++) messages.push({ ...batchMessage('trend', [trendPoint(i)], `k${i}`), partition });
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

async function stored(database: TestDatabase): Promise<number> {
  const [r] = await queryRows<{ n: Int64Json }>(database.client, `SELECT count() AS n FROM ${database.db}.trend_realtime FINAL`);
  return Number(r!.n);
}

async function committed(kafka: Kafka, groupId: string, topic: string, partition = 0): Promise<string | undefined> {
  const [t] = await withAdmin(kafka, (a) => a.fetchOffsets({ groupId, topics: [topic] }));
  return t?.partitions.find((p) => p.partition === partition)?.offset;
}

describe('Sink topology changes (real broker and database)', () => {
  const kafka = testKafka();
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  it('reads a topic deleted and re-created under it from the start, says so, and commits no offset over the gap', async () => {
    const topics = await createTestTopics(kafka, 1);
    cleanup.push(() => deleteTestTopics(kafka, topics));
    const database = await createTestDatabase();
    cleanup.push(() => database.drop());
    const groupId = uniqueName('sink-recreated');
    // Batches wait 1.5 s, so that the re-read stays visible in /health for a while.
    const s = await startSink(topics, database, groupId, { batchAgeMs: 1500 });
    cleanup.push(() => s.sink.stop());
    await s.started;
    await sendPoints(kafka, topics.trend, 0, 200);
    await until('the old topic stored', async () => (await stored(database)) === 200, 30_000);
    await until('its offsets committed', async () => (await committed(kafka, groupId, topics.trend)) === '200', 10_000);

    await withAdmin(kafka, (a) => a.deleteTopics({ topics: [topics.trend] }));
    await new Promise((r) => setTimeout(r, 500));
    await withAdmin(kafka, (a) => createTopicsWaiting(a, [{ topic: topics.trend, numPartitions: 1 }]));
    // More messages than the sink had read: its old position (200) lies inside the new topic.
    await sendPoints(kafka, topics.trend, 200, 600);

    // Noticed either way, whichever comes first: the topic id changed, or the old position lay past the new topic's end.
    const noticed = (l: string) => l.includes('was re-created') || l.includes('went back from offset');
    const recovering = () => s.sink.health().reasons.some((r) => /(re-created|went back).*reading it again from/.test(r));
    let sawRecovering = false;
    await until(
      'the re-creation noticed',
      () => {
        sawRecovering ||= recovering();
        return s.lines.some(noticed);
      },
      30_000,
      50,
    );
    await until(
      'every point of both topics stored',
      async () => {
        sawRecovering ||= recovering();
        return (await stored(database)) === 600;
      },
      30_000,
      50,
    );
    const line = s.lines.find(noticed)!;
    // Noticed before the new points were written, the topic was empty: nothing to read again.
    assert.ok(sawRecovering || line.includes('[0] 0..0'), `/health said the topic is being read again while it was: ${line}`);
    const t = topics.trend.replace(/\./g, '\\.');
    assert.match(
      line,
      new RegExp(
        `^(topic ${t} was re-created \\(topic id (\\S+) -> (?!\\2)\\S+\\): reading it again from the start \\(\\[0\\] 0\\.\\.\\d+\\)|${t}\\[0\\] went back from offset 200 to 0 .*: reading it again from 0)`,
      ),
    );
    const counted = await s.metric('staas_sink_topic_recreated_total');
    assert.ok(
      counted.some((v) => v.labels.topic === topics.trend && v.value >= 1),
      JSON.stringify(counted),
    );
    await until('the new topic committed to its end', async () => (await committed(kafka, groupId, topics.trend)) === '400', 10_000);
    await until('healthy once it caught up', () => s.sink.health().healthy, 10_000);
    assert.ok(
      s.sink.health().topology.some((n) => n.includes(line)),
      '/health keeps the note',
    );
  });

  it('reads a re-created topic from the start when the committed offset names the old topic id', async () => {
    const topics = await createTestTopics(kafka, 1);
    cleanup.push(() => deleteTestTopics(kafka, topics));
    const database = await createTestDatabase();
    cleanup.push(() => database.drop());
    const groupId = uniqueName('sink-recreated-offline');
    const reader = new TopicIdReader(kafka);
    const oldId = (await reader.read([topics.trend])).get(topics.trend)!.id!;
    await withAdmin(kafka, (a) => a.deleteTopics({ topics: [topics.trend] }));
    await new Promise((r) => setTimeout(r, 500));
    await withAdmin(kafka, (a) => createTopicsWaiting(a, [{ topic: topics.trend, numPartitions: 1 }]));
    const newId = (await reader.read([topics.trend])).get(topics.trend)!.id!;
    await reader.close();
    await sendPoints(kafka, topics.trend, 0, 400);
    // What a sink leaves when it committed the new topic's messages as the old topic's and then
    // crashed before it noticed the new id: offset 200, marked with the old id.
    const c = kafka.consumer({ groupId });
    await c.connect();
    await c.subscribe({ topics: [topics.trend] });
    const joined = new Promise((resolve) => c.on(c.events.GROUP_JOIN, resolve));
    await c.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: () => Promise.resolve() });
    await joined;
    await c.commitOffsets([{ topic: topics.trend, partition: 0, offset: '200', metadata: `topic-id:${oldId}` }]);
    await c.disconnect();

    // Batches and commits as early as they can: the sink must not commit the new topic's offsets
    // (with the new id) before it has checked the committed ones (seen when that check was slow).
    const s = await startSink(topics, database, groupId, { batchAgeMs: 10, commitIntervalMs: 10 });
    cleanup.push(() => s.sink.stop());
    await s.started;
    await until(
      () => `every point stored, the first 200 too; the sink said:\n${s.lines.join('\n')}`,
      async () => (await stored(database)) === 400,
      30_000,
    );
    assert.ok(
      s.lines.some((l) =>
        l.startsWith(
          `topic ${topics.trend} was re-created (topic id ${oldId} -> ${newId}, seen in the committed offsets): reading it again from the start ([0] 0..400)`,
        ),
      ),
      s.lines.join('\n'),
    );
    assert.deepEqual(
      (await s.metric('staas_sink_topic_recreated_total')).map((v) => [v.labels.detected_by, v.value]),
      [['committed-topic-id', 1]],
    );
    await until('committed to the end', async () => (await committed(kafka, groupId, topics.trend)) === '400', 10_000);
    const [t] = await withAdmin(kafka, (a) => a.fetchOffsets({ groupId, topics: [topics.trend] }));
    assert.equal(t!.partitions[0]!.metadata, `topic-id:${newId}`, 'commits name the topic id they were made for');
  });

  it('logs and counts what an offset reset skipped when retention removed the committed offset', async () => {
    const topics = await createTestTopics(kafka, 1);
    cleanup.push(() => deleteTestTopics(kafka, topics));
    const database = await createTestDatabase();
    cleanup.push(() => database.drop());
    const groupId = uniqueName('sink-reset');
    const first = await startSink(topics, database, groupId);
    await first.started;
    await sendPoints(kafka, topics.trend, 0, 10);
    await until('the first points committed', async () => (await committed(kafka, groupId, topics.trend)) === '10', 30_000);
    await first.sink.stop();

    // While the sink is away, Kafka removes the oldest messages (as retention does): offsets 10..24 are gone.
    await sendPoints(kafka, topics.trend, 10, 30);
    await withAdmin(kafka, async (a) => {
      await a.fetchTopicMetadata({ topics: [topics.trend] }); // kafkajs's deleteTopicRecords needs the leaders known
      await a.deleteTopicRecords({ topic: topics.trend, partitions: [{ partition: 0, offset: '25' }] });
    });

    const second = await startSink(topics, database, groupId);
    cleanup.push(() => second.sink.stop());
    await second.started;
    await until('what is left stored', async () => (await stored(database)) === 15, 30_000);
    await until('the reset logged', () => second.lines.some((l) => l.startsWith('offset reset:')), 10_000);
    assert.ok(
      second.lines.includes(
        `offset reset: ${topics.trend}[0] from 10 to 25: 15 messages skipped (no longer in Kafka, e.g. removed by retention)`,
      ),
      second.lines.join('\n'),
    );
    assert.deepEqual(
      (await second.metric('staas_sink_offset_reset_skipped_messages_total')).map((v) => [v.labels.topic, v.labels.partition, v.value]),
      [[topics.trend, '0', 15]],
    );
    assert.equal((await second.metric('staas_sink_offset_resets_total'))[0]?.value, 1);
    await until('committed to the end', async () => (await committed(kafka, groupId, topics.trend)) === '30', 10_000);
  });

  it('consumes partitions added to a topic within seconds', async () => {
    const topics = await createTestTopics(kafka, 1);
    cleanup.push(() => deleteTestTopics(kafka, topics));
    const database = await createTestDatabase();
    cleanup.push(() => database.drop());
    const s = await startSink(topics, database, uniqueName('sink-partitions'), { metadataRefreshMs: 2000 });
    cleanup.push(() => s.sink.stop());
    await s.started;
    await sendPoints(kafka, topics.trend, 0, 5);
    await until('the first points stored', async () => (await stored(database)) === 5, 30_000);

    await withAdmin(kafka, (a) => a.createPartitions({ topicPartitions: [{ topic: topics.trend, count: 3 }] }));
    const added = Date.now();
    await sendPoints(kafka, topics.trend, 5, 10, 2);
    await until('the new partition consumed', async () => (await stored(database)) === 10, 30_000);
    const took = Date.now() - added;
    assert.ok(took < 10_000, `the new partition's points stored ${took} ms after it was added`);
    assert.ok(
      s.lines.some((l) => l === `topic ${topics.trend} has 3 partitions now (was 1); the group takes them on at its next rebalance`),
    );
  });

  it('waits for topics that do not exist yet, one line each, and consumes them once created', async () => {
    const topics = topicsFor(uniqueName('test'));
    cleanup.push(() => deleteTestTopics(kafka, topics));
    const database = await createTestDatabase();
    cleanup.push(() => database.drop());
    await withAdmin(kafka, (a) => createTopicsWaiting(a, [{ topic: topics.dlq, numPartitions: 1 }]));
    const s = await startSink(topics, database, uniqueName('sink-missing'));
    cleanup.push(() => s.sink.stop());
    let startFailed: Error | undefined;
    s.started.catch((err: Error) => (startFailed = err));
    await until('the missing topics logged', () => s.lines.filter((l) => l.includes('does not exist')).length === 3, 10_000);
    for (const t of [topics.trend, topics.alarm, topics.element])
      assert.ok(s.lines.includes(`topic ${t} does not exist: waiting for it to be created (looking every 1 s)`), s.lines.join('\n'));
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(s.lines.filter((l) => l.includes('does not exist')).length, 3, 'once each, not on every look');
    assert.equal(startFailed, undefined, 'still waiting');
    assert.ok(s.sink.health().reasons.includes(`topic ${topics.trend} does not exist`));

    await withAdmin(kafka, (a) => ensureTopics(a, topics, { partitions: 1, replicationFactor: 1 }));
    await s.started;
    await sendPoints(kafka, topics.trend, 0, 3);
    await until('consumed once created', async () => (await stored(database)) === 3, 30_000);
    assert.ok(s.lines.some((l) => l.startsWith(`topic ${topics.trend} exists now`)));
    await until('healthy', () => s.sink.health().healthy, 10_000);
  });
});
