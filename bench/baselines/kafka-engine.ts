/**
 * The peer a user might pick instead of staas: ClickHouse's own Kafka table engine with a
 * materialized view into the same trend_realtime table, consuming the baseline rows as
 * JSONEachRow messages of 1,000 rows each. The topic is filled first (not timed) and the group's
 * offsets set to its start; the clock and the CPU counters start when the view is created (that
 * starts the engine's consumers) and stop at the last row that became visible. Rows never seen
 * (the engine stalled for 30 s) count as lost; rows seen twice (at-least-once) as repeated.
 * ClickHouse docs, Kafka table engine: a materialized view over the Kafka table is what moves
 * rows; blocks are written per `max_insert_block_size` rows or `stream_flush_interval_ms`.
 */
import { logLevel } from 'kafkajs';
import type { Connections } from '../../config/connections.ts';
import { createKafka } from '../../ingest/kafka/client.ts';
import { createTopicsWaiting } from '../../ingest/kafka/topics.ts';
import { createClickHouse } from '../../storage/client.ts';
import { literal } from '../../storage/sql.ts';
import { cleanUpAtEnd, stopIfInterrupted } from '../interrupt.ts';
import { drainWatch } from './drain-watch.ts';
import { BASELINE_DB, freshTable, jsonRow } from './rows.ts';

export interface KafkaEngineResult {
  rows: number;
  /** Rows stored per second, from the view's creation to the last row seen. */
  pointsPerS: number;
  /** CPU-seconds per million rows of Kafka and ClickHouse while the engine consumed (our process does nothing then). */
  cpuSPerMillion: { kafka: number; clickhouse: number; total: number };
  /** Rows missing when the engine stopped making progress (30 s without a new row), and rows stored twice. */
  lost: number;
  repeated: number;
  /** Consumer threads of the engine (`kafka_num_consumers`). */
  consumers: number;
}

const ROWS_PER_MESSAGE = 1000;
const PARTITIONS = 4;

/**
 * Runs the Kafka engine over `rows` rows on the stack's broker and server. Throws when the
 * connection uses TLS or SASL (the engine would need the same settings; the local stack has none).
 */
export async function kafkaEnginePipeline(
  conn: Connections,
  rows: number,
  pids: { kafka: number; clickhouse: number },
  consumers = 2,
): Promise<KafkaEngineResult> {
  if (conn.kafka.tls !== undefined || conn.kafka.sasl !== undefined)
    throw new Error('the Kafka engine baseline runs on a plaintext broker only (the local stack)');
  const kafka = createKafka(conn.kafka, { logLevel: logLevel.NOTHING });
  const ch = createClickHouse(conn.clickhouse);
  const topic = `bench-kafka-engine-${Date.now().toString(36)}`;
  const groupId = `${topic}-group`;
  const admin = kafka.admin();
  // Ctrl-C ends the process without running `finally`: a Kafka table left behind would go on
  // consuming inside ClickHouse.
  const end = cleanUpAtEnd(async () => {
    // The view first: dropping it stops the engine's consumers.
    await ch.command({ query: `DROP TABLE IF EXISTS ${BASELINE_DB}.trend_queue_mv` }).catch(() => undefined);
    await ch.command({ query: `DROP TABLE IF EXISTS ${BASELINE_DB}.trend_queue` }).catch(() => undefined);
    await ch.command({ query: `DROP DATABASE IF EXISTS ${BASELINE_DB}` }).catch(() => undefined);
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await ch.close();
  });
  try {
    await admin.connect();
    await createTopicsWaiting(admin, [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }]);
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      for (let i = 0; i < rows; i += 100 * ROWS_PER_MESSAGE) {
        const messages = [];
        for (let m = i; m < Math.min(rows, i + 100 * ROWS_PER_MESSAGE); m += ROWS_PER_MESSAGE) {
          const lines: string[] = [];
          for (let j = m; j < Math.min(rows, m + ROWS_PER_MESSAGE); j++) lines.push(jsonRow(j));
          messages.push({ key: String(m / ROWS_PER_MESSAGE), value: lines.join('\n') });
        }
        await producer.send({ topic, acks: -1, messages });
        stopIfInterrupted();
      }
    } finally {
      await producer.disconnect();
    }
    // A new group starts at the latest offset by default (librdkafka's auto.offset.reset): start it at 0.
    await admin.setOffsets({
      groupId,
      topic,
      partitions: Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, offset: '0' })),
    });
    stopIfInterrupted();
    await freshTable(ch);
    stopIfInterrupted();
    const brokers = literal(conn.kafka.brokers.join(','));
    await ch.command({
      query: `CREATE TABLE ${BASELINE_DB}.trend_queue AS ${BASELINE_DB}.trend_realtime ENGINE = Kafka SETTINGS
        kafka_broker_list = ${brokers}, kafka_topic_list = ${literal(topic)}, kafka_group_name = ${literal(groupId)},
        kafka_format = 'JSONEachRow', kafka_row_delimiter = '\\n', kafka_num_consumers = ${consumers}`,
    });
    const watch = drainWatch({ kafka: pids.kafka, clickhouse: pids.clickhouse });
    await ch.command({
      query: `CREATE MATERIALIZED VIEW ${BASELINE_DB}.trend_queue_mv TO ${BASELINE_DB}.trend_realtime AS SELECT * FROM ${BASELINE_DB}.trend_queue`,
    });
    const d = await watch.until(ch, BASELINE_DB, rows, 200);
    return { rows, pointsPerS: d.pointsPerS, cpuSPerMillion: d.cpuSPerMillion, lost: d.lost, repeated: d.repeated, consumers };
  } finally {
    await end();
  }
}
