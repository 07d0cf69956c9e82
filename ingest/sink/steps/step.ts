/**
 * The Sink is a chain of steps with one interface (after getsentry/arroyo): each step owns one
 * bound and hands its output to the next. `submit` never waits: a step that cannot take an item
 * now throws MessageRejected, and the consumer loop keeps the message in Kafka (pausing the
 * partition) until there is room. Backpressure is a value that travels, not a sleep.
 */
import type { KafkaMessage } from 'kafkajs';
import type { Completion } from '../completion.ts';

export class MessageRejected extends Error {
  constructor(
    step: string,
    /**
     * The Insert lanes (a cluster's shards) whose share of the memory was full, when only they
     * refused the message: its partition resumes when they have room, whatever the others do.
     */
    readonly lanes?: readonly number[],
  ) {
    super(`${step} is full${lanes === undefined ? '' : ` (shard ${lanes.map((l) => l + 1).join(', ')})`}`);
    this.name = 'MessageRejected';
  }
}

export interface Step<T> {
  /** Takes one item, or throws MessageRejected (the caller keeps the item and retries later). */
  submit(item: T): void;
  /** Periodic work (age-based flushes, commits); throws a failure of earlier asynchronous work. */
  poll(): void;
  /** Sends on everything held and waits until it has passed every later step. */
  join(): Promise<void>;
}

/** One consumed Kafka message; it travels with the data until it is stored, so its offset can be committed. */
export interface MessageRef {
  topic: string;
  partition: number;
  offset: string;
  message: KafkaMessage;
  /** Whether it is done (stored in every table it fed, or dead-lettered): the one place that decides. */
  completion: Completion;
  /** The group generation it was consumed in: completions from an older one change nothing. */
  generation: number;
}
