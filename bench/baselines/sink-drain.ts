/**
 * staas's own consumer on the Kafka engine's terms: the Sink (its own process, compiled, as
 * deployed) draining a topic pre-filled through the Writer with the same baseline rows
 * (bench/points.ts), into a scratch database. The clock and the CPU counters start when the sink
 * joined its group and stop at the last row that became visible; rows never seen count as lost,
 * rows seen twice as repeated. With the Kafka engine's figure this compares consumers only, the
 * writers (the engine's JSON producer, the staas Writer) left out of both.
 */
import { logLevel } from 'kafkajs';
import { Registry } from 'prom-client';
import type { Connections } from '../../config/connections.ts';
import { createKafka } from '../../ingest/kafka/client.ts';
import { ensureTopics, topicsFor } from '../../ingest/kafka/topics.ts';
import { readWriterConfig } from '../../ingest/writer/config.ts';
import { Writer } from '../../ingest/writer/writer.ts';
import { createClickHouse } from '../../storage/client.ts';
import { cleanUpAtEnd, stopIfInterrupted, tempDirRemovedAtExit } from '../interrupt.ts';
import { benchPoint } from '../points.ts';
import { startSinkProcess, stopSinkProcess, waitConsuming } from '../sink-process.ts';
import { drainWatch } from './drain-watch.ts';

export interface SinkDrainResult {
  rows: number;
  /** Rows stored per second, from the sink joining its group to the last row seen. */
  pointsPerS: number;
  /** CPU-seconds per million rows while it drained: the sink process, Kafka, ClickHouse. */
  cpuSPerMillion: { sink: number; kafka: number; clickhouse: number; total: number };
  lost: number;
  repeated: number;
}

/** Drains `rows` baseline rows with a sink process on the stack's broker and server. */
export async function sinkDrain(conn: Connections, rows: number, pids: { kafka: number; clickhouse: number }): Promise<SinkDrainResult> {
  const prefix = `bench-drain-${Date.now().toString(36)}`;
  const db = `bench_drain_${Date.now().toString(36)}`;
  const kafka = createKafka(conn.kafka, { logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const ch = createClickHouse(conn.clickhouse);
  const spool = tempDirRemovedAtExit('staas-bench-drain-');
  let sink: ReturnType<typeof startSinkProcess> | undefined;
  // Ctrl-C ends the process without running `finally` (and a SIGTERM would not reach the sink).
  const end = cleanUpAtEnd(async () => {
    if (sink !== undefined) await stopSinkProcess(sink, 15_000);
    spool.remove();
    await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` }).catch(() => undefined);
    const t = topicsFor(prefix);
    await admin.deleteTopics({ topics: [t.trend, t.alarm, t.element, t.dlq] }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await ch.close();
  });
  try {
    await admin.connect();
    await ensureTopics(admin, topicsFor(prefix), { partitions: 4, replicationFactor: 1 });
    const writer = await Writer.create(readWriterConfig(process.env, { topicPrefix: prefix, spoolDir: spool.path }), conn.kafka, {
      registry: new Registry(),
      kafka,
    });
    for (let i = 0; i < rows; i++) {
      if (i % 10_000 === 0) stopIfInterrupted();
      await writer.trend(benchPoint(i));
    }
    await writer.close();

    stopIfInterrupted();
    sink = startSinkProcess({ STAAS_TOPIC_PREFIX: prefix, STAAS_SINK_GROUP: `${prefix}-group`, STAAS_CLICKHOUSE_DATABASE: db });
    await waitConsuming(sink);
    const d = await drainWatch({ sink: sink.pid, kafka: pids.kafka, clickhouse: pids.clickhouse }).until(ch, db, rows, 100);
    return { rows, pointsPerS: d.pointsPerS, cpuSPerMillion: d.cpuSPerMillion, lost: d.lost, repeated: d.repeated };
  } finally {
    await end();
  }
}
