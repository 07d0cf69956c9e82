/**
 * docker-compose.yml's cluster profile against the code it stands for (no Docker engine here to
 * run it): the same topology as the stack's cluster mode, servers named the same in the compose
 * services, ClickHouse's remote_servers and the clients' settings, and the services the same
 * compiled entry points the stack runs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { readConnections } from '../../config/connections.ts';
import { readWriterConfig } from '../../ingest/writer/config.ts';
import { BUILT, SERVICE_ENV, V8_FLAGS } from '../../ops/build.ts';
import { readStackConfig, REPO_ROOT } from '../../ops/stack-config.ts';

interface Service {
  profiles?: string[];
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string | number>;
  depends_on?: Record<string, unknown>;
}

const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;
const cluster = Object.entries(services).filter(([, s]) => s.profiles?.includes('cluster'));
const xml = readFileSync(join(REPO_ROOT, 'ops/compose/clickhouse-cluster.xml'), 'utf8');
const clusterEnv = services['staas-cluster-init']!.environment as Record<string, string>;

/** remote_servers' hosts per shard, for cluster `name`. */
function remoteServers(name: string): string[][] {
  const block = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml)?.[1] ?? '';
  return [...block.matchAll(/<shard>([\s\S]*?)<\/shard>/g)].map((m) => [...m[1]!.matchAll(/<host>([^<]+)<\/host>/g)].map((h) => h[1]!));
}

describe('docker-compose cluster profile', () => {
  const conn = readConnections({ ...clusterEnv });
  const shards = conn.clickhouse.cluster!.shards;

  it('has the stack cluster topology: 3 Kafka nodes, ZooKeeper, 2 shards x 2 ClickHouse replicas, a sink', () => {
    const names = cluster.map(([n]) => n).sort();
    assert.deepEqual(names, [
      'clickhouse-1',
      'clickhouse-2',
      'clickhouse-3',
      'clickhouse-4',
      'kafka-1',
      'kafka-2',
      'kafka-3',
      'sink-cluster',
      'staas-cluster-init',
      'zookeeper',
    ]);
    const stack = readStackConfig({ STAAS_STACK_MODE: 'cluster' });
    assert.equal(stack.kafka.cluster.nodes.length, 3, 'the stack runs 3 Kafka nodes too');
    assert.deepEqual(
      readConnections({ STAAS_STACK_MODE: 'cluster' }).clickhouse.cluster!.shards.map((s) => s.length),
      shards.map((s) => s.length),
      'the stack runs the same shards x replicas',
    );
  });

  it('names the same servers in the clients settings, remote_servers and the services macros', () => {
    assert.deepEqual(
      shards.map((s) => s.map((u) => new URL(u).hostname)),
      remoteServers(conn.clickhouse.cluster!.name),
      'STAAS_CLICKHOUSE_SHARDS and remote_servers list the same hosts per shard',
    );
    for (const [shard, hosts] of shards.entries())
      for (const url of hosts) {
        const host = new URL(url).hostname;
        const env = services[host]?.environment;
        assert.ok(env !== undefined, `a service named ${host}`);
        assert.deepEqual([Number(env.STAAS_SHARD), env.STAAS_REPLICA], [shard + 1, host], `${host}'s macros`);
      }
    assert.match(xml, /<zookeeper>\s*<node><host>zookeeper<\/host><port>2181<\/port><\/node>/, 'ZooKeeper is the zookeeper service');
    assert.deepEqual(
      conn.kafka.brokers,
      ['kafka-1:9092', 'kafka-2:9092', 'kafka-3:9092'],
      'the clients bootstrap from every Kafka node of the profile',
    );
    for (const name of ['kafka-1', 'kafka-2', 'kafka-3', 'clickhouse-1', 'clickhouse-2', 'clickhouse-3', 'clickhouse-4'])
      assert.ok(services['staas-cluster-init']!.depends_on?.[name] !== undefined, `init waits for ${name}`);
  });

  it("groups the Writer's partitions by shard with the cluster's default partition count", () => {
    const groups = readWriterConfig({ ...clusterEnv }).partitionGroups;
    assert.equal(groups, shards.length);
    const partitions = readStackConfig({ STAAS_STACK_MODE: 'cluster' }).kafka.cluster.partitions;
    assert.equal(partitions % groups, 0, `${partitions} partitions are a multiple of ${groups} shards`);
  });

  it('runs the sink compiled, with the flags the stack gives it', () => {
    assert.deepEqual(services['sink-cluster']!.command, ['node', ...V8_FLAGS.sink, BUILT.sink.replace(`${REPO_ROOT}/`, '')]);
    assert.match(String(services['staas-cluster-init']!.command), /npm run build/);
  });

  it('runs every sink service with the environment the stack gives the sink (SERVICE_ENV)', () => {
    const sinks = Object.entries(services).filter(([, s]) => String(s.command).includes('ingest/sink/cli.js'));
    assert.deepEqual(sinks.map(([n]) => n).sort(), ['sink', 'sink-cluster']);
    for (const [name, s] of sinks)
      for (const [k, v] of Object.entries(SERVICE_ENV.sink)) assert.equal(String(s.environment?.[k]), v, `${name}: ${k}`);
  });
});
