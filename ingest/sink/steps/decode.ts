/**
 * First step: Avro container -> records (writer schema resolved to ours) -> the Writer's
 * validation -> RowBinary per target table. Messages that cannot be stored go to the
 * dead-letter step with the reason.
 */
import { AvroDecodeError } from '../../../schemas/errors.ts';
import type { RecordType } from '../../../schemas/records.ts';
import { readBatchMessage } from '../../kafka/message.ts';
import type { Topics } from '../../kafka/topics.ts';
import type { DeadLetters } from '../dlq.ts';
import { encodeForTables, type TableRows } from '../encoders.ts';
import type { SinkMetrics } from '../metrics.ts';
import { invalidRecords } from '../validate.ts';
import type { DeadLetter } from './dead-letter.ts';
import { MessageRejected, type MessageRef, type Step } from './step.ts';

export interface Encoded {
  ref: MessageRef;
  tables: TableRows[];
}

export class Decode implements Step<MessageRef> {
  constructor(
    private readonly topics: Topics,
    private readonly next: Step<Encoded>,
    private readonly deadLetter: DeadLetter,
    private readonly deadLetters: DeadLetters,
    private readonly metrics: SinkMetrics,
  ) {}

  submit(ref: MessageRef): void {
    // Dead-lettering has side effects: only start on a message when both ways out have room.
    if (this.deadLetter.full) throw new MessageRejected('dead-letter');
    let type: RecordType;
    let records: unknown[];
    try {
      const decoded = readBatchMessage(ref.message.value, ref.message.headers);
      if (this.topics[decoded.type] !== ref.topic) throw new AvroDecodeError('corrupt', `${decoded.type} records on topic ${ref.topic}`);
      type = decoded.type;
      records = decoded.records;
    } catch (err) {
      if (!(err instanceof AvroDecodeError)) throw err;
      return this.deadLetter.submit({ ref, reason: err.failure, detail: err.message });
    }
    const invalid = invalidRecords(type, records);
    if (invalid !== undefined) return this.deadLetter.submit({ ref, reason: 'invalid-record', detail: invalid });
    this.next.submit({ ref, tables: encodeForTables(type, records) }); // may reject: nothing happened yet
    this.deadLetters.observe(false);
    this.metrics.records.inc({ type }, records.length);
  }

  poll(): void {
    this.deadLetter.poll();
    this.next.poll();
  }

  async join(): Promise<void> {
    await this.deadLetter.join();
    await this.next.join();
  }
}
