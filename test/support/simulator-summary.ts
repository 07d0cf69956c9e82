/** The fleet simulator's summary line (ingest/writer/cli.ts), as counts per destination table. */

export interface SimulatorCounts {
  total: number;
  /** Trend points of every kind: real-time, discrete, status rows and the three average windows. */
  trend: number;
  /** Alarm and info events. */
  alarms: number;
  errors: number;
  /** Bytes still in the Writer's spool when it closed (0: Kafka acknowledged everything). */
  spoolLeft: number;
}

const SUMMARY =
  /simulate: (\d+) records in [\d.]+ s \(\d+ rec\/s; [^)]*\): (\d+) real-time points, (\d+) discrete points, (\d+) status rows, averages 5 min (\d+) \/ 60 min (\d+) \/ 120 min (\d+), (\d+) alarm events, (\d+) info events, .*; errors (\d+); .* spool left (\d+) bytes/;

/** Parses `out` (the simulator's output); throws with the output when the line is missing. */
export function simulatorCounts(out: string): SimulatorCounts {
  const m = SUMMARY.exec(out);
  if (m === null) throw new Error(`no simulator summary in:\n${out}`);
  const n = m.slice(1).map(Number);
  return {
    total: n[0]!,
    trend: n[1]! + n[2]! + n[3]! + n[4]! + n[5]! + n[6]!,
    alarms: n[7]! + n[8]!,
    errors: n[9]!,
    spoolLeft: n[10]!,
  };
}
