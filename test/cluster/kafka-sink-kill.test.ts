/**
 * Many sinks in one consumer group on the stack's 3-node Kafka cluster (issue 11): three sink
 * processes share the 6 partitions of each topic; while the fleet simulator writes, one is killed
 * with -9. Once its session times out its partitions move to the other two, which store on: no
 * record lost, none visible twice (FINAL counts and sums equal what Kafka holds and what the
 * simulator counted). What the killed sink had stored but not yet committed is stored again by
 * the new owner and collapses under FINAL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AssignerProtocol, type Kafka } from 'kafkajs';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { startSinkProcess, stopSinkProcess, type SinkProcess } from '../../bench/sink-process.ts';
import { runSimulator } from '../../bench/simulator.ts';
import { allTopics, createClusterTopics, kafkaCluster, type KafkaClusterHandle } from '../support/kafka-cluster.ts';
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
import { kafkaFigures, rawTrendRows, storedFigures } from '../support/stored-vs-kafka.ts';
import { until } from '../support/wait.ts';

const PARTITIONS = 6;

/** Member client id -> partitions of `topic` assigned to it, from the group's stable assignment. */
async function assignments(kafka: Kafka, groupId: string, topic: string): Promise<Map<string, number[]>> {
  return withAdmin(kafka, async (admin) => {
    const { groups } = await admin.describeGroups([groupId]);
    const group = groups[0]!;
    const out = new Map<string, number[]>();
    if (group.state !== 'Stable') return out;
    for (const m of group.members) {
      const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
      out.set(m.memberId, assignment?.assignment[topic] ?? []);
    }
    return out;
  });
}

/** True when `n` members hold every partition of `topic` between them, each at least one. */
function spreadOver(a: Map<string, number[]>, n: number): boolean {
  const all = [...a.values()].flat().sort((x, y) => x - y);
  return a.size === n && [...a.values()].every((p) => p.length > 0) && all.join() === [...Array(PARTITIONS).keys()].join();
}

describe('Kafka cluster: three sinks in one group, one killed with -9 mid-stream', { timeout: 6 * 60_000 }, () => {
  let cluster: KafkaClusterHandle;
  let topics: Topics;
  let prefix: string;
  let database: TestDatabase;
  const sinks: SinkProcess[] = [];
  const groupId = uniqueName('cluster-sinks');

  before(async () => {
    cluster = await kafkaCluster();
    ({ topics, prefix } = await createClusterTopics(cluster.kafka, PARTITIONS));
    database = await createTestDatabase();
  });

  after(async () => {
    await Promise.all(sinks.map((s) => stopSinkProcess(s)));
    await withAdmin(cluster.kafka, (a) => a.deleteTopics({ topics: allTopics(topics) })).catch(() => undefined);
    await database?.drop();
  });

  it("moves the killed sink's partitions to the others, with no loss and no visible duplicate", async () => {
    const dataTopics = [topics.trend, topics.alarm, topics.element];
    const env = {
      ...cluster.env,
      STAAS_TOPIC_PREFIX: prefix,
      STAAS_SINK_GROUP: groupId,
      STAAS_CLICKHOUSE_DATABASE: database.db,
      STAAS_SINK_BATCH_AGE_MS: '200',
    };
    for (let i = 0; i < 3; i++) sinks.push(startSinkProcess(env));
    await until(
      'three sinks sharing the partitions',
      async () => spreadOver(await assignments(cluster.kafka, groupId, topics.trend), 3),
      90_000,
      500,
    );

    const sim = runSimulator(3000, 30, {
      captureStderr: true,
      env: { ...cluster.env, STAAS_TOPIC_PREFIX: prefix },
      args: ['--agents', '2', '--elements', '40', '--parameters', '10', '--deliver-timeout', '120'],
    });
    const storedRows = async () =>
      Number((await queryRows<{ n: Int64Json }>(database.client, `SELECT count() AS n FROM ${database.db}.trend_realtime`))[0]!.n);
    await until('the sinks to store rows', async () => (await storedRows()) > 0, 60_000, 250);
    await new Promise((r) => setTimeout(r, 3000));

    // Mid-stream: one sink dies without leaving the group or committing.
    const victim = sinks[0]!;
    victim.child.kill('SIGKILL');
    await victim.exited;
    const killedAt = Date.now();
    await until(
      'the two live sinks to hold every partition',
      async () => spreadOver(await assignments(cluster.kafka, groupId, topics.trend), 2),
      90_000,
      500,
    );
    const movedMs = Date.now() - killedAt;

    const { code, out } = await sim.exited;
    assert.equal(code, 0, out);
    const written = simulatorCounts(out);
    assert.equal(written.errors, 0, out);
    assert.equal(written.spoolLeft, 0, out);
    await until('the group to commit everything', () => committedToEnd(cluster.kafka, groupId, dataTopics), 120_000, 500);
    for (const s of sinks.slice(1)) assert.equal(s.child.exitCode, null, `a surviving sink exited: ${s.output()}`);

    const stored = await storedFigures(database.client, database.db);
    assert.deepEqual(stored, await kafkaFigures(cluster.kafka, topics));
    assert.equal(stored.trend_realtime.rows + stored.trend_average.rows, written.trend, out);
    assert.equal(stored.alarm_events.rows, written.alarms, out);
    const raw = await rawTrendRows(database.client, database.db);
    assert.ok(raw >= written.trend);
    console.log(
      `partitions moved ${movedMs} ms after the kill; ${written.total} records written; ${written.trend} trend points stored once ` +
        `(${raw - written.trend} stored twice before FINAL: the killed sink's uncommitted tail)`,
    );
  });
});
