/**
 * Simulates a fleet of DataMiner agents writing through one Writer (ingest/writer/simulator/):
 *   tsx ingest/writer/cli.ts --agents 4 --elements 250 --parameters 20 --rate 50000 --duration 30
 *   tsx ingest/writer/cli.ts --backfill-days 365 --agents 1 --elements 10 --parameters 5
 * Live (default): real-time trend changes, agent-side 5/60/120-minute averages, element status
 * rows, discrete and table-row trends, alarm trees, info events and element rows at --rate
 * records/s for --duration s, timestamps = now. Back-fill: N days of history ending at the hour,
 * as fast as the Writer takes it; the same seed and end write the same records.
 * A progress line every second, a summary per kind at the end. `--deliver-timeout S`: a live run
 * also waits up to S seconds at the end until Kafka holds everything (what was spooled while
 * brokers were away included); a back-fill always waits up to 120 s.
 */
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { readConnections } from '../../config/connections.ts';
import { ConfigError } from '../../config/env.ts';
import { readWriterConfig } from './config.ts';
import { BACKFILL_CADENCE, LIVE_CADENCE, withRates } from './simulator/cadence.ts';
import { hourFloor, runBackfill } from './simulator/backfill.ts';
import { MAX_PARAMETERS, fleetElements, type FleetShape } from './simulator/fleet.ts';
import { runLive } from './simulator/live.ts';
import { RecordOutput, Tally, yieldToEventLoop } from './simulator/output.ts';
import { Writer } from './writer.ts';

const { values: args } = parseArgs({
  options: {
    tenants: { type: 'string', default: '1' },
    agents: { type: 'string', default: '4' },
    elements: { type: 'string', default: '100' },
    parameters: { type: 'string', default: '10' },
    'table-rows': { type: 'string', default: '2' },
    rate: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '10' },
    seed: { type: 'string', default: '1' },
    'alarm-rate': { type: 'string' },
    'gap-rate': { type: 'string' },
    'row-rate': { type: 'string' },
    'backfill-days': { type: 'string' },
    'backfill-end': { type: 'string' },
    'deliver-timeout': { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});

function fail(message: string): never {
  console.error(`simulate: ${message}`);
  process.exit(2);
}

function positive(name: string, raw: string, allowZero = false): number {
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0))
    fail(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${raw}`);
  return v;
}

function count(name: string, raw: string, allowZero = false, max = 1_000_000): number {
  const v = positive(name, raw, allowZero);
  if (!Number.isInteger(v) || v > max) fail(`--${name} must be a whole number up to ${max}, got ${raw}`);
  return v;
}

const optionalRate = (name: 'alarm-rate' | 'gap-rate' | 'row-rate') => {
  const raw = args[name];
  return raw === undefined ? undefined : positive(name, raw, true);
};

const shape: FleetShape = {
  tenants: count('tenants', args.tenants),
  agents: count('agents', args.agents),
  elements: count('elements', args.elements),
  parameters: count('parameters', args.parameters, true, MAX_PARAMETERS),
  tableRows: count('table-rows', args['table-rows'], true, 1000),
};
const rate = positive('rate', args.rate);
const duration = positive('duration', args.duration);
const seed = count('seed', args.seed, true, 2 ** 31);
const rates = { alarmRate: optionalRate('alarm-rate'), gapRate: optionalRate('gap-rate'), rowRate: optionalRate('row-rate') };
const deliverTimeoutS = args['deliver-timeout'] === undefined ? undefined : count('deliver-timeout', args['deliver-timeout'], true, 3600);
const backfillDays = args['backfill-days'] === undefined ? undefined : count('backfill-days', args['backfill-days'], false, 3650);
let backfillEnd = hourFloor(Date.now());
if (args['backfill-end'] !== undefined) {
  const parsed = Date.parse(args['backfill-end']);
  if (!Number.isFinite(parsed)) fail(`--backfill-end must be an ISO date-time, got ${args['backfill-end']}`);
  backfillEnd = hourFloor(parsed);
}

async function openWriter(): Promise<Writer> {
  try {
    return await Writer.create(readWriterConfig(), readConnections(process.env, 'staas-simulator').kafka, { registry: new Registry() });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
}

async function main(): Promise<void> {
  const writer = await openWriter();
  let stop = false;
  process.once('SIGINT', () => (stop = true));
  process.once('SIGTERM', () => (stop = true));

  const elements = fleetElements(shape);
  const tally = new Tally();
  const onError = (err: Error, n: number) => {
    if (n <= 5) console.error(`simulate: ${err.message}`);
  };
  // A back-fill has no rate limit: the Writer holds it back while Kafka is slower (its memory budget).
  const pace = yieldToEventLoop;
  const out = new RecordOutput(writer, tally, { onError, pace });

  const started = Date.now();
  let lastReport = started;
  let lastCount = 0;
  const progress = setInterval(() => {
    const now = Date.now();
    const s = writer.state;
    const line = `${((now - started) / 1000).toFixed(0)}s  ${Math.round(((tally.total - lastCount) * 1000) / (now - lastReport))} rec/s  total ${tally.total}  spool ${(s.spoolBytes / 1048576).toFixed(1)} MiB  mode ${s.mode}${s.blocked ? ' (blocked)' : ''}  errors ${tally.errors}`;
    lastReport = now;
    lastCount = tally.total;
    if (!args.quiet) process.stdout.write(process.stdout.isTTY ? `\r${line}   ` : `${line}\n`);
  }, 1000);

  let what: string;
  if (backfillDays === undefined) {
    const cadence = withRates(LIVE_CADENCE, rates);
    const fleet = await runLive(elements, { rate, durationMs: duration * 1000, seed, cadence, stopped: () => stop }, out);
    what = `live, target ${rate} rec/s, ${fleet.numeric.length} numeric + ${fleet.discrete.length} discrete series`;
  } else {
    const cadence = withRates(BACKFILL_CADENCE, rates);
    await runBackfill(elements, { days: backfillDays, end: backfillEnd, seed, cadence }, out);
    what = `back-fill of ${backfillDays} days to ${new Date(backfillEnd).toISOString()}`;
  }
  clearInterval(progress);
  const closing = Date.now();
  // A back-fill is done when Kafka has it all, including anything that had to be spooled.
  const deliverS = deliverTimeoutS ?? (backfillDays === undefined ? undefined : 120);
  if (deliverS !== undefined && !(await writer.delivered(deliverS * 1000)))
    console.error(`simulate: the spool did not drain in ${deliverS} s`);
  await writer.close();
  const seconds = (closing - started) / 1000;
  if (!args.quiet && process.stdout.isTTY) process.stdout.write('\n');
  console.log(
    `simulate: ${tally.total} records in ${seconds.toFixed(1)} s (${Math.round(tally.total / seconds)} rec/s; ${what}, ` +
      `${elements.length} elements, seed ${seed}): ${tally.describe()}; ` +
      `errors ${tally.errors}; held back by the writer ${(writer.state.heldBackMs / 1000).toFixed(1)} s; close took ${Date.now() - closing} ms; spool left ${writer.state.spoolBytes} bytes`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
