/** The Writer's Prometheus metrics. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type WriterMetrics = ReturnType<typeof createWriterMetrics>;

export function createWriterMetrics(registry: Registry) {
  const registers = [registry];
  const byType = ['type'] as const;
  return {
    accepted: new Counter({
      name: 'staas_writer_records_accepted_total',
      help: 'Records accepted from the caller',
      labelNames: byType,
      registers,
    }),
    rejected: new Counter({
      name: 'staas_writer_records_rejected_total',
      help: 'Records refused at the door (invalid)',
      labelNames: byType,
      registers,
    }),
    sent: new Counter({
      name: 'staas_writer_records_sent_total',
      help: 'Records acknowledged by Kafka (acks=all)',
      labelNames: byType,
      registers,
    }),
    spooled: new Counter({
      name: 'staas_writer_records_spooled_total',
      help: 'Records written to the disk spool',
      labelNames: byType,
      registers,
    }),
    dropped: new Counter({
      name: 'staas_writer_records_dropped_total',
      help: 'Records dropped because the spool was full (onFull=drop)',
      labelNames: byType,
      registers,
    }),
    batchRecords: new Histogram({
      name: 'staas_writer_batch_records',
      help: 'Records per sealed batch',
      buckets: [1, 10, 100, 1000, 5000, 10_000, 50_000],
      registers,
    }),
    batchBytes: new Histogram({
      name: 'staas_writer_batch_bytes',
      help: 'Encoded bytes per sealed batch',
      buckets: [1024, 16_384, 131_072, 524_288, 1_048_576, 4_194_304],
      registers,
    }),
    sendSeconds: new Histogram({
      name: 'staas_writer_send_seconds',
      help: 'Time for Kafka to acknowledge one batch',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 15],
      registers,
    }),
    sendFailures: new Counter({ name: 'staas_writer_send_failures_total', help: 'Batch sends that failed or timed out', registers }),
    splits: new Counter({
      name: 'staas_writer_batch_splits_total',
      help: 'Batches Kafka refused as too large, split in two and sent again',
      labelNames: ['type'],
      registers,
    }),
    quarantined: new Counter({
      name: 'staas_writer_records_quarantined_total',
      help: 'Records of batches Kafka refused for good, set aside in <spool>/quarantine',
      labelNames: ['type'],
      registers,
    }),
    spoolWriteFailures: new Counter({
      name: 'staas_writer_spool_write_failures_total',
      help: 'Spool appends the file system refused (ENOSPC, EFBIG, EIO); the batches stayed in memory',
      registers,
    }),
    spoolBytes: new Gauge({ name: 'staas_writer_spool_bytes', help: 'Bytes in the disk spool not yet delivered', registers }),
    spoolSegments: new Gauge({ name: 'staas_writer_spool_segments', help: 'Segment files in the disk spool', registers }),
    spoolDamage: new Counter({ name: 'staas_writer_spool_damage_total', help: 'Damaged spool regions detected and skipped', registers }),
    spoolDamagedBytes: new Counter({
      name: 'staas_writer_spool_damaged_bytes_total',
      help: 'Bytes skipped in damaged spool regions',
      registers,
    }),
    memoryBytes: new Gauge({ name: 'staas_writer_memory_bytes', help: 'Open and in-flight batch bytes held in memory', registers }),
    backpressureSeconds: new Counter({
      name: 'staas_writer_backpressure_seconds_total',
      help: 'Time callers were held back: memory budget full (Kafka slower than the writes), or the spool full',
      registers,
    }),
  };
}
