/**
 * How large a batch each topic takes. A broker refuses a message whose record batch exceeds the
 * topic's `max.message.bytes` (which defaults to the broker's `message.max.bytes`, 1,048,588 in
 * Kafka's defaults and on managed services), so batches seal below it: the limit is read from
 * the topic's configuration (kafkajs `describeConfigs`), less room for Kafka's framing of the
 * value (record batch header 61 bytes, record header, key and our two headers).
 */
import kafkajs, { type Kafka } from 'kafkajs';
import { adminWithin } from '../kafka/admin.ts';

// A CommonJS export that Node's ESM loader does not detect by name.
const { ConfigResourceTypes } = kafkajs;

/** Kafka's default `max.message.bytes`: assumed until a topic's own value is known. */
export const KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
/** Bytes Kafka adds around one value in a record batch, generously (keys here are ~20 bytes). */
export const KAFKA_FRAMING_BYTES = 512;

export class TopicLimits {
  private readonly maxBytesByTopic = new Map<string, number>();

  constructor(
    private readonly kafka: Kafka,
    private readonly topics: readonly string[],
    /** The configured batch size (STAAS_WRITER_BATCH_BYTES): batches never exceed it either. */
    private readonly configuredBytes: number,
  ) {}

  /** The topic's `max.message.bytes` (Kafka's default until read). */
  maxMessageBytes(topic: string): number {
    return this.maxBytesByTopic.get(topic) ?? KAFKA_DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** Largest Avro container (bytes) to send to `topic`. */
  batchBytes(topic: string): number {
    const max = this.maxBytesByTopic.get(topic) ?? KAFKA_DEFAULT_MAX_MESSAGE_BYTES;
    return Math.min(this.configuredBytes, max - KAFKA_FRAMING_BYTES);
  }

  /** Reads the topics' `max.message.bytes` (bounded wait); keeps what it knew when Kafka does not answer. */
  async refresh(timeoutMs: number): Promise<boolean> {
    const answer = await adminWithin(this.kafka, timeoutMs, (admin) =>
      admin.describeConfigs({
        includeSynonyms: false,
        resources: this.topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['max.message.bytes'] })),
      }),
    );
    if (answer === undefined) return false;
    for (const r of answer.resources) {
      const v = Number(r.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue);
      if (Number.isSafeInteger(v) && v > KAFKA_FRAMING_BYTES) this.maxBytesByTopic.set(r.resourceName, v);
    }
    return true;
  }
}
