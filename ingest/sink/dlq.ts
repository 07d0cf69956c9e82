/**
 * The dead-letter topic: the original message bytes, with headers saying where they came from
 * and why they could not be stored. A guard stops the sink when too large a share of recent
 * messages is invalid: a bad deploy should fail loudly, not empty itself into the DLQ.
 *
 * A copy that would not fit the DLQ topic's `max.message.bytes` (a bad message close to the
 * source topic's limit, plus our headers) is truncated instead of failing the send: the reason
 * and source coordinates are always kept, the original value is cut (then, if still needed, the
 * original headers dropped and the key cut), and `dlq-truncated` / `dlq-original-bytes` say so.
 * The full original stays readable at its source coordinates until the source's retention ends.
 */
import type { IHeaders, Producer } from 'kafkajs';
import { classifySendError } from '../writer/delivery-errors.ts';
import { KAFKA_DEFAULT_MAX_MESSAGE_BYTES, KAFKA_FRAMING_BYTES } from '../writer/topic-limits.ts';

export interface DeadLetter {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders | undefined;
  reason: string;
  detail: string;
}

export class DlqRateExceeded extends Error {}

/** One DLQ record as sent: what is left of the original and the headers. */
interface DlqRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | string>;
}

const headerBytes = (h: Record<string, Buffer | string>): number =>
  Object.entries(h).reduce((n, [k, v]) => n + Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : v.length) + 10, 0);

/** Bytes Kafka counts for one record: key, value, headers, plus its framing (generously). */
export function dlqRecordBytes(r: DlqRecord): number {
  return KAFKA_FRAMING_BYTES + (r.key?.length ?? 0) + (r.value?.length ?? 0) + headerBytes(r.headers);
}

/**
 * Cuts a DLQ record to fit `maxBytes` (the topic's `max.message.bytes`): the value first, then
 * the original headers, then the key. Our own `dlq-*` headers are always kept.
 */
export function fitDlqRecord(r: DlqRecord, maxBytes: number): DlqRecord {
  if (dlqRecordBytes(r) <= maxBytes) return r;
  const originalBytes = r.value?.length ?? 0;
  const cut: string[] = [];
  const headers: Record<string, Buffer | string> = { ...r.headers, 'dlq-truncated': '', 'dlq-original-bytes': String(originalBytes) };
  let key = r.key;
  let value = r.value;
  const over = () => dlqRecordBytes({ key, value, headers: { ...headers, 'dlq-truncated': 'value,headers,key' } }) - maxBytes;
  if (value !== null && over() > 0) {
    value = value.subarray(0, Math.max(0, value.length - over()));
    cut.push('value');
  }
  if (over() > 0) {
    for (const k of Object.keys(headers)) if (!k.startsWith('dlq-')) delete headers[k];
    cut.push('headers');
  }
  if (key !== null && over() > 0) {
    key = key.subarray(0, Math.max(0, key.length - over()));
    cut.push('key');
  }
  headers['dlq-truncated'] = cut.join(',');
  return { key, value, headers };
}

export class DeadLetters {
  private readonly window: boolean[] = [];
  private invalid = 0;

  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly limits: { maxRatio: number; minInvalid: number; windowMessages: number },
    /** The DLQ topic's `max.message.bytes` (Kafka's default until read from the topic). */
    private readonly maxMessageBytes: number = KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
  ) {}

  /** Counts one consumed message towards the guard window. */
  observe(invalid: boolean): void {
    this.window.push(invalid);
    if (invalid) this.invalid++;
    if (this.window.length > this.limits.windowMessages && this.window.shift() === true) this.invalid--;
    if (invalid && this.invalid >= this.limits.minInvalid && this.invalid / this.window.length > this.limits.maxRatio) {
      throw new DlqRateExceeded(
        `${this.invalid} of the last ${this.window.length} messages were invalid (limit ${Math.round(this.limits.maxRatio * 100)}%): stopping instead of dead-lettering the stream`,
      );
    }
  }

  /**
   * Sends one dead letter (acks=all). A copy the broker still refuses as too large (its limit
   * was not known) is sent once more with the value and original headers cut entirely.
   * Rejects with the send error otherwise.
   */
  async send(d: DeadLetter): Promise<void> {
    const headers: Record<string, Buffer | string> = {};
    for (const [k, v] of Object.entries(d.headers ?? {})) {
      if (v === undefined) continue;
      const first = Array.isArray(v) ? v[0] : v;
      if (first !== undefined) headers[`original-${k}`] = first;
    }
    Object.assign(headers, {
      'dlq-source-topic': d.topic,
      'dlq-source-partition': String(d.partition),
      'dlq-source-offset': d.offset,
      'dlq-reason': d.reason,
      'dlq-detail': d.detail.slice(0, 4000),
      'dlq-time': new Date().toISOString(),
    });
    const record = fitDlqRecord({ key: d.key, value: d.value, headers }, this.maxMessageBytes);
    try {
      await this.sendRecord(record);
    } catch (err) {
      if (classifySendError(err).kind !== 'too-large') throw err;
      await this.sendRecord(fitDlqRecord({ key: d.key, value: d.value, headers }, 0));
    }
  }

  private async sendRecord(r: DlqRecord): Promise<void> {
    await this.producer.send({ topic: this.topic, acks: -1, messages: [{ key: r.key, value: r.value, headers: r.headers }] });
  }
}
