/**
 * Polls `ok` until it answers true; fails with `what` after `timeoutMs` (a function is asked at
 * that moment, to include what was seen). A throwing check counts as not yet.
 */
export async function until(
  what: string | (() => string),
  ok: () => boolean | Promise<boolean>,
  timeoutMs = 90_000,
  everyMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (
    !(await Promise.resolve()
      .then(ok)
      .catch(() => false))
  ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
