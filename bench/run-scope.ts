/**
 * A benchmark run's own topics, database and Sink process: created for the run, dropped after
 * (also when it is interrupted), so that what earlier runs or the stack stored counts in no
 * measurement. Used by bench/e2e.ts and bench/query.ts.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { logLevel } from 'kafkajs';
import { readConnections } from '../config/connections.ts';
import { createKafka } from '../ingest/kafka/client.ts';
import { ensureTopics, topicsFor } from '../ingest/kafka/topics.ts';
import { cleanUpAtEnd, stopIfInterrupted } from './interrupt.ts';
import { startSinkProcess, stopSinkProcess, waitConsuming, type SinkProcess } from './sink-process.ts';

export interface RunScope {
  /** Topic prefix of the run (`<prefix>.trend`, …). */
  prefix: string;
  /** The run's ClickHouse database (a plain identifier), created by its Sink. */
  database: string;
}

/**
 * Creates the run's topics (`partitions` each), starts a Sink on them into `scope.database`
 * (with `sinkEnv` beside), waits until it consumes, runs `body`, then stops the Sink (15 s
 * grace), drops the database and deletes the topics — on SIGINT/SIGTERM too (bench/interrupt.ts).
 * `clickhouse` is the caller's client (not closed here). Throws what `body` or the set-up throws.
 */
export async function withRunScope(
  scope: RunScope,
  opts: { partitions: number; clickhouse: ClickHouseClient; sinkEnv?: Record<string, string> },
  body: (sink: SinkProcess) => Promise<void>,
): Promise<void> {
  const admin = createKafka(readConnections().kafka, { logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const topics = topicsFor(scope.prefix);
  let sink: SinkProcess | undefined;
  const end = cleanUpAtEnd(async () => {
    if (sink !== undefined) await stopSinkProcess(sink, 15_000);
    await opts.clickhouse.command({ query: `DROP DATABASE IF EXISTS ${scope.database}` }).catch(() => undefined);
    await admin.deleteTopics({ topics: [topics.trend, topics.alarm, topics.element, topics.dlq] }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  });
  try {
    await ensureTopics(admin, topics, { partitions: opts.partitions, replicationFactor: 1 });
    stopIfInterrupted();
    sink = startSinkProcess({
      STAAS_TOPIC_PREFIX: scope.prefix,
      STAAS_SINK_GROUP: `${scope.prefix}-group`,
      STAAS_CLICKHOUSE_DATABASE: scope.database,
      ...opts.sinkEnv,
    });
    await waitConsuming(sink);
    console.log(`  sink (pid ${sink.pid}): topics ${scope.prefix}.*, database ${scope.database}`);
    await body(sink);
  } finally {
    await end();
  }
}
