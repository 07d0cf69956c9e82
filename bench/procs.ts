/**
 * What a process has used, from Linux's /proc (benchmarks only): CPU time and resident memory.
 * CPU is user + system time in clock ticks of 10 ms (USER_HZ = 100 on Linux, proc(5)); memory
 * is VmRSS (resident now) and VmHWM (the peak resident size, kept by the kernel).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** CPU time (user + system, ms) in a /proc `stat` file (a process's or a thread's); throws when it is gone. */
function statCpuMs(path: string): number {
  const stat = readFileSync(path, 'utf8');
  // The command name (field 2) may hold spaces and ')': fields are counted after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CPU time (user + system) process `pid` has used so far, in ms; undefined once it has exited. */
export function cpuMs(pid: number): number | undefined {
  try {
    return statCpuMs(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
}

/**
 * CPU time (user + system, ms) used so far by the threads of process `pid` named `comm` (their
 * /proc/<pid>/task/<tid>/comm), e.g. ClickHouse 18.16's merge threads "BackgrProcPool"; undefined
 * when the process has exited or has no such thread. Threads that have exited are not counted: for
 * pools whose threads live as long as the process.
 */
export function threadsCpuMs(pid: number, comm: string): number | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  let total: number | undefined;
  for (const tid of tids) {
    try {
      if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() !== comm) continue;
      total = (total ?? 0) + statCpuMs(`/proc/${pid}/task/${tid}/stat`);
    } catch {
      // the thread ended between listing and reading
    }
  }
  return total;
}

/** A memory line of /proc/<pid>/status in bytes; undefined once the process has exited. */
function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const kb = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** Resident memory of process `pid` in MiB, rounded (VmRSS); undefined once it has exited. */
export function rssMiB(pid: number): number | undefined {
  const bytes = statusBytes(pid, 'VmRSS');
  return bytes === undefined ? undefined : Math.round(bytes / 1048576);
}

/**
 * CPU seconds used so far and resident bytes now (`rss`) and at the peak (`hwm`) of process
 * `pid`. Throws when the process has exited.
 */
export function procUsage(pid: number): { cpuSeconds: number; rss: number; hwm: number } {
  const cpu = cpuMs(pid);
  const rss = statusBytes(pid, 'VmRSS');
  const hwm = statusBytes(pid, 'VmHWM');
  if (cpu === undefined || rss === undefined || hwm === undefined) throw new Error(`process ${pid} is gone`);
  return { cpuSeconds: cpu / 1000, rss, hwm };
}
