/**
 * Background service processes owned by the stack: started detached with their output in a
 * log file and their pid in a pid file, so that `down` in a later shell stops exactly what `up`
 * started, and nothing else.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServiceFiles {
  /** Human name used in messages: "kafka", "clickhouse". */
  name: string;
  pidFile: string;
  logFile: string;
  /** A string that must appear in the process's command line: guards against pid reuse. */
  marker: string;
}

export class ServiceStartError extends Error {
  constructor(
    readonly service: string,
    reason: string,
    readonly logTail: string,
  ) {
    super(`${service} did not start: ${reason}\n--- last lines of its log ---\n${logTail}`);
    this.name = 'ServiceStartError';
  }
}

function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

/** The pid of our running service, or undefined (a stale pid file is ignored). */
export function runningPid(files: ServiceFiles): number | undefined {
  if (!existsSync(files.pidFile)) return undefined;
  const pid = Number(readFileSync(files.pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const cmd = cmdline(pid);
  if (cmd === undefined || !cmd.includes(files.marker)) return undefined;
  return pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie (exited, not yet reaped) still answers kill 0; /proc tells the truth.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

export function startDetached(
  files: ServiceFiles,
  command: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv },
): number {
  const out = openSync(files.logFile, 'a');
  try {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', out, out],
    });
    if (child.pid === undefined) throw new Error(`could not spawn ${command}`);
    child.unref();
    writeFileSync(files.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(out);
  }
}

/** Last `lines` lines of a log file (reads at most the last 64 KiB). */
export async function tailFile(path: string, lines = 30): Promise<string> {
  if (!existsSync(path)) return '(no log file)';
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const length = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, size - length);
    return buf
      .toString('utf8')
      .split('\n')
      .slice(-lines - 1)
      .join('\n')
      .trimEnd();
  } finally {
    await fh.close();
  }
}

/**
 * Waits until `ready()` answers true. Fails early if the process exits, and after `timeoutMs`
 * stops the process it started, so a broken start never hangs and never leaves a half-up service.
 */
export async function waitReady(
  files: ServiceFiles,
  pid: number,
  ready: () => Promise<boolean>,
  timeoutMs: number,
  logOffset: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready()) return;
    if (!alive(pid)) {
      throw new ServiceStartError(files.name, 'the process exited', await tailSince(files.logFile, logOffset));
    }
    if (Date.now() > deadline) {
      await stopPid(pid, 10_000);
      rmSync(files.pidFile, { force: true });
      throw new ServiceStartError(
        files.name,
        `not ready after ${Math.round(timeoutMs / 1000)} s (stopped it)`,
        await tailSince(files.logFile, logOffset),
      );
    }
    await sleep(250);
  }
}

/** The log written since `offset` (this start only), last lines. */
async function tailSince(path: string, offset: number, lines = 30): Promise<string> {
  if (!existsSync(path)) return '(no log file)';
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const from = Math.max(offset, size - 64 * 1024);
    const buf = Buffer.alloc(size - from);
    await fh.read(buf, 0, buf.length, from);
    const text = buf.toString('utf8').trimEnd();
    return text === '' ? '(log is empty)' : text.split('\n').slice(-lines).join('\n');
  } finally {
    await fh.close();
  }
}

export async function stopPid(pid: number, graceMs: number): Promise<'stopped' | 'killed'> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'stopped';
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return 'stopped';
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  while (alive(pid)) await sleep(50);
  return 'killed';
}

export async function stopService(files: ServiceFiles, graceMs: number): Promise<string> {
  const pid = runningPid(files);
  if (pid === undefined) {
    rmSync(files.pidFile, { force: true });
    return `${files.name}: not running`;
  }
  const how = await stopPid(pid, graceMs);
  rmSync(files.pidFile, { force: true });
  return `${files.name}: ${how} (pid ${pid})`;
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Fails at once, naming the variable to change, when another process holds one of the ports. */
export async function assertPortsFree(service: string, ports: [host: string, port: number, envVar: string][]): Promise<void> {
  for (const [host, port, envVar] of ports) {
    if (!(await portFree(host, port))) {
      throw new ServiceStartError(
        service,
        `port ${host}:${port} is already in use by another process (stop it, or set ${envVar} to a free port)`,
        '(not started: nothing logged)',
      );
    }
  }
}

/**
 * `n` distinct loopback ports that nobody listened on a moment ago (the OS's choice for port 0;
 * all held open together so that they differ, then released). Another process may take one
 * before it is used: callers that bind later fail clearly (assertPortsFree, EADDRINUSE).
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = createServer();
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    servers.push(s);
    ports.push((s.address() as { port: number }).port);
  }
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}
