/**
 * The Sink: a consumer group that stores what the writers send, as a chain of steps
 * (ingest/sink/steps), each with one bound:
 *
 *   Decode ──▶ TableBatches ──▶ Insert ─────────────┐
 *     └──▶ DeadLetter ◀── rows a table refused ──┘    ▼
 *              └──────────────────────────▶ Completion (per message) ──▶ CommitOffsets
 *
 * Offsets travel with the data (MessageRef): each message carries one Completion, the one place
 * that decides when it is done — every table it fed stored its rows, or it went to the DLQ as a
 * whole and its other tables settled — and only then hands it to the commit step. A partition's
 * committed offset only moves past messages that are done. When a step rejects a message (inserts
 * or dead letters at their limit, or retained bytes at STAAS_SINK_MAX_BUFFERED_BYTES), its
 * partition is paused and the message stays in Kafka (re-read after resume), so memory stays
 * bounded whatever the backlog. Storage is
 * idempotent (ReplacingMergeTree on natural keys): a message stored again after a crash changes
 * no query result. Changes of the topics (re-created, repartitioned, missing, offsets reset by
 * Kafka) are followed by TopicChanges (topic-changes.ts), ClickHouse's liveness while idle by
 * ClickHousePing.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { logLevel, type Consumer, type EachBatchPayload, type Kafka, type KafkaMessage, type Producer } from 'kafkajs';
import { register as defaultRegistry, type Registry } from 'prom-client';
import type { Connections } from '../../config/connections.ts';
import { createClickHouse } from '../../storage/client.ts';
import { pruneClearedAlarmTrees } from '../../storage/alarm-active.ts';
import { insertRowBinary } from '../../storage/insert.ts';
import { applyRetention, type Partition } from '../../storage/retention.ts';
import type { ClickHouseConnection } from '../../config/connections.ts';
import { applyClusterRetention, pruneClusterAlarmTrees } from '../../storage/cluster-maintenance.ts';
import { ensureSchemaFor } from '../../storage/cluster-schema.ts';
import { clusterStore, type ClusterStore } from './cluster-store.ts';
import { createKafka } from '../kafka/client.ts';
import { registerKafkaCodecs } from '../kafka/codecs.ts';
import { topicsFor, type Topics } from '../kafka/topics.ts';
import { TopicLimits } from '../writer/topic-limits.ts';
import { ClickHousePing } from './clickhouse-ping.ts';
import { Completion } from './completion.ts';
import { detach } from './detach.ts';
import type { SinkConfig } from './config.ts';
import { DeadLetters } from './dlq.ts';
import { createSinkMetrics, type SinkMetrics } from './metrics.ts';
import { CommitOffsets } from './steps/commit.ts';
import { DeadLetter } from './steps/dead-letter.ts';
import { Decode } from './steps/decode.ts';
import { Insert } from './steps/insert.ts';
import { MessageRejected, type MessageRef } from './steps/step.ts';
import { TableBatches } from './steps/table-batch.ts';
import { ChunkPool } from './row-chunks.ts';
import { TopicChanges } from './topic-changes.ts';

/** kafkajs 2.2.4's log line when it resets a position out of range (consumerGroup.js, recoverFromOffsetOutOfRange). */
const OUT_OF_RANGE_LOG = 'Offset out of range, resetting to default offset';
/** Calls from kafkajs's logger into the sink, bound once the sink exists. */
interface KafkaHooks {
  outOfRange?: (topic: string, partition: number) => void;
}

export interface SinkLog {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export class Sink {
  private consumer: Consumer | undefined;
  private readonly commit: CommitOffsets;
  private readonly batches: TableBatches;
  /** Row chunks of stored batches, for the next ones (bounded by maxBufferedBytes). */
  private readonly chunkPool: ChunkPool;
  private readonly insert: Insert;
  private readonly cluster: ClusterStore | undefined;
  private readonly head: Decode;
  private readonly deadLetter: DeadLetter;
  /** Paused partitions; `lanes`: the shards whose full share paused it (it resumes when they have room). */
  private readonly paused = new Map<string, { topic: string; partition: number; lanes?: readonly number[] }>();
  private readonly timers: NodeJS.Timeout[] = [];
  private fatal: Error | undefined;
  private stopping = false;
  /** consumer.run() was called: only then may it be paused (kafkajs throws before). */
  private running = false;
  /** Whether the consumer is a member of its group now (kafkajs group events). */
  private inGroup = false;
  private readonly done: Promise<void>;
  private finish!: (err?: Error) => void;
  /** Follows changes of the topics: missing, re-created, repartitioned, offsets reset. */
  private readonly changes: TopicChanges;
  /** Whether ClickHouse answers, also while the sink is idle. */
  private readonly ping: ClickHousePing;

  private constructor(
    private readonly config: SinkConfig,
    private readonly kafka: Kafka,
    private readonly ch: ClickHouseClient,
    private readonly db: string,
    private readonly topics: Topics,
    private readonly dlqProducer: Producer,
    deadLetters: DeadLetters,
    private readonly metrics: SinkMetrics,
    private readonly log: SinkLog,
    /** Where ClickHouse is: with a cluster, rows go to each shard (ingest/sink/cluster-store.ts). */
    private readonly chConn: ClickHouseConnection,
    hooks: KafkaHooks,
  ) {
    this.ping = new ClickHousePing(ch, config.clickhousePingMs, log);
    hooks.outOfRange = (topic, partition) => this.changes.outOfRange(topic, partition);
    this.done = new Promise((resolve, reject) => (this.finish = (err) => (err === undefined ? resolve() : reject(err))));
    void this.done.catch(() => undefined);
    this.commit = new CommitOffsets(
      async (offsets) => {
        const marked = this.changes.withTopicIds(offsets);
        await this.consumer?.commitOffsets(marked);
        this.changes.committed(marked);
      },
      config.commitIntervalMs,
      metrics,
      (err) => log.warn(`commit failed: ${err.message}`),
    );
    this.changes = new TopicChanges({
      kafka,
      topics: [topics.trend, topics.alarm, topics.element],
      groupId: config.groupId,
      refreshMs: config.metadataRefreshMs,
      commit: this.commit,
      metrics,
      log,
      seek: (topic, partition, offset) => this.consumer?.seek({ topic, partition, offset }),
    });
    this.deadLetter = new DeadLetter(deadLetters, metrics, (m) => log.warn(m));
    this.cluster =
      chConn.cluster === undefined
        ? undefined
        : clusterStore(config.clusterInsert, chConn, chConn.cluster, ch, { requestTimeoutMs: config.insertTimeoutMs });
    // Kept chunks and what messages hold (batches open and in flight, dead letters being sent) stay within the cap together.
    this.chunkPool = new ChunkPool(config.maxBufferedBytes, () => this.heldBytes());
    this.insert = new Insert(
      this.cluster?.store ??
        ((table, columns, body, queryId, _lane, partitionsAtMost) =>
          insertRowBinary(this.ch, db, table, columns, body, { queryId, partitionsAtMost })),
      config.maxInFlightInserts,
      this.deadLetter,
      metrics,
      log,
      () => this.resumeIfDrained(),
      this.cluster?.lanes,
    );
    this.batches = new TableBatches(
      { rows: config.batchRows, bytes: config.batchBytes, ageMs: config.batchAgeMs, maxBufferedBytes: config.maxBufferedBytes },
      this.insert,
      // Dead letters being sent count against every lane's share (they belong to no shard).
      (lane) => this.insert.bytes(lane) + this.deadLetter.bytes(),
      this.cluster?.lanes,
      this.chunkPool,
    );
    this.head = new Decode(topics, this.batches, this.deadLetter, deadLetters, metrics, {
      maxRecords: config.maxRecordsPerMessage,
      maxDecodedBytes: config.maxDecodedBytesPerMessage,
    });
  }

  static async create(config: SinkConfig, conn: Connections, deps: { registry?: Registry; log?: SinkLog } = {}): Promise<Sink> {
    const log = deps.log ?? {
      info: (m) => console.log(`sink: ${m}`),
      warn: (m) => console.warn(`sink: ${m}`),
      error: (m) => console.error(`sink: ${m}`),
    };
    registerKafkaCodecs(); // batches compressed with snappy, lz4 or zstd by other producers
    const hooks: KafkaHooks = {};
    const kafka = createKafka(conn.kafka, {
      // kafkajs moves a position that is out of range (removed by retention, or past the end of a
      // re-created topic) to the start without telling its caller: its error log line is the only
      // trace. The sink reports everything else itself.
      logLevel: logLevel.ERROR,
      logCreator:
        () =>
        ({ log }) => {
          if (log.message === OUT_OF_RANGE_LOG && typeof log.topic === 'string' && typeof log.partition === 'number')
            hooks.outOfRange?.(log.topic, log.partition);
        },
    });
    const ch = createClickHouse(conn.clickhouse, { requestTimeoutMs: config.insertTimeoutMs });
    // A cluster server that is down does not stop the start (its shard's other replica takes the inserts).
    await ensureSchemaFor(ch, conn.clickhouse, {
      onUnreachable: (url, err) => log.warn(`ClickHouse ${url} did not answer at start (${err.message}); its tables were not checked`),
    });
    const topics = topicsFor(config.topicPrefix);
    const dlqProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await dlqProducer.connect();
    // The DLQ topic's size limit, so that a dead letter can be cut to fit (Kafka's default if unreadable).
    const dlqLimits = new TopicLimits(kafka, [topics.dlq], Number.MAX_SAFE_INTEGER);
    if (!(await dlqLimits.refresh(10_000))) log.warn(`could not read max.message.bytes of ${topics.dlq}; assuming Kafka's default`);
    const deadLetters = new DeadLetters(
      dlqProducer,
      topics.dlq,
      { maxRatio: config.dlqMaxRatio, minInvalid: config.dlqMinInvalid, windowMessages: config.dlqWindowMessages },
      dlqLimits.maxMessageBytes(topics.dlq),
    );
    return new Sink(
      config,
      kafka,
      ch,
      conn.clickhouse.database,
      topics,
      dlqProducer,
      deadLetters,
      createSinkMetrics(deps.registry ?? defaultRegistry),
      log,
      conn.clickhouse,
      hooks,
    );
  }

  /**
   * Joins the group and consumes until stop(); `finished` tells how it ended. A topic that does
   * not exist yet is logged once and waited for (looked up every `metadataRefreshMs`).
   */
  async start(): Promise<void> {
    if (!(await this.changes.waitForTopics())) return; // stopped meanwhile
    const consumer = this.kafka.consumer({
      groupId: this.config.groupId,
      sessionTimeout: this.config.sessionTimeoutMs,
      heartbeatInterval: Math.max(100, Math.floor(this.config.sessionTimeoutMs / 10)),
      // New partitions are noticed (and assigned, after a rebalance) when the metadata is older than this.
      metadataMaxAge: this.config.metadataRefreshMs,
      maxWaitTimeInMs: 100,
      // Fetched bytes are memory too (messages stay views into the fetch response until done).
      maxBytesPerPartition: Math.min(4 * 1024 * 1024, this.config.fetchMaxBytes),
      maxBytes: this.config.fetchMaxBytes,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      // A new assignment: what this member tracked may belong to another member now.
      this.inGroup = true;
      const generation = this.commit.newGeneration();
      this.changes.joined(e.payload.memberAssignment);
      this.log.info(`joined group ${this.config.groupId} (generation ${generation}): ${JSON.stringify(e.payload.memberAssignment)}`);
    });
    for (const left of [consumer.events.REBALANCING, consumer.events.STOP, consumer.events.DISCONNECT])
      consumer.on(left, () => (this.inGroup = false));
    consumer.on(consumer.events.CRASH, (e) => {
      this.inGroup = false;
      if (!e.payload.restart) this.stopWith(new Error(`consumer crashed: ${e.payload.error.message}`));
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [this.topics.trend, this.topics.alarm, this.topics.element], fromBeginning: true });
    this.timers.push(setInterval(() => this.poll(), Math.max(10, Math.min(100, Math.floor(this.config.batchAgeMs / 2)))));
    this.changes.start();
    this.ping.start();
    if (this.config.retentionIntervalMs > 0) {
      const retention = () =>
        void this.retention().then(
          (dropped) =>
            dropped.length > 0 && this.log.info(`retention dropped ${dropped.map((p) => `${p.table} ${p.partition}`).join(', ')}`),
          (err: Error) => this.log.warn(`retention failed: ${err.message}`),
        );
      // Cleared alarm trees leave alarm_active for good (one mutation at a time; see storage/alarm-active.ts).
      let pruning = false;
      const prune = () => {
        if (pruning) return;
        pruning = true;
        void (
          this.chConn.cluster === undefined
            ? pruneClearedAlarmTrees(this.ch, this.db)
            : pruneClusterAlarmTrees(this.chConn, this.chConn.cluster)
        )
          .then(
            (r) => r.trees > 0 && this.log.info(`pruned ${r.trees} cleared alarm trees in ${r.mutations} mutations`),
            (err: Error) => this.log.warn(`alarm pruning failed: ${err.message}`),
          )
          .finally(() => (pruning = false));
      };
      retention();
      prune();
      this.timers.push(setInterval(retention, this.config.retentionIntervalMs), setInterval(prune, this.config.retentionIntervalMs));
    }
    this.running = true;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 3,
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  /** Resolves when the sink stopped cleanly, rejects when it stopped on a fatal error. */
  get finished(): Promise<void> {
    return this.done;
  }

  /** Graceful stop: stop taking messages, store what was taken, commit it, leave the group. */
  async stop(): Promise<void> {
    if (this.stopping) return this.done.catch(() => undefined);
    this.stopping = true;
    this.insert.stopping = true;
    this.changes.stop();
    // Pause rather than stop: kafkajs cannot commit once the consumer is stopped. A consumer that
    // never ran (it failed to connect or subscribe) has no group to pause.
    if (this.running) {
      try {
        this.consumer?.pause([{ topic: this.topics.trend }, { topic: this.topics.alarm }, { topic: this.topics.element }]);
      } catch (err) {
        this.log.warn(`stopping: could not pause the consumer: ${(err as Error).message}`);
      }
    }
    for (const t of this.timers) clearInterval(t);
    this.ping.stop();
    if (this.fatal === undefined) {
      // Bounded: with ClickHouse hung, what is not stored by then stays uncommitted (read again
      // by the next member); what is done is still committed.
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.config.stopTimeoutMs)));
      const joined = await Promise.race([this.head.join().then(() => 'joined' as const), timedOut]).catch((err: Error) => {
        this.log.warn(`stopping: ${err.message}`);
        return 'failed' as const;
      });
      clearTimeout(timer);
      if (joined === 'timeout')
        this.log.warn(
          `stopping: not everything was stored within ${this.config.stopTimeoutMs} ms; uncommitted from: ${this.commit.positions() || 'nothing in flight'}`,
        );
      await this.commit.join().catch((err: Error) => this.log.warn(`stopping: final commit failed: ${err.message}`));
    } else {
      // Nothing more is stored or committed; let sends already under way end before disconnecting.
      await this.deadLetter.join().catch(() => undefined);
    }
    await this.consumer?.disconnect().catch((err: Error) => this.log.warn(`stopping: consumer disconnect failed: ${err.message}`));
    await this.dlqProducer.disconnect().catch((err: Error) => this.log.warn(`stopping: DLQ producer disconnect failed: ${err.message}`));
    await this.changes.close();
    await this.ch.close().catch(() => undefined);
    await this.cluster?.close().catch(() => undefined);
    this.chunkPool.close();
    this.finish(this.fatal);
    return this.done.catch(() => undefined);
  }

  /**
   * Whether the sink does its job, with the reasons when not (/health answers 503 with them):
   * stopped on a failure, not a member of its consumer group, inserts stalled for
   * `healthStallMs` (ClickHouse down or hanging), ClickHouse not answering its last ping (every
   * `clickhousePingMs`, also while idle), a topic that does not exist, or a re-created topic
   * being read again (until this member committed up to the end its partitions had when the
   * change was noticed). `topology`: the last topic changes noticed, with their time.
   */
  health(now = Date.now()): { healthy: boolean; reasons: string[]; topology: string[] } {
    const reasons: string[] = [];
    if (this.fatal !== undefined) reasons.push(`stopped: ${this.fatal.message}`);
    else if (this.stopping) reasons.push('stopping');
    else if (!this.inGroup) reasons.push(`the consumer is not in group ${this.config.groupId}`);
    const stalled = this.insert.stalled(this.config.healthStallMs, now);
    if (stalled !== undefined) reasons.push(stalled);
    const unreachable = this.ping.reason(now);
    if (unreachable !== undefined) reasons.push(unreachable);
    reasons.push(...this.changes.reasons());
    return { healthy: reasons.length === 0, reasons, topology: this.changes.notes };
  }

  /** Drops expired partitions: on the server, or on every server of the cluster (their failures logged). */
  private async retention(): Promise<Partition[]> {
    if (this.chConn.cluster === undefined) return applyRetention(this.ch, this.db);
    const nodes = await applyClusterRetention(this.chConn, this.chConn.cluster);
    for (const n of nodes) if (n.error !== undefined) this.log.warn(`retention on ${n.url} failed: ${n.error}`);
    return nodes.flatMap((n) => n.dropped);
  }

  /** Bytes held, inserts in flight, and the paused partitions (`topic[partition]`). */
  get state(): { buffered: number; inFlightInserts: number; paused: number; pausedPartitions: string[] } {
    return {
      buffered: this.heldBytes(),
      inFlightInserts: this.insert.inFlight,
      paused: this.paused.size,
      pausedPartitions: [...this.paused.values()].map((p) => `${p.topic}[${p.partition}]`),
    };
  }

  private poll(): void {
    try {
      this.head.poll();
      this.commit.poll(); // messages reach it through their Completion, not through the chain
    } catch (err) {
      this.stopWith(err as Error);
    }
    this.metrics.bufferedBytes.set(this.heldBytes());
    this.resumeIfDrained();
  }

  /** Bytes held for messages not yet done: open batches, inserts in flight, dead letters being sent. */
  private heldBytes(): number {
    return this.batches.bytes() + this.insert.bytes() + this.deadLetter.bytes();
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    this.metrics.lag.set(
      { topic, partition: String(partition) },
      Math.max(0, Number(batch.highWatermark) - 1 - Number(batch.lastOffset())),
    );
    const first = batch.messages[0];
    if (first === undefined) return;
    // After a topic change some batches are dropped unresolved: read again from where the change put the partition.
    const fetchedFrom = (batch as unknown as { fetchedOffset?: string }).fetchedOffset; // kafkajs 2.2.4's Batch keeps it
    if (
      !(await this.changes.beforeBatch(topic, partition, Number(first.offset), fetchedFrom, Number(batch.highWatermark), () =>
        payload.heartbeat(),
      ))
    )
      return;
    for (const message of batch.messages) {
      if (!payload.isRunning() || payload.isStale() || this.stopping || this.fatal !== undefined) return;
      const ref = this.refOf(topic, partition, message);
      if (this.commit.begin(ref)) {
        this.metrics.messages.inc({ topic });
        try {
          this.head.submit(ref);
        } catch (err) {
          this.commit.forget(ref);
          if (!(err instanceof MessageRejected)) {
            this.stopWith(new Error(`${topic}[${partition}]@${message.offset}: ${(err as Error).message}`, { cause: err }));
            return;
          }
          // Backpressure: leave this message and the rest of the batch in Kafka until there is room.
          this.pause(topic, partition, err.lanes);
          return;
        }
      }
      payload.resolveOffset(message.offset);
      await payload.heartbeat();
    }
  }

  /**
   * A consumed message as the steps carry it, its bytes copied out of the fetch response. Built
   * here, not in eachBatch: a closure created there (the Completion's) would share eachBatch's
   * scope, which holds `payload` — kafkajs' batch and its whole fetch response (up to
   * STAAS_SINK_FETCH_MAX_BYTES) — and keep it alive until the message is stored. A replay of the
   * stack's topics retained five such responses (40 MiB) beyond the accounted cap that way.
   */
  private refOf(topic: string, partition: number, message: KafkaMessage): MessageRef {
    const ref: MessageRef = {
      topic,
      partition,
      offset: message.offset,
      message: detach(message),
      completion: new Completion(() => this.commit.submit(ref)),
      generation: this.commit.currentGeneration,
    };
    return ref;
  }

  private pause(topic: string, partition: number, lanes?: readonly number[]): void {
    const key = `${topic}:${partition}`;
    if (this.paused.has(key)) return;
    this.paused.set(key, { topic, partition, lanes });
    this.consumer?.pause([{ topic, partitions: [partition] }]);
    this.metrics.pausedPartitions.set(this.paused.size);
  }

  /**
   * Resumes the paused partitions that can move again: those a full shard paused when that shard
   * has room (the others' room does not help them), the others when no step is full.
   */
  private resumeIfDrained(): void {
    if (this.paused.size === 0 || this.deadLetter.full || this.stopping) return;
    const stepsHaveRoom = !this.insert.full && !this.batches.full;
    for (const [key, p] of this.paused) {
      const room = p.lanes === undefined ? stepsHaveRoom : p.lanes.every((l) => this.batches.laneHasRoom(l) && !this.insert.laneFull(l));
      if (!room) continue;
      this.consumer?.resume([{ topic: p.topic, partitions: [p.partition] }]);
      this.paused.delete(key);
    }
    this.metrics.pausedPartitions.set(this.paused.size);
  }

  /**
   * Stops on a failure no message caused (ClickHouse, Kafka, the DLQ guard). The log line names
   * where each partition stands: the first message not yet stored (nothing from there on is
   * committed), so an operator knows where the sink will resume.
   */
  private stopWith(err: Error): void {
    if (this.fatal !== undefined) return;
    this.fatal = err;
    this.log.error(`stopping: ${err.message} (uncommitted from: ${this.commit.positions() || 'nothing in flight'})`);
    void this.stop();
  }
}
