/**
 * The Sink: a consumer group that stores what the writers send.
 *
 *   consume -> decode + validate (invalid -> DLQ) -> encode RowBinary -> batch per table
 *     -> insert (bounded, retried) -> mark messages done -> commit offsets in order
 *
 * Offsets travel with the data: a table batch remembers which messages fed it, a message is done
 * when every table it fed has been stored (or it went to the DLQ), and a partition's committed
 * offset only moves past messages that are done. When inserts back up, the partitions are paused
 * and the rest of the fetched batch is left to Kafka (re-read after resume): memory stays bounded
 * whatever the backlog. Storage is idempotent (ReplacingMergeTree on natural keys), so a message
 * stored again after a crash changes no query result.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import PQueue from 'p-queue';
import { logLevel, type Consumer, type EachBatchPayload, type Kafka, type KafkaMessage, type Producer } from 'kafkajs';
import { register as defaultRegistry, type Registry } from 'prom-client';
import type { Connections } from '../../config/connections.ts';
import { AvroDecodeError } from '../../schemas/errors.ts';
import { createClickHouse } from '../../storage/client.ts';
import { insertRowBinary } from '../../storage/insert.ts';
import { applyRetention } from '../../storage/retention.ts';
import { ensureSchema, type TableName } from '../../storage/schema.ts';
import { createKafka } from '../kafka/client.ts';
import { readBatchMessage } from '../kafka/message.ts';
import { topicsFor, type Topics } from '../kafka/topics.ts';
import { classifyInsertError } from './clickhouse-errors.ts';
import type { SinkConfig } from './config.ts';
import { DeadLetters, DlqRateExceeded } from './dlq.ts';
import { encodeForTables, type TableEncoder } from './encoders.ts';
import { createSinkMetrics, type SinkMetrics } from './metrics.ts';
import { PartitionProgress } from './offsets.ts';
import { invalidRecords } from './validate.ts';

export interface SinkLog {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

interface MessageRef {
  topic: string;
  partition: number;
  offset: string;
  message: KafkaMessage;
  /** Tables this message still waits for. */
  tablesLeft: number;
  generation: number;
}

interface TableBatch {
  encoder: TableEncoder<never>;
  bodies: Buffer[];
  rows: number;
  bytes: number;
  openedAt: number;
  refs: MessageRef[];
}

export class Sink {
  private consumer: Consumer | undefined;
  private readonly progress = new Map<string, PartitionProgress>();
  private readonly batches = new Map<TableName, TableBatch>();
  private readonly inserts: PQueue;
  private readonly paused = new Map<string, { topic: string; partition: number }>();
  private readonly timers: NodeJS.Timeout[] = [];
  private generation = 0;
  private bufferedBytes = 0;
  private fatal: Error | undefined;
  private stopping = false;
  private readonly done: Promise<void>;
  private finish!: (err?: Error) => void;

  private constructor(
    private readonly config: SinkConfig,
    private readonly kafka: Kafka,
    private readonly ch: ClickHouseClient,
    private readonly db: string,
    private readonly topics: Topics,
    private readonly dlqProducer: Producer,
    private readonly deadLetters: DeadLetters,
    private readonly metrics: SinkMetrics,
    private readonly log: SinkLog,
  ) {
    this.inserts = new PQueue({ concurrency: config.maxInFlightInserts });
    this.done = new Promise((resolve, reject) => (this.finish = (err) => (err === undefined ? resolve() : reject(err))));
    void this.done.catch(() => undefined);
  }

  static async create(config: SinkConfig, conn: Connections, deps: { registry?: Registry; log?: SinkLog } = {}): Promise<Sink> {
    const log = deps.log ?? {
      info: (m) => console.log(`sink: ${m}`),
      warn: (m) => console.warn(`sink: ${m}`),
      error: (m) => console.error(`sink: ${m}`),
    };
    const kafka = createKafka(conn.kafka, { logLevel: logLevel.NOTHING });
    const ch = createClickHouse(conn.clickhouse, { requestTimeoutMs: config.insertTimeoutMs });
    await ensureSchema(ch, conn.clickhouse.database);
    const topics = topicsFor(config.topicPrefix);
    const dlqProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await dlqProducer.connect();
    const deadLetters = new DeadLetters(dlqProducer, topics.dlq, {
      maxRatio: config.dlqMaxRatio,
      minInvalid: config.dlqMinInvalid,
      windowMessages: config.dlqWindowMessages,
    });
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
    );
  }

  /** Joins the group and consumes until stop(); resolves/rejects `finished` when it ends. */
  async start(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: this.config.groupId,
      sessionTimeout: 30_000,
      heartbeatInterval: 3000,
      maxWaitTimeInMs: 100,
      maxBytesPerPartition: 4 * 1024 * 1024,
      maxBytes: 32 * 1024 * 1024,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      // A new assignment: progress of partitions we had is void (another member may own them now).
      this.generation++;
      this.progress.clear();
      this.log.info(`joined group ${this.config.groupId} (generation ${this.generation}): ${JSON.stringify(e.payload.memberAssignment)}`);
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) this.stopWith(new Error(`consumer crashed: ${e.payload.error.message}`));
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [this.topics.trend, this.topics.alarm, this.topics.element], fromBeginning: true });
    this.timers.push(setInterval(() => this.flushAged(), Math.max(10, Math.floor(this.config.batchAgeMs / 2))));
    if (this.config.retentionIntervalMs > 0) {
      const retention = () =>
        void applyRetention(this.ch, this.db).then(
          (dropped) =>
            dropped.length > 0 && this.log.info(`retention dropped ${dropped.map((p) => `${p.table} ${p.partition}`).join(', ')}`),
          (err: Error) => this.log.warn(`retention failed: ${err.message}`),
        );
      retention();
      this.timers.push(setInterval(retention, this.config.retentionIntervalMs));
    }
    this.timers.push(
      setInterval(
        () => void this.commit().catch((err: Error) => this.log.warn(`commit failed: ${err.message}`)),
        this.config.commitIntervalMs,
      ),
    );
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

  /** Graceful stop: stop fetching, store what was consumed, commit it, leave the group. */
  async stop(): Promise<void> {
    if (this.stopping) return this.done.catch(() => undefined);
    this.stopping = true;
    // Pause rather than stop: kafkajs cannot commit once the consumer is stopped.
    this.consumer?.pause([{ topic: this.topics.trend }, { topic: this.topics.alarm }, { topic: this.topics.element }]);
    for (const t of this.timers) clearInterval(t);
    if (this.fatal === undefined) {
      for (const table of [...this.batches.keys()]) this.flushTable(table);
      await this.inserts.onIdle();
      await this.commit().catch((err: Error) => this.log.warn(`final commit failed: ${err.message}`));
    } else {
      this.inserts.clear();
    }
    await this.consumer?.disconnect();
    await this.dlqProducer.disconnect();
    await this.ch.close();
    this.finish(this.fatal);
    return this.done.catch(() => undefined);
  }

  get state(): { buffered: number; inFlightInserts: number; paused: number } {
    return { buffered: this.bufferedBytes, inFlightInserts: this.inserts.size + this.inserts.pending, paused: this.paused.size };
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    this.metrics.lag.set(
      { topic, partition: String(partition) },
      Math.max(0, Number(batch.highWatermark) - 1 - Number(batch.lastOffset())),
    );
    for (const message of batch.messages) {
      if (!payload.isRunning() || payload.isStale() || this.stopping || this.fatal !== undefined) return;
      if (this.backlogged()) {
        // Leave the rest to Kafka: it is fetched again from the last resolved offset after resume.
        this.pause(topic, partition);
        return;
      }
      await this.handle(topic, partition, message);
      payload.resolveOffset(message.offset);
      await payload.heartbeat();
    }
  }

  private backlogged(): boolean {
    return this.inserts.size + this.inserts.pending >= this.config.maxInFlightInserts;
  }

  private pause(topic: string, partition: number): void {
    const key = `${topic}:${partition}`;
    if (this.paused.has(key)) return;
    this.paused.set(key, { topic, partition });
    this.consumer?.pause([{ topic, partitions: [partition] }]);
    this.metrics.pausedPartitions.set(this.paused.size);
  }

  private resumeIfDrained(): void {
    if (this.paused.size === 0 || this.backlogged() || this.stopping) return;
    for (const { topic, partition } of this.paused.values()) this.consumer?.resume([{ topic, partitions: [partition] }]);
    this.paused.clear();
    this.metrics.pausedPartitions.set(0);
  }

  private progressOf(topic: string, partition: number): PartitionProgress {
    const key = `${topic}:${partition}`;
    let p = this.progress.get(key);
    if (p === undefined) this.progress.set(key, (p = new PartitionProgress()));
    return p;
  }

  private async handle(topic: string, partition: number, message: KafkaMessage): Promise<void> {
    this.metrics.messages.inc({ topic });
    const progress = this.progressOf(topic, partition);
    const offset = Number(message.offset);
    try {
      progress.begin(offset);
    } catch {
      // Re-delivered after a seek or rebalance: start this partition's bookkeeping afresh.
      this.progress.delete(`${topic}:${partition}`);
      this.progressOf(topic, partition).begin(offset);
    }
    const ref: MessageRef = { topic, partition, offset: message.offset, message, tablesLeft: 0, generation: this.generation };

    let tables: ReturnType<typeof encodeForTables>;
    try {
      const decoded = readBatchMessage(message.value, message.headers);
      const expectedTopic = this.topics[decoded.type];
      if (expectedTopic !== topic) throw new AvroDecodeError('corrupt', `${decoded.type} records on topic ${topic}`);
      const invalid = invalidRecords(decoded.type, decoded.records);
      if (invalid !== undefined) {
        await this.deadLetter(ref, 'invalid-record', invalid);
        return;
      }
      this.metrics.records.inc({ type: decoded.type }, decoded.records.length);
      tables = encodeForTables(decoded.type, decoded.records);
    } catch (err) {
      if (!(err instanceof AvroDecodeError)) throw err;
      await this.deadLetter(ref, err.failure, err.message);
      return;
    }
    this.deadLetters.observe(false);
    if (tables.length === 0) {
      this.markDone(ref);
      return;
    }
    ref.tablesLeft = tables.length;
    for (const t of tables) {
      const table = t.encoder.table;
      let b = this.batches.get(table);
      if (b === undefined)
        this.batches.set(table, (b = { encoder: t.encoder, bodies: [], rows: 0, bytes: 0, openedAt: Date.now(), refs: [] }));
      b.bodies.push(t.body);
      b.rows += t.rows;
      b.bytes += t.body.length;
      b.refs.push(ref);
      this.bufferedBytes += t.body.length;
      if (b.rows >= this.config.batchRows || b.bytes >= this.config.batchBytes) this.flushTable(table);
    }
    this.metrics.bufferedBytes.set(this.bufferedBytes);
  }

  private async deadLetter(ref: MessageRef, reason: string, detail: string): Promise<void> {
    try {
      this.deadLetters.observe(true);
    } catch (err) {
      if (err instanceof DlqRateExceeded) this.stopWith(err);
      throw err;
    }
    await this.deadLetters.send({ ...ref, key: ref.message.key, value: ref.message.value, headers: ref.message.headers, reason, detail });
    this.metrics.dlq.inc({ reason });
    this.log.warn(`${ref.topic}[${ref.partition}]@${ref.offset} -> DLQ (${reason}): ${detail.slice(0, 300)}`);
    this.markDone(ref);
  }

  private markDone(ref: MessageRef): void {
    if (ref.generation !== this.generation) return; // the partition was reassigned meanwhile
    this.progress.get(`${ref.topic}:${ref.partition}`)?.done(Number(ref.offset));
  }

  private flushAged(): void {
    const now = Date.now();
    for (const [table, b] of this.batches) if (now - b.openedAt >= this.config.batchAgeMs) this.flushTable(table);
  }

  private flushTable(table: TableName): void {
    const b = this.batches.get(table);
    if (b === undefined) return;
    this.batches.delete(table);
    const body = b.bodies.length === 1 ? b.bodies[0]! : Buffer.concat(b.bodies, b.bytes);
    void this.inserts
      .add(() => this.insertWithRetry(b, body))
      .then(
        () => {
          for (const ref of b.refs) if (--ref.tablesLeft === 0) this.markDone(ref);
        },
        (err: Error) => this.stopWith(err),
      )
      .finally(() => {
        this.bufferedBytes -= b.bytes;
        this.metrics.bufferedBytes.set(this.bufferedBytes);
        this.resumeIfDrained();
      });
  }

  /** Inserts one table batch; transient failures are retried until they pass (partitions stay paused meanwhile). */
  private async insertWithRetry(b: TableBatch, body: Buffer): Promise<void> {
    const table = b.encoder.table;
    this.metrics.batchRows.observe({ table }, b.rows);
    this.metrics.batchBytes.observe({ table }, b.bytes);
    let backoff = 250;
    for (let attempt = 1; ; attempt++) {
      const started = process.hrtime.bigint();
      try {
        await insertRowBinary(this.ch, this.db, table, b.encoder.columns, body, { queryId: `staas-sink-${randomUUID()}` });
        this.metrics.insertSeconds.observe({ table }, Number(process.hrtime.bigint() - started) / 1e9);
        this.metrics.rowsInserted.inc({ table }, b.rows);
        if (attempt > 1) this.log.info(`insert into ${table} succeeded after ${attempt} attempts`);
        return;
      } catch (err) {
        const kind = classifyInsertError(err);
        if (kind === 'transient' && !this.stopping) {
          this.metrics.insertRetries.inc({ table });
          if (attempt === 1 || attempt % 10 === 0)
            this.log.warn(`insert into ${table} failed (${(err as Error).message.split('\n')[0]}); retrying`);
          await sleep(backoff);
          backoff = Math.min(backoff * 2, 5000);
          continue;
        }
        if (kind === 'data') {
          // The rows are wrong for the table: dead-letter the messages that fed them.
          const detail = (err as Error).message.split('\n')[0] ?? 'insert rejected';
          for (const ref of b.refs) {
            ref.tablesLeft = 1; // the DLQ entry completes the message
            await this.deadLetter(ref, 'insert-rejected', detail);
          }
          b.refs.length = 0;
          return;
        }
        throw new Error(`insert into ${table} failed: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  private async commit(): Promise<void> {
    const consumer = this.consumer;
    if (consumer === undefined) return;
    const offsets: { topic: string; partition: number; offset: string }[] = [];
    for (const [key, p] of this.progress) {
      const next = p.take();
      if (next === undefined) continue;
      const cut = key.lastIndexOf(':');
      offsets.push({ topic: key.slice(0, cut), partition: Number(key.slice(cut + 1)), offset: String(next) });
    }
    if (offsets.length === 0) return;
    try {
      await consumer.commitOffsets(offsets);
    } catch (err) {
      // Try again at the next commit (a later offset of the same partition supersedes it).
      for (const o of offsets) this.progress.get(`${o.topic}:${o.partition}`)?.restore(Number(o.offset));
      throw err;
    }
    this.metrics.commits.inc();
  }

  private stopWith(err: Error): void {
    if (this.fatal !== undefined) return;
    this.fatal = err;
    this.log.error(`stopping: ${err.message}`);
    void this.stop();
  }
}
