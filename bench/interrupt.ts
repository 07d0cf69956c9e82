/**
 * Cleaning up when a benchmark is interrupted (Ctrl-C, SIGTERM): Node's default for those signals
 * ends the process at once, skipping `finally` blocks, which left a run's own database and topics
 * behind (and a fleet simulator in a session of its own, which no terminal signal reaches, writing
 * on until its duration ran out).
 *
 * After a signal the benchmark's own flow is not stopped from outside: it asks `interrupted()`
 * before it starts anything or writes results, and its cleanups run here, newest first.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Cleanup = () => Promise<void> | void;

const cleanups: Cleanup[] = [];
let installed = false;
let signalled: NodeJS.Signals | undefined;
let signalledAt = 0;
/** Cleanups registered after the signal, already running. */
const late: Promise<void>[] = [];

/** How long one cleanup may take after a signal before the next runs (ms). */
const CLEANUP_LIMIT_MS = 45_000;
/**
 * A second signal within this time is the same interruption: `npx tsx` relays a Ctrl-C to its
 * child and sends it again when the child does not acknowledge it within 30 ms (tsx's
 * relaySignalToChild), which a busy benchmark does not.
 */
const REPEAT_MS = 1_000;

const exitCode = (signal: NodeJS.Signals) => (signal === 'SIGINT' ? 130 : 143);

async function runLimited(cleanup: Cleanup): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLEANUP_LIMIT_MS)));
  await Promise.race([Promise.resolve().then(cleanup), limit]).catch((err: unknown) =>
    console.error(`cleanup failed: ${(err as Error).message}`),
  );
  clearTimeout(timer);
}

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  if (signalled !== undefined) {
    if (Date.now() - signalledAt < REPEAT_MS) return;
    console.error(`\n${signal} again: exiting without cleaning up`);
    process.exit(exitCode(signal));
  }
  signalled = signal;
  signalledAt = Date.now();
  console.error(`\n${signal}: cleaning up (again to stop at once)`);
  while (cleanups.length > 0) await runLimited(cleanups.pop()!);
  await Promise.all(late);
  process.exit(exitCode(signal));
}

/** Whether SIGINT or SIGTERM arrived: start nothing more, write no results. */
export function interrupted(): boolean {
  return signalled !== undefined;
}

/**
 * Runs `cleanup` if SIGINT or SIGTERM arrives before the returned function is called (call it
 * after the run cleaned up itself); cleanups run newest first, each for at most 45 s, then the
 * process exits with 128 + the signal's number. Registered after the signal, `cleanup` runs at
 * once (and the exit waits for it). A second signal more than 1 s after the first exits at once.
 */
export function cleanUpOnInterrupt(cleanup: Cleanup): () => void {
  if (!installed) {
    installed = true;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, (s) => void onSignal(s));
  }
  if (signalled !== undefined) {
    late.push(runLimited(cleanup));
    return () => undefined;
  }
  cleanups.push(cleanup);
  return () => {
    const at = cleanups.indexOf(cleanup);
    if (at >= 0) cleanups.splice(at, 1);
  };
}

/** How long a scope's cleanup waits after a signal for the scope's own code to stop (ms). */
const SCOPE_WAIT_MS = 20_000;

/**
 * `cleanup` for a scope that must not outlive the run (topics, a database, a process): runs once,
 * when the returned `end` is called from the scope's `finally`, or on SIGINT / SIGTERM (as
 * `cleanUpOnInterrupt`; Node skips `finally` blocks on those signals, so a `finally` alone leaves
 * the scope behind). After a signal it first waits, at most 20 s, for the scope's code to reach
 * its `finally` (it stops at its next `stopIfInterrupted()`): dropping a table while the scope is
 * still creating things would leave what it creates next. A signal during `end` waits for that
 * same run. Registered after a signal, it waits the same way. `end` rethrows what the cleanup threw.
 */
export function cleanUpAtEnd(cleanup: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  const once = () => (running ??= cleanup());
  let ended!: () => void;
  const scopeEnded = new Promise<void>((resolve) => (ended = resolve));
  const release = cleanUpOnInterrupt(async () => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([scopeEnded, new Promise<void>((resolve) => (timer = setTimeout(resolve, SCOPE_WAIT_MS)))]);
    clearTimeout(timer);
    await once();
  });
  return async () => {
    ended();
    try {
      await once();
    } finally {
      release();
    }
  };
}

/** A temporary folder and how to remove it (`tempDirRemovedAtExit`). */
export interface TempDir {
  path: string;
  /** Removes it now (and no longer at exit). */
  remove(): void;
}

/**
 * A new temporary folder (`mkdtemp` under the OS's temp folder, name starting with `prefix`) that
 * is removed when this process exits, however it exits short of a kill -9, unless `remove` did it
 * before: the spools of writers and simulators a benchmark started are otherwise left behind when
 * a signal ends it early.
 */
export function tempDirRemovedAtExit(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  const atExit = () => rmSync(path, { recursive: true, force: true });
  process.once('exit', atExit);
  return {
    path,
    remove: () => {
      process.removeListener('exit', atExit);
      atExit();
    },
  };
}

/** Thrown by `stopIfInterrupted`: the run stops where it is; the signal's cleanups do the rest. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

/** Throws Interrupted after SIGINT or SIGTERM: call it before starting anything or writing results. */
export function stopIfInterrupted(): void {
  if (interrupted()) throw new Interrupted();
}
