/**
 * First step: Avro container -> records (writer schema resolved to ours) -> the Writer's
 * validation -> RowBinary per target table. Nothing in one message can stop the sink: every
 * failure on the way — a decode error, a record out of range, or any exception at all (a
 * RangeError, a stack overflow) — sends the message to the dead-letter step with a reason.
 * Decompression and record counts are bounded (DecodeLimits), because running out of heap is
 * the one failure that cannot be caught.
 */
import type { DecodeLimits } from '../../../schemas/container.ts';
import { AvroDecodeError } from '../../../schemas/errors.ts';
import type { RecordType } from '../../../schemas/records.ts';
import { decodeBatchContainer, readBatchContainer } from '../../kafka/message.ts';
import type { Topics } from '../../kafka/topics.ts';
import type { DeadLetters } from '../dlq.ts';
import { encodeForTables, TableWriters, type TableRows } from '../encoders.ts';
import type { SinkMetrics } from '../metrics.ts';
import { transcodeTrends } from '../trend-transcoder.ts';
import { invalidRecords } from '../validate.ts';
import type { DeadLetter } from './dead-letter.ts';
import { MessageRejected, type MessageRef, type Step } from './step.ts';

export interface Encoded {
  ref: MessageRef;
  tables: TableRows[];
}

/** Why a message goes to the DLQ: the dead-letter reason and a detail for people. */
interface Unstorable {
  reason: string;
  detail: string;
}

/** A message with its rows, or why it has none. */
type Prepared = { type: RecordType; records: number; tables: TableRows[] } | Unstorable;

export class Decode implements Step<MessageRef> {
  /** Reused for every message: the next step copies the rows it keeps before submit returns. */
  private readonly writers = new TableWriters();

  constructor(
    private readonly topics: Topics,
    private readonly next: Step<Encoded>,
    private readonly deadLetter: DeadLetter,
    private readonly deadLetters: DeadLetters,
    private readonly metrics: SinkMetrics,
    private readonly limits?: DecodeLimits,
  ) {}

  submit(ref: MessageRef): void {
    // Dead-lettering has side effects: only start on a message when both ways out have room.
    if (this.deadLetter.full) throw new MessageRejected('dead-letter');
    const prepared = this.prepare(ref);
    if ('reason' in prepared) return this.deadLetter.submit({ ref, ...prepared });
    this.next.submit({ ref, tables: prepared.tables }); // may reject: nothing happened yet
    this.deadLetters.observe(false);
    this.metrics.records.inc({ type: prepared.type }, prepared.records);
  }

  poll(): void {
    this.deadLetter.poll();
    this.next.poll();
  }

  async join(): Promise<void> {
    await this.deadLetter.join();
    await this.next.join();
  }

  /** Decodes, validates and encodes one message; never throws. */
  private prepare(ref: MessageRef): Prepared {
    let stage: 'decode' | 'validate' | 'encode' = 'decode';
    try {
      const { container, announcedType } = readBatchContainer(ref.message.value, ref.message.headers, this.limits);
      // Plain trend batches of the current schema (nearly every message) go byte to byte into
      // RowBinary; anything the transcoder declines takes the full path below, which decides.
      if (container.type === 'trend' && container.current && (announcedType ?? 'trend') === 'trend' && this.topics.trend === ref.topic) {
        const tables = transcodeTrends(container.blocks, this.writers);
        if (tables !== undefined) return { type: 'trend', records: container.count, tables };
      }
      const decoded = decodeBatchContainer(container, announcedType);
      if (this.topics[decoded.type] !== ref.topic) throw new AvroDecodeError('corrupt', `${decoded.type} records on topic ${ref.topic}`);
      stage = 'validate';
      const invalid = invalidRecords(decoded.type, decoded.records);
      if (invalid !== undefined) return { reason: 'invalid-record', detail: invalid };
      stage = 'encode';
      return { type: decoded.type, records: decoded.records.length, tables: encodeForTables(decoded.type, decoded.records, this.writers) };
    } catch (err) {
      if (err instanceof AvroDecodeError) return { reason: err.failure, detail: err.message };
      // Not a failure we foresaw (a bug, or input no check caught): this message only.
      return { reason: `${stage}-error`, detail: describe(err) };
    }
  }
}

function describe(err: unknown): string {
  if (err instanceof Error)
    return `${err.name}: ${err.message}${err.stack === undefined ? '' : ` at ${err.stack.split('\n')[1]?.trim() ?? ''}`}`;
  return `thrown: ${String(err)}`;
}
