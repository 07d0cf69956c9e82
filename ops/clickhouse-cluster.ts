/**
 * The cluster mode's ClickHouse: shards x replicas clickhouse-server processes (2 x 2 by default)
 * from the same OS package as the single server, each with its own config and data under
 * `<state>/cluster/clickhouse-<n>`, coordinated by ZooKeeper (ops/zookeeper.ts). Server n is
 * replica n mod replicas of shard floor(n / replicas) and listens on the base ports + n.
 *
 * Each server's config names the whole cluster in remote_servers (what Distributed tables
 * read), with internal_replication=true: an insert goes to one replica of a shard and the
 * Replicated tables copy it to the others (ClickHouse docs, "Distributed" engine). Its macros
 * (shard, replica) fill the ZooKeeper paths of the Replicated tables (storage/cluster-schema.ts).
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serverBinary, serverConfigXml, usersXml } from './clickhouse.ts';
import type { StartResult } from './kafka.ts';
import { assertPortsFree, runningPid, startDetached, stopService, waitReady, type ServiceFiles } from './process.ts';
import type { StackConfig } from './stack-config.ts';

/** One server of the cluster. */
export interface ClusterNode {
  /** 0 .. shards x replicas - 1. */
  index: number;
  /** 0-based shard and replica. */
  shard: number;
  replica: number;
  httpPort: number;
  tcpPort: number;
  interserverPort: number;
  files: ServiceFiles & { dir: string; configFile: string };
}

export function clusterNodes(cfg: StackConfig): ClusterNode[] {
  const c = cfg.clickhouse.cluster;
  const nodes: ClusterNode[] = [];
  for (let index = 0; index < c.shards * c.replicas; index++) {
    const dir = join(cfg.stateDir, 'cluster', `clickhouse-${index}`);
    nodes.push({
      index,
      shard: Math.floor(index / c.replicas),
      replica: index % c.replicas,
      httpPort: c.httpBasePort + index,
      tcpPort: c.tcpBasePort + index,
      interserverPort: c.interserverBasePort + index,
      files: {
        name: `clickhouse-${index}`,
        dir,
        configFile: join(dir, 'config.xml'),
        pidFile: join(dir, 'clickhouse.pid'),
        logFile: join(dir, 'log', 'stdout.log'),
        marker: join(dir, 'config.xml'),
      },
    });
  }
  return nodes;
}

/** The URL of a node's HTTP interface. */
export function nodeUrl(cfg: StackConfig, node: ClusterNode): string {
  return `http://${cfg.clickhouse.host}:${node.httpPort}`;
}

/** remote_servers, macros, zookeeper and the interserver port of one node (config.xml elements). */
function clusterXml(cfg: StackConfig, node: ClusterNode, nodes: readonly ClusterNode[]): string {
  const c = cfg.clickhouse.cluster;
  const shards: string[] = [];
  for (let s = 0; s < c.shards; s++) {
    const replicas = nodes
      .filter((n) => n.shard === s)
      .map((n) => `        <replica><host>${cfg.clickhouse.host}</host><port>${n.tcpPort}</port></replica>`);
    shards.push(`      <shard>
        <internal_replication>true</internal_replication>
${replicas.join('\n')}
      </shard>`);
  }
  return `  <interserver_http_host>${cfg.clickhouse.host}</interserver_http_host>
  <interserver_http_port>${node.interserverPort}</interserver_http_port>
  <remote_servers>
    <${c.name}>
${shards.join('\n')}
    </${c.name}>
  </remote_servers>
  <macros>
    <shard>${node.shard + 1}</shard>
    <replica>clickhouse-${node.index}</replica>
  </macros>
  <zookeeper>
    <node><host>${cfg.zookeeper.host}</host><port>${cfg.zookeeper.port}</port></node>
    <session_timeout_ms>10000</session_timeout_ms>
  </zookeeper>
  <!-- Four servers share two cores and a few GiB: small caches (above) and pools (users.xml), and
       a server-wide memory cap where the server knows it (newer servers; 18.16 ignores it). -->
  <max_server_memory_usage>2000000000</max_server_memory_usage>
`;
}

/**
 * Profile settings for small servers. In 18.16 the background pools are profile settings
 * (background_pool_size, default 16; background_schedule_pool_size, default 16).
 */
const SMALL_PROFILE = `      <background_pool_size>4</background_pool_size>
      <background_schedule_pool_size>4</background_schedule_pool_size>
`;

export async function clusterNodePing(cfg: StackConfig, node: ClusterNode): Promise<boolean> {
  try {
    const res = await fetch(`${nodeUrl(cfg, node)}/ping`, { signal: AbortSignal.timeout(2000) });
    return res.ok && (await res.text()).startsWith('Ok');
  } catch {
    return false;
  }
}

/** Starts one node unless it runs; resolves when it answers /ping. */
export async function startClusterNode(cfg: StackConfig, node: ClusterNode): Promise<StartResult> {
  const files = node.files;
  if (runningPid(files) !== undefined) return 'already running';
  const bin = serverBinary();
  const env = 'STAAS_CLICKHOUSE_CLUSTER_*_PORT';
  await assertPortsFree(files.name, [
    [cfg.clickhouse.host, node.httpPort, env],
    [cfg.clickhouse.host, node.tcpPort, env],
    [cfg.clickhouse.host, node.interserverPort, env],
  ]);
  for (const sub of ['log', 'data', 'tmp', 'user_files', 'format_schemas']) mkdirSync(join(files.dir, sub), { recursive: true });
  writeFileSync(
    files.configFile,
    serverConfigXml({
      host: cfg.clickhouse.host,
      httpPort: node.httpPort,
      tcpPort: node.tcpPort,
      timezone: cfg.clickhouse.timezone,
      dir: files.dir,
      cacheBytes: 64 * 1024 * 1024,
      extra: clusterXml(cfg, node, clusterNodes(cfg)),
    }),
  );
  writeFileSync(join(files.dir, 'users.xml'), usersXml(SMALL_PROFILE));
  const logOffset = existsSync(files.logFile) ? statSync(files.logFile).size : 0;
  const pid = startDetached(files, bin, [`--config-file=${files.configFile}`], { cwd: files.dir });
  await waitReady(files, pid, () => clusterNodePing(cfg, node), cfg.startTimeoutMs, logOffset);
  return 'started';
}

/** Starts every node that is not running (in parallel); one line per node. */
export async function startClickHouseCluster(cfg: StackConfig): Promise<string[]> {
  const nodes = clusterNodes(cfg);
  const results = await Promise.allSettled(nodes.map((n) => startClusterNode(cfg, n)));
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
  if (failures.length > 0) throw new AggregateError(failures, failures.map((f) => f.message).join('\n\n'));
  return nodes.map(
    (n, i) =>
      `${n.files.name}: ${(results[i] as PromiseFulfilledResult<string>).value} on ${nodeUrl(cfg, n)} (shard ${n.shard + 1}, replica ${n.replica + 1})`,
  );
}

/** Stops every node the stack started; one line per node. */
export async function stopClickHouseCluster(cfg: StackConfig): Promise<string[]> {
  return Promise.all(clusterNodes(cfg).map((n) => stopService(n.files, 30_000)));
}
