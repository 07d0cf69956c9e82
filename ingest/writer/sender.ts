/**
 * Sends sealed batches to Kafka: idempotent producer, acks=all, kafkajs retries, and a timeout
 * of our own. After any failure the producer is replaced: a new producer id means a batch we
 * send again can never be mistaken by the broker for a duplicate of one it already has (that
 * would drop it silently); the cost is a possible duplicate, which storage collapses.
 */
import type { Kafka, Producer } from 'kafkajs';
import { compressionType, registerKafkaCodecs, type KafkaCompression } from '../kafka/codecs.ts';
import { HEADER_COUNT, HEADER_TYPE } from '../kafka/message.ts';
import type { SealedBatch } from './sealed-batch.ts';

export class SendTimeoutError extends Error {}
export class PartitionNotAcknowledgedError extends Error {}

export class KafkaSender {
  private producer: Promise<Producer> | undefined;

  private readonly compression: number;

  constructor(
    private readonly kafka: Kafka,
    private readonly timeoutMs: number,
    /** Kafka-level compression of each record batch ('none' by default). */
    compression: KafkaCompression = 'none',
  ) {
    registerKafkaCodecs();
    this.compression = compressionType(compression);
  }

  /** Sends one batch to `partition` (the batch's own, or where it must go now). */
  async send(batch: SealedBatch, partition = batch.partition): Promise<void> {
    const producerPromise = (this.producer ??= this.connect());
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SendTimeoutError(`Kafka did not acknowledge within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      const acks = await Promise.race([
        producerPromise.then((producer) =>
          producer.send({
            topic: batch.topic,
            acks: -1,
            timeout: this.timeoutMs,
            compression: this.compression,
            messages: [
              {
                partition,
                key: batch.key,
                value: batch.value,
                headers: { [HEADER_TYPE]: batch.type, [HEADER_COUNT]: String(batch.count) },
              },
            ],
          }),
        ),
        timeout,
      ]);
      // kafkajs silently skips messages for a partition its metadata does not know (and resolves):
      // only an acknowledgement that names our partition counts.
      if (!acks.some((a) => a.topicName === batch.topic && a.partition === partition && a.errorCode === 0)) {
        throw new PartitionNotAcknowledgedError(`Kafka did not acknowledge ${batch.topic}[${partition}] (answer: ${JSON.stringify(acks)})`);
      }
    } catch (err) {
      this.discard(producerPromise);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    if (p !== undefined) await p.then((producer) => producer.disconnect()).catch(() => undefined);
  }

  private async connect(): Promise<Producer> {
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      // Bounded: when Kafka is gone for good we want the batch back, to spool it.
      retry: { retries: 4, initialRetryTime: 200, maxRetryTime: 3000 },
      allowAutoTopicCreation: false,
    });
    await producer.connect();
    return producer;
  }

  private discard(p: Promise<Producer>): void {
    if (this.producer === p) this.producer = undefined;
    p.then((producer) => producer.disconnect()).catch(() => undefined);
  }
}
