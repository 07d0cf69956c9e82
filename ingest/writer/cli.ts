/**
 * Simulates a fleet of DataMiner agents writing through one Writer:
 *   tsx ingest/writer/cli.ts --agents 4 --elements 250 --parameters 20 --rate 50000 --duration 30
 * Trend points cycle over agents x elements x parameters; alarms and element rows are mixed in
 * at --alarm-share / --row-share of the rate. A progress line every second, a summary at the end.
 */
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { readConnections } from '../../config/connections.ts';
import { ConfigError } from '../../config/env.ts';
import { readWriterConfig } from './config.ts';
import { Writer } from './writer.ts';

const { values: args } = parseArgs({
  options: {
    tenants: { type: 'string', default: '1' },
    agents: { type: 'string', default: '4' },
    elements: { type: 'string', default: '100' },
    parameters: { type: 'string', default: '10' },
    rate: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '10' },
    'alarm-share': { type: 'string', default: '0.001' },
    'row-share': { type: 'string', default: '0.01' },
    quiet: { type: 'boolean', default: false },
  },
});

function positive(name: string, raw: string, allowZero = false): number {
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    console.error(`simulate: --${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${raw}`);
    process.exit(2);
  }
  return v;
}

const tenants = positive('tenants', args.tenants);
const agents = positive('agents', args.agents);
const elements = positive('elements', args.elements);
const parameters = positive('parameters', args.parameters);
const rate = positive('rate', args.rate);
const duration = positive('duration', args.duration);
const alarmShare = positive('alarm-share', args['alarm-share'], true);
const rowShare = positive('row-share', args['row-share'], true);

async function main(): Promise<void> {
  let writer: Writer;
  try {
    writer = await Writer.create(readWriterConfig(), readConnections(process.env, 'staas-simulator').kafka, { registry: new Registry() });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`simulate: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  let stop = false;
  process.once('SIGINT', () => (stop = true));
  process.once('SIGTERM', () => (stop = true));

  const series = tenants * agents * elements * parameters;
  const alarmEvery = alarmShare > 0 ? Math.max(2, Math.round(1 / alarmShare)) : 0;
  const rowEvery = rowShare > 0 ? Math.max(2, Math.round(1 / rowShare)) : 0;
  const written = { trend: 0, alarm: 0, element: 0 };
  let errors = 0;
  let i = 0;
  let alarmId = Date.now();
  const started = Date.now();
  let lastReport = started;
  let lastCount = 0;
  const total = () => written.trend + written.alarm + written.element;

  const progress = setInterval(() => {
    const now = Date.now();
    const s = writer.state;
    const line = `${((now - started) / 1000).toFixed(0)}s  ${Math.round(((total() - lastCount) * 1000) / (now - lastReport))} rec/s  total ${total()}  spool ${(s.spoolBytes / 1048576).toFixed(1)} MiB  mode ${s.mode}${s.blocked ? ' (blocked)' : ''}  errors ${errors}`;
    lastReport = now;
    lastCount = total();
    if (!args.quiet) process.stdout.write(process.stdout.isTTY ? `\r${line}   ` : `${line}\n`);
  }, 1000);

  // Write in 10 ms ticks at the target rate; awaiting each write applies the Writer's backpressure.
  while (!stop && Date.now() - started < duration * 1000) {
    const due = Math.floor(((Date.now() - started) / 1000) * rate);
    if (total() >= due) {
      await new Promise((r) => setTimeout(r, 10));
      continue;
    }
    const now = Date.now();
    for (let n = total(); n < due; n++, i++) {
      const s = i % series;
      const parameterId = 1 + (s % parameters);
      const elementId = 1 + (Math.floor(s / parameters) % elements);
      const dmaId = 1 + (Math.floor(s / (parameters * elements)) % agents);
      const dmsId = 1 + Math.floor(s / (parameters * elements * agents));
      // Each series gets one point per round: timestamps unique per series (its natural key).
      const ts = started + Math.floor(i / series);
      try {
        if (alarmEvery > 0 && i % alarmEvery === 0) {
          alarmId++;
          await writer.alarm({
            dmsId,
            dmaId,
            elementId,
            parameterId,
            alarmId,
            rootAlarmId: alarmId,
            severity: 1 + (i % 4),
            alarmType: 10,
            status: 1,
            timestamp: ts,
            value: String(i % 100),
          });
          written.alarm++;
        } else if (rowEvery > 0 && i % rowEvery === 1) {
          await writer.elementRow({
            dmsId,
            dmaId,
            elementId,
            tableParameterId: 1000,
            primaryKey: `if-${parameterId}`,
            columns: [
              { columnId: 1002, value: i % 1000 },
              { columnId: 1003, value: 'up' },
            ],
            timestamp: ts,
            version: now,
          });
          written.element++;
        } else {
          await writer.trend({ dmsId, dmaId, elementId, parameterId, timestamp: ts, value: Math.sin(i / 100) * 50 });
          written.trend++;
        }
      } catch (err) {
        errors++;
        if (errors <= 5) console.error(`simulate: ${(err as Error).message}`);
      }
    }
  }
  clearInterval(progress);
  const closing = Date.now();
  await writer.close();
  const seconds = (closing - started) / 1000;
  if (!args.quiet && process.stdout.isTTY) process.stdout.write('\n');
  console.log(
    `simulate: ${total()} records in ${seconds.toFixed(1)} s (${Math.round(total() / seconds)} rec/s; target ${rate}): ` +
      `${written.trend} trend points, ${written.alarm} alarm events, ${written.element} element rows; ` +
      `${series} series; errors ${errors}; close took ${Date.now() - closing} ms; spool left ${writer.state.spoolBytes} bytes`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
