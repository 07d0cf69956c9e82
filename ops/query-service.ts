/**
 * The Query API as a background service of the local stack (`npm run stack -- query`, started by
 * ops/start.sh, stopped by `down`): a detached `query/cli.ts` with a pid file and a log under
 * `<state>/query`, ready when its `/readyz` answers 200 (ClickHouse reachable).
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readQueryConfig } from '../query/config.ts';
import { ServiceStartError, assertPortsFree, runningPid, startDetached, waitReady, type ServiceFiles } from './process.ts';
import { REPO_ROOT, type StackConfig } from './stack-config.ts';
import { serviceArgs } from './build.ts';

/** Pid file, log and command-line marker of this stack's Query API. */
export function queryFiles(cfg: StackConfig): ServiceFiles & { dir: string } {
  const dir = join(cfg.stateDir, 'query');
  // The marker names this stack's state folder, so `down` never stops another clone's API.
  return { name: 'query', dir, pidFile: join(dir, 'query.pid'), logFile: join(dir, 'query.log'), marker: `--stack-state=${cfg.stateDir}` };
}

/**
 * The base URL the service listens on, from STAAS_QUERY_HOST / STAAS_QUERY_PORT (the settings
 * the API itself reads; a ConfigError names any invalid STAAS_QUERY_* variable).
 */
export function queryAddress(env: NodeJS.ProcessEnv = process.env): { host: string; port: number; url: string } {
  const { host, port } = readQueryConfig(env);
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return { host, port, url: `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}` };
}

/** Whether an API answers `/readyz` with 200 at `url` within a second. */
export async function queryReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * Starts the Query API unless this stack's is already running, and waits until it is ready
 * (ServiceStartError with the tail of its log if it exits, or is not ready within the start
 * timeout; a port held by another process fails at once). `env` is the service's environment:
 * its STAAS_QUERY_* and STAAS_CLICKHOUSE_* settings.
 */
export async function startQuery(cfg: StackConfig, env: NodeJS.ProcessEnv = process.env): Promise<'started' | 'already running'> {
  const files = queryFiles(cfg);
  if (runningPid(files) !== undefined) return 'already running';
  const { host, port, url } = queryAddress(env);
  if (port === 0)
    throw new ServiceStartError('query', 'STAAS_QUERY_PORT=0 (any free port) cannot be found again; set a port', '(not started)');
  await assertPortsFree('query', [[host, port, 'STAAS_QUERY_PORT']]);
  mkdirSync(files.dir, { recursive: true });
  const logOffset = existsSync(files.logFile) ? statSync(files.logFile).size : 0;
  const pid = startDetached(files, process.execPath, [...serviceArgs('query'), files.marker], {
    cwd: REPO_ROOT,
    env,
  });
  await waitReady(files, pid, () => queryReady(url), cfg.startTimeoutMs, logOffset);
  return 'started';
}
