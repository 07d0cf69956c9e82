/** The Sink as a background service of the local stack (started by ops/start.sh, stopped by `down`). */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runningPid, startDetached, waitReady, type ServiceFiles } from './process.ts';
import { REPO_ROOT, type StackConfig } from './stack-config.ts';
import { serviceArgs, serviceEnv } from './build.ts';

export function sinkFiles(cfg: StackConfig): ServiceFiles & { dir: string } {
  const dir = join(cfg.stateDir, 'sink');
  // The marker names this stack's state folder, so `down` never stops another clone's sink.
  return { name: 'sink', dir, pidFile: join(dir, 'sink.pid'), logFile: join(dir, 'sink.log'), marker: `--stack-state=${cfg.stateDir}` };
}

export function sinkMetricsPort(): number {
  return Number(process.env.STAAS_SINK_METRICS_PORT ?? 9464);
}

async function healthy(): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${sinkMetricsPort()}/health`, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

export async function startSink(cfg: StackConfig): Promise<'started' | 'already running'> {
  const files = sinkFiles(cfg);
  if (runningPid(files) !== undefined) return 'already running';
  mkdirSync(files.dir, { recursive: true });
  const logOffset = existsSync(files.logFile) ? statSync(files.logFile).size : 0;
  const pid = startDetached(files, process.execPath, [...serviceArgs('sink'), files.marker], {
    cwd: REPO_ROOT,
    env: serviceEnv('sink'),
  });
  await waitReady(files, pid, healthy, cfg.startTimeoutMs, logOffset);
  return 'started';
}
