/** Configuration of the local service stack (Kafka + ClickHouse), from environment variables. */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvReader, type Env } from '../config/env.ts';

export const REPO_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** `single`: one Kafka broker and one ClickHouse server (the default); `cluster`: see ops/clickhouse-cluster.ts. */
export type StackMode = 'single' | 'cluster';

export interface StackConfig {
  mode: StackMode;
  stateDir: string;
  cacheDir: string;
  startTimeoutMs: number;
  kafka: {
    host: string;
    port: number;
    controllerPort: number;
    heap: string;
    javaHome: string | undefined;
    partitions: number;
    /** An extra TLS listener: its port and a PEM file with the private key (PKCS#8) and certificate chain. */
    tls: { port: number; keystorePem: string } | undefined;
  };
  clickhouse: {
    host: string;
    httpPort: number;
    tcpPort: number;
    /** The server's time zone (IANA name). staas does not depend on it; tests run servers outside UTC. */
    timezone: string;
    /** Cluster mode: the replicated, sharded servers (ops/clickhouse-cluster.ts), beside the single server. */
    cluster: ClickHouseClusterConfig;
  };
  /** Cluster mode: the ZooKeeper that coordinates the ClickHouse replicas (ops/zookeeper.ts). */
  zookeeper: { host: string; port: number; heap: string };
}

/** Ports of the cluster's ClickHouse servers: server i listens on base + i (i = 0 .. shards x replicas - 1). */
export interface ClickHouseClusterConfig {
  /** The cluster's name in remote_servers (what Distributed tables name). */
  name: string;
  shards: number;
  replicas: number;
  httpBasePort: number;
  tcpBasePort: number;
  interserverBasePort: number;
}

export function readStackConfig(env: Env = process.env): StackConfig {
  const r = new EnvReader(env);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(REPO_ROOT, p));
  const config: StackConfig = {
    mode: r.oneOf('STAAS_STACK_MODE', ['single', 'cluster'] as const, 'single'),
    stateDir: abs(r.string('STAAS_STATE_DIR', '.state')),
    cacheDir: abs(r.string('STAAS_CACHE_DIR', join(homedir(), '.cache', 'staas'))),
    startTimeoutMs: r.secondsAsMs('STAAS_START_TIMEOUT_S', 90, { min: 5, max: 600 }),
    kafka: {
      host: r.string('STAAS_KAFKA_HOST', '127.0.0.1'),
      port: r.port('STAAS_KAFKA_PORT', 9092),
      controllerPort: r.port('STAAS_KAFKA_CONTROLLER_PORT', 9093),
      heap: r.string('STAAS_KAFKA_HEAP', '768m'),
      javaHome: r.optionalString('JAVA_HOME'),
      partitions: r.int('STAAS_KAFKA_PARTITIONS', 4, { min: 1, max: 256 }),
      tls: undefined,
    },
    clickhouse: {
      host: r.string('STAAS_CLICKHOUSE_HOST', '127.0.0.1'),
      httpPort: r.port('STAAS_CLICKHOUSE_HTTP_PORT', 8123),
      tcpPort: r.port('STAAS_CLICKHOUSE_TCP_PORT', 9000),
      timezone: r.string('STAAS_CLICKHOUSE_TIMEZONE', 'UTC'),
      cluster: {
        name: r.string('STAAS_CLICKHOUSE_CLUSTER', 'staas'),
        shards: 2,
        replicas: 2,
        httpBasePort: r.port('STAAS_CLICKHOUSE_CLUSTER_HTTP_PORT', 28123),
        tcpBasePort: r.port('STAAS_CLICKHOUSE_CLUSTER_TCP_PORT', 29000),
        interserverBasePort: r.port('STAAS_CLICKHOUSE_CLUSTER_INTERSERVER_PORT', 29009),
      },
    },
    zookeeper: {
      host: '127.0.0.1',
      port: r.port('STAAS_ZOOKEEPER_PORT', 22181),
      heap: r.string('STAAS_ZOOKEEPER_HEAP', '256m'),
    },
  };
  const tlsPort = r.optionalString('STAAS_KAFKA_TLS_PORT');
  const keystorePem = r.optionalString('STAAS_KAFKA_TLS_KEYSTORE_PEM');
  if (tlsPort !== undefined || keystorePem !== undefined) {
    if (tlsPort === undefined || keystorePem === undefined) r.problem('STAAS_KAFKA_TLS_PORT and STAAS_KAFKA_TLS_KEYSTORE_PEM go together');
    else config.kafka.tls = { port: r.port('STAAS_KAFKA_TLS_PORT', 9094), keystorePem: abs(keystorePem) };
  }
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(config.clickhouse.timezone))
    r.problem(`STAAS_CLICKHOUSE_TIMEZONE=${config.clickhouse.timezone} must be a time zone name such as UTC or America/Chicago`);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(config.clickhouse.cluster.name))
    r.problem(`STAAS_CLICKHOUSE_CLUSTER=${config.clickhouse.cluster.name} must be a plain identifier`);
  if (!/^\d+[mMgG]$/.test(config.zookeeper.heap)) r.problem(`STAAS_ZOOKEEPER_HEAP=${config.zookeeper.heap} must look like 256m or 1g`);
  if (!/^\d+[mMgG]$/.test(config.kafka.heap)) r.problem(`STAAS_KAFKA_HEAP=${config.kafka.heap} must look like 512m or 1g`);
  const ports = [config.kafka.port, config.kafka.controllerPort, config.clickhouse.httpPort, config.clickhouse.tcpPort];
  if (new Set(ports).size !== ports.length) {
    r.problem(`service ports must differ, got kafka ${ports[0]}, controller ${ports[1]}, clickhouse http ${ports[2]}, tcp ${ports[3]}`);
  }
  r.done();
  return config;
}
