/**
 * The cluster mode's ClickHouse side as one service group for `stack up|down|status|logs`:
 * ZooKeeper (ops/zookeeper.ts) first, then the shards x replicas ClickHouse servers
 * (ops/clickhouse-cluster.ts); stopped in the reverse order. The Kafka side is ops/kafka-cluster.ts.
 */
import { clusterNodePing, clusterNodes, nodeUrl, startClickHouseCluster, stopClickHouseCluster } from './clickhouse-cluster.ts';
import { runningPid, stopService, type ServiceFiles } from './process.ts';
import type { StackConfig } from './stack-config.ts';
import { startZooKeeper, zookeeperFiles, zookeeperHealthy } from './zookeeper.ts';

/** Starts ZooKeeper and every ClickHouse server not yet running; one line per service. */
export async function startClickHouseSide(cfg: StackConfig): Promise<string[]> {
  const zk = await startZooKeeper(cfg);
  return [`zookeeper: ${zk} on ${cfg.zookeeper.host}:${cfg.zookeeper.port}`, ...(await startClickHouseCluster(cfg))];
}

/** Stops the ClickHouse servers, then ZooKeeper (servers stopped after it would wait for it). */
export async function stopClickHouseSide(cfg: StackConfig): Promise<string[]> {
  const lines = await stopClickHouseCluster(cfg);
  lines.push(await stopService(zookeeperFiles(cfg), 30_000));
  return lines;
}

/** Prints ZooKeeper's and each server's state; true when all answer. */
export async function clickhouseSideStatus(cfg: StackConfig, log: (line: string) => void): Promise<boolean> {
  const line = (name: string, pid: number | undefined, ok: boolean, where: string) =>
    `${name.padEnd(12)} ${pid === undefined ? 'stopped' : ok ? `up (pid ${pid})` : `not answering (pid ${pid})`}  ${where}`;
  const zkPid = runningPid(zookeeperFiles(cfg));
  const zkOk = zkPid !== undefined && (await zookeeperHealthy(cfg));
  log(line('zookeeper', zkPid, zkOk, `${cfg.zookeeper.host}:${cfg.zookeeper.port}`));
  let all = zkOk;
  for (const node of clusterNodes(cfg)) {
    const pid = runningPid(node.files);
    const ok = pid !== undefined && (await clusterNodePing(cfg, node));
    all &&= ok;
    log(line(node.files.name, pid, ok, `${nodeUrl(cfg, node)} shard ${node.shard + 1} replica ${node.replica + 1}`));
  }
  return all;
}

/** The log files of ZooKeeper and each server, by service name (for `stack logs`). */
export function clickhouseSideLogs(cfg: StackConfig): (readonly [string, ServiceFiles])[] {
  return [['zookeeper', zookeeperFiles(cfg)], ...clusterNodes(cfg).map((n) => [n.files.name, n.files] as const)];
}
