/**
 * Side step for messages that cannot be stored: sends the original bytes with the reason to the
 * DLQ (at most `maxPending` sends at a time), then tells the message's completion, which hands it
 * to the commit step once nothing else of it is pending. The guard in DeadLetters stops the sink
 * when too much of the stream is invalid.
 */
import { messageBytes } from '../detach.ts';
import type { DeadLetters } from '../dlq.ts';
import type { SinkMetrics } from '../metrics.ts';
import { MessageRejected, type MessageRef, type Step } from './step.ts';

export interface Rejected {
  ref: MessageRef;
  reason: string;
  detail: string;
}

export class DeadLetter implements Step<Rejected> {
  private readonly pending = new Set<Promise<void>>();
  private failure: Error | undefined;
  /** Bytes of the messages whose sends are pending (messageBytes). */
  private held = 0;

  constructor(
    private readonly deadLetters: DeadLetters,
    private readonly metrics: SinkMetrics,
    private readonly log: (msg: string) => void,
    private readonly maxPending = 100,
  ) {}

  /** Whether there is room: checked before the decode step commits to a message. */
  get full(): boolean {
    return this.pending.size >= this.maxPending;
  }

  /** Bytes the pending sends keep (their messages), counted in the Sink's memory cap. */
  bytes(): number {
    return this.held;
  }

  submit({ ref, reason, detail }: Rejected): void {
    if (this.full) throw new MessageRejected('dead-letter');
    this.deadLetters.observe(true); // throws DlqRateExceeded: the sink stops
    ref.completion.deadLettering();
    const held = messageBytes(ref.message);
    this.held += held;
    const send = this.deadLetters
      .send({ ...ref, key: ref.message.key, value: ref.message.value, headers: ref.message.headers, reason, detail })
      .then(() => {
        this.metrics.dlq.inc({ reason });
        this.log(`${ref.topic}[${ref.partition}]@${ref.offset} -> DLQ (${reason}): ${detail.slice(0, 300)}`);
        ref.completion.deadLettered();
      })
      .catch((err: Error) => {
        this.failure ??= new Error(
          `${ref.topic}[${ref.partition}]@${ref.offset}: sending it to the DLQ (${reason}) failed: ${err.message}`,
          {
            cause: err,
          },
        );
      })
      .finally(() => {
        this.held -= held;
        this.pending.delete(send);
      });
    this.pending.add(send);
  }

  poll(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  async join(): Promise<void> {
    await Promise.all(this.pending);
    this.poll();
  }
}
