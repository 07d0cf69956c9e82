/**
 * The fleet simulator (ingest/writer/cli.ts, --quiet) as a child process for benchmarks, at
 * `rate` records/s for `seconds`, with a spool folder of its own that is removed when it exits
 * (or when this process does).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../ops/stack-config.ts';
import { cleanUpOnInterrupt, tempDirRemovedAtExit } from './interrupt.ts';

export interface SimulatorRun {
  child: ChildProcess;
  /** Resolves when it exited: its exit code and its output (stdout, and stderr when captured). */
  exited: Promise<{ code: number | null; out: string }>;
}

/**
 * `captureStderr`: stderr joins `out` (else it goes to this process's stderr); `env`: added to
 * this process's environment (e.g. STAAS_KAFKA_BROKERS, STAAS_TOPIC_PREFIX); `args`: more options
 * of ingest/writer/cli.ts (fleet shape, --deliver-timeout); `nice`: the child's scheduling
 * niceness (0 = as this process; 19 = lowest), for a fleet that stands for agents on other machines;
 * `ownSession`: the child runs in a session of its own even when not niced, so that a benchmark
 * that measures from this process (autocannon, write → queryable probes) does not share its
 * session's CPU share with the fleet it drives (see below).
 *
 * A niced child runs in a session of its own with that niceness on its autogroup as well
 * (sched(7), "The autogroup feature"): where the kernel groups processes by session — the default
 * on most distributions, and here — CPU is shared between sessions first, so a nice value only
 * orders threads within one session; the stack's services each have one (they start detached),
 * and a child niced only within this session would still get its session's full share against
 * them. Setting the process's nice also covers only its main thread (setpriority(2) on Linux).
 */
export function runSimulator(
  rate: number,
  seconds: number,
  opts: { captureStderr: boolean; env?: Record<string, string>; args?: string[]; nice?: number; ownSession?: boolean },
): SimulatorRun {
  const spool = tempDirRemovedAtExit('staas-bench-sim-');
  const niced = opts.nice !== undefined && opts.nice !== 0;
  const detached = niced || opts.ownSession === true;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(REPO_ROOT, 'ingest/writer/cli.ts'),
      '--rate',
      String(rate),
      '--duration',
      String(seconds),
      '--quiet',
      ...(opts.args ?? []),
    ],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, ...opts.env, STAAS_WRITER_SPOOL_DIR: spool.path },
      stdio: ['ignore', 'pipe', opts.captureStderr ? 'pipe' : 'inherit'],
      detached,
    },
  );
  if (niced && child.pid !== undefined) {
    setPriority(child.pid, opts.nice!);
    setAutogroupNice(child.pid, opts.nice!);
  }
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; out: string }>((resolve) =>
    child.once('exit', (code) => {
      spool.remove();
      resolve({ code, out });
    }),
  );
  if (detached) {
    // In a session of its own it gets no signal from the terminal: a signal to this process stops
    // it first (newest cleanup first: before its topics are deleted), and it ends with this process.
    const release = cleanUpOnInterrupt(async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    });
    const kill = () => child.kill('SIGKILL'); // exiting: no time to wait for its graceful stop
    process.once('exit', kill);
    child.once('exit', () => {
      process.removeListener('exit', kill);
      release();
    });
  }
  return { child, exited };
}

/**
 * Sets the niceness of the autogroup `pid` leads (`/proc/<pid>/autogroup`, sched(7)); nothing
 * when the kernel has no autogroups (the file is missing) — the process's own nice then orders it;
 * a warning when it may not be written (the process's own nice still holds within its session).
 */
export function setAutogroupNice(pid: number, nice: number): void {
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(nice));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      console.warn(`could not set the autogroup nice of pid ${pid}: ${(err as Error).message}`);
  }
}
