/**
 * What a process has used, from Linux's /proc (benchmarks only): CPU time and resident memory.
 * CPU is user + system time in clock ticks of 10 ms (USER_HZ = 100 on Linux, proc(5)).
 */
import { readFileSync } from 'node:fs';

/** CPU time (user + system) process `pid` has used so far, in ms; undefined once it has exited. */
export function cpuMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** Resident memory of process `pid` in MiB (VmRSS); undefined once it has exited. */
export function rssMiB(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Math.round(Number(kb) / 1024);
  } catch {
    return undefined;
  }
}
