/**
 * Delivers one sealed batch to Kafka, whatever Kafka answers: acknowledged → done; too large →
 * split in two (decoded and re-encoded, halves in order) and each delivered the same way; refused
 * for good, or a single record too large → set aside in the quarantine with the reason (counted,
 * logged) so that it never blocks the batches behind it. Only transient failures reject: the
 * caller spools the batch and tries again later.
 */
import { decodeBatch, encodeBatch, type Codec } from '../../schemas/container.ts';
import type { AnyRecord } from '../../schemas/records.ts';
import { elementKey } from '../kafka/message.ts';
import { classifySendError } from './delivery-errors.ts';
import type { WriterMetrics } from './metrics.ts';
import type { PartitionMap } from './partitions.ts';
import type { Quarantine } from './quarantine.ts';
import type { SealedBatch } from './sealed-batch.ts';
import type { KafkaSender } from './sender.ts';

export interface DeliveryLog {
  warn(msg: string): void;
}

export class Delivery {
  constructor(
    private readonly sender: KafkaSender,
    private readonly partitions: PartitionMap,
    private readonly quarantine: Quarantine,
    private readonly metrics: WriterMetrics,
    private readonly log: DeliveryLog,
    private readonly codec: Codec,
  ) {}

  /** Resolves when Kafka acknowledged the batch (or its halves) or it was quarantined; rejects on a transient failure. */
  async deliver(batch: SealedBatch): Promise<void> {
    const started = process.hrtime.bigint();
    try {
      await this.sender.send(batch, this.partitions.existing(batch.topic, batch.partition));
    } catch (err) {
      const failure = classifySendError(err);
      this.metrics.sendFailures.inc();
      if (failure.kind === 'transient') throw err;
      if (failure.kind === 'too-large' && batch.count > 1) {
        this.metrics.splits.inc({ type: batch.type });
        for (const half of split(batch, this.codec)) await this.deliver(half);
        return;
      }
      const file = this.quarantine.put(batch, failure.reason);
      this.metrics.quarantined.inc({ type: batch.type }, batch.count);
      this.log.warn(
        `Kafka refused ${batch.count} ${batch.type} records for ${batch.topic}[${batch.partition}] for good (${failure.reason}): set aside in ${file}`,
      );
      return;
    }
    this.metrics.sendSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.metrics.sent.inc({ type: batch.type }, batch.count);
  }
}

/** The two halves of a batch, in order, each a complete container of the same codec. */
export function split(batch: SealedBatch, codec: Codec): [SealedBatch, SealedBatch] {
  const { records } = decodeBatch(batch.value, batch.count);
  const middle = Math.ceil(records.length / 2);
  const half = (part: AnyRecord[]): SealedBatch => ({
    ...batch,
    key: elementKey(part[0]!),
    count: part.length,
    value: encodeBatch(batch.type, part as never, { codec }),
  });
  return [half(records.slice(0, middle)), half(records.slice(middle))];
}
