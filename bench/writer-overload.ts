/**
 * The Writer offered more than it can deliver, against the local broker:
 *   npx tsx bench/writer-overload.ts [--seconds 60] [--factor 2] [--kafka-bound]
 * First measures the sustained capacity: the fleet simulator (ingest/writer/cli.ts) at an
 * unreachable rate for 20 s; its records/s is what one writer process delivers. Then runs the
 * simulator at `--factor` × that rate for `--seconds`, sampling the child's RSS every second, and
 * reports: delivered rate as a share of capacity (target ≥ 90 %), the spool (target: never used:
 * a healthy Kafka is no reason to spool), RSS min / max (flat), and how long the writer held the
 * simulator back. With `--kafka-bound` the writer sends small batches one at a time
 * (STAAS_WRITER_BATCH_RECORDS=200, STAAS_WRITER_MAX_IN_FLIGHT=1), so Kafka's round trips, not
 * the simulator's CPU, bound the capacity and the writer has to hold the simulator back.
 * Results also go to bench/results/writer-overload-<date>.json.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readStackConfig, REPO_ROOT } from '../ops/stack-config.ts';
import { up } from '../ops/stack.ts';
import { rssMiB } from './procs.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    factor: { type: 'string', default: '2' },
    'kafka-bound': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const FACTOR = Number(args.factor);
if (!(SECONDS >= 5) || !(FACTOR > 0)) {
  console.error('bench/writer-overload: --seconds must be at least 5 and --factor positive');
  process.exit(2);
}

const WRITER_ENV: Record<string, string> = args['kafka-bound']
  ? { STAAS_WRITER_BATCH_RECORDS: '200', STAAS_WRITER_MAX_IN_FLIGHT: '1' }
  : {};

interface Run {
  ratePerS: number;
  heldBackS: number;
  spoolLeftBytes: number;
  maxSpoolMiB: number;
  rssMiB: number[];
  summary: string;
}

/** Runs the simulator at `rate` for `seconds`; parses its progress lines and summary. */
function simulate(rate: number, seconds: number): Promise<Run> {
  const spoolDir = mkdtempSync(join(tmpdir(), 'staas-bench-overload-'));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'ingest/writer/cli.ts'), '--rate', String(rate), '--duration', String(seconds)],
    { cwd: REPO_ROOT, env: { ...process.env, ...WRITER_ENV, STAAS_WRITER_SPOOL_DIR: spoolDir }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const rssSamples: number[] = [];
  let maxSpoolMiB = 0;
  let out = '';
  const sampler = setInterval(() => {
    const rss = rssMiB(child.pid!);
    if (rss !== undefined) rssSamples.push(rss);
  }, 1000);
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    for (const m of d.toString().matchAll(/spool ([\d.]+) MiB/g)) maxSpoolMiB = Math.max(maxSpoolMiB, Number(m[1]));
  });
  return new Promise((resolve, reject) =>
    child.once('exit', (code) => {
      clearInterval(sampler);
      rmSync(spoolDir, { recursive: true, force: true });
      const summary = out.trim().split('\n').at(-1) ?? '';
      const ratePerS = Number(/\((\d+) rec\/s;/.exec(summary)?.[1]);
      const heldBackS = Number(/held back by the writer ([\d.]+) s/.exec(summary)?.[1]);
      const spoolLeftBytes = Number(/spool left (\d+) bytes/.exec(summary)?.[1]);
      if (code !== 0 || !Number.isFinite(ratePerS)) reject(new Error(`the simulator failed (exit ${code}): ${summary}`));
      else resolve({ ratePerS, heldBackS, spoolLeftBytes, maxSpoolMiB, rssMiB: rssSamples, summary });
    }),
  );
}

async function main(): Promise<void> {
  const cfg = readStackConfig();
  await up(cfg, (l) => console.log(`  ${l}`));
  console.log(
    `writer overload: capacity run 20 s, then ${FACTOR}x for ${SECONDS} s; ${cpus().length} CPUs${args['kafka-bound'] ? '; Kafka-bound writer (batches of 200, one in flight)' : ''}`,
  );
  const capacity = await simulate(100_000_000, 20);
  console.log(`  capacity: ${capacity.ratePerS} rec/s (held back ${capacity.heldBackS} s)`);
  const offered = Math.round(capacity.ratePerS * FACTOR);
  const over = await simulate(offered, SECONDS);
  const share = over.ratePerS / capacity.ratePerS;
  const steady = over.rssMiB.slice(Math.min(5, over.rssMiB.length - 1));
  const result = {
    date: new Date().toISOString(),
    command: `npx tsx bench/writer-overload.ts ${process.argv.slice(2).join(' ')}`.trim(),
    cpus: cpus().length,
    writerEnv: WRITER_ENV,
    capacityPerS: capacity.ratePerS,
    offeredPerS: offered,
    deliveredPerS: over.ratePerS,
    shareOfCapacity: Math.round(share * 1000) / 1000,
    maxSpoolMiB: over.maxSpoolMiB,
    spoolLeftBytes: over.spoolLeftBytes,
    heldBackS: over.heldBackS,
    rssMiB: { min: Math.min(...steady), max: Math.max(...steady), samples: over.rssMiB },
    summary: over.summary,
  };
  console.log(
    [
      '',
      `| capacity rec/s | offered rec/s | delivered rec/s | share (target ≥ 90 %) | max spool MiB (target 0) | RSS MiB after 5 s (min–max) | held back s |`,
      '| ---: | ---: | ---: | ---: | ---: | --- | ---: |',
      `| ${capacity.ratePerS} | ${offered} | ${over.ratePerS} | ${(share * 100).toFixed(1)} % ${share >= 0.9 ? 'met' : 'MISSED'} | ${over.maxSpoolMiB} | ${result.rssMiB.min}–${result.rssMiB.max} | ${over.heldBackS} |`,
    ].join('\n'),
  );
  mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
  const file = join(REPO_ROOT, `bench/results/writer-overload-${result.date.slice(0, 19).replaceAll(':', '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`results: ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
