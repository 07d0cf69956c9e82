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
 * no query result.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { logLevel, type Consumer, type EachBatchPayload, type Kafka, type Producer } from 'kafkajs';
import { register as defaultRegistry, type Registry } from 'prom-client';
import type { Connections } from '../../config/connections.ts';
import { createClickHouse } from '../../storage/client.ts';
import { pruneClearedAlarmTrees } from '../../storage/alarm-active.ts';
import { insertRowBinary } from '../../storage/insert.ts';
import { applyRetention } from '../../storage/retention.ts';
import { ensureSchema } from '../../storage/schema.ts';
import { adminWithin } from '../kafka/admin.ts';
import { createKafka } from '../kafka/client.ts';
import { registerKafkaCodecs } from '../kafka/codecs.ts';
import { TopicIdReader, type TopicState } from '../kafka/topic-ids.ts';
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
import { TopologyTracker, type TopologyChange } from './topology.ts';

/** kafkajs 2.2.4's log line when it resets a position out of range (consumerGroup.js, recoverFromOffsetOutOfRange). */
const OUT_OF_RANGE_LOG = 'Offset out of range, resetting to default offset';
/** Offset commits carry the topic's id ("topic-id:<id>"): a committed offset of an earlier topic of the same name is recognised. */
const TOPIC_ID_METADATA = 'topic-id:';
/** How many topology notes /health keeps. */
const KEPT_NOTES = 10;

/** A committed offset and the id of the topic it was committed for (when the committer knew it). */
interface Committed {
  offset: number;
  topicId: string | undefined;
}

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
  private readonly insert: Insert;
  private readonly head: Decode;
  private readonly deadLetter: DeadLetter;
  private readonly paused = new Map<string, { topic: string; partition: number }>();
  private readonly timers: NodeJS.Timeout[] = [];
  private fatal: Error | undefined;
  private stopping = false;
  /** consumer.run() was called: only then may it be paused (kafkajs throws before). */
  private running = false;
  /** Whether the consumer is a member of its group now (kafkajs group events). */
  private inGroup = false;
  private readonly done: Promise<void>;
  private finish!: (err?: Error) => void;
  /** Topic ids and partition counts, read every `metadataRefreshMs`. */
  private readonly ids: TopicIdReader;
  private readonly tracker = new TopologyTracker();
  private watching = false;
  private idsFailing = false;
  /** This member's partitions per topic (the last group join). */
  private assignment: Record<string, number[]> = {};
  /**
   * The group's committed offsets as last known ("topic:partition"): read before joining and at
   * each join, and this member's own commits. Where an offset reset came from (kafkajs commits
   * its reset position itself, so a read racing it finds nothing), and for which topic id.
   */
  private readonly lastCommitted = new Map<string, Committed>();
  /** The read of committed offsets started at the last join. */
  private joinOffsets: Promise<void> = Promise.resolve();
  /** Partitions sought back to the start of a re-created topic ("topic:partition" → offset sought). */
  private readonly seekTargets = new Map<string, number>();
  /** Partitions whose position kafkajs reset (out of range), with where they stood, until their next batch says where they went. */
  private readonly outOfRange = new Map<string, number | undefined>();
  /** Re-created topics being read again: until each partition is committed up to its end at detection, /health says so. */
  private readonly recovering = new Map<string, { what: string; targets: Map<number, number> }>();
  /** Whether ClickHouse answers, also while the sink is idle. */
  private readonly ping: ClickHousePing;
  /** Ends the wait for missing topics at once when stop() is called. */
  private wake: (() => void) | undefined;
  /** The last topology changes, for /health. */
  private readonly notes: string[] = [];

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
    hooks: KafkaHooks,
  ) {
    this.ids = new TopicIdReader(kafka);
    this.ping = new ClickHousePing(ch, config.clickhousePingMs, log);
    hooks.outOfRange = (topic, partition) => this.outOfRange.set(`${topic}:${partition}`, this.commit.position(topic, partition));
    this.done = new Promise((resolve, reject) => (this.finish = (err) => (err === undefined ? resolve() : reject(err))));
    void this.done.catch(() => undefined);
    this.commit = new CommitOffsets(
      async (offsets) => {
        const withIds = offsets.map((o) => ({ ...o, topicId: this.tracker.id(o.topic) }));
        await this.consumer?.commitOffsets(
          withIds.map(({ topicId, ...o }) => ({ ...o, metadata: topicId === undefined ? null : `${TOPIC_ID_METADATA}${topicId}` })),
        );
        for (const o of withIds) this.lastCommitted.set(`${o.topic}:${o.partition}`, { offset: Number(o.offset), topicId: o.topicId });
      },
      config.commitIntervalMs,
      metrics,
      (err) => log.warn(`commit failed: ${err.message}`),
    );
    this.deadLetter = new DeadLetter(deadLetters, metrics, (m) => log.warn(m));
    this.insert = new Insert(
      (table, columns, body, queryId) => insertRowBinary(this.ch, db, table, columns, body, { queryId }),
      config.maxInFlightInserts,
      this.deadLetter,
      metrics,
      log,
      () => this.resumeIfDrained(),
    );
    this.batches = new TableBatches(
      { rows: config.batchRows, bytes: config.batchBytes, ageMs: config.batchAgeMs, maxBufferedBytes: config.maxBufferedBytes },
      this.insert,
      () => this.insert.bytes,
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
    await ensureSchema(ch, conn.clickhouse.database);
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
      hooks,
    );
  }

  /**
   * Joins the group and consumes until stop(); `finished` tells how it ended. A topic that does
   * not exist yet is logged once and waited for (looked up every `metadataRefreshMs`).
   */
  async start(): Promise<void> {
    await this.watchTopology();
    while (this.tracker.missing.length > 0 && !this.stopping) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.config.metadataRefreshMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
      if (!this.stopping) await this.watchTopology();
    }
    if (this.stopping) return;
    await this.readCommitted();
    const consumer = this.kafka.consumer({
      groupId: this.config.groupId,
      sessionTimeout: this.config.sessionTimeoutMs,
      heartbeatInterval: Math.max(100, Math.floor(this.config.sessionTimeoutMs / 3)),
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
      this.assignment = e.payload.memberAssignment;
      this.seekTargets.clear();
      this.joinOffsets = this.readCommitted();
      void this.checkCommittedTopicIds();
      const generation = this.commit.newGeneration();
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
    this.timers.push(setInterval(() => void this.watchTopology(), this.config.metadataRefreshMs));
    this.ping.start();
    if (this.config.retentionIntervalMs > 0) {
      const retention = () =>
        void applyRetention(this.ch, this.db).then(
          (dropped) =>
            dropped.length > 0 && this.log.info(`retention dropped ${dropped.map((p) => `${p.table} ${p.partition}`).join(', ')}`),
          (err: Error) => this.log.warn(`retention failed: ${err.message}`),
        );
      // Cleared alarm trees leave alarm_active for good (one mutation at a time; see storage/alarm-active.ts).
      let pruning = false;
      const prune = () => {
        if (pruning) return;
        pruning = true;
        void pruneClearedAlarmTrees(this.ch, this.db)
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
    this.wake?.();
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
    await this.ids.close();
    await this.ch.close().catch(() => undefined);
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
    for (const topic of this.tracker.missing) reasons.push(`topic ${topic} does not exist`);
    for (const [topic, r] of this.recovering) {
      const behind: string[] = [];
      for (const [partition, end] of r.targets) {
        const committed = this.commit.committed(topic, partition) ?? 0;
        if (!(this.assignment[topic] ?? []).includes(partition) || committed >= end) r.targets.delete(partition);
        else behind.push(`[${partition}] committed ${committed} of ${end}`);
      }
      if (behind.length === 0) this.recovering.delete(topic);
      else reasons.push(`${r.what}: reading it again from the start, ${behind.join(', ')}`);
    }
    return { healthy: reasons.length === 0, reasons, topology: [...this.notes] };
  }

  get state(): { buffered: number; inFlightInserts: number; paused: number } {
    return { buffered: this.batches.bytes + this.insert.bytes, inFlightInserts: this.insert.inFlight, paused: this.paused.size };
  }

  private poll(): void {
    try {
      this.head.poll();
      this.commit.poll(); // messages reach it through their Completion, not through the chain
    } catch (err) {
      this.stopWith(err as Error);
    }
    this.metrics.bufferedBytes.set(this.batches.bytes + this.insert.bytes);
    this.resumeIfDrained();
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    this.metrics.lag.set(
      { topic, partition: String(partition) },
      Math.max(0, Number(batch.highWatermark) - 1 - Number(batch.lastOffset())),
    );
    const key = `${topic}:${partition}`;
    const first = batch.messages[0];
    if (first === undefined) return;
    if (this.outOfRange.has(key)) {
      const from = this.outOfRange.get(key);
      this.outOfRange.delete(key);
      this.seekTargets.delete(key); // kafkajs's reset supersedes a seek of ours
      await this.reportOffsetReset(topic, partition, from, Number(first.offset), Number(batch.highWatermark));
    }
    const target = this.seekTargets.get(key);
    if (target !== undefined) {
      // Sought to the start of a re-created topic: a batch fetched before the seek is dropped
      // unresolved (read again from the start); the first one fetched from there starts the
      // partition's commit record again. kafkajs 2.2.4's Batch keeps the offset it fetched from.
      const fetchedFrom = (batch as unknown as { fetchedOffset?: string }).fetchedOffset;
      if (fetchedFrom !== String(target) && Number(first.offset) > target) return;
      this.seekTargets.delete(key);
      this.commit.reset(topic, partition, Number(first.offset));
    }
    for (const message of batch.messages) {
      if (!payload.isRunning() || payload.isStale() || this.stopping || this.fatal !== undefined) return;
      const ref: MessageRef = {
        topic,
        partition,
        offset: message.offset,
        message: detach(message), // not a view that keeps the whole fetch response alive
        completion: new Completion(() => this.commit.submit(ref)),
        generation: this.commit.currentGeneration,
      };
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
          this.pause(topic, partition);
          return;
        }
      }
      payload.resolveOffset(message.offset);
      await payload.heartbeat();
    }
  }

  private pause(topic: string, partition: number): void {
    const key = `${topic}:${partition}`;
    if (this.paused.has(key)) return;
    this.paused.set(key, { topic, partition });
    this.consumer?.pause([{ topic, partitions: [partition] }]);
    this.metrics.pausedPartitions.set(this.paused.size);
  }

  private resumeIfDrained(): void {
    if (this.paused.size === 0 || this.insert.full || this.deadLetter.full || this.batches.full || this.stopping) return;
    for (const { topic, partition } of this.paused.values()) this.consumer?.resume([{ topic, partitions: [partition] }]);
    this.paused.clear();
    this.metrics.pausedPartitions.set(0);
  }

  /** Reads the topics' ids and partition counts and acts on what changed (one look at a time; failures are logged once per streak). */
  private async watchTopology(): Promise<void> {
    if (this.watching) return;
    this.watching = true;
    try {
      let states: Map<string, TopicState>;
      try {
        states = await this.ids.read([this.topics.trend, this.topics.alarm, this.topics.element]);
      } catch (err) {
        if (!this.idsFailing)
          this.log.warn(
            `cannot read the topics' ids: ${(err as Error).message} (trying again every ${this.config.metadataRefreshMs} ms; meanwhile a re-created topic is noticed only when its offsets go back)`,
          );
        this.idsFailing = true;
        return;
      }
      this.idsFailing = false;
      for (const change of this.tracker.observe(states)) await this.onTopologyChange(change);
    } finally {
      this.watching = false;
    }
  }

  private async onTopologyChange(change: TopologyChange): Promise<void> {
    const every = `every ${this.config.metadataRefreshMs / 1000} s`;
    switch (change.kind) {
      case 'missing':
        return this.noteTopology('warn', `topic ${change.topic} does not exist: waiting for it to be created (looking ${every})`);
      case 'deleted':
        return this.noteTopology('warn', `topic ${change.topic} (id ${change.id}) was deleted: waiting for it to be created again`);
      case 'created':
        return this.noteTopology('info', `topic ${change.topic} exists now (id ${change.id})`);
      case 'partitions':
        return this.noteTopology(
          'info',
          `topic ${change.topic} has ${change.to} partitions now (was ${change.from}); the group takes them on at its next rebalance`,
        );
      case 'recreated': {
        const what = `topic ${change.topic} was re-created (topic id ${change.oldId} -> ${change.newId})`;
        this.metrics.topicRecreated.inc({ topic: change.topic, detected_by: 'topic-id' });
        await this.readTopicAgain(change.topic, what);
      }
    }
  }

  /**
   * A topic was deleted and created again: this member's partitions of it are read from their
   * start (its low watermark), and that start is committed at the next commit, so that a restart
   * resumes there too; what was begun of the old topic changes no committed offset.
   */
  private async readTopicAgain(topic: string, what: string, partitions = this.assignment[topic] ?? []): Promise<void> {
    const ends = (await adminWithin(this.kafka, 10_000, (a) => a.fetchTopicOffsets(topic))) ?? [];
    const stood: string[] = [];
    const holds: string[] = [];
    const targets = new Map<number, number>();
    for (const partition of partitions) {
      const end = ends.find((e) => e.partition === partition);
      const low = end === undefined ? 0 : Number(end.low);
      stood.push(`[${partition}]@${this.commit.position(topic, partition) ?? 'none'}`);
      holds.push(`[${partition}] ${low}..${end?.high ?? '?'}`);
      this.commit.reset(topic, partition, low);
      this.lastCommitted.delete(`${topic}:${partition}`);
      this.seekTargets.set(`${topic}:${partition}`, low);
      try {
        this.consumer?.seek({ topic, partition, offset: String(low) });
      } catch (err) {
        this.log.warn(`cannot seek ${topic}[${partition}] to ${low}: ${(err as Error).message}`);
      }
      if (end !== undefined && Number(end.high) > low) targets.set(partition, Number(end.high));
    }
    this.noteTopology(
      'error',
      `${what}: reading it again from the start (${holds.join(', ') || 'no partition assigned here'}); this member's partitions stood at ${stood.join(', ') || 'none'}`,
    );
    if (targets.size > 0) this.recovering.set(topic, { what, targets });
  }

  /**
   * kafkajs reset a partition's position that was out of range to the earliest offset. Forward
   * (the messages were removed by retention): logs and counts what was skipped. Backward (past
   * the end of the partition: the topic was re-created or truncated): reads from there again.
   */
  private async reportOffsetReset(topic: string, partition: number, from: number | undefined, to: number, end: number): Promise<void> {
    await this.joinOffsets;
    from ??= this.lastCommitted.get(`${topic}:${partition}`)?.offset;
    this.metrics.offsetResets.inc({ topic, partition: String(partition) });
    if (from === undefined) {
      this.noteTopology('warn', `offset reset: ${topic}[${partition}] to ${to} (out of range; where it stood is unknown)`);
    } else if (to >= from) {
      this.metrics.offsetResetSkipped.inc({ topic, partition: String(partition) }, to - from);
      this.noteTopology(
        'warn',
        `offset reset: ${topic}[${partition}] from ${from} to ${to}: ${to - from} messages skipped (no longer in Kafka, e.g. removed by retention)`,
      );
    } else {
      const what = `${topic}[${partition}] went back from offset ${from} to ${to} (the topic was re-created or truncated)`;
      this.metrics.topicRecreated.inc({ topic, detected_by: 'offsets' });
      this.commit.reset(topic, partition, to);
      this.noteTopology('error', `${what}: reading it again from ${to}`);
      if (end > to) this.recovering.set(topic, { what, targets: new Map([[partition, end]]) });
    }
  }

  private noteTopology(level: 'info' | 'warn' | 'error', line: string): void {
    this.log[level](line);
    this.notes.push(`${new Date().toISOString()} ${line}`);
    if (this.notes.length > KEPT_NOTES) this.notes.shift();
  }

  /** Reads the group's committed offsets of the sink's topics into `lastCommitted` (unchanged when unreadable). */
  private async readCommitted(): Promise<void> {
    const topics = [this.topics.trend, this.topics.alarm, this.topics.element];
    const got = await adminWithin(this.kafka, 10_000, (a) => a.fetchOffsets({ groupId: this.config.groupId, topics }));
    for (const t of got ?? [])
      for (const p of t.partitions) {
        const key = `${t.topic}:${p.partition}`;
        if (Number(p.offset) === -1) this.lastCommitted.delete(key); // nothing committed (e.g. removed with a deleted topic)
        if (Number(p.offset) < 0) continue; // kafkajs's own reset marker (-2: earliest): keep what was known
        const topicId = p.metadata?.startsWith(TOPIC_ID_METADATA) === true ? p.metadata.slice(TOPIC_ID_METADATA.length) : undefined;
        this.lastCommitted.set(key, { offset: Number(p.offset), topicId });
      }
  }

  /**
   * After a join: a partition whose committed offset was committed for another topic id than the
   * topic has now (it was re-created while no member read it) is read from the start.
   */
  private async checkCommittedTopicIds(): Promise<void> {
    await this.joinOffsets;
    const committed = this.lastCommitted;
    for (const [topic, partitions] of Object.entries(this.assignment)) {
      const now = this.tracker.id(topic);
      const stale = partitions.filter((p) => {
        const c = committed.get(`${topic}:${p}`);
        return now !== undefined && c?.topicId !== undefined && c.topicId !== now;
      });
      if (stale.length === 0) continue;
      const old = committed.get(`${topic}:${stale[0]}`)!.topicId!;
      this.metrics.topicRecreated.inc({ topic, detected_by: 'committed-topic-id' });
      await this.readTopicAgain(topic, `topic ${topic} was re-created (topic id ${old} -> ${now}, seen in the committed offsets)`, stale);
    }
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
