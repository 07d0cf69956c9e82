/**
 * The Writer's per-record CPU without Kafka, in-process:
 *   npx tsx bench/writer-encode.ts [--records 200000] [--per-batch 10000] [--rounds 3]
 * Times, per million trend points of bench/points.ts: the record contract at the Writer's door
 * (schemas/validate.ts toTrendPoint), + Avro encoding into batch bodies of --per-batch records
 * and sealing them as container files (schemas/container.ts, as ingest/writer/batcher.ts does).
 * Reports CPU-seconds per million points (process.cpuUsage), cumulative per stage; compare
 * builds by running it in each.
 */
import { parseArgs } from 'node:util';
import { benchPoint } from './points.ts';
import { BatchBody } from '../schemas/container.ts';
import type { TrendPoint } from '../schemas/records.ts';
import { toTrendPoint, type TrendInput } from '../schemas/validate.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '200000' },
    'per-batch': { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
  },
});
const RECORDS = Number(values.records);
const PER_BATCH = Number(values['per-batch']);
const ROUNDS = Number(values.rounds);
for (const [name, v] of [
  ['records', RECORDS],
  ['per-batch', PER_BATCH],
  ['rounds', ROUNDS],
] as const)
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);

const inputs: TrendInput[] = Array.from({ length: RECORDS }, (_, i) => benchPoint(i));

/** CPU-seconds per million points of the stages up to `last`. */
function cpuPerMillion(last: 'validate' | 'encode'): number {
  const start = process.cpuUsage();
  let bytes = 0;
  for (let from = 0; from < RECORDS; from += PER_BATCH) {
    const points: TrendPoint[] = [];
    for (let i = from; i < Math.min(RECORDS, from + PER_BATCH); i++) points.push(toTrendPoint(inputs[i]!));
    if (last === 'validate') continue;
    const body = new BatchBody('trend');
    body.addMany(points, 48 * points.length);
    bytes += body.seal().length;
  }
  const used = process.cpuUsage(start);
  if (last === 'encode' && bytes === 0) throw new Error('nothing encoded');
  return (used.user + used.system) / 1e6 / (RECORDS / 1e6);
}

cpuPerMillion('encode'); // warm-up
console.log(`${RECORDS} trend points in batches of ${PER_BATCH}; CPU-seconds per million points, cumulative:`);
for (let r = 0; r < ROUNDS; r++) {
  const v = cpuPerMillion('validate');
  const e = cpuPerMillion('encode');
  console.log(`  validate ${v.toFixed(3)}   + encode ${e.toFixed(3)}`);
}
