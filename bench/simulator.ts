/**
 * The fleet simulator (ingest/writer/cli.ts, --quiet) as a child process for benchmarks, at
 * `rate` records/s for `seconds`, with a spool folder of its own that is removed when it exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../ops/stack-config.ts';

export interface SimulatorRun {
  child: ChildProcess;
  /** Resolves when it exited: its exit code and its output (stdout, and stderr when captured). */
  exited: Promise<{ code: number | null; out: string }>;
}

/**
 * `captureStderr`: stderr joins `out` (else it goes to this process's stderr); `env`: added to
 * this process's environment (e.g. STAAS_KAFKA_BROKERS, STAAS_TOPIC_PREFIX); `args`: more options
 * of ingest/writer/cli.ts (fleet shape, --deliver-timeout).
 */
export function runSimulator(
  rate: number,
  seconds: number,
  opts: { captureStderr: boolean; env?: Record<string, string>; args?: string[] },
): SimulatorRun {
  const spoolDir = mkdtempSync(join(tmpdir(), 'staas-bench-sim-'));
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
      env: { ...process.env, ...opts.env, STAAS_WRITER_SPOOL_DIR: spoolDir },
      stdio: ['ignore', 'pipe', opts.captureStderr ? 'pipe' : 'inherit'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; out: string }>((resolve) =>
    child.once('exit', (code) => {
      rmSync(spoolDir, { recursive: true, force: true });
      resolve({ code, out });
    }),
  );
  return { child, exited };
}
