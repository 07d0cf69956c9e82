/**
 * Child process of the spool fault test, run under `ulimit -f` with the broker stopped: writes
 * until the Writer holds it back (the spool refuses its appends with EFBIG, batches pile up in
 * memory), checks that flush() refuses to claim durability, then retries flush() until the
 * broker is back and takes everything. Prints one JSON line per phase:
 * {phase:'blocked'|'flush'|'done', written, ...}.
 */
import { Registry } from 'prom-client';
import { readConnections } from '../../config/connections.ts';
import { readWriterConfig } from '../../ingest/writer/config.ts';
import { Writer } from '../../ingest/writer/writer.ts';

const say = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
const spoolDir = process.argv[2]!;
const config = readWriterConfig(process.env, {
  spoolDir,
  topicPrefix: process.argv[3]!,
  spoolSegmentBytes: 1024 * 1024,
  maxMemoryBytes: 2 * 1024 * 1024,
  batchRecords: 200,
  lingerMs: 10,
  sendTimeoutMs: 1000,
});
const registry = new Registry();
const writer = await Writer.create(config, readConnections(process.env).kafka, {
  registry,
  log: { info: () => undefined, warn: () => undefined },
});

let written = 0;
let pending: Promise<void> | undefined;
while (pending === undefined) {
  const p = writer.trend({
    dmsId: 5,
    dmaId: 1,
    elementId: written % 20,
    parameterId: 1,
    timestamp: Date.UTC(2026, 0, 1) + written,
    value: written,
  });
  written++;
  const held = await Promise.race([p.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 1500))]);
  if (held) pending = p;
}
const failures = (await registry.getSingleMetric('staas_writer_spool_write_failures_total')!.get()).values[0]?.value ?? 0;
say({ phase: 'blocked', written, ...writer.state, spoolWriteFailures: failures });

try {
  await writer.flush();
  say({ phase: 'flush', error: null });
} catch (err) {
  say({ phase: 'flush', error: (err as Error).name, message: (err as Error).message });
}

// The broker comes back: everything held in memory and in the spool goes out.
for (;;) {
  try {
    await writer.flush();
    break;
  } catch {
    await new Promise((r) => setTimeout(r, 500));
  }
}
await pending;
const delivered = await writer.delivered(60_000);
await writer.close();
// What still keeps the event loop alive after close(): seen once as a child that never exited
// (a Kafka connection reopened during close is the suspect); reported, and the child exits
// either way so that the test ends.
say({ phase: 'done', written, delivered, handlesAfterClose: process.getActiveResourcesInfo() });
process.exit(0);
