/**
 * The Writer: the library agent-side code calls. Records are validated at the door, batched per
 * topic partition and Avro-encoded as they arrive (one batch = one Kafka message, sealed below the
 * topic's message limit), and leave through the ordered outbox (outbox.ts): sent live with
 * acks=all, or — when sends fail — through the disk spool, drained in order (drain.ts).
 *
 * Backpressure: the promise a write returns is pending while the batches in memory pass
 * `maxMemoryBytes` (Kafka is slower than the caller: as Kafka's producer does with
 * `buffer.memory`) or the spool is at its cap; and every ~20 ms of uninterrupted writing it lets
 * the event loop run once, so a busy caller cannot starve the sends. Callers that await every
 * write are held back; the spool is used only when sends fail or time out.
 *
 * Acknowledged: when `flush()` (or `close()`) resolves, every record accepted before the call is
 * in Kafka (acks=all) or fsynced in the spool, and survives the process being killed or the
 * machine losing power. While a batch is neither (the spool refuses writes and Kafka is down),
 * `flush()` rejects with SpoolUnavailableError.
 */
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { logLevel, type Kafka } from 'kafkajs';
import { register as defaultRegistry, type Registry } from 'prom-client';
import type { KafkaConnection } from '../../config/connections.ts';
import type { AnyRecord, RecordType } from '../../schemas/records.ts';
import {
  toAlarmEvent,
  toElementRow,
  toTrendPoint,
  type AlarmInput,
  type ElementRowInput,
  type TrendInput,
} from '../../schemas/validate.ts';
import { createKafka } from '../kafka/client.ts';
import { topicsFor, type Topics } from '../kafka/topics.ts';
import { Batcher, type OpenBatch } from './batcher.ts';
import type { WriterConfig } from './config.ts';
import { Delivery } from './delivery.ts';
import { Drain } from './drain.ts';
import { createWriterMetrics, type WriterMetrics } from './metrics.ts';
import { Outbox } from './outbox.ts';
import { PartitionMap } from './partitions.ts';
import { Quarantine } from './quarantine.ts';
import type { SealedBatch } from './sealed-batch.ts';
import { KafkaSender } from './sender.ts';
import { Spool } from './spool.ts';
import { TopicLimits } from './topic-limits.ts';

export interface WriterLog {
  info(msg: string): void;
  warn(msg: string): void;
}

export interface WriterDeps {
  kafka?: Kafka;
  registry?: Registry;
  log?: WriterLog;
}

/** `flush()` could not make everything durable: batches wait in memory, the spool refuses writes and Kafka does not take them. */
export class SpoolUnavailableError extends Error {
  constructor(
    readonly heldBytes: number,
    override readonly cause: unknown,
  ) {
    super(
      `${heldBytes} bytes of batches are neither in Kafka nor on disk: the spool refuses writes (${(cause as Error)?.message ?? String(cause)}); they wait in memory and are tried again`,
    );
    this.name = 'SpoolUnavailableError';
  }
}

/**
 * What `trend`, `alarm` and `elementRow` return when the record was taken at once (the usual
 * case): a resolved promise, always this one, so that a caller writing in a tight loop can skip
 * the `await` (a microtask per record) when it gets it, and wait only when held back.
 */
export const ACCEPTED: Promise<void> = Promise.resolve();
/** How often topic metadata (partition counts, message limits) is read again (ms). */
const METADATA_REFRESH_MS = 10_000;
/** Writes between two looks at the clock for the yield (a clock read per write costs more than it gives). */
const YIELD_CHECK_EVERY = 256;
/** Longest stretch (ms) of writes without letting the event loop run. */
const YIELD_AFTER_MS = 20;

export class Writer {
  private closed = false;
  private closing = false;
  private readonly batcher: Batcher;
  private readonly outbox: Outbox;
  private readonly drain: Drain;
  private draining: Promise<void> | undefined;
  private waiters: (() => void)[] = [];
  private progressWaiters: (() => void)[] = [];
  private blockedSince: number | undefined;
  private heldBackMs = 0;
  private readonly timers: NodeJS.Timeout[] = [];
  private writesSinceCheck = 0;
  private loopSeen = performance.now();
  private refreshing = false;
  /** Pause before sending live batches that only memory holds, while the spool refuses writes (ms). */
  private probeDelayMs = 250;

  private constructor(
    private readonly config: WriterConfig,
    private readonly topics: Topics,
    private readonly sender: KafkaSender,
    private readonly partitions: PartitionMap,
    private readonly limits: TopicLimits,
    private readonly spool: Spool,
    private readonly metrics: WriterMetrics,
    private readonly log: WriterLog,
  ) {
    const delivery = new Delivery(sender, partitions, new Quarantine(join(config.spoolDir, 'quarantine')), metrics, log, config.codec);
    this.batcher = new Batcher(
      { records: config.batchRecords, bytes: (type) => limits.batchBytes(topics[type]), lingerMs: config.lingerMs },
      (b) => this.seal(b),
    );
    this.outbox = new Outbox(
      spool,
      { maxInFlight: config.maxInFlight, spoolMaxBytes: config.spoolMaxBytes, onFull: config.onFull },
      {
        deliver: async (b) => {
          await delivery.deliver(b);
          this.probeDelayMs = 250;
        },
        spooling: (err) => {
          this.log.warn(`a send failed (${(err as Error).message}): spooling to disk`);
          this.startDrain();
        },
        spooled: (b) => this.metrics.spooled.inc({ type: b.type }, b.count),
        dropped: (b) => this.metrics.dropped.inc({ type: b.type }, b.count),
        spoolFailed: (err) => {
          this.metrics.spoolWriteFailures.inc();
          this.log.warn(`the spool refuses writes (${(err as Error).message}): batches wait in memory and writes are held back`);
        },
        progress: () => this.progress(),
      },
    );
    this.drain = new Drain({
      spool,
      deliver: (e) => delivery.deliver(e),
      beforeSend: async () => {
        // Started while Kafka was down: learn the real partition counts as soon as it answers.
        if (!this.partitions.confirmed) await this.partitions.refresh(2000);
      },
      bytesPerSecond: config.drainBytesPerSecond,
      stopped: () => this.closed,
      advanced: () => this.progress(),
      log,
    });
    this.timers.push(setInterval(() => this.batcher.sealExpired(), Math.max(1, Math.floor(config.lingerMs / 2))));
    this.timers.push(setInterval(() => this.refreshMetadata(), METADATA_REFRESH_MS));
    this.timers.push(
      setInterval(() => {
        // A failure is reported by the next flush(), which syncs again (nothing is marked durable).
        this.spool.sync().catch((err: Error) => this.log.warn(`spool fsync failed: ${err.message}`));
      }, config.fsyncIntervalMs),
    );
    for (const t of this.timers) t.unref();
    this.progress();
    if (!spool.isEmpty) {
      this.log.info(`spool holds ${spool.bytes} bytes from an earlier run: draining it first`);
      this.outbox.enterSpooling();
      this.startDrain();
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
    const names = [topics.trend, topics.alarm, topics.element];
    const limits = new TopicLimits(kafka, names, config.batchBytes);
    // Both wait up to 5 s when Kafka is down: side by side, not one after the other.
    const [partitions] = await Promise.all([
      PartitionMap.load(kafka, names, config.spoolDir, config.defaultPartitions, 5000, config.partitionGroups),
      limits.refresh(5000),
    ]);
    return new Writer(
      config,
      topics,
      new KafkaSender(kafka, config.sendTimeoutMs, config.kafkaCompression),
      partitions,
      limits,
      spool,
      metrics,
      log,
    );
  }

  /**
   * Accepts one trend point. Throws RecordValidationError at once for a bad record, and
   * RecordTooLargeError for one that alone exceeds its topic's message limit. The promise is
   * pending while the Writer holds the caller back.
   */
  trend(input: TrendInput): Promise<void> {
    return this.accept('trend', toTrendPoint(input));
  }

  alarm(input: AlarmInput): Promise<void> {
    return this.accept('alarm', toAlarmEvent(input));
  }

  elementRow(input: ElementRowInput): Promise<void> {
    return this.accept('element', toElementRow(input));
  }

  /**
   * Delivers or spools (fsynced) everything accepted so far. Rejects with SpoolUnavailableError
   * while batches can be neither sent nor spooled, and with the fsync error when the spool could
   * not be synced; the data stays held, and a later flush() tries again.
   */
  async flush(): Promise<void> {
    this.batcher.sealAll();
    while (!this.outbox.empty) {
      if (this.outbox.mode === 'spooling' && this.outbox.spoolFailure !== undefined)
        throw new SpoolUnavailableError(this.outbox.memoryBytes, this.outbox.spoolFailure);
      await new Promise<void>((resolve) => this.progressWaiters.push(resolve));
    }
    await this.spool.sync();
  }

  /**
   * Flushes, then waits until the spool is empty too (everything accepted is in Kafka), for at
   * most `timeoutMs`. Resolves false if Kafka did not take it all in time.
   */
  async delivered(timeoutMs: number): Promise<boolean> {
    await this.flush();
    const deadline = Date.now() + timeoutMs;
    while (this.outbox.mode !== 'live' || !this.spool.isEmpty || !this.outbox.empty) {
      if (Date.now() > deadline || this.closed) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return true;
  }

  /** Flushes, then stops. What is still in the spool is sent by the next Writer on this spool. */
  async close(): Promise<void> {
    if (this.closed) return;
    // No writes from here on: one accepted during the flush below could be left in an open batch.
    this.closing = true;
    await this.flush();
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.outbox.close();
    this.drain.interrupt();
    await this.draining;
    await this.sender.close();
    await this.spool.close();
    for (const w of this.waiters.splice(0)) w();
  }

  /**
   * `memoryBytes`: batches held in memory (open and sealed); `blocked`: a write is being held
   * back now; `heldBackMs`: how long writes were held back in all (ms), the current wait included.
   */
  get state(): { mode: 'live' | 'spooling'; spoolBytes: number; memoryBytes: number; blocked: boolean; heldBackMs: number } {
    return {
      mode: this.outbox.mode,
      spoolBytes: this.spool.bytes,
      memoryBytes: this.outbox.memoryBytes + this.batcher.bytes,
      blocked: this.blockedSince !== undefined,
      heldBackMs: this.heldBackMs + (this.blockedSince === undefined ? 0 : Date.now() - this.blockedSince),
    };
  }

  private accept(type: RecordType, record: AnyRecord): Promise<void> {
    if (this.closing) throw new Error(this.closed ? 'the writer is closed' : 'the writer is closing');
    const partition = this.partitions.partitionOf(this.topics[type], record.dmsId, record.dmaId, record.elementId);
    this.batcher.add(type, partition, record);
    if (this.overBudget()) return this.waitForRoom();
    if (++this.writesSinceCheck >= YIELD_CHECK_EVERY) {
      this.writesSinceCheck = 0;
      if (performance.now() - this.loopSeen > YIELD_AFTER_MS)
        return new Promise((resolve) =>
          setImmediate(() => {
            this.loopSeen = performance.now();
            resolve();
          }),
        );
    }
    return ACCEPTED;
  }

  /** Whether callers must wait: batches in memory over the budget, or the spool at its cap ('block'). */
  private overBudget(): boolean {
    return (
      this.outbox.memoryBytes + this.batcher.bytes > this.config.maxMemoryBytes ||
      (this.config.onFull === 'block' && this.spool.bytes >= this.config.spoolMaxBytes)
    );
  }

  private waitForRoom(): Promise<void> {
    this.blockedSince ??= Date.now();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private progress(): void {
    this.metrics.spoolBytes.set(this.spool.bytes);
    this.metrics.spoolSegments.set(this.spool.segmentCount);
    this.metrics.memoryBytes.set(this.outbox.memoryBytes + this.batcher.bytes);
    for (const w of this.progressWaiters.splice(0)) w();
    if (this.waiters.length === 0 || this.overBudget()) return;
    if (this.blockedSince !== undefined) {
      this.heldBackMs += Date.now() - this.blockedSince;
      this.metrics.backpressureSeconds.inc((Date.now() - this.blockedSince) / 1000);
    }
    this.blockedSince = undefined;
    this.loopSeen = performance.now();
    for (const w of this.waiters.splice(0)) w();
  }

  private seal(open: OpenBatch): void {
    const value = open.body.seal(this.config.codec);
    const batch: SealedBatch = {
      type: open.type,
      topic: this.topics[open.type],
      partition: open.partition,
      key: open.key,
      count: open.body.count,
      value,
    };
    // Counted per batch, not per record: a labelled counter increment per record costs ~3% of throughput.
    this.metrics.accepted.inc({ type: open.type }, batch.count);
    this.metrics.batchRecords.observe(batch.count);
    this.metrics.batchBytes.observe(value.length);
    this.outbox.push(batch);
  }

  private startDrain(): void {
    if (this.draining !== undefined || this.closed) return;
    const run = (async () => {
      while (await this.drain.run()) {
        if (this.outbox.spoolFailure !== undefined && this.outbox.memoryBytes > 0) {
          // Batches wait only in memory (the spool refuses them): whether Kafka is back is known
          // only by sending them live. Try that after a pause that grows while tries fail.
          await this.drain.pause(this.probeDelayMs);
          this.probeDelayMs = Math.min(this.probeDelayMs * 2, 10_000);
          if (this.closed) return;
        }
        // Checked with no await between the check and the switch: nothing can join the spool in between.
        if (this.spool.isEmpty) {
          // Cleared first: a live send that fails right after the switch must be able to start the next drain.
          this.draining = undefined;
          this.outbox.resumeLive();
          this.log.info('spool drained: sending live again');
          return;
        }
      }
    })();
    const handled = run.then(
      () => undefined,
      (err: unknown) => this.log.warn(`the drain stopped (${(err as Error).message}); starting it again`),
    );
    this.draining = handled;
    void handled.finally(() => {
      if (this.draining === handled) this.draining = undefined;
      // Still spooling (the drain failed, or a send failed as it finished): a drain must run.
      if (!this.closed && this.outbox.mode === 'spooling') setTimeout(() => this.startDrain(), 100).unref();
    });
  }

  /**
   * Partition counts and message limits, again. Only while sending live: while Kafka does not
   * answer, each try would leave an admin client retrying its connection (memory grew ~30 MiB
   * over a long outage); the drain learns the partition counts once Kafka answers again.
   */
  private refreshMetadata(): void {
    if (this.refreshing || this.closed || this.outbox.mode !== 'live') return;
    this.refreshing = true;
    void Promise.all([this.partitions.refresh(5000), this.limits.refresh(5000)]).finally(() => (this.refreshing = false));
  }
}
