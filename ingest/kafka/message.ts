/**
 * One Kafka message = one batch of records of one type, as an Avro container file. Headers name
 * the record type and count, so a consumer can route and check a message before decoding it.
 */
import type { IHeaders, Message } from 'kafkajs';
import {
  decodeRecords,
  encodeBatch,
  readContainer,
  type Codec,
  type DecodedBatch,
  type DecodeLimits,
  type ReadContainer,
} from '../../schemas/container.ts';
import { AvroDecodeError } from '../../schemas/errors.ts';
import { RECORD_TYPES, type RecordOf, type RecordType } from '../../schemas/records.ts';

export const HEADER_TYPE = 'staas-type';
export const HEADER_COUNT = 'staas-count';

/**
 * The message key that keeps one element's records in order: one partition per element.
 * DataMiner names an element "dmaId/elementId"; the tenant prefixes it.
 */
export function elementKey(r: { dmsId: number; dmaId: number; elementId: number }): string {
  return `${r.dmsId}:${r.dmaId}/${r.elementId}`;
}

export function batchMessage<T extends RecordType>(type: T, records: readonly RecordOf[T][], key: string, codec: Codec = 'null'): Message {
  return {
    key,
    value: encodeBatch(type, records, { codec }),
    headers: { [HEADER_TYPE]: type, [HEADER_COUNT]: String(records.length) },
  };
}

function header(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v[0] : v)?.toString();
}

/**
 * Checks a consumed message's container (schemas/container.ts readContainer) without decoding its
 * records; `announcedType` is the type its header names, when it names one. Throws AvroDecodeError
 * (with `limits`: also 'too-large', see DecodeLimits).
 */
export function readBatchContainer(
  value: Buffer | null,
  headers: IHeaders | undefined,
  limits?: DecodeLimits,
): { container: ReadContainer; announcedType: string | undefined } {
  if (value === null) throw new AvroDecodeError('not-avro', 'the message has no value (tombstone)');
  const countText = header(headers, HEADER_COUNT);
  const count = countText !== undefined && /^\d+$/.test(countText) ? Number(countText) : undefined;
  return { container: readContainer(value, count, limits), announcedType: header(headers, HEADER_TYPE) };
}

/** Decodes the records of a checked message, then cross-checks the type its header names. Throws AvroDecodeError. */
export function decodeBatchContainer(container: ReadContainer, announcedType: string | undefined): DecodedBatch {
  const batch = decodeRecords(container);
  if (announcedType !== undefined && announcedType !== batch.type) {
    const known = (RECORD_TYPES as readonly string[]).includes(announcedType);
    throw new AvroDecodeError(known ? 'corrupt' : 'unknown-schema', `header says ${announcedType}, the data holds ${batch.type} records`);
  }
  return batch;
}

/**
 * Decodes a consumed message, cross-checking its headers against the container it carries.
 * Throws AvroDecodeError (with `limits`: also 'too-large', see schemas/container.ts DecodeLimits).
 */
export function readBatchMessage(value: Buffer | null, headers: IHeaders | undefined, limits?: DecodeLimits): DecodedBatch {
  const { container, announcedType } = readBatchContainer(value, headers, limits);
  return decodeBatchContainer(container, announcedType);
}
