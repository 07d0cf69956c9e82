/**
 * The Sink retains what it accounts for (real broker, real database): while its batches hold
 * messages — to dead-letter them if ClickHouse refuses their rows — the process keeps the
 * messages' own bytes and the batches' rows (`staas_sink_buffered_bytes`), not kafkajs' fetch
 * responses the messages came in. A Completion closure created inside the consumer's eachBatch
 * once kept each response alive through eachBatch's scope (`payload`): a replay of the stack's
 * topics held 40 MiB beyond the cap that way, and the Sink's RSS passed 300 MB.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { batchMessage } from '../../ingest/kafka/message.ts';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { readSinkConfig } from '../../ingest/sink/config.ts';
import { Sink } from '../../ingest/sink/sink.ts';
import { trendPoint } from '../support/records.ts';
import {
  connections,
  createTestDatabase,
  createTestTopics,
  deleteTestTopics,
  testKafka,
  uniqueName,
  type TestDatabase,
} from '../support/services.ts';
import { until } from '../support/wait.ts';
import { metricTotal } from '../support/metrics.ts';

const MiB = 1024 * 1024;
const MESSAGES = 900;
const POINTS_PER_MESSAGE = 1500;
const quiet = { info: () => undefined, warn: () => undefined, error: (m: string) => console.error(m) };

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** ArrayBuffer bytes still reachable after full collections. */
function retainedArrayBuffers(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().arrayBuffers;
}

describe('Sink memory (real broker, real database)', () => {
  let kafka: Kafka;
  let topics: Topics;
  let database: TestDatabase;
  let sink: Sink | undefined;
  let produced = 0;

  before(async () => {
    kafka = testKafka();
    topics = await createTestTopics(kafka, 3);
    database = await createTestDatabase();
    const producer = kafka.producer();
    await producer.connect();
    for (let m = 0; m < MESSAGES; m += 20) {
      const messages = Array.from({ length: 20 }, (_, k) => {
        const first = (m + k) * POINTS_PER_MESSAGE;
        const points = Array.from({ length: POINTS_PER_MESSAGE }, (_, i) =>
          trendPoint(first + i, { elementId: (m + k) % 50, timestamp: Date.UTC(2026, 0, 1) + first + i }),
        );
        const message = batchMessage('trend', points, `dma-${(m + k) % 7}`);
        produced += message.value!.length;
        return message;
      });
      await producer.send({ topic: topics.trend, acks: -1, messages });
    }
    await producer.disconnect();
  });

  after(async () => {
    await sink?.stop();
    await deleteTestTopics(kafka, topics);
    await database?.drop();
  });

  it('holds the messages of open batches without the fetch responses they came in', async (t) => {
    assert.ok(produced > 40 * MiB, `produced ${produced} bytes`);
    const registry = new Registry();
    const prefix = topics.trend.replace(/\.trend$/, '');
    const conn = { ...connections, clickhouse: { ...connections.clickhouse, database: database.db } };
    // Nothing is inserted while the test looks: every message stays in an open batch.
    const config = readSinkConfig(process.env, {
      retentionIntervalMs: 0,
      topicPrefix: prefix,
      groupId: uniqueName('sink-memory'),
      batchAgeMs: 10 * 60_000,
      batchRows: 100_000_000,
      batchBytes: 1024 * MiB,
      maxBufferedBytes: 1024 * MiB,
      fetchMaxBytes: 8 * MiB, // the margin below allows one fetch in progress
    });
    const base = retainedArrayBuffers();
    sink = await Sink.create(config, conn, { registry, log: quiet });
    await sink.start();
    await until(
      `the sink consuming ${MESSAGES} messages`,
      async () => (await metricTotal(registry, 'staas_sink_messages_total')) >= MESSAGES,
      60_000,
    );
    assert.equal(await metricTotal(registry, 'staas_sink_rows_inserted_total'), 0, 'nothing inserted yet');
    // The gauge is set when the sink polls its steps (every few ms): give it one round.
    await new Promise((r) => setTimeout(r, 200));
    const accounted = await metricTotal(registry, 'staas_sink_buffered_bytes');
    const retained = retainedArrayBuffers() - base;
    const beyond = retained - accounted;
    t.diagnostic(`buffers retained ${Math.round(retained / MiB)} MiB, accounted ${Math.round(accounted / MiB)} MiB`);
    // Beyond what is accounted: at most kafkajs' fetch in progress (STAAS_SINK_FETCH_MAX_BYTES, 8 MiB)
    // and the clients' own buffers; every response kept alive would add the ~43 MiB produced.
    assert.ok(
      beyond < 16 * MiB,
      `retained ${Math.round(retained / MiB)} MiB of buffers, ${Math.round(accounted / MiB)} MiB accounted (${Math.round(produced / MiB)} MiB produced)`,
    );
    assert.ok(accounted > produced, `the open batches hold the messages (${accounted} bytes accounted)`);
  });
});
