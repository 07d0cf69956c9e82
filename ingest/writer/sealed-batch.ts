/** A batch ready to leave: one Kafka message for one topic partition. */
import type { RecordType } from '../../schemas/records.ts';

export interface SealedBatch {
  type: RecordType;
  topic: string;
  partition: number;
  /** The element key of the batch's first record (records of many elements share a batch). */
  key: string;
  count: number;
  /** The Avro container file. */
  value: Buffer;
}
