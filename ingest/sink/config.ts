/** Sink settings from environment variables (validated at start-up). */
import { EnvReader, type Env } from '../../config/env.ts';

export interface SinkConfig {
  topicPrefix: string;
  groupId: string;
  /**
   * Flush a table's batch at this many rows, bytes or milliseconds of age. Under normal load the
   * age decides (write -> queryable latency); the row and byte caps bound bursts and backlogs,
   * where larger inserts mean fewer parts for ClickHouse to write and merge (a row is rewritten
   * about once per merge level, ~log5 of the parts a partition gathers). 450,000 rows: a full
   * batch retains ~32 MB (its RowBinary and the Kafka messages behind it), so the next one fills
   * while one is inserted within STAAS_SINK_MAX_BUFFERED_BYTES (72 MiB); with two inserts running
   * (STAAS_SINK_MAX_INFLIGHT_INSERTS) ~11 MB are left, and the partitions pause until one ends.
   * Against 300,000 rows in 48 MiB (`bench/e2e.ts --rates 1400000,2000000 --step-seconds 20
   * --latency-seconds 5 --skip-baselines`, alternating, 2 runs against 4): ClickHouse's merges
   * at the 2,000,000 step 0.26-0.28 CPU-s per million against 0.39-0.44, stored there 1.24-1.29 M
   * points/s against 0.97-1.21 M, in the overload step 1.10-1.24 M against 0.98-1.22 M; the
   * Sink's peak RSS 226-234 MiB against 176-202. Draining a backlog of 6,000,000 rows
   * (`bench/sink.ts --records 6000000 --process`, 2 alternating pairs): 1.84 M rows/s against
   * 1.53-1.62 M, peak RSS 214-221 MiB against 187-191. 600,000 rows in 96 MiB merged as little but
   * stored less at 1,400,000 (1.15 M in two runs); 600,000 in 48 MiB left room for one batch
   * only, so inserts ran one at a time; 200,000 -> 300,000 (at 1,000,000 offered) had stored
   * 889-921 k against 463-826 k points/s.
   */
  batchRows: number;
  batchBytes: number;
  batchAgeMs: number;
  /** Bytes retained by open batches and in-flight inserts; at the cap the partitions are paused. */
  maxBufferedBytes: number;
  /** Bytes one fetch from Kafka may return (kafkajs maxBytes; per partition at most 4 MiB). */
  fetchMaxBytes: number;
  /** Inserts running or waiting; at the limit the partitions are paused. */
  maxInFlightInserts: number;
  insertTimeoutMs: number;
  commitIntervalMs: number;
  /** DLQ guard: over this share of invalid messages (with at least `dlqMinInvalid`) in a window, stop. */
  dlqMaxRatio: number;
  dlqMinInvalid: number;
  dlqWindowMessages: number;
  metricsPort: number;
  /** How often expired partitions are dropped (0: never, e.g. when another process does it). */
  retentionIntervalMs: number;
  /** SIGTERM: how long stop() waits for what was taken to be stored; past it, unstored messages stay uncommitted. */
  stopTimeoutMs: number;
  /** /health answers 503 when no insert succeeded for this long while some were waiting. */
  healthStallMs: number;
  /** One message may decode to at most this many records, and this many bytes once decompressed; else it is dead-lettered as 'too-large'. */
  maxRecordsPerMessage: number;
  maxDecodedBytesPerMessage: number;
  /**
   * On a cluster: `direct` splits each batch by shard and inserts into a replica of each shard
   * (the default), `distributed` inserts through the Distributed tables with
   * insert_distributed_sync=1 (kept to compare; see ingest/sink/cluster-store.ts).
   */
  clusterInsert: 'direct' | 'distributed';
  /**
   * Kafka consumer session timeout (ms): a member that sent no heartbeat for this long (killed,
   * hung, cut off) loses its partitions to the others. The broker bounds it with
   * group.min.session.timeout.ms / group.max.session.timeout.ms (6 s / 30 min by default).
   * Heartbeats go every tenth of it (Kafka's consumer documentation: at most a third): the other
   * members learn of a rebalance at their next heartbeat, so a member that leaves on SIGTERM
   * hands its partitions over within about a second at the default.
   */
  sessionTimeoutMs: number;
  /**
   * How often (ms) the topics' metadata is read again: new partitions are assigned, and a topic
   * deleted and re-created (its topic id changed) is read from the start, within about this time.
   */
  metadataRefreshMs: number;
  /**
   * How often (ms) ClickHouse's /ping is called, so that /health notices it unreachable even while
   * the sink is idle; a ping gives up after this long or 5 s, whichever is shorter.
   */
  clickhousePingMs: number;
}

export function readSinkConfig(env: Env = process.env, overrides: Partial<SinkConfig> = {}): SinkConfig {
  const r = new EnvReader(env);
  const ratioPercent = r.int('STAAS_SINK_DLQ_MAX_PERCENT', 50, { min: 0, max: 100 });
  const config: SinkConfig = {
    topicPrefix: r.string('STAAS_TOPIC_PREFIX', 'staas'),
    groupId: r.string('STAAS_SINK_GROUP', 'staas-sink'),
    batchRows: r.int('STAAS_SINK_BATCH_ROWS', 450_000, { min: 1 }),
    batchBytes: r.int('STAAS_SINK_BATCH_BYTES', 48 * 1024 * 1024, { min: 1024 }),
    batchAgeMs: r.ms('STAAS_SINK_BATCH_AGE_MS', 500, { min: 1 }),
    maxBufferedBytes: r.int('STAAS_SINK_MAX_BUFFERED_BYTES', 72 * 1024 * 1024, { min: 1024 * 1024 }),
    fetchMaxBytes: r.int('STAAS_SINK_FETCH_MAX_BYTES', 8 * 1024 * 1024, { min: 64 * 1024 }),
    maxInFlightInserts: r.int('STAAS_SINK_MAX_INFLIGHT_INSERTS', 2, { min: 1, max: 64 }),
    insertTimeoutMs: r.ms('STAAS_SINK_INSERT_TIMEOUT_MS', 60_000, { min: 1000 }),
    commitIntervalMs: r.ms('STAAS_SINK_COMMIT_INTERVAL_MS', 1000, { min: 10 }),
    dlqMaxRatio: ratioPercent / 100,
    dlqMinInvalid: r.int('STAAS_SINK_DLQ_MIN_INVALID', 100, { min: 1 }),
    dlqWindowMessages: r.int('STAAS_SINK_DLQ_WINDOW', 1000, { min: 10 }),
    metricsPort: r.int('STAAS_SINK_METRICS_PORT', 9464, { min: 0, max: 65535 }),
    retentionIntervalMs: r.secondsAsMs('STAAS_SINK_RETENTION_INTERVAL_S', 3600, { min: 0 }),
    stopTimeoutMs: r.ms('STAAS_SINK_STOP_TIMEOUT_MS', 30_000, { min: 100 }),
    healthStallMs: r.ms('STAAS_SINK_HEALTH_STALL_MS', 60_000, { min: 1000 }),
    maxRecordsPerMessage: r.int('STAAS_SINK_MAX_RECORDS_PER_MESSAGE', 1_000_000, { min: 1 }),
    maxDecodedBytesPerMessage: r.int('STAAS_SINK_MAX_DECODED_BYTES_PER_MESSAGE', 64 * 1024 * 1024, { min: 1024 }),
    clusterInsert: r.oneOf('STAAS_SINK_CLUSTER_INSERT', ['direct', 'distributed'] as const, 'direct'),
    sessionTimeoutMs: r.secondsAsMs('STAAS_SINK_SESSION_TIMEOUT_S', 10, { min: 1, max: 1800 }),
    metadataRefreshMs: r.secondsAsMs('STAAS_SINK_METADATA_REFRESH_S', 5, { min: 1 }),
    clickhousePingMs: r.secondsAsMs('STAAS_SINK_CLICKHOUSE_PING_S', 5, { min: 1 }),
    ...overrides,
  };

  if (config.dlqMinInvalid > config.dlqWindowMessages)
    r.problem(
      `STAAS_SINK_DLQ_MIN_INVALID=${config.dlqMinInvalid} exceeds STAAS_SINK_DLQ_WINDOW=${config.dlqWindowMessages}: the DLQ guard could never stop the sink`,
    );
  r.done();
  return config;
}
