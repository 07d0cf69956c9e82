/** The Sink's Prometheus metrics. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type SinkMetrics = ReturnType<typeof createSinkMetrics>;

export function createSinkMetrics(registry: Registry) {
  const registers = [registry];
  return {
    messages: new Counter({
      name: 'staas_sink_messages_total',
      help: 'Kafka messages consumed',
      labelNames: ['topic'] as const,
      registers,
    }),
    records: new Counter({
      name: 'staas_sink_records_total',
      help: 'Records decoded from valid messages',
      labelNames: ['type'] as const,
      registers,
    }),
    rowsInserted: new Counter({
      name: 'staas_sink_rows_inserted_total',
      help: 'Rows acknowledged by ClickHouse',
      labelNames: ['table'] as const,
      registers,
    }),
    batchRows: new Histogram({
      name: 'staas_sink_batch_rows',
      help: 'Rows per insert',
      labelNames: ['table'] as const,
      buckets: [100, 1000, 10_000, 50_000, 100_000, 200_000, 300_000, 500_000, 1_000_000],
      registers,
    }),
    batchBytes: new Histogram({
      name: 'staas_sink_batch_bytes',
      help: 'RowBinary bytes per insert',
      labelNames: ['table'] as const,
      buckets: [1e4, 1e5, 1e6, 4e6, 16e6, 32 * 1024 * 1024, 64 * 1024 * 1024], // up to the byte cap's default (48 MiB) and beyond
      registers,
    }),
    insertSeconds: new Histogram({
      name: 'staas_sink_insert_seconds',
      help: 'Time for ClickHouse to acknowledge one insert',
      labelNames: ['table'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    lateWriteMarkers: new Counter({
      name: 'staas_sink_late_write_markers_total',
      help: 'Late-write marker rows stored in trend_late_writes (rows of UTC days that had ended), by the trend table whose batch they mark',
      labelNames: ['table'] as const,
      registers,
    }),
    insertRetries: new Counter({
      name: 'staas_sink_insert_retries_total',
      help: 'Inserts retried after a transient failure',
      labelNames: ['table'] as const,
      registers,
    }),
    dlq: new Counter({
      name: 'staas_sink_dlq_messages_total',
      help: 'Messages sent to the dead-letter topic',
      labelNames: ['reason'] as const,
      registers,
    }),
    pausedPartitions: new Gauge({
      name: 'staas_sink_paused_partitions',
      help: 'Partitions paused because inserts are backlogged',
      registers,
    }),
    lag: new Gauge({
      name: 'staas_sink_consumer_lag',
      help: 'Messages behind the high watermark, per partition',
      labelNames: ['topic', 'partition'] as const,
      registers,
    }),
    topicRecreated: new Counter({
      name: 'staas_sink_topic_recreated_total',
      help: 'Topics found deleted and created again (read again from the start), by how it was noticed: a new topic id, or offsets going back',
      labelNames: ['topic', 'detected_by'] as const,
      registers,
    }),
    offsetResets: new Counter({
      name: 'staas_sink_offset_resets_total',
      help: 'Positions Kafka reset because they were out of range (e.g. removed by retention)',
      labelNames: ['topic', 'partition'] as const,
      registers,
    }),
    offsetResetSkipped: new Counter({
      name: 'staas_sink_offset_reset_skipped_messages_total',
      help: 'Messages an offset reset skipped: no longer in Kafka when the sink came to read them',
      labelNames: ['topic', 'partition'] as const,
      registers,
    }),
    commits: new Counter({ name: 'staas_sink_commits_total', help: 'Offset commits', registers }),
    bufferedBytes: new Gauge({
      name: 'staas_sink_buffered_bytes',
      help: 'Bytes retained by open table batches and in-flight inserts (row chunks as allocated, and the Kafka messages they keep)',
      registers,
    }),
  };
}
