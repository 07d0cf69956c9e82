/**
 * The Sink's per-message CPU without Kafka or ClickHouse, in-process:
 *   npx tsx bench/sink-encode.ts [--messages 20] [--per-message 10000] [--rounds 3]
 * Builds trend batch messages as the Writer does (bench/points.ts), then times, per million
 * points, the Sink's full path on them — Avro container decode to objects, + record validation,
 * + RowBinary encoding per table — and the path the Sink takes for plain trend batches
 * (ingest/sink/trend-transcoder.ts: Avro straight to RowBinary, see ingest/sink/steps/decode.ts).
 * Reports CPU-seconds per million points (process.cpuUsage); compare builds by running it in each.
 */
import { parseArgs } from 'node:util';
import { benchPoint } from './points.ts';
import { batchMessage, readBatchContainer, readBatchMessage } from '../ingest/kafka/message.ts';
import { encodeForTables, TableWriters } from '../ingest/sink/encoders.ts';
import { transcodeTrends } from '../ingest/sink/trend-transcoder.ts';
import { invalidRecords } from '../ingest/sink/validate.ts';
import { toTrendPoint } from '../schemas/validate.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '20' },
    'per-message': { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
  },
});
const MESSAGES = Number(values.messages);
const PER = Number(values['per-message']);
const ROUNDS = Number(values.rounds);
for (const [name, v] of [
  ['messages', MESSAGES],
  ['per-message', PER],
  ['rounds', ROUNDS],
] as const)
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);

const messages = Array.from({ length: MESSAGES }, (_, m) =>
  batchMessage(
    'trend',
    Array.from({ length: PER }, (_, i) => toTrendPoint(benchPoint(m * PER + i))),
    'bench',
  ),
);
const writers = new TableWriters();

/** CPU-seconds per million points of the stages up to `last`, over 5 passes of every message. */
function cpuPerMillion(last: 'decode' | 'validate' | 'encode' | 'transcode'): number {
  const start = process.cpuUsage();
  for (let pass = 0; pass < 5; pass++)
    for (const m of messages) {
      if (last === 'transcode') {
        const { container } = readBatchContainer(m.value as Buffer, m.headers);
        if (transcodeTrends(container.blocks, writers) === undefined) throw new Error('the bench records must be transcoded');
        continue;
      }
      const batch = readBatchMessage(m.value as Buffer, m.headers);
      if (last === 'decode') continue;
      if (invalidRecords(batch.type, batch.records) !== undefined) throw new Error('the bench records must be valid');
      if (last === 'validate') continue;
      encodeForTables(batch.type, batch.records, writers);
    }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6 / ((5 * MESSAGES * PER) / 1e6);
}

cpuPerMillion('encode'); // warm-up: optimised code for every stage
cpuPerMillion('transcode');
console.log(`${MESSAGES} messages of ${PER} trend points; CPU-seconds per million points (full path cumulative):`);
for (let r = 0; r < ROUNDS; r++) {
  const d = cpuPerMillion('decode');
  const v = cpuPerMillion('validate');
  const e = cpuPerMillion('encode');
  const t = cpuPerMillion('transcode');
  console.log(`  full path: decode ${d.toFixed(3)}, + validate ${v.toFixed(3)}, + encode ${e.toFixed(3)}   transcoder: ${t.toFixed(3)}`);
}
