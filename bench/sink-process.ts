/**
 * The Sink as a child process (ingest/sink/cli.ts, as deployed), for benchmarks and for tests
 * that run several sinks in one consumer group or kill one with -9. Retention is off (the
 * process only stores); its stdout and stderr are kept for failure messages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT } from '../ops/stack-config.ts';
import { serviceArgs, serviceEnv } from '../ops/build.ts';

export interface SinkProcess {
  child: ChildProcess;
  pid: number;
  /** What it printed so far (stdout and stderr). */
  output(): string;
  /** What it printed on stderr so far (warnings, errors, configuration problems). */
  stderr(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

/**
 * Starts one sink with this process's environment plus `env` (STAAS_KAFKA_BROKERS,
 * STAAS_TOPIC_PREFIX, STAAS_SINK_GROUP, STAAS_CLICKHOUSE_DATABASE, STAAS_SINK_METRICS_PORT...).
 * Throws when the process cannot be spawned.
 */
export function startSinkProcess(env: Record<string, string>): SinkProcess {
  const child = spawn(process.execPath, serviceArgs('sink'), {
    cwd: REPO_ROOT,
    env: { ...serviceEnv('sink'), STAAS_SINK_RETENTION_INTERVAL_S: '0', STAAS_SINK_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('could not spawn ingest/sink/cli.ts');
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
    err += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, pid: child.pid, output: () => out, stderr: () => err, exited };
}

/** SIGTERM (graceful: store, commit, leave the group) and wait for the exit; SIGKILL after `graceMs`. */
export async function stopSinkProcess(sink: SinkProcess, graceMs = 30_000): Promise<void> {
  if (sink.child.exitCode !== null || sink.child.signalCode !== null) return;
  sink.child.kill('SIGTERM');
  const timer = setTimeout(() => sink.child.kill('SIGKILL'), graceMs);
  await sink.exited;
  clearTimeout(timer);
}

/**
 * Resolves once the sink joined its group and serves its metrics (its "consuming as group" line);
 * throws with the end of its output when it exits first or does not get there within `timeoutMs`.
 */
export async function waitConsuming(sink: SinkProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!sink.output().includes('consuming as group')) {
    if (sink.child.exitCode !== null || Date.now() > deadline) throw new Error(`the sink did not start: ${sink.output().slice(-800)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
