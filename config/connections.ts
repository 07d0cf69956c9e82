/**
 * Where the pipeline's processes find Kafka and ClickHouse. Defaults follow the local stack's
 * ports, so moving a port with STAAS_KAFKA_PORT / STAAS_CLICKHOUSE_HTTP_PORT moves the clients too.
 */
import { readFileSync } from 'node:fs';
import { EnvReader, type Env } from './env.ts';

export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export interface KafkaConnection {
  brokers: string[];
  clientId: string;
  tls?: { ca?: string; rejectUnauthorized: boolean };
  sasl?: { mechanism: SaslMechanism; username: string; password: string };
}

export interface ClickHouseConnection {
  url: string;
  username: string;
  password: string;
  database: string;
  /** Set in cluster mode: the tables are Replicated + Distributed (storage/cluster-schema.ts). */
  cluster?: ClickHouseCluster;
}

/** A sharded, replicated ClickHouse: its name in remote_servers and each shard's replicas. */
export interface ClickHouseCluster {
  name: string;
  /** HTTP URLs of every replica, per shard, in remote_servers' shard order (the sharding key's index). */
  shards: string[][];
}

export interface Connections {
  kafka: KafkaConnection;
  clickhouse: ClickHouseConnection;
}

export function readConnections(env: Env = process.env, clientId = 'staas'): Connections {
  const r = new EnvReader(env);
  const kafkaPort = r.port('STAAS_KAFKA_PORT', 9092);
  const chPort = r.port('STAAS_CLICKHOUSE_HTTP_PORT', 8123);
  // Cluster mode's brokers by default (ops/stack-config.ts: STAAS_KAFKA_CLUSTER_PORTS, 19092-19094),
  // so that clients started beside `STAAS_STACK_MODE=cluster npm run stack up` find them as well.
  const clusterMode = r.oneOf('STAAS_STACK_MODE', ['single', 'cluster'] as const, 'single') === 'cluster';
  const defaultBrokers = clusterMode
    ? (r.optionalString('STAAS_KAFKA_CLUSTER_PORTS') ?? '19092,19093,19094').split(',').map((p) => `127.0.0.1:${p.trim()}`)
    : [`127.0.0.1:${kafkaPort}`];
  const kafka: KafkaConnection = {
    brokers: r.hostPorts('STAAS_KAFKA_BROKERS', defaultBrokers),
    clientId: r.string('STAAS_KAFKA_CLIENT_ID', clientId),
  };
  if (r.bool('STAAS_KAFKA_TLS', false)) {
    const caFile = r.optionalString('STAAS_KAFKA_TLS_CA_FILE');
    let ca: string | undefined;
    if (caFile !== undefined) {
      try {
        ca = readFileSync(caFile, 'utf8');
      } catch (err) {
        r.problem(`STAAS_KAFKA_TLS_CA_FILE=${caFile} cannot be read: ${(err as Error).message}`);
      }
    }
    kafka.tls = { ...(ca === undefined ? {} : { ca }), rejectUnauthorized: r.bool('STAAS_KAFKA_TLS_VERIFY', true) };
  }
  const mechanism = r.optionalString('STAAS_KAFKA_SASL_MECHANISM');
  if (mechanism !== undefined) {
    const m = r.oneOf('STAAS_KAFKA_SASL_MECHANISM', ['plain', 'scram-sha-256', 'scram-sha-512'] as const, 'plain');
    const username = r.optionalString('STAAS_KAFKA_SASL_USERNAME');
    const password = r.optionalString('STAAS_KAFKA_SASL_PASSWORD');
    if (username === undefined || password === undefined) {
      r.problem('STAAS_KAFKA_SASL_MECHANISM is set: STAAS_KAFKA_SASL_USERNAME and STAAS_KAFKA_SASL_PASSWORD are required');
    }
    kafka.sasl = { mechanism: m, username: username ?? '', password: password ?? '' };
  }
  const cluster = readClickHouseCluster(r);
  const clickhouse: ClickHouseConnection = {
    url: r.url('STAAS_CLICKHOUSE_URL', cluster?.shards[0]?.[0] ?? `http://127.0.0.1:${chPort}`),
    username: r.string('STAAS_CLICKHOUSE_USER', 'default'),
    password: r.string('STAAS_CLICKHOUSE_PASSWORD', ''),
    database: r.string('STAAS_CLICKHOUSE_DATABASE', 'staas'),
    ...(cluster === undefined ? {} : { cluster }),
  };
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(clickhouse.database)) {
    r.problem(`STAAS_CLICKHOUSE_DATABASE=${JSON.stringify(clickhouse.database)} is not a plain identifier`);
  }
  r.done();
  return { kafka, clickhouse };
}

/**
 * Cluster mode (STAAS_STACK_MODE=cluster): STAAS_CLICKHOUSE_SHARDS lists each shard's replica
 * URLs (shards separated by `;`, replicas by `,`), by default the stack's 2 x 2 servers on
 * STAAS_CLICKHOUSE_CLUSTER_HTTP_PORT (28123) and the next three ports (ops/clickhouse-cluster.ts).
 */
export function readClickHouseCluster(r: EnvReader): ClickHouseCluster | undefined {
  if (r.oneOf('STAAS_STACK_MODE', ['single', 'cluster'] as const, 'single') !== 'cluster') return undefined;
  const name = r.string('STAAS_CLICKHOUSE_CLUSTER', 'staas');
  const base = r.port('STAAS_CLICKHOUSE_CLUSTER_HTTP_PORT', 28123);
  const raw = r.optionalString('STAAS_CLICKHOUSE_SHARDS');
  const shards =
    raw === undefined
      ? [0, 1].map((s) => [0, 1].map((i) => `http://127.0.0.1:${base + s * 2 + i}`))
      : raw.split(';').map((shard) => shard.split(',').map((u) => u.trim()));
  for (const url of shards.flat()) {
    if (!/^https?:\/\/[^/\s]+\/?$/.test(url))
      r.problem(`STAAS_CLICKHOUSE_SHARDS: ${JSON.stringify(url)} is not an http(s)://host:port URL`);
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) r.problem(`STAAS_CLICKHOUSE_CLUSTER=${name} must be a plain identifier`);
  return { name, shards };
}
