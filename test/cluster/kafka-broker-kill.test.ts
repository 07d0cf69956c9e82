/**
 * A Kafka broker killed with -9 under load, on the stack's 3-node cluster (issue 11): while the
 * fleet simulator writes through the Writer (acks=all, topics at replication factor 3 and
 * min.insync.replicas=2), the broker that leads the most partitions is killed. Leaders move to the
 * other two, the Writer keeps writing and the Sink keeps storing; after the run everything Kafka
 * holds is in ClickHouse exactly once under FINAL (counts, and sums of timestamps and values), and
 * what the simulator counted is what is stored. The broker restarts and rejoins: every replica
 * back in sync.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { startSinkProcess, stopSinkProcess, type SinkProcess } from '../../bench/sink-process.ts';
import { runSimulator } from '../../bench/simulator.ts';
import {
  allTopics,
  createClusterTopics,
  killNode,
  kafkaCluster,
  partitionLeaders,
  restartNode,
  untilFullyInSync,
  type KafkaClusterHandle,
} from '../support/kafka-cluster.ts';
import {
  committedToEnd,
  createTestDatabase,
  queryRows,
  uniqueName,
  withAdmin,
  type Int64Json,
  type TestDatabase,
} from '../support/services.ts';
import { simulatorCounts } from '../support/simulator-summary.ts';
import { kafkaFigures, storedFigures } from '../support/stored-vs-kafka.ts';
import { until } from '../support/wait.ts';

/** Messages on the topics so far (sum of the partitions' high watermarks). */
async function messagesOn(kafka: Kafka, topics: string[]): Promise<number> {
  return withAdmin(kafka, async (admin) => {
    let n = 0;
    for (const t of topics) for (const p of await admin.fetchTopicOffsets(t)) n += Number(p.high);
    return n;
  });
}

describe('Kafka cluster: a broker leading partitions killed with -9 while the simulator writes', { timeout: 6 * 60_000 }, () => {
  let cluster: KafkaClusterHandle;
  let topics: Topics;
  let prefix: string;
  let database: TestDatabase;
  let sink: SinkProcess | undefined;
  let victim: number | undefined;
  const groupId = uniqueName('cluster-sink');

  before(async () => {
    cluster = await kafkaCluster();
    ({ topics, prefix } = await createClusterTopics(cluster.kafka, 6));
    database = await createTestDatabase();
  });

  after(async () => {
    if (sink !== undefined) await stopSinkProcess(sink);
    // Leave the cluster whole for the next test, whatever happened here.
    if (victim !== undefined) await restartNode(cluster.cfg, victim).catch((err: Error) => console.error(err.message));
    await withAdmin(cluster.kafka, (a) => a.deleteTopics({ topics: allTopics(topics) })).catch(() => undefined);
    await database?.drop();
  });

  it('writes and stores on through the failover, exactly once, and the broker rejoins', async () => {
    const dataTopics = [topics.trend, topics.alarm, topics.element];
    sink = startSinkProcess({
      ...cluster.env,
      STAAS_TOPIC_PREFIX: prefix,
      STAAS_SINK_GROUP: groupId,
      STAAS_CLICKHOUSE_DATABASE: database.db,
      STAAS_SINK_BATCH_AGE_MS: '200',
    });
    const sim = runSimulator(3000, 30, {
      captureStderr: true,
      env: { ...cluster.env, STAAS_TOPIC_PREFIX: prefix },
      args: ['--agents', '2', '--elements', '40', '--parameters', '10', '--deliver-timeout', '120'],
    });
    const storedRows = async () =>
      Number((await queryRows<{ n: Int64Json }>(database.client, `SELECT count() AS n FROM ${database.db}.trend_realtime`))[0]!.n);

    // Under way: the sink stores, then the broker leading most trend partitions dies.
    await until('the sink to store rows', async () => (await storedRows()) > 0, 60_000, 250);
    await sleep(3000);
    const before = await partitionLeaders(cluster.kafka, topics.trend);
    const perNode = new Map<number, number>();
    for (const leader of before.values()) perNode.set(leader, (perNode.get(leader) ?? 0) + 1);
    victim = [...perNode.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    const rowsAtKill = await storedRows();
    const messagesAtKill = await messagesOn(cluster.kafka, dataTopics);
    const killedNode = victim;
    await killNode(cluster.cfg, victim);
    const killedAt = Date.now();

    // Leaders move to the two live brokers (after the controller's broker session timeout).
    await until(
      'every trend partition led by a live broker',
      async () => [...(await partitionLeaders(cluster.kafka, topics.trend)).values()].every((l) => l >= 0 && l !== victim),
      60_000,
      500,
    );
    const failoverMs = Date.now() - killedAt;
    // Writes continue and the sink continues, with the broker still down.
    await until('Kafka to take more messages', async () => (await messagesOn(cluster.kafka, dataTopics)) > messagesAtKill, 30_000, 250);
    await until('the sink to store more rows', async () => (await storedRows()) > rowsAtKill, 60_000, 250);

    const { code, out } = await sim.exited;
    assert.equal(code, 0, out);
    const written = simulatorCounts(out);
    assert.equal(written.errors, 0, out);
    assert.equal(written.spoolLeft, 0, out);
    assert.ok(sink.child.exitCode === null, `the sink is still running: ${sink.output()}`);

    // The broker comes back and catches up: every replica in sync again.
    await restartNode(cluster.cfg, victim);
    await untilFullyInSync(cluster.kafka, allTopics(topics));
    victim = undefined;

    await until('the sink to commit everything', () => committedToEnd(cluster.kafka, groupId, dataTopics), 120_000, 500);
    const stored = await storedFigures(database.client, database.db);
    assert.deepEqual(stored, await kafkaFigures(cluster.kafka, topics));
    assert.equal(stored.trend_realtime.rows + stored.trend_average.rows, written.trend, out);
    assert.equal(stored.alarm_events.rows, written.alarms, out);
    console.log(
      `trend partitions led per node ${JSON.stringify(Object.fromEntries(perNode))}, killed node ${killedNode}; leaders moved in ${failoverMs} ms; ` +
        `${written.total} records written, ${stored.trend_realtime.rows} real-time points stored`,
    );
  });
});
