/**
 * The whole path under load — fleet simulator → Writer → Kafka → Sink → ClickHouse — on the local
 * stack's broker and server (started if needed), with topics, a database and a Sink process of
 * the run's own (dropped after), so that what the stack stored before does not count:
 *   npx tsx bench/e2e.ts [--quick] [--rates 100000,200000,…] [--ramp-to 2000000] [--step-seconds 20] [--latency-seconds 30] [--writer-nice 0]
 * 1. A ramp of offered rates: per step the simulator (ingest/writer/cli.ts, its own process) runs
 *    at the rate for --step-seconds; the Sink's rows-inserted counter (its /metrics) gives the trend
 *    points stored per second while offered (after the first 3 s), then the step waits until the
 *    Sink's lag is 0 (the drain time). A step "kept up" when it stored ≥ 95 % of what the simulator wrote and drained
 *    within 5 s; the sustained rate is the best such step's stored rate. While the last rate keeps
 *    up, the ramp goes on by 200,000 up to --ramp-to (full mode: 2,000,000).
 * 2. Overload: 2 × the sustained rate offered; the stored rate as a share of the sustained one
 *    (target ≥ 90 %: past capacity, goodput must not collapse).
 * 3. Write → queryable latency at half the sustained rate: a probe writer (this process) writes a
 *    stamped point every 100 ms beside the simulator and polls ClickHouse every 50 ms for it.
 * 4. Baselines on the same broker and server (bench/baselines/): the naive pipeline (a JSON message
 *    per point, a JSONEachRow insert per consumed batch), ClickHouse's own Kafka table engine with
 *    a materialized view (JSONEachRow messages) beside the staas Sink draining the same rows on
 *    the same terms (a pre-filled topic), and ClickHouse's own bulk load of RowBinary (the
 *    ceiling), each on bench/points.ts's trend points; skipped with --skip-baselines.
 * Per step: CPU-seconds per million stored points of each process (simulator + writer, Kafka,
 * Sink, ClickHouse; from /proc), the Sink's and writer's peak RSS, and the run database's
 * ClickHouse parts (at the end, the most during the step) and the most merges running at once.
 * Results: JSON, a markdown table and SVG charts (offered vs stored — the overload curve — and latency) in bench/results/,
 * the latest table and charts also in docs/bench/ (shown by the README). --quick (< 2 min): three
 * ramp steps of 8 s and 10 s of latency.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { readConnections } from '../config/connections.ts';
import { readWriterConfig } from '../ingest/writer/config.ts';
import { Writer } from '../ingest/writer/writer.ts';
import { clickhouseFiles } from '../ops/clickhouse.ts';
import { kafkaFiles } from '../ops/kafka.ts';
import { freePorts, runningPid } from '../ops/process.ts';
import { readStackConfig, REPO_ROOT } from '../ops/stack-config.ts';
import { up } from '../ops/stack.ts';
import { createClickHouse } from '../storage/client.ts';
import { bulkLoad, type BulkLoadResult } from './baselines/bulk-load.ts';
import { kafkaEnginePipeline, type KafkaEngineResult } from './baselines/kafka-engine.ts';
import { naivePipeline, type NaiveResult } from './baselines/naive.ts';
import { sinkDrain, type SinkDrainResult } from './baselines/sink-drain.ts';
import { interrupted, stopIfInterrupted, tempDirRemovedAtExit } from './interrupt.ts';
import { waitMergesDone } from './merges-quiet.ts';
import { cpuMs, rssMiB, threadsCpuMs } from './procs.ts';
import { withRunScope } from './run-scope.ts';
import { runSimulator } from './simulator.ts';
import { lineChart } from './svg-chart.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rates: { type: 'string' },
    'step-seconds': { type: 'string' },
    'latency-seconds': { type: 'string' },
    'skip-baselines': { type: 'boolean', default: false },
    'writer-nice': { type: 'string', default: '0' },
    'ramp-to': { type: 'string' },
  },
});

function numbers(name: string, raw: string): number[] {
  const list = raw.split(',').map(Number);
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1)) {
    console.error(`bench/e2e: --${name} must be positive integers separated by commas, got ${raw}`);
    process.exit(2);
  }
  return list;
}

const QUICK = args.quick;
const RATES = numbers('rates', args.rates ?? (QUICK ? '150000,300000,600000' : '100000,200000,300000,400000,500000,600000,800000,1000000'));
/**
 * While the last step kept up, the ramp goes on past RATES by RAMP_STEP up to this rate (0: no
 * further): the sustained rate is the best kept-up step, so a ramp that ends on one that kept up
 * would report its own top rate, not the pipeline's. Default 2,000,000 in full mode (without
 * --rates), none otherwise.
 */
const RAMP_TO = args['ramp-to'] !== undefined ? numbers('ramp-to', args['ramp-to'])[0]! : QUICK || args.rates !== undefined ? 0 : 2_000_000;
const RAMP_STEP = 200_000;
const STEP_S = numbers('step-seconds', args['step-seconds'] ?? (QUICK ? '8' : '20'))[0]!;
const LATENCY_S = numbers('latency-seconds', args['latency-seconds'] ?? (QUICK ? '10' : '30'))[0]!;
/**
 * Niceness of the fleet simulator and its Writer (0–19; 0 = as this process). Co-located at equal
 * priority, the agents' side takes the CPU the Sink and ClickHouse need once offered more than
 * they store (the overload step); on a real deployment the agents are other machines.
 */
const WRITER_NICE = Number(args['writer-nice']);
if (!Number.isInteger(WRITER_NICE) || WRITER_NICE < 0 || WRITER_NICE > 19) {
  console.error(`bench/e2e: --writer-nice must be an integer from 0 to 19, got ${args['writer-nice']}`);
  process.exit(2);
}
/** Longest wait for the Sink's lag to reach 0 after a step (s). */
const DRAIN_LIMIT_S = QUICK ? 20 : 60;
/** Trend tables: their stored rows are the "points" of every rate. */
const TREND_TABLES = ['trend_realtime', 'trend_average'];
/**
 * Where this run writes: topics and a database of its own, and a sink process of its own reading
 * them, so that the figures do not depend on what the stack stored before (merges of a large
 * day partition left by earlier runs cost ClickHouse CPU that would be counted in the steps).
 */
interface RunScope {
  prefix: string;
  database: string;
  metricsPort: number;
  /** The run's ClickHouse client (parts per step, latency polls, the database dropped at the end). */
  clickhouse: ReturnType<typeof createClickHouse>;
}

let scope: RunScope;

/** The probe element of the latency step: an agent id the simulator does not use. */
const PROBE = { dmsId: 1, dmaId: 990, elementId: 1, parameterId: 1 } as const;

interface SinkReading {
  /** Trend rows the Sink inserted since it started. */
  rows: number;
  /** Messages behind the end of the topics. */
  lag: number;
}

/** The Sink's counters from its /metrics (Prometheus text). */
async function readSink(): Promise<SinkReading> {
  const text = await (await fetch(`http://127.0.0.1:${scope.metricsPort}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  let rows = 0;
  let lag = 0;
  for (const line of text.split('\n')) {
    const m = /^(staas_sink_rows_inserted_total|staas_sink_consumer_lag)\{([^}]*)\} ([\d.e+]+)$/.exec(line);
    if (m === null) continue;
    if (m[1] === 'staas_sink_consumer_lag') lag += Number(m[3]);
    else if (TREND_TABLES.some((t) => m[2]!.includes(`table="${t}"`))) rows += Number(m[3]);
  }
  return { rows, lag };
}

/**
 * The run database's active parts (all tables) and the merges running in it, from system.parts
 * and system.merges: how hard ClickHouse is merging what the Sink inserts.
 */
async function readParts(): Promise<{ parts: number; merges: number }> {
  const rs = await scope.clickhouse.query({
    query: `SELECT (SELECT count() FROM system.parts WHERE database = '${scope.database}' AND active) AS parts,
      (SELECT count() FROM system.merges WHERE database = '${scope.database}') AS merges`,
    format: 'JSONEachRow',
  });
  const [row] = await rs.json<{ parts: string | number; merges: string | number }>();
  return { parts: Number(row?.parts ?? 0), merges: Number(row?.merges ?? 0) };
}

interface Pids {
  kafka: number;
  clickhouse: number;
  sink: number;
}

/**
 * ClickHouse 18.16's merge threads (its background processing pool, named so in /proc): their CPU
 * is reported apart, as part of ClickHouse's. Merges run behind inserts, so some of a step's run
 * in the next step.
 */
const MERGE_THREADS = 'BackgrProcPool';

type Cpu = Record<'writer' | 'kafka' | 'sink' | 'clickhouse' | 'clickhouseMerges', number>;

function cpuOf(pids: Pids, writer: number): Cpu {
  return {
    writer: cpuMs(writer) ?? 0,
    kafka: cpuMs(pids.kafka) ?? 0,
    sink: cpuMs(pids.sink) ?? 0,
    clickhouse: cpuMs(pids.clickhouse) ?? 0,
    clickhouseMerges: threadsCpuMs(pids.clickhouse, MERGE_THREADS) ?? 0,
  };
}

interface Simulator {
  pid: number;
  /** Resolves with the simulator's records/s (its summary line) when it exits. */
  done: Promise<number>;
}

function startSimulator(rate: number, seconds: number): Simulator {
  const run = runSimulator(rate, seconds, {
    captureStderr: false,
    env: { STAAS_TOPIC_PREFIX: scope.prefix },
    nice: WRITER_NICE,
    ownSession: true,
  });
  const done = run.exited.then(({ code, out }) => {
    const summary = out.trim().split('\n').at(-1) ?? '';
    const perS = Number(/\((\d+) rec\/s;/.exec(summary)?.[1]);
    if (code !== 0 || !Number.isFinite(perS)) throw new Error(`the simulator failed (exit ${code}): ${summary}`);
    return perS;
  });
  return { pid: run.child.pid!, done };
}

interface Step {
  name: string;
  offeredPerS: number;
  /** Records/s the simulator handed to the writer (its own count). */
  writtenPerS: number;
  /**
   * Trend points/s the Sink stored while the step offered load, after its first seconds (the
   * pipeline's own delay — writer linger, Sink batches — would count as a slow start).
   */
  storedPerS: number;
  /** Trend points stored in the step, drain included. */
  stored: number;
  /** Seconds after the simulator stopped until the Sink's lag was 0 (DRAIN_LIMIT_S: it was not). */
  drainS: number;
  keptUp: boolean;
  maxLag: number;
  /** CPU-seconds per million stored trend points, per process (and ClickHouse's merges, part of its) and in total. */
  cpuSecondsPerMillion: Cpu & { total: number };
  peakRssMiB: { sink: number; writer: number };
  /** The run database's active parts at the step's end and at most during it, and the most merges running at once. */
  clickhouseParts: { end: number; max: number; maxMerges: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

async function runStep(name: string, rate: number, seconds: number, pids: Pids): Promise<Step> {
  const before = await readSink();
  const sim = startSimulator(rate, seconds);
  const cpu0 = cpuOf(pids, sim.pid);
  const started = Date.now();
  let writerCpu = cpu0.writer;
  let exited = false;
  void sim.done.finally(() => (exited = true)).catch(() => undefined);
  let last = before;
  let maxLag = 0;
  /** The stored count once the pipeline is up to speed, and when. */
  const warmS = Math.min(3, seconds * 0.3);
  let warm: { rows: number; at: number } | undefined;
  const peak = { sink: 0, writer: 0 };
  const parts = { end: 0, max: 0, maxMerges: 0 };
  const sampleParts = async () => {
    const p = await readParts();
    parts.end = p.parts;
    parts.max = Math.max(parts.max, p.parts);
    parts.maxMerges = Math.max(parts.maxMerges, p.merges);
    return p;
  };
  while (!exited) {
    await sleep(1000);
    stopIfInterrupted();
    const now = await readSink();
    const p = await sampleParts();
    writerCpu = cpuMs(sim.pid) ?? writerCpu;
    peak.sink = Math.max(peak.sink, rssMiB(pids.sink) ?? 0);
    peak.writer = Math.max(peak.writer, rssMiB(sim.pid) ?? 0);
    maxLag = Math.max(maxLag, now.lag);
    if (warm === undefined && Date.now() - started >= warmS * 1000) warm = { rows: now.rows, at: Date.now() };
    process.stdout.write(
      `  ${name}: ${((Date.now() - started) / 1000).toFixed(0)} s, stored ${Math.round(now.rows - last.rows)} points/s, lag ${now.lag}, sink RSS ${rssMiB(pids.sink) ?? '?'} MiB, ClickHouse parts ${p.parts} (${p.merges} merging)\n`,
    );
    last = now;
  }
  const writtenPerS = await sim.done;
  const offeredEnd = Date.now();
  const atEnd = await readSink();
  // The drain: until the Sink has read everything and the stored count stops moving.
  let drainS = DRAIN_LIMIT_S;
  let previous = atEnd;
  for (let t = 0; t < DRAIN_LIMIT_S * 4; t++) {
    await sleep(250);
    stopIfInterrupted();
    const now = await readSink();
    maxLag = Math.max(maxLag, now.lag);
    if (now.lag === 0 && now.rows === previous.rows) {
      drainS = round((Date.now() - offeredEnd) / 1000, 1);
      break;
    }
    previous = now;
  }
  const after = await readSink();
  await sampleParts();
  const cpu1 = cpuOf(pids, sim.pid);
  cpu1.writer = writerCpu;
  const stored = after.rows - before.rows;
  const from = warm ?? { rows: before.rows, at: started };
  const storedPerS = Math.round((atEnd.rows - from.rows) / Math.max(0.001, (offeredEnd - from.at) / 1000));
  const perMillion = (k: keyof Cpu) => round((cpu1[k] - cpu0[k]) / 1000 / Math.max(1, stored / 1e6));
  const cpuSecondsPerMillion = {
    writer: perMillion('writer'),
    kafka: perMillion('kafka'),
    sink: perMillion('sink'),
    clickhouse: perMillion('clickhouse'),
    clickhouseMerges: perMillion('clickhouseMerges'),
    total: 0,
  };
  cpuSecondsPerMillion.total = round(
    cpuSecondsPerMillion.writer + cpuSecondsPerMillion.kafka + cpuSecondsPerMillion.sink + cpuSecondsPerMillion.clickhouse,
  );
  const keptUp = storedPerS >= 0.95 * writtenPerS && drainS <= 5;
  return {
    name,
    offeredPerS: rate,
    writtenPerS,
    storedPerS,
    stored,
    drainS,
    keptUp,
    maxLag,
    cpuSecondsPerMillion,
    peakRssMiB: peak,
    clickhouseParts: parts,
  };
}

/** The step whose stored rate is the sustained one: the best that kept up (else the best). */
function bestStep(steps: readonly Step[]): Step {
  const kept = steps.filter((s) => s.keptUp);
  return (kept.length > 0 ? kept : steps).reduce((a, b) => (b.storedPerS > a.storedPerS ? b : a));
}

interface Latency {
  offeredPerS: number;
  probes: number;
  seen: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** [seconds since start, latency ms] per probe, for the chart. */
  samples: [number, number][];
}

/** Write → queryable latency: stamped probe points beside the simulator at `rate`. */
async function measureLatency(rate: number, seconds: number): Promise<Latency> {
  const conn = readConnections();
  const ch = scope.clickhouse;
  const spool = tempDirRemovedAtExit('staas-bench-e2e-probe-');
  const writer = await Writer.create(readWriterConfig(process.env, { spoolDir: spool.path, topicPrefix: scope.prefix }), conn.kafka, {
    registry: new Registry(),
    log: { info: () => undefined, warn: (m) => console.warn(`probe writer: ${m}`) },
  });
  const sim = startSimulator(rate, seconds + 2);
  const written: number[] = [];
  const visibleAt = new Map<number, number>();
  // Probes start once the simulator is up to speed and polling runs: a probe written before the
  // first poll would count the wait for polling as latency (it made the first probes of a run
  // read 1–2 s, which was the whole p99). A first point (before `start`, not counted) warms the
  // probe writer's connection and topic metadata.
  await writer.trend({ ...PROBE, timestamp: Date.now(), value: -1 });
  await writer.flush();
  await sleep(2000);
  const start = Date.now();
  let writing = true;
  const probe = (async () => {
    let seq = 0;
    while (writing) {
      const ts = Date.now();
      await writer.trend({ ...PROBE, timestamp: ts, value: seq++ });
      written.push(ts);
      await sleep(100);
    }
  })();
  const key = `dms_id = ${PROBE.dmsId} AND dma_id = ${PROBE.dmaId} AND element_id = ${PROBE.elementId} AND parameter_id = ${PROBE.parameterId}`;
  const poll = async () => {
    const rs = await ch.query({
      query: `SELECT toString(max(ts)) AS t FROM ${scope.database}.trend_realtime WHERE ${key} AND ts >= ${start}`,
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ t: string }>();
    const max = Number(row?.t ?? 0);
    const now = Date.now();
    for (const ts of written) if (ts <= max && !visibleAt.has(ts)) visibleAt.set(ts, now);
  };
  try {
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
      await poll();
      await sleep(50);
      stopIfInterrupted();
    }
    writing = false;
    await probe;
    await writer.flush();
    for (let i = 0; i < 100 && visibleAt.size < written.length; i++) {
      await poll();
      await sleep(50);
    }
  } finally {
    writing = false;
    await writer.close();
    spool.remove();
    await sim.done.catch(() => undefined);
  }
  const lat = written.filter((ts) => visibleAt.has(ts)).map((ts) => visibleAt.get(ts)! - ts);
  const sorted = [...lat].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
  return {
    offeredPerS: rate,
    probes: written.length,
    seen: lat.length,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    maxMs: sorted.at(-1) ?? NaN,
    samples: written.filter((ts) => visibleAt.has(ts)).map((ts) => [round((ts - start) / 1000, 1), visibleAt.get(ts)! - ts]),
  };
}

interface Baselines {
  naive: NaiveResult;
  kafkaEngine: KafkaEngineResult;
  /** staas's Sink on the Kafka engine's terms: draining a pre-filled topic of the same rows. */
  sinkDrain: SinkDrainResult;
  ceiling: BulkLoadResult;
}

function baselineLines(b: Baselines, sustained: number, best: Step): string[] {
  return [
    '| pipeline | points/s | CPU-s per million points | staas ÷ it (throughput) |',
    '| --- | ---: | --- | ---: |',
    `| staas (sustained step) | ${sustained} | ${best.cpuSecondsPerMillion.total} (writer ${best.cpuSecondsPerMillion.writer}, Kafka ${best.cpuSecondsPerMillion.kafka}, Sink ${best.cpuSecondsPerMillion.sink}, ClickHouse ${best.cpuSecondsPerMillion.clickhouse} of which merges ${best.cpuSecondsPerMillion.clickhouseMerges}) | 1 |`,
    `| naive: JSON message per point, JSONEachRow insert per batch (${b.naive.rows} points, ${b.naive.lost} lost) | ${b.naive.pointsPerS} | ${b.naive.cpuSPerMillion.total} (client ${b.naive.cpuSPerMillion.client}, Kafka ${b.naive.cpuSPerMillion.kafka}, ClickHouse ${b.naive.cpuSPerMillion.clickhouse}) | ${round(sustained / b.naive.pointsPerS, 1)} |`,
    `| ClickHouse's Kafka engine + materialized view, draining a pre-filled topic of JSONEachRow messages of 1,000 rows (${b.kafkaEngine.rows} points, ${b.kafkaEngine.consumers} consumers, ${b.kafkaEngine.lost} lost, ${b.kafkaEngine.repeated} repeated) | ${b.kafkaEngine.pointsPerS} | ${b.kafkaEngine.cpuSPerMillion.total} (Kafka ${b.kafkaEngine.cpuSPerMillion.kafka}, ClickHouse ${b.kafkaEngine.cpuSPerMillion.clickhouse}) | ${round(sustained / b.kafkaEngine.pointsPerS, 2)} |`,
    `| staas Sink on the same terms: draining a pre-filled topic of the same rows written by the Writer (${b.sinkDrain.rows} points, ${b.sinkDrain.lost} lost, ${b.sinkDrain.repeated} repeated) | ${b.sinkDrain.pointsPerS} | ${b.sinkDrain.cpuSPerMillion.total} (Sink ${b.sinkDrain.cpuSPerMillion.sink}, Kafka ${b.sinkDrain.cpuSPerMillion.kafka}, ClickHouse ${b.sinkDrain.cpuSPerMillion.clickhouse}) | ${round(sustained / b.sinkDrain.pointsPerS, 2)} |`,
    `| ceiling: ClickHouse bulk load, RowBinary over HTTP (${b.ceiling.rows} rows) | ${b.ceiling.pointsPerS} | ${b.ceiling.clickhouseCpuSPerMillion} (ClickHouse) | ${round(sustained / b.ceiling.pointsPerS, 2)} |`,
    '',
    `Consumers compared on equal terms (each draining a pre-filled topic, nothing else running): staas Sink ÷ Kafka engine = ${round(b.sinkDrain.pointsPerS / b.kafkaEngine.pointsPerS, 2)} in throughput, ${round(b.sinkDrain.cpuSPerMillion.total / b.kafkaEngine.cpuSPerMillion.total, 2)} in CPU-s per million points.`,
    '',
  ];
}

function markdown(
  steps: readonly Step[],
  sustained: number,
  overload: Step,
  latency: Latency,
  baselines: Baselines | undefined,
  mergesAtStart: number,
): string {
  const row = (s: Step) =>
    `| ${s.name} | ${s.offeredPerS} | ${s.writtenPerS} | ${s.storedPerS} | ${s.drainS} | ${s.keptUp ? 'yes' : 'no'} | ${s.cpuSecondsPerMillion.writer} / ${s.cpuSecondsPerMillion.kafka} / ${s.cpuSecondsPerMillion.sink} / ${s.cpuSecondsPerMillion.clickhouse} (${s.cpuSecondsPerMillion.clickhouseMerges}) = ${s.cpuSecondsPerMillion.total} | ${s.peakRssMiB.sink} / ${s.peakRssMiB.writer} | ${s.clickhouseParts.end} / ${s.clickhouseParts.max} / ${s.clickhouseParts.maxMerges} |`;
  const share = overload.storedPerS / sustained;
  return [
    `End to end on ${cpus().length} CPUs (everything co-located${WRITER_NICE === 0 ? '' : `; simulator and Writer at nice ${WRITER_NICE}`}), ${STEP_S} s per step: sustained **${sustained} trend points/s**.`,
    ...(mergesAtStart > 0
      ? ['', `ClickHouse was still merging earlier data (${mergesAtStart} merges) when the ramp began: its CPU counts in the first steps.`]
      : []),
    '',
    '| step | offered rec/s | written rec/s | stored points/s | drain s | kept up | CPU-s per million points: writer / Kafka / Sink / ClickHouse (of it merges) = total | peak RSS MiB: Sink / writer | ClickHouse parts: end / max / merges at once |',
    '| --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- |',
    ...steps.map(row),
    row(overload),
    '',
    `Overload (2 × sustained offered): stored ${overload.storedPerS} points/s = ${(share * 100).toFixed(1)} % of the sustained rate (target ≥ 90 %: ${share >= 0.9 ? 'met' : 'MISSED'}).`,
    '',
    `Write → queryable at ${latency.offeredPerS} rec/s (half the sustained rate), ${latency.seen} of ${latency.probes} probes seen: p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms, max ${latency.maxMs} ms.`,
    '',
    ...(baselines === undefined ? [] : baselineLines(baselines, sustained, bestStep(steps))),
  ].join('\n');
}

async function main(): Promise<void> {
  const cfg = readStackConfig();
  console.log(
    `end-to-end benchmark${QUICK ? ' (quick)' : ''}: ramp ${RATES.join(', ')} rec/s${RAMP_TO > 0 ? ` (on by ${RAMP_STEP} to ${RAMP_TO} while kept up)` : ''}, ${STEP_S} s per step; ${cpus().length} CPUs`,
  );
  await up(cfg, (l) => console.log(`  ${l}`));
  const id = Date.now().toString(36);
  const conn0 = readConnections();
  scope = {
    prefix: `bench-e2e-${id}`,
    database: `bench_e2e_${id}`,
    metricsPort: (await freePorts(1))[0]!,
    clickhouse: createClickHouse(conn0.clickhouse),
  };
  try {
    await withRunScope(
      scope,
      {
        partitions: cfg.kafka.partitions,
        clickhouse: scope.clickhouse,
        sinkEnv: { STAAS_SINK_METRICS_PORT: String(scope.metricsPort) },
      },
      (sink) =>
        runAll({
          kafka: runningPid(kafkaFiles(cfg))!,
          clickhouse: runningPid(clickhouseFiles(cfg))!,
          sink: sink.pid,
        }),
    );
  } finally {
    await scope.clickhouse.close();
  }
}

/** How long the run waits for ClickHouse to finish merges of other data before its first step (s). */
const QUIET_LIMIT_S = 300;

async function runAll(pids: Pids): Promise<void> {
  const mergesAtStart = await waitMergesDone(scope.clickhouse, QUIET_LIMIT_S, (l) => console.log(`  ${l}`));
  const steps: Step[] = [];
  const rates = [...RATES];
  for (let i = 0; i < rates.length; i++) {
    const rate = rates[i]!;
    const step = await runStep(`ramp ${rate}`, rate, STEP_S, pids);
    steps.push(step);
    console.log(
      `  => ${step.name}: stored ${step.storedPerS} points/s, drain ${step.drainS} s, ${step.keptUp ? 'kept up' : 'fell behind'}; ${step.cpuSecondsPerMillion.total} CPU-s per million`,
    );
    if (i === rates.length - 1 && step.keptUp && rate + RAMP_STEP <= RAMP_TO) rates.push(rate + RAMP_STEP);
  }
  const sustained = bestStep(steps).storedPerS;
  const overload = await runStep('overload 2x', 2 * sustained, STEP_S, pids);
  console.log(
    `  => overload: stored ${overload.storedPerS} points/s (${((overload.storedPerS / sustained) * 100).toFixed(1)} % of sustained)`,
  );
  const latency = await measureLatency(Math.round(sustained / 2), LATENCY_S);
  console.log(
    `  => latency at ${latency.offeredPerS} rec/s: p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms (${latency.seen}/${latency.probes} probes)`,
  );

  let baselines: Baselines | undefined;
  if (!args['skip-baselines']) {
    const conn = readConnections();
    stopIfInterrupted();
    const naive = await naivePipeline(conn, QUICK ? 200_000 : 1_000_000, pids);
    console.log(`  => naive pipeline: ${naive.pointsPerS} points/s, ${naive.cpuSPerMillion.total} CPU-s per million, ${naive.lost} lost`);
    stopIfInterrupted();
    const kafkaEngine = await kafkaEnginePipeline(conn, QUICK ? 500_000 : 4_000_000, pids);
    console.log(
      `  => Kafka engine: ${kafkaEngine.pointsPerS} points/s, ${kafkaEngine.cpuSPerMillion.total} CPU-s per million, ${kafkaEngine.lost} lost, ${kafkaEngine.repeated} repeated`,
    );
    stopIfInterrupted();
    const sinkDrained = await sinkDrain(conn, QUICK ? 500_000 : 4_000_000, pids);
    console.log(
      `  => staas Sink draining the same rows: ${sinkDrained.pointsPerS} points/s, ${sinkDrained.cpuSPerMillion.total} CPU-s per million, ${sinkDrained.lost} lost, ${sinkDrained.repeated} repeated`,
    );
    stopIfInterrupted();
    const ceiling = await bulkLoad(conn.clickhouse, QUICK ? 1_000_000 : 4_000_000, pids.clickhouse);
    console.log(`  => ClickHouse bulk load: ${ceiling.pointsPerS} rows/s, ${ceiling.clickhouseCpuSPerMillion} CPU-s per million`);
    baselines = { naive, kafkaEngine, sinkDrain: sinkDrained, ceiling };
  }

  const date = new Date().toISOString();
  const stamp = date.slice(0, 19).replaceAll(':', '-');
  const table = markdown(steps, sustained, overload, latency, baselines, mergesAtStart);
  const all = [...steps, overload];
  const rateChart = lineChart({
    title: 'Offered vs stored (end to end)',
    xLabel: 'offered records/s',
    yLabel: 'stored trend points/s',
    series: [
      { name: 'stored', points: all.map((s) => [s.offeredPerS, s.storedPerS] as const).sort((a, b) => a[0] - b[0]) },
      {
        name: 'stored = offered',
        points: [
          [0, 0],
          [Math.max(...all.map((s) => s.offeredPerS)), Math.max(...all.map((s) => s.offeredPerS))],
        ],
        dashed: true,
      },
    ],
  });
  const latencyChart = lineChart({
    title: `Write → queryable latency at ${latency.offeredPerS} rec/s`,
    xLabel: 's since start',
    yLabel: 'ms',
    series: [
      { name: 'probe latency', points: latency.samples },
      {
        name: `p99 ${latency.p99Ms} ms`,
        points: [
          [0, latency.p99Ms],
          [latency.samples.at(-1)?.[0] ?? 1, latency.p99Ms],
        ],
        dashed: true,
      },
    ],
  });
  const result = {
    date,
    command: `npx tsx bench/e2e.ts ${process.argv.slice(2).join(' ')}`.trim(),
    cpus: cpus().length,
    node: process.version,
    stepSeconds: STEP_S,
    writerNice: WRITER_NICE,
    sustainedPointsPerS: sustained,
    overloadShare: round(overload.storedPerS / sustained, 3),
    mergesAtStart,
    steps,
    overload,
    latency,
    baselines: baselines ?? null,
  };
  stopIfInterrupted(); // a run cut short writes no result files (docs/bench above all)
  mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
  mkdirSync(join(REPO_ROOT, 'docs/bench'), { recursive: true });
  const base = join(REPO_ROOT, `bench/results/e2e-${stamp}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
  for (const dir of [base, join(REPO_ROOT, 'docs/bench/e2e')]) {
    writeFileSync(`${dir}.md`, `${table}\nCommand: \`${result.command}\` (${date}).\n`);
    writeFileSync(`${dir}-rate.svg`, rateChart);
    writeFileSync(`${dir}-latency.svg`, latencyChart);
  }
  console.log(`\n${table}`);
  console.log(`results: ${base}.json (.md, -rate.svg, -latency.svg); latest also in docs/bench/`);
}

main().catch((err: unknown) => {
  // Interrupted: the signal's cleanups end the process with its exit code.
  if (interrupted()) return;
  console.error(err);
  process.exit(1);
});
