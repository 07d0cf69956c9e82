/**
 * Query API latency while a simulated fleet writes, against the local stack:
 *   npx tsx bench/query.ts [--seconds 10] [--connections 1 --connections 4] [--ingest-rate 150000] [--ingest-nice 0] [--scenario 30d ...]
 * Starts Kafka and ClickHouse if needed; each run has topics, a database and a Sink process of
 * its own (dropped after), so that runs start from the same state and compare: what earlier runs
 * wrote would otherwise grow the stack's day partition by ~16 M rows per run, and its merges of
 * GBs ran through later measurements (30-day p99 90–120 ms against 52–78 once it held 300–600 M
 * rows). It waits until ClickHouse merges nothing of earlier data, back-fills one bench element
 * through the real Writer (5-minute averages for 92 days, 1-hour averages for 2 years, real-time
 * points every 10 s for 24 h, 10,000 active alarm trees and 20,000 cleared ones over 30 days),
 * waits until the Sink stored it, creates a token for the bench DMS, starts a Query API service of
 * its own on the run's database (rate limit lifted, on a free port), starts the fleet simulator as a child at
 * `--ingest-rate` records/s, then runs autocannon per scenario for `--seconds` at each
 * `--connections` count (default 1 — the latency one client sees — and 4 — requests/s with
 * queueing), and reports p50 / p99 latency, requests/s, non-2xx answers (must be 0) and the CPU
 * per request of the API process and of the ClickHouse server (from /proc; the server's figure
 * only without ingest, when nothing else runs there), as a markdown table and as JSON in
 * bench/results/query-<date>.json.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Registry } from 'prom-client';
import { readConnections } from '../config/connections.ts';
import { readWriterConfig } from '../ingest/writer/config.ts';
import { Writer } from '../ingest/writer/writer.ts';
import { clickhouseFiles } from '../ops/clickhouse.ts';
import { freePorts, runningPid, stopService } from '../ops/process.ts';
import { queryFiles, startQuery } from '../ops/query-service.ts';
import { readStackConfig, REPO_ROOT, type StackConfig } from '../ops/stack-config.ts';
import { up } from '../ops/stack.ts';
import { cleanUpAtEnd, cleanUpOnInterrupt, interrupted, stopIfInterrupted, tempDirRemovedAtExit } from './interrupt.ts';
import { waitMergesDone } from './merges-quiet.ts';
import { cpuMs } from './procs.ts';
import { withRunScope } from './run-scope.ts';
import { runSimulator } from './simulator.ts';
import { TokenStore } from '../query/auth/tokens.ts';
import { createQueryMetrics } from '../query/metrics.ts';
import { ClickHouseReader } from '../query/reader.ts';
import { createClickHouse } from '../storage/client.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', multiple: true, default: ['1', '4'] },
    'ingest-rate': { type: 'string', default: '150000' },
    scenario: { type: 'string', multiple: true },
    'ingest-nice': { type: 'string', default: '0' },
  },
});

function positiveInt(name: string, raw: string, allowZero = false): number {
  const v = Number(raw);
  if (!Number.isInteger(v) || v < (allowZero ? 0 : 1)) {
    console.error(`bench/query: --${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${raw}`);
    process.exit(2);
  }
  return v;
}

const SECONDS = positiveInt('seconds', args.seconds);
const CONNECTIONS = args.connections.map((c) => positiveInt('connections', c));
const INGEST_RATE = positiveInt('ingest-rate', args['ingest-rate'], true);
/** Niceness of the fleet simulator (0–19): the agents it stands for run on other machines. */
const INGEST_NICE = positiveInt('ingest-nice', args['ingest-nice'], true);
if (INGEST_NICE > 19) {
  console.error(`bench/query: --ingest-nice must be at most 19, got ${INGEST_NICE}`);
  process.exit(2);
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * The bench element: DMS 1 (the simulated fleet's), on an agent id the simulator does not use.
 * Averages are on one parameter and real-time points on another: an auto trend returns the most
 * precise data available, so real-time points of the same parameter would be what a 30-day auto
 * trend reads, and the scenarios would not exercise the average tiers.
 */
const BENCH = { dmsId: 1, dmaId: 900, elementId: 1 } as const;
const AVERAGED_PARAMETER = 1011;
const REALTIME_PARAMETER = 1012;
const ACTIVE_ALARMS = 10_000;
const CLEARED_TREES = 20_000;
/** Alarm ids of the bench trees: active ones from ACTIVE_BASE, cleared ones (root, clear) from CLEARED_BASE. */
const ACTIVE_BASE = 1_000_000;
const CLEARED_BASE = 2_000_000;

interface Series {
  name: string;
  windowMinutes: number;
  stepMs: number;
  count: number;
}

const SERIES: Series[] = [
  { name: '5-minute averages, 92 days', windowMinutes: 5, stepMs: 5 * MINUTE, count: 92 * 288 },
  { name: '1-hour averages, 2 years', windowMinutes: 60, stepMs: HOUR, count: 2 * 365 * 24 },
  { name: 'real-time points every 10 s, 24 h', windowMinutes: 0, stepMs: 10_000, count: 24 * 360 },
];

/** The newest timestamp of a series: now, aligned down to its step (so re-runs write the same keys). */
const lastOf = (s: Series, now: number) => Math.floor(now / s.stepMs) * s.stepMs;

/** The run's own topics (prefix) and database; set by main. */
let scope: { prefix: string; database: string };

async function backfill(now: number): Promise<{ trend: number; alarm: number }> {
  const spool = tempDirRemovedAtExit('staas-bench-query-spool-');
  const writer = await Writer.create(
    readWriterConfig(process.env, { spoolDir: spool.path, topicPrefix: scope.prefix }),
    readConnections().kafka,
    {
      registry: new Registry(),
      log: { info: () => undefined, warn: (m) => console.warn(`writer: ${m}`) },
    },
  );
  let trend = 0;
  let alarm = 0;
  try {
    for (const s of SERIES) {
      const last = lastOf(s, now);
      for (let k = s.count - 1; k >= 0; k--) {
        const timestamp = last - k * s.stepMs;
        const value = Math.round(500 * Math.sin(timestamp / (6 * HOUR))) / 10;
        if (s.windowMinutes === 0) await writer.trend({ ...BENCH, parameterId: REALTIME_PARAMETER, timestamp, value });
        else
          await writer.trend({
            ...BENCH,
            parameterId: AVERAGED_PARAMETER,
            timestamp,
            windowMinutes: s.windowMinutes,
            value,
            min: value - 1,
            max: value + 1,
            samples: (s.windowMinutes * 60) / 10,
            status: s.windowMinutes,
          });
        trend++;
      }
    }
    const alarmBase = { dmsId: BENCH.dmsId, dmaId: BENCH.dmaId, elementId: BENCH.elementId };
    for (let i = 0; i < ACTIVE_ALARMS; i++) {
      const id = ACTIVE_BASE + i;
      await writer.alarm({
        ...alarmBase,
        parameterId: 1 + (i % 50),
        index: i % 2 === 0 ? `port-${i % 500}` : '',
        alarmId: id,
        rootAlarmId: id,
        severity: 1 + (i % 4),
        alarmType: 10,
        status: 12,
        timestamp: now - 7 * DAY + Math.floor((i * 7 * DAY) / ACTIVE_ALARMS),
        value: String(i % 100),
      });
      alarm++;
    }
    for (let i = 0; i < CLEARED_TREES; i++) {
      const root = CLEARED_BASE + 2 * i;
      const opened = now - 30 * DAY + Math.floor((i * 30 * DAY) / CLEARED_TREES);
      const common = { ...alarmBase, parameterId: 1 + (i % 50), rootAlarmId: root, value: String(i % 100) };
      await writer.alarm({ ...common, alarmId: root, severity: 1 + (i % 4), alarmType: 10, status: 12, timestamp: opened });
      await writer.alarm({
        ...common,
        alarmId: root + 1,
        previousAlarmId: root,
        severity: 5,
        alarmType: 11,
        status: 11,
        timestamp: opened + 10 * MINUTE,
      });
      alarm += 2;
    }
    await writer.close();
  } finally {
    spool.remove();
  }
  return { trend, alarm };
}

/** Waits until ClickHouse holds every back-filled row of the bench element (collapsed with FINAL). */
async function waitStored(now: number): Promise<void> {
  const conn = readConnections();
  const ch = createClickHouse(conn.clickhouse);
  const db = scope.database;
  const key = `dms_id = ${BENCH.dmsId} AND dma_id = ${BENCH.dmaId} AND element_id = ${BENCH.elementId}`;
  const checks = SERIES.map((s) => {
    const last = lastOf(s, now);
    const trendKey = `${key} AND parameter_id = ${s.windowMinutes === 0 ? REALTIME_PARAMETER : AVERAGED_PARAMETER} AND idx = ''`;
    const range = `ts >= ${last - (s.count - 1) * s.stepMs} AND ts <= ${last}`;
    const sql =
      s.windowMinutes === 0
        ? `SELECT count() AS n FROM (SELECT ts FROM ${db}.trend_realtime FINAL WHERE ${trendKey} AND ${range}) AS t`
        : `SELECT count() AS n FROM (SELECT ts FROM ${db}.trend_average FINAL WHERE ${trendKey} AND window_minutes = ${s.windowMinutes} AND ${range}) AS t`;
    return { name: s.name, sql, want: s.count };
  });
  checks.push({
    name: 'alarm events',
    sql: `SELECT count() AS n FROM (SELECT alarm_id FROM ${db}.alarm_events FINAL WHERE ${key} AND ((root_alarm_id >= ${ACTIVE_BASE} AND root_alarm_id < ${ACTIVE_BASE + ACTIVE_ALARMS}) OR (root_alarm_id >= ${CLEARED_BASE} AND root_alarm_id < ${CLEARED_BASE + 2 * CLEARED_TREES}))) AS a`,
    want: ACTIVE_ALARMS + 2 * CLEARED_TREES,
  });
  const deadline = Date.now() + 15 * MINUTE;
  let waited = false;
  try {
    for (;;) {
      const missing: string[] = [];
      for (const c of checks) {
        const rs = await ch.query({ query: c.sql, format: 'JSONEachRow' });
        const [row] = await rs.json<{ n: string | number }>();
        if (Number(row?.n) < c.want) missing.push(`${c.name} ${row?.n}/${c.want}`);
      }
      if (missing.length === 0) {
        if (waited) process.stdout.write('\n');
        return;
      }
      if (Date.now() > deadline) throw new Error(`the sink did not store the back-fill within 15 minutes: ${missing.join(', ')}`);
      process.stdout.write(`  waiting for the sink: ${missing.join(', ')}${process.stdout.isTTY ? '\r' : '\n'}`);
      waited = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    await ch.close();
  }
}

async function createToken(): Promise<string> {
  const conn = readConnections();
  const ch = createClickHouse(conn.clickhouse);
  try {
    const tokens = new TokenStore(new ClickHouseReader(ch, scope.database, 30, createQueryMetrics()));
    const issued = await tokens.create({
      kind: 'api',
      dmsId: BENCH.dmsId,
      name: 'bench/query.ts',
      scopes: ['trends:read', 'alarms:read', 'elements:read'],
      expiresAt: Date.now() + DAY,
    });
    return issued.token;
  } finally {
    await ch.close();
  }
}

interface Scenario {
  id: string;
  name: string;
  path: string;
  /** p99 target in ms, when there is one. */
  targetP99Ms?: number;
}

function scenarios(now: number): Scenario[] {
  const element = `/v1/elements/${BENCH.dmaId}/${BENCH.elementId}`;
  const trend = (parameterId: number, range: number, extra: string) =>
    `${element}/trends?parameter=${parameterId}&from=${now - range}&to=${now}&${extra}`;
  return [
    { id: '24h', name: '24-hour real-time trend', path: trend(REALTIME_PARAMETER, DAY, 'type=realtime') },
    { id: '30d', name: '30-day auto trend', path: trend(AVERAGED_PARAMETER, 30 * DAY, 'type=auto&interval=auto'), targetP99Ms: 50 },
    { id: '1y', name: '1-year auto trend', path: trend(AVERAGED_PARAMETER, 365 * DAY, 'type=auto&interval=auto'), targetP99Ms: 100 },
    { id: 'active', name: `first page of ${ACTIVE_ALARMS} active alarms`, path: `${element}/alarms/active` },
    { id: 'history', name: 'alarm history page (30 days)', path: `${element}/alarms/history?from=${now - 30 * DAY}&to=${now}` },
  ];
}

/** A short description of an answer: how many points / alarms it holds, and its size. */
function describeAnswer(body: string): string {
  try {
    const json = JSON.parse(body) as Record<string, unknown>;
    const parts: string[] = [];
    for (const [k, v] of Object.entries(json)) {
      if (Array.isArray(v)) {
        const inner = (v as unknown[])
          .map((x) => (x !== null && typeof x === 'object' ? Object.values(x).find(Array.isArray)?.length : undefined))
          .filter((n) => n !== undefined);
        parts.push(inner.length > 0 ? `${k}: ${v.length} (${inner.join(', ')} points)` : `${k}: ${v.length}`);
      }
    }
    return `${parts.join('; ')}; ${body.length} bytes`;
  } catch {
    return `${body.length} bytes`;
  }
}

interface Result {
  id: string;
  name: string;
  path: string;
  connections: number;
  /** CPU of the Query API process per request (ms). */
  apiCpuMsPerRequest: number;
  /** CPU of the ClickHouse server per request (ms); null while the simulator writes (its inserts count there too). */
  clickhouseCpuMsPerRequest: number | null;
  answer: string;
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  targetP99Ms: number | null;
  met: boolean | null;
}

async function run(
  url: string,
  token: string,
  s: Scenario,
  connections: number,
  pids: { api: number; clickhouse: number },
): Promise<Result> {
  const headers = { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' };
  // One request first: the scenario must answer 200 with data, or its figures mean nothing.
  const probe = await fetch(url + s.path, { headers: { authorization: headers.authorization } });
  const body = await probe.text();
  if (probe.status !== 200) throw new Error(`${s.name}: GET ${s.path} answered ${probe.status}: ${body.slice(0, 400)}`);
  const api0 = cpuMs(pids.api) ?? 0;
  const ch0 = cpuMs(pids.clickhouse) ?? 0;
  // The callback form keeps the instance, which a signal stops (its requests would go on against
  // an API already stopped, and count as answers).
  let instance: autocannon.Instance | undefined;
  const release = cleanUpOnInterrupt(() => instance?.stop());
  const r = await new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon({ url: url + s.path, connections, duration: SECONDS, headers }, (err: unknown, result) =>
      err ? reject(err instanceof Error ? err : new Error('autocannon failed', { cause: err })) : resolve(result),
    );
  }).finally(release);
  stopIfInterrupted();
  const perRequest = (ms: number) => Math.round((ms / Math.max(1, r.requests.total)) * 10) / 10;
  return {
    id: s.id,
    name: s.name,
    path: s.path,
    connections,
    apiCpuMsPerRequest: perRequest((cpuMs(pids.api) ?? api0) - api0),
    clickhouseCpuMsPerRequest: INGEST_RATE > 0 ? null : perRequest((cpuMs(pids.clickhouse) ?? ch0) - ch0),
    answer: describeAnswer(body),
    requests: r.requests.total,
    requestsPerSecond: Math.round(r.requests.average * 10) / 10,
    p50Ms: r.latency.p50,
    p90Ms: r.latency.p90,
    p99Ms: r.latency.p99,
    maxMs: r.latency.max,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    targetP99Ms: s.targetP99Ms ?? null,
    met: s.targetP99Ms === undefined ? null : r.latency.p99 <= s.targetP99Ms,
  };
}

/** The simulator beside the scenarios; `summary`: its last lines once it exited. */
function startSimulator(rate: number, durationS: number): { child: ChildProcess; summary: Promise<string> } {
  const run = runSimulator(rate, durationS, {
    captureStderr: true,
    env: { STAAS_TOPIC_PREFIX: scope.prefix },
    nice: INGEST_NICE,
    ownSession: true,
  });
  const summary = run.exited.then(
    ({ code, out }) => `${out.trim().split('\n').slice(-3).join(' | ')}${code === 0 ? '' : ` (exit ${code})`}`,
  );
  return { child: run.child, summary };
}

async function main(): Promise<void> {
  const cfg = readStackConfig();
  console.log(
    `query benchmark: ${SECONDS} s per scenario, ${CONNECTIONS.join(' and ')} connections, ingest ${INGEST_RATE} records/s; ${cpus().length} CPUs`,
  );
  await up(cfg, (l) => console.log(`  ${l}`));
  const id = Date.now().toString(36);
  scope = { prefix: `bench-query-${id}`, database: `bench_query_${id}` };
  const ch = createClickHouse(readConnections().clickhouse);
  try {
    await withRunScope(scope, { partitions: cfg.kafka.partitions, clickhouse: ch }, async () => {
      const merging = await waitMergesDone(ch, QUIET_LIMIT_S, (l) => console.log(`  ${l}`));
      if (merging > 0) console.log(`  ClickHouse still merges ${merging} part set(s) of earlier data: they run through the measurement`);
      await measure(cfg);
    });
  } finally {
    await ch.close();
  }
}

/** How long a run waits for ClickHouse to finish merges of earlier data before the fill (s). */
const QUIET_LIMIT_S = 300;

/** Back-fill, token, the run's own API and simulator, the scenarios, the report. */
async function measure(cfg: StackConfig): Promise<void> {
  const now = Date.now();
  const started = Date.now();
  const written = await backfill(now);
  console.log(
    `  back-filled element ${BENCH.dmaId}/${BENCH.elementId} of DMS ${BENCH.dmsId}: ${written.trend} trend points, ${written.alarm} alarm events in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  await waitStored(now);
  console.log(`  stored by the sink after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const token = await createToken();

  // An API of our own (own state folder, free port, rate limit lifted): the stack's service keeps
  // its limit, which a benchmark would hit within a second.
  const port = (await freePorts(1))[0]!;
  const apiState = mkdtempSync(join(tmpdir(), 'staas-bench-query-api-'));
  const apiCfg = readStackConfig({ ...process.env, STAAS_STATE_DIR: apiState });
  const apiEnv = {
    ...process.env,
    STAAS_STATE_DIR: apiState,
    STAAS_CLICKHOUSE_DATABASE: scope.database,
    STAAS_QUERY_PORT: String(port),
    STAAS_QUERY_RATE_LIMIT_PER_MINUTE: '1000000000',
    STAAS_QUERY_LOG_LEVEL: 'warn',
  };
  const url = `http://127.0.0.1:${port}`;
  let sim: ReturnType<typeof startSimulator> | undefined;
  const results: Result[] = [];
  const wanted = scenarios(now).filter((s) => args.scenario === undefined || args.scenario.includes(s.id));
  const end = cleanUpAtEnd(async () => {
    if (sim !== undefined && sim.child.exitCode === null) sim.child.kill('SIGTERM');
    await stopService(queryFiles(apiCfg), 15_000);
    rmSync(apiState, { recursive: true, force: true });
  });
  try {
    stopIfInterrupted();
    await startQuery(apiCfg, apiEnv);
    console.log(`  query API on ${url} (log ${queryFiles(apiCfg).logFile})`);
    if (INGEST_RATE > 0) {
      stopIfInterrupted();
      sim = startSimulator(INGEST_RATE, wanted.length * CONNECTIONS.length * (SECONDS + 5) + 10);
      await new Promise((r) => setTimeout(r, 3000)); // the fleet up to speed before the first scenario
      if (sim.child.exitCode !== null) throw new Error(`the simulator exited: ${await sim.summary}`);
      console.log(`  simulator writing at ${INGEST_RATE} records/s (pid ${sim.child.pid})`);
    }
    const pids = { api: runningPid(queryFiles(apiCfg))!, clickhouse: runningPid(clickhouseFiles(cfg))! };
    for (const s of wanted)
      for (const connections of CONNECTIONS) {
        stopIfInterrupted();
        const r = await run(url, token, s, connections, pids);
        results.push(r);
        console.log(
          `  ${r.name}, ${connections} conn.: p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ${r.requestsPerSecond} req/s, CPU/request API ${r.apiCpuMsPerRequest} ms` +
            `${r.clickhouseCpuMsPerRequest === null ? '' : `, ClickHouse ${r.clickhouseCpuMsPerRequest} ms`}, non-2xx ${r.non2xx} (${r.answer})`,
        );
      }
  } finally {
    await end();
  }
  const ingest = sim === undefined ? 'none' : await sim.summary;

  stopIfInterrupted();
  const date = new Date().toISOString().slice(0, 19).replaceAll(':', '-');
  const lines = [
    '',
    `Query API, ${SECONDS} s per scenario and connection count, gzip; fleet simulator at ${INGEST_RATE} records/s (nice ${INGEST_NICE}); ${cpus().length} CPUs`,
    '',
    '| scenario | conn. | p50 ms | p99 ms | target p99 | req/s | CPU/request: API, ClickHouse (ms) | non-2xx | answer |',
    '| --- | ---: | ---: | ---: | --- | ---: | --- | ---: | --- |',
    ...results.map(
      (r) =>
        `| ${r.name} | ${r.connections} | ${r.p50Ms} | ${r.p99Ms} | ${r.targetP99Ms === null ? '' : `≤ ${r.targetP99Ms} ms ${r.met ? 'met' : 'MISSED'}`} | ${r.requestsPerSecond} | ${r.apiCpuMsPerRequest}, ${r.clickhouseCpuMsPerRequest ?? 'n/a (ingest)'} | ${r.non2xx + r.errors + r.timeouts} | ${r.answer} |`,
    ),
    '',
    `ingest: ${ingest}`,
  ];
  console.log(lines.join('\n'));
  mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
  const file = join(REPO_ROOT, `bench/results/query-${date}.json`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        command: `npx tsx bench/query.ts ${process.argv.slice(2).join(' ')}`.trim(),
        cpus: cpus().length,
        node: process.version,
        seconds: SECONDS,
        connections: CONNECTIONS,
        ingestRate: INGEST_RATE,
        ingest,
        bench: {
          ...BENCH,
          averagedParameter: AVERAGED_PARAMETER,
          realtimeParameter: REALTIME_PARAMETER,
          activeAlarms: ACTIVE_ALARMS,
          clearedTrees: CLEARED_TREES,
          series: SERIES,
        },
        results,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results: ${file}`);
  const failed = results.filter((r) => r.non2xx + r.errors + r.timeouts > 0);
  if (failed.length > 0) {
    console.error(`non-2xx answers or errors in: ${failed.map((r) => r.name).join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  // Interrupted: the signal's cleanups end the process with its exit code.
  if (interrupted()) return;
  console.error(err);
  process.exit(1);
});
