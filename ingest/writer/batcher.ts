/**
 * Collects records per (record type, partition) and seals a batch when it reaches its record
 * count or byte size, or when its oldest record has waited `lingerMs`.
 */
import { RECORD_TYPES, type AnyRecord, type RecordType } from '../../schemas/records.ts';

export interface BatchLimits {
  records: number;
  bytes: number;
  lingerMs: number;
}

export interface OpenBatch {
  type: RecordType;
  partition: number;
  records: AnyRecord[];
  bytes: number;
  openedAt: number;
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

  /** Bytes (estimated) of records in open batches. */
  get bytes(): number {
    return this.heldBytes;
  }

  add(type: RecordType, partition: number, record: AnyRecord, bytes: number): void {
    const row = this.open[RECORD_TYPES.indexOf(type)]!;
    let batch = row[partition];
    if (batch === undefined) {
      batch = { type, partition, records: [], bytes: 0, openedAt: this.now() };
      row[partition] = batch;
    }
    batch.records.push(record);
    batch.bytes += bytes;
    this.heldBytes += bytes;
    if (batch.records.length >= this.limits.records || batch.bytes >= this.limits.bytes) this.seal(row, partition);
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
    this.heldBytes -= batch.bytes;
    this.onSeal(batch);
  }
}
