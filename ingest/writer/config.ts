/** Writer settings from environment variables (all validated at start-up). */
import { resolve } from 'node:path';
import { readClickHouseCluster } from '../../config/connections.ts';
import { EnvReader, type Env } from '../../config/env.ts';
import type { Codec } from '../../schemas/container.ts';
import { KAFKA_COMPRESSIONS, type KafkaCompression } from '../kafka/codecs.ts';

export interface WriterConfig {
  topicPrefix: string;
  spoolDir: string;
  /** At this many spooled bytes, writes wait (or drop, if `onFull` is 'drop'). */
  spoolMaxBytes: number;
  spoolSegmentBytes: number;
  onFull: 'block' | 'drop';
  batchRecords: number;
  batchBytes: number;
  lingerMs: number;
  /** Batches in memory (open, waiting or being sent) above this hold writes back (bytes). */
  maxMemoryBytes: number;
  maxInFlight: number;
  sendTimeoutMs: number;
  drainBytesPerSecond: number;
  fsyncIntervalMs: number;
  codec: Codec;
  /** Kafka-level compression of the record batches sent (Kafka's `compression.type` names). */
  kafkaCompression: KafkaCompression;
  /** Used when topic metadata cannot be read at start (Kafka down) and none was saved. */
  defaultPartitions: number;
  /**
   * Partition groups: with a ClickHouse cluster, its shard count, so that each partition holds
   * the DMSs of one shard (ingest/writer/partitions.ts); 1 spreads every element over all.
   */
  partitionGroups: number;
}

const MiB = 1024 * 1024;

export function readWriterConfig(env: Env = process.env, overrides: Partial<WriterConfig> = {}): WriterConfig {
  const r = new EnvReader(env);
  const config: WriterConfig = {
    topicPrefix: r.string('STAAS_TOPIC_PREFIX', 'staas'),
    spoolDir: resolve(r.string('STAAS_WRITER_SPOOL_DIR', '.state/writer-spool')),
    spoolMaxBytes: r.int('STAAS_WRITER_SPOOL_MAX_BYTES', 10 * 1024 * MiB, { min: MiB }),
    spoolSegmentBytes: r.int('STAAS_WRITER_SPOOL_SEGMENT_BYTES', 64 * MiB, { min: 64 * 1024, max: 1024 * MiB }),
    onFull: r.oneOf('STAAS_WRITER_ON_FULL', ['block', 'drop'] as const, 'block'),
    batchRecords: r.int('STAAS_WRITER_BATCH_RECORDS', 10_000, { min: 1, max: 1_000_000 }),
    batchBytes: r.int('STAAS_WRITER_BATCH_BYTES', MiB, { min: 1024, max: 15 * MiB }),
    lingerMs: r.ms('STAAS_WRITER_LINGER_MS', 50, { min: 0, max: 60_000 }),
    maxMemoryBytes: r.int('STAAS_WRITER_MAX_MEMORY_BYTES', 64 * MiB, { min: MiB }),
    maxInFlight: r.int('STAAS_WRITER_MAX_IN_FLIGHT', 8, { min: 1, max: 256 }),
    sendTimeoutMs: r.ms('STAAS_WRITER_SEND_TIMEOUT_MS', 15_000, { min: 100 }),
    drainBytesPerSecond: r.int('STAAS_WRITER_DRAIN_BYTES_PER_S', 64 * MiB, { min: 1024 }),
    fsyncIntervalMs: r.ms('STAAS_WRITER_FSYNC_INTERVAL_MS', 1000, { min: 1 }),
    codec: r.oneOf('STAAS_WRITER_CODEC', ['null', 'deflate'] as const, 'null'),
    kafkaCompression: r.oneOf('STAAS_WRITER_KAFKA_COMPRESSION', KAFKA_COMPRESSIONS, 'none'),
    defaultPartitions: r.int('STAAS_KAFKA_PARTITIONS', 4, { min: 1, max: 256 }),
    // In cluster mode (STAAS_STACK_MODE=cluster) the shard count of the ClickHouse cluster.
    partitionGroups: r.int('STAAS_WRITER_PARTITION_GROUPS', readClickHouseCluster(r)?.shards.length ?? 1, { min: 1, max: 256 }),
    ...overrides,
  };
  if (config.batchBytes * 2 > config.maxMemoryBytes)
    r.problem('STAAS_WRITER_MAX_MEMORY_BYTES must be at least twice STAAS_WRITER_BATCH_BYTES');
  if (config.spoolSegmentBytes > config.spoolMaxBytes)
    r.problem('STAAS_WRITER_SPOOL_SEGMENT_BYTES must not exceed STAAS_WRITER_SPOOL_MAX_BYTES');
  r.done();
  return config;
}
