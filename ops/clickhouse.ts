/**
 * The local ClickHouse server from the OS package, run with its own config and data under the
 * stack's state folder (never the system's /var/lib/clickhouse).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackConfig } from './stack-config.ts';
import { assertPortsFree, runningPid, startDetached, waitReady, type ServiceFiles } from './process.ts';
import type { StartResult } from './kafka.ts';

export function clickhouseFiles(cfg: StackConfig): ServiceFiles & { dir: string; configFile: string } {
  const dir = join(cfg.stateDir, 'clickhouse');
  return {
    name: 'clickhouse',
    dir,
    configFile: join(dir, 'config.xml'),
    pidFile: join(dir, 'clickhouse.pid'),
    logFile: join(dir, 'log', 'stdout.log'),
    marker: join(dir, 'config.xml'),
  };
}

/** The clickhouse-server executable of the OS package; throws naming the bootstrap when missing. */
export function serverBinary(): string {
  for (const candidate of ['/usr/bin/clickhouse-server', '/usr/sbin/clickhouse-server', '/usr/local/bin/clickhouse-server']) {
    if (existsSync(candidate)) return candidate;
  }
  try {
    return execFileSync('bash', ['-c', 'command -v clickhouse-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('clickhouse: clickhouse-server is not installed; run `bash ops/bootstrap.sh` (apt-get install clickhouse-server)');
  }
}

/** What differs between the servers the stack runs: the single server, or one of the cluster's. */
export interface ServerLayout {
  host: string;
  httpPort: number;
  tcpPort: number;
  timezone: string;
  /** The server's folder: data, tmp, users.xml. */
  dir: string;
  /** uncompressed_cache_size and mark_cache_size (bytes). */
  cacheBytes: number;
  /** More top-level elements (cluster: remote_servers, macros, zookeeper, interserver port). */
  extra?: string;
}

function configXml(cfg: StackConfig, dir: string): string {
  const { host, httpPort, tcpPort, timezone } = cfg.clickhouse;
  return serverConfigXml({ host, httpPort, tcpPort, timezone, dir, cacheBytes: 268435456 });
}

/** A server's config.xml (written on every start). */
export function serverConfigXml(layout: ServerLayout): string {
  const { host, httpPort, tcpPort, timezone, dir, cacheBytes } = layout;
  // Only elements that 18.16 and current servers both understand.
  return `<?xml version="1.0"?>
<!-- Written by ops/clickhouse.ts on every start; edit that file, not this one. -->
<yandex>
  <!-- Logs go to stdout, which the stack sends to log/stdout.log: one place to tail. -->
  <logger>
    <level>warning</level>
    <console>1</console>
  </logger>
  <listen_host>${host}</listen_host>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <max_connections>1024</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>100</max_concurrent_queries>
  <uncompressed_cache_size>${cacheBytes}</uncompressed_cache_size>
  <mark_cache_size>${cacheBytes}</mark_cache_size>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>${timezone}</timezone>
  <mlock_executable>false</mlock_executable>
  <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
  <max_session_timeout>3600</max_session_timeout>
  <default_session_timeout>60</default_session_timeout>
${layout.extra ?? ''}</yandex>
`;
}

/**
 * users.xml: the default user (no password, loopback only) and its profile; `profileExtra` adds
 * settings to the default profile (the cluster's small pools and memory).
 */
export function usersXml(profileExtra: string): string {
  return `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
      <use_uncompressed_cache>0</use_uncompressed_cache>
      <load_balancing>random</load_balancing>
${profileExtra}    </default>
    <readonly>
      <readonly>1</readonly>
    </readonly>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks>
        <ip>127.0.0.1</ip>
        <ip>::1</ip>
      </networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
`;
}

export async function clickhousePing(cfg: StackConfig): Promise<boolean> {
  try {
    const res = await fetch(`http://${cfg.clickhouse.host}:${cfg.clickhouse.httpPort}/ping`, { signal: AbortSignal.timeout(2000) });
    return res.ok && (await res.text()).startsWith('Ok');
  } catch {
    return false;
  }
}

export async function startClickHouse(cfg: StackConfig): Promise<StartResult> {
  const files = clickhouseFiles(cfg);
  if (runningPid(files) !== undefined) return 'already running';
  const bin = serverBinary();
  await assertPortsFree('clickhouse', [
    [cfg.clickhouse.host, cfg.clickhouse.httpPort, 'STAAS_CLICKHOUSE_HTTP_PORT'],
    [cfg.clickhouse.host, cfg.clickhouse.tcpPort, 'STAAS_CLICKHOUSE_TCP_PORT'],
  ]);
  for (const sub of ['log', 'data', 'tmp', 'user_files', 'format_schemas']) mkdirSync(join(files.dir, sub), { recursive: true });
  writeFileSync(files.configFile, configXml(cfg, files.dir));
  writeFileSync(join(files.dir, 'users.xml'), usersXml(cfg.clickhouse.logQueries ? '      <log_queries>1</log_queries>\n' : ''));
  const logOffset = existsSync(files.logFile) ? statSync(files.logFile).size : 0;
  const pid = startDetached(files, bin, [`--config-file=${files.configFile}`], { cwd: files.dir });
  await waitReady(files, pid, () => clickhousePing(cfg), cfg.startTimeoutMs, logOffset);
  return 'started';
}
