/**
 * One batch of records of one type <-> one Avro Object Container File (the value of one Kafka
 * message). The file carries its writer schema, so any Avro tool can read a message without this
 * code, and a reader resolves an older writer schema to the current one.
 *
 * Encoding is synchronous and in memory (one header, one block): batches are small enough that
 * avsc's streaming encoder would only add overhead. Records must already be valid (the Writer
 * validates at the door): avsc does not check values while encoding.
 */
import { randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import avro from 'avsc';
import { BoundsError, checkValues, hasCollections, minEncodedBytes, readVarLong } from './bounds.ts';
import { EXTRA_CODECS, MAX_BLOCK_BYTES, decodeBlock } from './codecs.ts';
import { AvroDecodeError } from './errors.ts';
import { parseWriter, resolveWriter, unrepresentable, type Resolution } from './evolution.ts';

/** avsc's resolver type is not exported by name. */
type Resolver = ReturnType<avro.Type['createResolver']>;
import { READER_TYPES, SCHEMA_JSON, TYPE_BY_NAME, type RecordOf, type RecordType, type TrendPoint } from './records.ts';
import { writeTrendPoint } from './trend-encoder.ts';

const MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]); // "Obj" 1
const SYNC_SIZE = 16;

export type Codec = 'null' | 'deflate';

/** The OCF header, described as Avro itself (magic, metadata map, sync marker). */
const HEADER = avro.Type.forSchema({
  type: 'record',
  name: 'org.apache.avro.file.Header',
  fields: [
    { name: 'magic', type: { type: 'fixed', name: 'Magic', size: 4 } },
    { name: 'meta', type: { type: 'map', values: 'bytes' } },
    { name: 'sync', type: { type: 'fixed', name: 'Sync', size: SYNC_SIZE } },
  ],
});
const LONG = avro.Type.forSchema('long');

/** Per record type: the schema JSON written into every header (computed once). */
const SCHEMA_BYTES: Record<RecordType, Buffer> = {
  trend: Buffer.from(SCHEMA_JSON.trend),
  alarm: Buffer.from(SCHEMA_JSON.alarm),
  element: Buffer.from(SCHEMA_JSON.element),
};

/** A growable byte buffer for avsc's `encode(value, buf, pos)`. */
class Output {
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  write(type: avro.Type, value: unknown): void {
    for (;;) {
      const next = type.encode(value, this.buf, this.pos);
      if (next >= 0) {
        this.pos = next;
        return;
      }
      // avsc returns minus the missing bytes: grow and write the value again.
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos - next + 1024));
      this.buf.copy(grown, 0, 0, this.pos);
      this.buf = grown;
    }
  }
  /** Makes room for `n` more bytes at once (one copy instead of a doubling per overflow). */
  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.pos + n, this.buf.length * 2));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
  bytes(b: Buffer): void {
    if (this.pos + b.length > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + b.length + 1024));
      this.buf.copy(grown, 0, 0, this.pos);
      this.buf = grown;
    }
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }
  result(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export interface EncodeOptions {
  codec?: Codec;
  /** Override the writer schema (tests of schema evolution). Defaults to the current schema. */
  writerType?: avro.Type;
}

/**
 * A batch being built: records are Avro-encoded as they are added, so its size is known exactly
 * (a Kafka broker limits messages in encoded bytes, not in characters) and no record objects are
 * held. `seal` writes the container file around the block.
 */
export class BatchBody<T extends RecordType = RecordType> {
  private readonly body: Output;
  private readonly writer: avro.Type;
  private readonly schemaBytes: Buffer;
  private records = 0;
  /** Trend points of the current schema are written by schemas/trend-encoder.ts, not avsc. */
  private readonly handWritten: boolean;

  constructor(
    readonly type: T,
    opts: { writerType?: avro.Type; initialBytes?: number } = {},
  ) {
    this.writer = opts.writerType ?? READER_TYPES[type];
    this.schemaBytes = opts.writerType === undefined ? SCHEMA_BYTES[type] : Buffer.from(JSON.stringify(this.writer.schema()));
    this.body = new Output(opts.initialBytes ?? 4096);
    this.handWritten = type === 'trend' && opts.writerType === undefined;
  }

  get count(): number {
    return this.records;
  }

  /** Bytes of a sealed container without records (an upper bound of its header and framing). */
  get emptyBytes(): number {
    return containerOverhead(this.schemaBytes.length);
  }

  /** Bytes of the sealed container (codec 'null', an upper bound within a few bytes): header, block counts, records, sync marker. */
  get bytes(): number {
    return containerOverhead(this.schemaBytes.length) + this.body.pos;
  }

  /** Encodes one record; returns its encoded size in bytes. */
  add(record: RecordOf[T]): number {
    const before = this.body.pos;
    if (this.handWritten) writeTrendPoint(this.body, record as TrendPoint);
    else this.body.write(this.writer, record);
    this.records++;
    return this.body.pos - before;
  }

  /** Bytes of the encoded records (the block before any codec). */
  get dataBytes(): number {
    return this.body.pos;
  }

  /**
   * Encodes records in one tight loop (the call site stays monomorphic and hot: measured faster
   * than one `add` per write) and returns where each one ends (`dataBytes` after it).
   * `sizeHint`: bytes to make room for first (e.g. an upper bound of the records' size).
   */
  addMany(records: readonly RecordOf[T][], sizeHint = 0): number[] {
    this.body.reserve(sizeHint);
    const ends: number[] = [];
    if (this.handWritten)
      for (const r of records) {
        writeTrendPoint(this.body, r as TrendPoint);
        ends.push(this.body.pos);
      }
    else
      for (const r of records) {
        this.body.write(this.writer, r);
        ends.push(this.body.pos);
      }
    this.records += records.length;
    return ends;
  }

  /** Keeps the first `count` records, ending at `dataEnd`; returns the encoded bytes of the rest. */
  cut(count: number, dataEnd: number): Buffer {
    const rest = Buffer.from(this.body.buf.subarray(dataEnd, this.body.pos));
    this.body.pos = dataEnd;
    this.records = count;
    return rest;
  }

  /** Adds `count` records already encoded by a body of the same writer schema. */
  addEncoded(encoded: Buffer, count = 1): void {
    this.body.bytes(encoded);
    this.records += count;
  }

  /** The Avro Object Container File of the records added. */
  seal(codec: Codec = 'null'): Buffer {
    const block = this.body.result();
    const data = codec === 'deflate' ? deflateRawSync(block) : block;
    const sync = randomBytes(SYNC_SIZE);
    const out = new Output(data.length + this.schemaBytes.length + 128);
    out.write(HEADER, { magic: MAGIC, meta: { 'avro.schema': this.schemaBytes, 'avro.codec': Buffer.from(codec) }, sync });
    if (this.records > 0) {
      out.write(LONG, this.records);
      out.write(LONG, data.length);
      out.bytes(data);
      out.bytes(sync);
    }
    return out.result();
  }
}

/**
 * Container bytes around a block, at most: magic 4; metadata map: count 1, 'avro.schema' 1+11,
 * schema length 3 + the schema, 'avro.codec' 1+10, codec 1+7, end 1; sync marker 16; block
 * record count and byte size 5+5; trailing sync 16.
 */
function containerOverhead(schemaBytes: number): number {
  return 82 + schemaBytes;
}

/** Encodes records of one type as one Avro Object Container File with a single block. */
export function encodeBatch<T extends RecordType>(type: T, records: readonly RecordOf[T][], opts: EncodeOptions = {}): Buffer {
  const body = new BatchBody(type, { writerType: opts.writerType, initialBytes: Math.max(256, records.length * 64) });
  for (const r of records) body.add(r);
  return body.seal(opts.codec ?? 'null');
}

export interface DecodedBatch<T extends RecordType = RecordType> {
  type: T;
  records: RecordOf[T][];
  /** The writer schema JSON as found in the header (its cache key). */
  writerSchema: string;
}

export interface ReaderPlan {
  type: RecordType;
  writer: avro.Type;
  /** The type records are decoded with: the current reader, widened by a newer writer's union branches (schemas/evolution.ts). */
  reader: avro.Type;
  /** The writer added union branches: check each record against the current reader. */
  checkBranches: boolean;
  /** The writer schema has arrays or maps: walk the bytes with bounds before avsc reads them. */
  boundsCheck: boolean;
  /** Fewest bytes one record of the writer schema takes (bounds a block's record count). */
  minRecordBytes: number;
  /** undefined when the writer schema is the reader schema: no resolution needed. */
  resolver: Resolver | undefined;
}

/**
 * Parsing a writer schema and building its resolver costs far more than decoding a batch, so
 * plans are cached by the exact schema bytes of the header. Bounded: a flood of distinct
 * schemas (garbage) cannot grow memory without limit.
 */
const PLANS = new Map<string, ReaderPlan>();
const MAX_PLANS = 256;

function planFor(schemaJson: string): ReaderPlan {
  const cached = PLANS.get(schemaJson);
  if (cached !== undefined) return cached;
  let writer: avro.Type;
  try {
    writer = parseWriter(JSON.parse(schemaJson) as avro.Schema);
  } catch (err) {
    throw new AvroDecodeError('corrupt', `writer schema does not parse: ${(err as Error).message}`);
  }
  const name = writer.name;
  const type = name === undefined ? undefined : TYPE_BY_NAME.get(name);
  if (type === undefined) {
    throw new AvroDecodeError('unknown-schema', `writer schema ${name ?? writer.typeName} is not a staas record type`);
  }
  let resolution: Resolution;
  try {
    resolution = resolveWriter(READER_TYPES[type], writer);
  } catch (err) {
    throw new AvroDecodeError('incompatible-schema', `${name} cannot be read as the current schema: ${(err as Error).message}`);
  }
  const plan: ReaderPlan = {
    type,
    writer,
    reader: resolution.decodeAs,
    resolver: resolution.resolver,
    checkBranches: resolution.addedBranches.length > 0,
    boundsCheck: hasCollections(writer),
    minRecordBytes: minEncodedBytes(writer),
  };
  if (PLANS.size >= MAX_PLANS) PLANS.delete(PLANS.keys().next().value as string);
  PLANS.set(schemaJson, plan);
  return plan;
}

/** Reads the container header with every length checked (a hostile header cannot loop). */
function readHeader(buf: Buffer): { meta: Map<string, Buffer>; sync: Buffer; offset: number } {
  const c = { buf, pos: MAGIC.length, end: buf.length };
  const meta = new Map<string, Buffer>();
  const bytes = (what: string): Buffer => {
    const n = readVarLong(c);
    if (n < 0 || n > c.end - c.pos) throw new BoundsError(`${what} of ${n} bytes runs past the end`);
    c.pos += n;
    return buf.subarray(c.pos - n, c.pos);
  };
  for (;;) {
    let n = readVarLong(c);
    if (n === 0) break;
    if (n < 0) {
      n = -n;
      readVarLong(c);
    }
    if (n > c.end - c.pos) throw new BoundsError(`metadata count ${n} exceeds the data`);
    for (let i = 0; i < n; i++) meta.set(bytes('a metadata key').toString('utf8'), bytes('a metadata value'));
  }
  if (c.end - c.pos < SYNC_SIZE) throw new BoundsError('data ends inside the sync marker');
  return { meta, sync: buf.subarray(c.pos, c.pos + SYNC_SIZE), offset: c.pos + SYNC_SIZE };
}

/** Truncation and corruption look alike in the middle of the data; at its end, it was cut short. */
function boundsFailure(err: BoundsError, where: string): AvroDecodeError {
  return new AvroDecodeError(
    /ends inside|runs past the end|exceeds the \d+ bytes left/.test(err.message) ? 'truncated' : 'corrupt',
    `${where}: ${err.message}`,
  );
}

/**
 * What one container may hold once decoded: a few hundred KB of deflate can announce tens of
 * millions of records or inflate to gigabytes, so both are checked before anything is allocated
 * for them. Exceeding either is an AvroDecodeError 'too-large'.
 */
export interface DecodeLimits {
  /** Records in the whole container (all blocks). */
  maxRecords: number;
  /** Bytes of all blocks after decompression (the inflater stops at this output size). */
  maxDecodedBytes: number;
}

/** Generous for any batch the Writer makes (at most 15 MiB of records), small enough for a bounded reader. */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = Object.freeze({ maxRecords: 1_000_000, maxDecodedBytes: 64 * 1024 * 1024 });

/**
 * Inflates a raw deflate block, stopping at `maxBytes` of output (Node's zlib `maxOutputLength`:
 * the inflater gives up with ERR_BUFFER_TOO_LARGE instead of growing its output further).
 */
function inflateBounded(block: Buffer, maxBytes: number, where: string): Buffer {
  try {
    return inflateRawSync(block, { maxOutputLength: Math.max(1, maxBytes) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw new AvroDecodeError('too-large', `${where} inflates to more than the ${maxBytes} bytes left of the decode limit`);
    throw new AvroDecodeError('corrupt', `deflate: ${(err as Error).message}`);
  }
}

/** One block of a container, decompressed: `count` records in `bytes`. */
export interface ContainerBlock {
  bytes: Buffer;
  count: number;
  /** Offset of the block in the container (for messages). */
  start: number;
}

/** A container file checked and split into its blocks, records not decoded yet. */
export interface ReadContainer {
  type: RecordType;
  /** The writer schema JSON as found in the header. */
  writerSchema: string;
  /**
   * The writer schema is exactly the current reader schema of `type` (no resolution, no added
   * branches): its records' bytes follow schemas/*.avsc field by field.
   */
  current: boolean;
  blocks: ContainerBlock[];
  /** Records of all blocks. */
  count: number;
  plan: ReaderPlan;
}

/**
 * Checks one container file and splits it into decompressed blocks: magic, header, codec, sync
 * markers, the record-count and decompressed-size limits (`limits`) and the count the producer
 * announced (`expectedCount`, the message header: a file cut between two blocks is still valid
 * Avro). Throws AvroDecodeError saying what is wrong, never another exception.
 */
export function readContainer(buf: Buffer, expectedCount?: number, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): ReadContainer {
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    const prefix = buf.length < MAGIC.length && MAGIC.subarray(0, buf.length).equals(buf);
    throw new AvroDecodeError(prefix ? 'truncated' : 'not-avro', 'no Avro container magic bytes');
  }
  let header: ReturnType<typeof readHeader>;
  try {
    header = readHeader(buf);
  } catch (err) {
    if (err instanceof BoundsError) throw boundsFailure(err, 'header');
    throw err;
  }
  const { meta, sync } = header;
  const schemaBytes = meta.get('avro.schema');
  if (schemaBytes === undefined) throw new AvroDecodeError('corrupt', 'header has no avro.schema');
  const codec = meta.get('avro.codec')?.toString() ?? 'null';
  if (codec !== 'null' && codec !== 'deflate' && !EXTRA_CODECS.has(codec)) throw new AvroDecodeError('unsupported-codec', `codec ${codec}`);
  const writerSchema = schemaBytes.toString('utf8');
  const plan = planFor(writerSchema);

  const blocks: ContainerBlock[] = [];
  let records = 0;
  let decodedBytes = 0;
  const c = { buf, pos: header.offset, end: buf.length };
  while (c.pos < buf.length) {
    let count: number;
    let size: number;
    try {
      count = readVarLong(c);
      size = readVarLong(c);
    } catch (err) {
      if (err instanceof BoundsError) throw boundsFailure(err, 'block header');
      throw err;
    }
    if (count < 0 || size < 0) throw new AvroDecodeError('corrupt', `block count ${count}, size ${size}`);
    const start = c.pos;
    const end = start + size;
    if (end + SYNC_SIZE > buf.length)
      throw new AvroDecodeError('truncated', `block of ${size} bytes at ${start} runs past the end (${buf.length})`);
    if (!buf.subarray(end, end + SYNC_SIZE).equals(sync))
      throw new AvroDecodeError('corrupt', `sync marker mismatch after the block at ${start}`);
    // Bounds before allocating: the record count against the limit and against the bytes its
    // records need at the least (all-zero records are 14 bytes each for a trend point).
    if (records + count > limits.maxRecords)
      throw new AvroDecodeError(
        'too-large',
        `block at ${start} brings the records to ${records + count}, over the limit of ${limits.maxRecords}`,
      );
    const leftBytes = limits.maxDecodedBytes - decodedBytes;
    const needs = count * plan.minRecordBytes;
    // A compressed block's records may need more bytes than the block: only the decode limit
    // bounds them before it is decompressed.
    const compressed = codec !== 'null';
    if (needs > (compressed ? leftBytes : size))
      throw new AvroDecodeError(
        compressed ? 'too-large' : 'corrupt',
        `block at ${start} announces ${count} records: at least ${needs} bytes, ${compressed ? `over the ${leftBytes} bytes left of the decode limit` : `but it has ${size}`}`,
      );
    let block = buf.subarray(start, end);
    if (codec === 'deflate') block = inflateBounded(block, leftBytes, `block at ${start}`);
    else if (compressed) {
      block = decodeBlock(codec, block, Math.max(1, Math.min(MAX_BLOCK_BYTES, leftBytes)));
    } else if (size > leftBytes)
      throw new AvroDecodeError('too-large', `block at ${start} holds ${size} bytes, over the ${leftBytes} bytes left of the decode limit`);
    decodedBytes += block.length;
    if (needs > block.length)
      throw new AvroDecodeError(
        'corrupt',
        `block at ${start} announces ${count} records: at least ${needs} bytes, but it has ${block.length}`,
      );
    if (plan.boundsCheck) {
      try {
        checkValues(plan.writer, count, block, 0, block.length);
      } catch (err) {
        if (err instanceof BoundsError) throw new AvroDecodeError('corrupt', `block at ${start}: ${err.message}`);
        throw err;
      }
    }
    blocks.push({ bytes: block, count, start });
    records += count;
    c.pos = end + SYNC_SIZE;
  }
  if (expectedCount !== undefined && records !== expectedCount) {
    throw new AvroDecodeError(
      records < expectedCount ? 'truncated' : 'corrupt',
      `${records} records, the producer announced ${expectedCount}`,
    );
  }
  const current = plan.resolver === undefined && !plan.checkBranches && plan.reader === READER_TYPES[plan.type];
  return { type: plan.type, writerSchema, current, blocks, count: records, plan };
}

/** The records of a read container, as objects of the current reader schema. Throws AvroDecodeError. */
export function decodeRecords(container: ReadContainer): DecodedBatch {
  const { plan } = container;
  const records: unknown[] = [];
  for (const { bytes: block, count, start } of container.blocks) {
    let p = 0;
    for (let i = 0; i < count; i++) {
      let r: { value: unknown; offset: number };
      try {
        r = plan.reader.decode(block, p, plan.resolver);
      } catch (err) {
        throw new AvroDecodeError('corrupt', `record ${records.length}: ${(err as Error).message}`);
      }
      if (r.offset < 0) throw new AvroDecodeError('corrupt', `record ${records.length} runs past its block`);
      const unknown = plan.checkBranches ? unrepresentable(READER_TYPES[plan.type], r.value) : undefined;
      if (unknown !== undefined)
        throw new AvroDecodeError(
          'unsupported-branch',
          `record ${records.length}: ${unknown}, a union branch the writer added that this reader lacks`,
        );
      records.push(r.value);
      p = r.offset;
    }
    if (p !== block.length)
      throw new AvroDecodeError('corrupt', `block at ${start} has ${block.length - p} bytes after its ${count} records`);
  }
  return { type: plan.type, records: records as RecordOf[RecordType][], writerSchema: container.writerSchema };
}

/**
 * Decodes one container file into records of the current reader schema: `readContainer` then
 * `decodeRecords`. Any malformed input ends in an AvroDecodeError saying what is wrong, never in
 * another exception. `expectedCount` and `limits`: see readContainer.
 */
export function decodeBatch(buf: Buffer, expectedCount?: number, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): DecodedBatch {
  return decodeRecords(readContainer(buf, expectedCount, limits));
}
