/**
 * A Writer in its own process, for tests that kill it. Env: CHILD_START, CHILD_COUNT (records,
 * trend points with elementId = seq % 50 and timestamp = base + seq), CHILD_CHUNK (records per
 * flush), CHILD_DRAIN=1 (after writing, wait until the spool is empty, then close).
 * Prints one JSON line per flush: {"acked": lastSeqAcked, "rss", "heap" (V8 heap used), "buffers"
 * (ArrayBuffers), "spool": bytes, "mode": ...}.
 */
import { readConnections } from '../../config/connections.ts';
import { readWriterConfig } from '../../ingest/writer/config.ts';
import { Writer } from '../../ingest/writer/writer.ts';

export const BASE_TS = Date.UTC(2026, 0, 1);

async function main(): Promise<void> {
  const start = Number(process.env.CHILD_START ?? 0);
  const count = Number(process.env.CHILD_COUNT ?? 0);
  const chunk = Number(process.env.CHILD_CHUNK ?? 500);
  const writer = await Writer.create(readWriterConfig(), readConnections().kafka, {
    log: { info: () => undefined, warn: () => undefined },
  });
  const report = (acked: number) => {
    // With --expose-gc, measure what is retained, not what the collector has not got to yet.
    (globalThis as { gc?: () => void }).gc?.();
    const s = writer.state;
    const m = process.memoryUsage();
    process.stdout.write(
      `${JSON.stringify({ acked, rss: m.rss, heap: m.heapUsed, buffers: m.arrayBuffers, spool: s.spoolBytes, mode: s.mode })}\n`,
    );
  };
  for (let seq = start; seq < start + count; seq++) {
    await writer.trend({ dmsId: 3, dmaId: 1, elementId: seq % 50, parameterId: 1, timestamp: BASE_TS + seq, value: seq });
    if ((seq - start + 1) % chunk === 0 || seq === start + count - 1) {
      await writer.flush();
      report(seq);
    }
  }
  if (process.env.CHILD_DRAIN === '1' && !(await writer.delivered(120_000))) throw new Error('the spool did not drain in 120 s');
  await writer.close();
  report(start + count - 1);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
