/**
 * Cleaning up when a benchmark is interrupted (Ctrl-C, SIGTERM): Node's default for those signals
 * ends the process at once, skipping `finally` blocks, which left a run's own database and topics
 * behind (and a fleet simulator in a session of its own, which no terminal signal reaches, writing
 * on until its duration ran out).
 */

type Cleanup = () => Promise<void> | void;

const cleanups: Cleanup[] = [];
let installed = false;

/** How long one cleanup may take after a signal before the next runs (ms). */
const CLEANUP_LIMIT_MS = 30_000;

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  console.error(`\n${signal}: cleaning up (again to stop at once)`);
  process.once(signal, () => process.exit(signal === 'SIGINT' ? 130 : 143));
  for (const cleanup of cleanups.splice(0).reverse()) {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLEANUP_LIMIT_MS)));
    await Promise.race([Promise.resolve().then(cleanup), limit]).catch((err: unknown) =>
      console.error(`cleanup failed: ${(err as Error).message}`),
    );
    clearTimeout(timer);
  }
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

/**
 * Runs `cleanup` if SIGINT or SIGTERM arrives before the returned function is called (the run
 * then cleans up itself); cleanups run newest first, each for at most 30 s, then the process
 * exits with 128 + the signal's number. A second signal exits at once.
 */
export function cleanUpOnInterrupt(cleanup: Cleanup): () => void {
  if (!installed) {
    installed = true;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, (s) => void onSignal(s));
  }
  cleanups.push(cleanup);
  return () => {
    const at = cleanups.indexOf(cleanup);
    if (at >= 0) cleanups.splice(at, 1);
  };
}
