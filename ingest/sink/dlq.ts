/**
 * The dead-letter topic: the original message bytes, with headers saying where they came from
 * and why they could not be stored. A guard stops the sink when too large a share of recent
 * messages is invalid: a bad deploy should fail loudly, not empty itself into the DLQ.
 */
import type { IHeaders, Producer } from 'kafkajs';

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

export class DeadLetters {
  private readonly window: boolean[] = [];
  private invalid = 0;

  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly limits: { maxRatio: number; minInvalid: number; windowMessages: number },
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

  async send(d: DeadLetter): Promise<void> {
    const original: IHeaders = {};
    for (const [k, v] of Object.entries(d.headers ?? {})) if (v !== undefined) original[`original-${k}`] = v;
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: [
        {
          key: d.key,
          value: d.value,
          headers: {
            ...original,
            'dlq-source-topic': d.topic,
            'dlq-source-partition': String(d.partition),
            'dlq-source-offset': d.offset,
            'dlq-reason': d.reason,
            'dlq-detail': d.detail.slice(0, 4000),
            'dlq-time': new Date().toISOString(),
          },
        },
      ],
    });
  }
}
