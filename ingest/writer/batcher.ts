/**
 * Collects records per (record type, partition), Avro-encoding each as it arrives, and seals a
 * batch when it reaches its record count, when one more record would pass its byte limit (in
 * encoded bytes: the unit a Kafka broker counts, `max.message.bytes`), or when its oldest record
 * has waited `lingerMs`.
 */
import { BatchBody } from '../../schemas/container.ts';
import { RECORD_TYPES, type AnyRecord, type RecordType } from '../../schemas/records.ts';
import { elementKey } from '../kafka/message.ts';

export interface BatchLimits {
  records: number;
  /** Largest sealed container (bytes) per record type: the topic's message limit, less Kafka's framing. */
  bytes: (type: RecordType) => number;
  lingerMs: number;
}

export interface OpenBatch {
  type: RecordType;
  partition: number;
  /** The element key of the batch's first record (records of many elements share a batch). */
  key: string;
  body: BatchBody;
  openedAt: number;
}

/** Thrown by `add` for a record that alone makes a batch larger than its topic takes. */
export class RecordTooLargeError extends Error {
  constructor(
    readonly recordType: RecordType,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(
      `invalid ${recordType} record: it encodes to a ${bytes}-byte batch, more than the ${limit} bytes its topic takes (max.message.bytes less Kafka's framing)`,
    );
    this.name = 'RecordTooLargeError';
  }
}

export class Batcher {
  /** [type index][partition] */
  private readonly open: (OpenBatch | undefined)[][] = RECORD_TYPES.map(() => []);
  private heldBytes = 0;

  constructor(
    private readonly limits: BatchLimits,
    private readonly onSeal: (batch: OpenBatch) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Encoded bytes of records in open batches. */
  get bytes(): number {
    return this.heldBytes;
  }

  /**
   * Adds a valid record. Throws RecordTooLargeError (and keeps nothing of it) for a record that
   * alone exceeds the byte limit; `onSeal` may run before this returns.
   */
  add(type: RecordType, partition: number, record: AnyRecord): void {
    const row = this.open[RECORD_TYPES.indexOf(type)]!;
    const batch = row[partition] ?? this.start(row, type, partition, record);
    const before = batch.body.bytes;
    const size = batch.body.add(record);
    const limit = this.limits.bytes(type);
    if (batch.body.bytes <= limit) {
      this.heldBytes += batch.body.bytes - before;
      if (batch.body.count >= this.limits.records) this.seal(row, partition);
      return;
    }
    const encoded = batch.body.removeLast(size);
    if (batch.body.emptyBytes + size > limit) {
      if (batch.body.count === 0) {
        row[partition] = undefined;
        this.heldBytes -= batch.body.bytes;
      }
      throw new RecordTooLargeError(type, batch.body.emptyBytes + size, limit);
    }
    // The record starts the next batch: this one is full.
    this.seal(row, partition);
    const next = this.start(row, type, partition, record);
    next.body.addEncoded(encoded);
    this.heldBytes += encoded.length;
  }

  private start(row: (OpenBatch | undefined)[], type: RecordType, partition: number, first: AnyRecord): OpenBatch {
    const batch: OpenBatch = { type, partition, key: elementKey(first), body: new BatchBody(type), openedAt: this.now() };
    row[partition] = batch;
    this.heldBytes += batch.body.bytes;
    return batch;
  }

  /** Seals batches whose linger time is up; call on a timer. */
  sealExpired(): void {
    const deadline = this.now() - this.limits.lingerMs;
    for (const row of this.open) {
      row.forEach((b, p) => {
        if (b !== undefined && b.openedAt <= deadline) this.seal(row, p);
      });
    }
  }

  sealAll(): void {
    for (const row of this.open) row.forEach((b, p) => b !== undefined && this.seal(row, p));
  }

  private seal(row: (OpenBatch | undefined)[], partition: number): void {
    const batch = row[partition]!;
    row[partition] = undefined;
    this.heldBytes -= batch.body.bytes;
    this.onSeal(batch);
  }
}
