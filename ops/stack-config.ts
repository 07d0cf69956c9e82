/** Configuration of the local service stack (Kafka + ClickHouse), from environment variables. */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvReader, type Env } from '../config/env.ts';

export const REPO_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** `single`: one Kafka node and one ClickHouse server (the default); `cluster`: the replicated topology of docs/scaling.md. */
export type StackMode = 'single' | 'cluster';

/** One node of the cluster-mode Kafka quorum: broker and KRaft controller in one process. */
export interface KafkaClusterNode {
  /** KRaft node.id, 1-based. */
  nodeId: number;
  /** Client (PLAINTEXT) port. */
  port: number;
  controllerPort: number;
}

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
    /**
     * Cluster mode's brokers (STAAS_KAFKA_CLUSTER_PORTS, controllers on STAAS_KAFKA_CLUSTER_CONTROLLER_PORTS),
     * each with `clusterHeap`; data topics get `clusterPartitions` partitions, replication factor 3.
     */
    cluster: { nodes: KafkaClusterNode[]; heap: string; partitions: number };
  };
  clickhouse: {
    host: string;
    httpPort: number;
    tcpPort: number;
    /** The server's time zone (IANA name). staas does not depend on it; tests run servers outside UTC. */
    timezone: string;
    /**
     * `log_queries` in the default profile (STAAS_CLICKHOUSE_LOG_QUERIES): every statement in
     * `system.query_log` with its ProfileEvents (CPU, CPU wait, rows read), for profiling. Written
     * to users.xml when the server starts.
     */
    logQueries: boolean;
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
      cluster: readKafkaCluster(r),
    },
    clickhouse: {
      host: r.string('STAAS_CLICKHOUSE_HOST', '127.0.0.1'),
      httpPort: r.port('STAAS_CLICKHOUSE_HTTP_PORT', 8123),
      tcpPort: r.port('STAAS_CLICKHOUSE_TCP_PORT', 9000),
      timezone: r.string('STAAS_CLICKHOUSE_TIMEZONE', 'UTC'),
      logQueries: r.bool('STAAS_CLICKHOUSE_LOG_QUERIES', false),
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
  for (const [name, heap] of [
    ['STAAS_KAFKA_HEAP', config.kafka.heap],
    ['STAAS_KAFKA_CLUSTER_HEAP', config.kafka.cluster.heap],
  ] as const)
    if (!/^\d+[mMgG]$/.test(heap)) r.problem(`${name}=${heap} must look like 512m or 1g`);
  const ports = [config.kafka.port, config.kafka.controllerPort, config.clickhouse.httpPort, config.clickhouse.tcpPort];
  if (new Set(ports).size !== ports.length) {
    r.problem(`service ports must differ, got kafka ${ports[0]}, controller ${ports[1]}, clickhouse http ${ports[2]}, tcp ${ports[3]}`);
  }
  r.done();
  return config;
}

/**
 * Cluster mode's Kafka nodes: three by default on 19092-19094 (controllers 19192-19194), so the
 * cluster runs beside the single-node stack. Replication factor 3 needs at least 3 nodes.
 */
function readKafkaCluster(r: EnvReader): StackConfig['kafka']['cluster'] {
  const ports = portList(r, 'STAAS_KAFKA_CLUSTER_PORTS', [19092, 19093, 19094]);
  const controllers = portList(r, 'STAAS_KAFKA_CLUSTER_CONTROLLER_PORTS', [19192, 19193, 19194]);
  if (ports.length < 3 || ports.length !== controllers.length)
    r.problem(
      `STAAS_KAFKA_CLUSTER_PORTS and STAAS_KAFKA_CLUSTER_CONTROLLER_PORTS must list the same number of ports, at least 3 (got ${ports.length} and ${controllers.length})`,
    );
  const all = [...ports, ...controllers];
  if (new Set(all).size !== all.length) r.problem(`cluster Kafka ports must all differ, got ${all.join(', ')}`);
  return {
    nodes: ports.map((port, i) => ({ nodeId: i + 1, port, controllerPort: controllers[i] ?? 0 })),
    heap: r.string('STAAS_KAFKA_CLUSTER_HEAP', '384m'),
    partitions: r.int('STAAS_KAFKA_CLUSTER_PARTITIONS', 6, { min: 1, max: 256 }),
  };
}

/** A comma-separated list of TCP ports ("19092,19093,19094"). */
function portList(r: EnvReader, name: string, fallback: number[]): number[] {
  const raw = r.optionalString(name);
  if (raw === undefined) return fallback;
  const ports = raw.split(',').map((s) => Number(s.trim()));
  if (ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    r.problem(`${name}=${JSON.stringify(raw)} must be a comma-separated list of ports`);
    return fallback;
  }
  return ports;
}
