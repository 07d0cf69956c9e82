/**
 * The Writer: the library agent-side code calls. Records are validated at the door, batched per
 * topic partition, Avro-encoded (one batch = one Kafka message) and sent with acks=all.
 *
 * Two modes. LIVE: sealed batches go to Kafka, at most `maxInFlight` at a time and one at a time
 * per partition (order). SPOOLING: entered when a send fails or sealed batches in memory would
 * pass `maxMemoryBytes`; from then on every sealed batch is appended to the disk spool, and a
 * drain loop sends the spool in order at a bounded rate. When the spool is empty, LIVE again.
 * Memory stays bounded in both modes; when the spool reaches its cap, writes wait.
 *
 * Acknowledged: when `flush()` (or `close()`) resolves, every record accepted before the call is
 * in Kafka (acks=all) or fsynced in the spool, and survives the process being killed.
 */
import PQueue from 'p-queue';
import { logLevel, type Kafka } from 'kafkajs';
import { register as defaultRegistry, type Registry } from 'prom-client';
import type { KafkaConnection } from '../../config/connections.ts';
import { encodeBatch } from '../../schemas/container.ts';
import type { AlarmEvent, AnyRecord, ElementRow, RecordType, TrendPoint } from '../../schemas/records.ts';
import { createKafka } from '../kafka/client.ts';
import { elementKey } from '../kafka/message.ts';
import { topicsFor, type Topics } from '../kafka/topics.ts';
import { Batcher, type OpenBatch } from './batcher.ts';
import type { WriterConfig } from './config.ts';
import { createWriterMetrics, type WriterMetrics } from './metrics.ts';
import { PartitionMap } from './partitions.ts';
import type { SealedBatch } from './sealed-batch.ts';
import { KafkaSender } from './sender.ts';
import { Spool } from './spool.ts';
import {
  toAlarmEvent,
  toElementRow,
  toTrendPoint,
  type AlarmInput,
  type ElementRowInput,
  type TrendInput,
} from '../../schemas/validate.ts';

export interface WriterLog {
  info(msg: string): void;
  warn(msg: string): void;
}

export interface WriterDeps {
  kafka?: Kafka;
  registry?: Registry;
  log?: WriterLog;
}

const ACCEPTED: Promise<void> = Promise.resolve();

/** Rough encoded size, for batch byte limits and memory accounting before encoding. */
function estimateBytes(type: RecordType, r: AnyRecord): number {
  if (type === 'trend') {
    const p = r as TrendPoint;
    return 48 + p.index.length + (p.discreteValue?.length ?? 0) + (p.discreteMax?.length ?? 0);
  }
  if (type === 'alarm') {
    const a = r as AlarmEvent;
    return (
      96 +
      a.index.length +
      a.value.length +
      a.displayValue.length +
      (a.comment?.length ?? 0) +
      a.elementName.length +
      a.parameterName.length
    );
  }
  const e = r as ElementRow;
  let bytes = 48 + e.primaryKey.length + e.displayKey.length;
  for (const c of e.columns) bytes += 12 + (typeof c.value === 'string' ? c.value.length : 0);
  return bytes;
}

export class Writer {
  private mode: 'live' | 'spooling' = 'live';
  private closed = false;
  private inFlightBytes = 0;
  private readonly queue: PQueue;
  /** Tail of each partition's send chain: batches of one partition leave one at a time, in order. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly batcher: Batcher;
  private draining: Promise<void> | undefined;
  private waiters: (() => void)[] = [];
  private blockedSince: number | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private drainCredit = 0;
  /** Ends the drain loop's back-off sleep early (close() must not wait out a 10 s back-off). */
  private wakeDrain: (() => void) | undefined;
  private drainCreditAt = Date.now();

  private constructor(
    private readonly config: WriterConfig,
    private readonly topics: Topics,
    private readonly sender: KafkaSender,
    private readonly partitions: PartitionMap,
    private readonly spool: Spool,
    private readonly metrics: WriterMetrics,
    private readonly log: WriterLog,
  ) {
    this.queue = new PQueue({ concurrency: config.maxInFlight });
    this.batcher = new Batcher({ records: config.batchRecords, bytes: config.batchBytes, lingerMs: config.lingerMs }, (b) => this.seal(b));
    this.timers.push(setInterval(() => this.batcher.sealExpired(), Math.max(1, Math.floor(config.lingerMs / 2))));
    // Partitions added to a topic are picked up within five minutes.
    this.timers.push(setInterval(() => void this.partitions.refresh(5000), 300_000));
    this.timers.push(
      setInterval(
        () => void this.spool.sync().catch((err: Error) => this.log.warn(`spool fsync failed: ${err.message}`)),
        config.fsyncIntervalMs,
      ),
    );
    for (const t of this.timers) t.unref();
    this.updateGauges();
    if (!spool.isEmpty) {
      this.log.info(`spool holds ${spool.bytes} bytes from an earlier run: draining it first`);
      this.enterSpooling();
    }
  }

  static async create(config: WriterConfig, kafkaConnection: KafkaConnection, deps: WriterDeps = {}): Promise<Writer> {
    const log = deps.log ?? { info: (m) => console.log(`writer: ${m}`), warn: (m) => console.warn(`writer: ${m}`) };
    const metrics = createWriterMetrics(deps.registry ?? defaultRegistry);
    const kafka = deps.kafka ?? createKafka(kafkaConnection, { logLevel: logLevel.NOTHING, retries: 2 });
    const topics = topicsFor(config.topicPrefix);
    const spool = Spool.open(config.spoolDir, {
      segmentBytes: config.spoolSegmentBytes,
      onDamage: (d) => {
        metrics.spoolDamage.inc();
        metrics.spoolDamagedBytes.inc(d.skippedBytes);
        log.warn(`spool damage in ${d.segment} at byte ${d.offset}: ${d.reason}; skipped ${d.skippedBytes} bytes, kept everything before`);
      },
    });
    const partitions = await PartitionMap.load(
      kafka,
      [topics.trend, topics.alarm, topics.element],
      config.spoolDir,
      config.defaultPartitions,
      5000,
    );
    return new Writer(config, topics, new KafkaSender(kafka, config.sendTimeoutMs), partitions, spool, metrics, log);
  }

  /** Accepts one trend point. Throws RecordValidationError at once for a bad record. */
  trend(input: TrendInput): Promise<void> {
    return this.accept('trend', toTrendPoint(input));
  }

  alarm(input: AlarmInput): Promise<void> {
    return this.accept('alarm', toAlarmEvent(input));
  }

  elementRow(input: ElementRowInput): Promise<void> {
    return this.accept('element', toElementRow(input));
  }

  /** Delivers or spools (fsynced) everything accepted so far. */
  async flush(): Promise<void> {
    this.batcher.sealAll();
    await this.liveIdle();
    await this.spool.sync();
  }

  /**
   * Flushes, then waits until the spool is empty too (everything accepted is in Kafka), for at
   * most `timeoutMs`. Resolves false if Kafka did not take it all in time.
   */
  async delivered(timeoutMs: number): Promise<boolean> {
    await this.flush();
    const deadline = Date.now() + timeoutMs;
    while (this.mode !== 'live' || !this.spool.isEmpty) {
      if (Date.now() > deadline || this.closed) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return true;
  }

  /** Flushes, then stops. What is still in the spool is sent by the next Writer on this spool. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.wakeDrain?.();
    await this.draining;
    await this.sender.close();
    await this.spool.close();
    for (const w of this.waiters.splice(0)) w();
  }

  get state(): { mode: 'live' | 'spooling'; spoolBytes: number; memoryBytes: number; blocked: boolean } {
    return {
      mode: this.mode,
      spoolBytes: this.spool.bytes,
      memoryBytes: this.inFlightBytes + this.batcher.bytes,
      blocked: this.blockedSince !== undefined,
    };
  }

  private accept(type: RecordType, record: AnyRecord): Promise<void> {
    if (this.closed) throw new Error('the writer is closed');
    const partition = this.partitions.partitionOf(this.topics[type], record.dmsId, record.dmaId, record.elementId);
    this.batcher.add(type, partition, record, estimateBytes(type, record));
    if (this.config.onFull === 'block' && this.spool.bytes >= this.config.spoolMaxBytes) return this.waitForRoom();
    return ACCEPTED;
  }

  private waitForRoom(): Promise<void> {
    this.blockedSince ??= Date.now();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private releaseWaiters(): void {
    if (this.waiters.length === 0 || this.spool.bytes >= this.config.spoolMaxBytes) return;
    if (this.blockedSince !== undefined) this.metrics.backpressureSeconds.inc((Date.now() - this.blockedSince) / 1000);
    this.blockedSince = undefined;
    for (const w of this.waiters.splice(0)) w();
  }

  private seal(open: OpenBatch): void {
    const value = encodeBatch(open.type, open.records, { codec: this.config.codec });
    const batch: SealedBatch = {
      type: open.type,
      topic: this.topics[open.type],
      partition: open.partition,
      key: elementKey(open.records[0]!),
      count: open.records.length,
      value,
    };
    // Counted per batch, not per record: a labelled counter increment per record costs ~3% of throughput.
    this.metrics.accepted.inc({ type: open.type }, batch.count);
    this.metrics.batchRecords.observe(batch.count);
    this.metrics.batchBytes.observe(value.length);
    if (this.mode === 'live' && this.inFlightBytes + value.length > this.config.maxMemoryBytes) {
      this.log.warn(`${this.inFlightBytes} bytes waiting for Kafka: spooling to disk`);
      this.enterSpooling();
    }
    if (this.mode === 'spooling') {
      this.toSpool(batch);
      return;
    }
    this.inFlightBytes += value.length;
    this.updateGauges();
    const chainKey = `${batch.topic}:${batch.partition}`;
    const tail = (this.chains.get(chainKey) ?? ACCEPTED).then(() => this.queue.add(() => this.sendLive(batch)));
    this.chains.set(chainKey, tail);
    void tail.finally(() => {
      if (this.chains.get(chainKey) === tail) this.chains.delete(chainKey);
    });
  }

  private async sendLive(batch: SealedBatch): Promise<void> {
    try {
      if (this.mode === 'spooling') {
        this.toSpool(batch); // an earlier batch failed: keep the order by queueing behind it
        return;
      }
      const started = process.hrtime.bigint();
      try {
        await this.sender.send(batch, this.partitions.existing(batch.topic, batch.partition));
        this.metrics.sendSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
        this.metrics.sent.inc({ type: batch.type }, batch.count);
      } catch (err) {
        this.metrics.sendFailures.inc();
        this.log.warn(`send to ${batch.topic}[${batch.partition}] failed (${(err as Error).message}): spooling to disk`);
        this.enterSpooling();
        this.toSpool(batch);
      }
    } finally {
      this.inFlightBytes -= batch.value.length;
      this.updateGauges();
    }
  }

  private toSpool(batch: SealedBatch): void {
    if (this.spool.bytes >= this.config.spoolMaxBytes && this.config.onFull === 'drop') {
      this.metrics.dropped.inc({ type: batch.type }, batch.count);
      return;
    }
    this.spool.append(batch);
    this.metrics.spooled.inc({ type: batch.type }, batch.count);
    this.updateGauges();
  }

  private enterSpooling(): void {
    this.mode = 'spooling';
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  /** Sends the spool in order; returns to LIVE when it is empty. */
  private async drain(): Promise<void> {
    // Live sends still in flight may fail and join the spool: let them settle first.
    await this.liveIdle();
    let backoff = 250;
    while (!this.closed) {
      const entry = this.spool.peek();
      if (entry === undefined) {
        this.mode = 'live';
        this.log.info('spool drained: sending live again');
        this.releaseWaiters();
        return;
      }
      await this.paceDrain(entry.value.length);
      // Started while Kafka was down: learn the real partition counts as soon as it answers.
      if (!this.partitions.confirmed) await this.partitions.refresh(2000);
      try {
        const started = process.hrtime.bigint();
        await this.sender.send(entry, this.partitions.existing(entry.topic, entry.partition));
        this.metrics.sendSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
        this.metrics.sent.inc({ type: entry.type }, entry.count);
        this.spool.advance();
        backoff = 250;
        this.updateGauges();
        this.releaseWaiters();
      } catch (err) {
        this.metrics.sendFailures.inc();
        if (backoff >= 4000) this.log.warn(`Kafka still unavailable (${(err as Error).message}); spool holds ${this.spool.bytes} bytes`);
        await new Promise<void>((resolve) => {
          // Not unref'd: a writer with a backlog to deliver keeps the process alive until close().
          const timer = setTimeout(resolve, backoff);
          this.wakeDrain = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeDrain = undefined;
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  }

  /** Token bucket: the spool drains at most `drainBytesPerSecond`, so a long backlog never floods Kafka or memory. */
  private async paceDrain(bytes: number): Promise<void> {
    const now = Date.now();
    const rate = this.config.drainBytesPerSecond;
    this.drainCredit = Math.min(rate, this.drainCredit + ((now - this.drainCreditAt) / 1000) * rate);
    this.drainCreditAt = now;
    this.drainCredit -= bytes;
    if (this.drainCredit < 0) await new Promise((resolve) => setTimeout(resolve, (-this.drainCredit / rate) * 1000));
  }

  private async liveIdle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all(this.chains.values());
  }

  private updateGauges(): void {
    this.metrics.spoolBytes.set(this.spool.bytes);
    this.metrics.spoolSegments.set(this.spool.segmentCount);
    this.metrics.memoryBytes.set(this.inFlightBytes + this.batcher.bytes);
  }
}
