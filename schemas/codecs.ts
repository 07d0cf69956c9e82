/**
 * Avro container block codecs besides null and deflate (which container.ts handles itself):
 * `snappy` and `zstandard`, the defaults of many Java and Python producers. Both decoders are
 * pure JavaScript (snappyjs, fzstd): nothing to build on install, and the sink's hot path only
 * meets them for producers that chose them.
 *
 * Avro specification, "Required Codecs" / "Optional Codecs":
 * - snappy: each block is Snappy-compressed (raw format, not framed) and followed by the 4-byte
 *   big-endian CRC32 of the uncompressed data;
 * - zstandard: each block is Zstandard-compressed (one or more frames).
 *
 * Output is bounded (MAX_BLOCK_BYTES): Snappy announces its length first, checked before
 * allocating; Zstandard is decoded as a stream and stopped once past the bound.
 */
import { crc32 } from 'node:zlib';
import { Decompress } from 'fzstd';
import { uncompress } from 'snappyjs';
import { AvroDecodeError } from './errors.ts';

/** The codecs decodeBlock reads. */
export const EXTRA_CODECS: ReadonlySet<string> = new Set(['snappy', 'zstandard']);

/** Largest decompressed block accepted (bytes): far above any Kafka message's worth of records. */
export const MAX_BLOCK_BYTES = 64 * 1024 * 1024;

/**
 * One block of a `snappy` or `zstandard` container, decompressed. Throws AvroDecodeError
 * 'corrupt' for a stream that does not decode, a CRC mismatch or output past `maxBytes`.
 */
export function decodeBlock(codec: string, block: Buffer, maxBytes = MAX_BLOCK_BYTES): Buffer {
  if (codec === 'snappy') return snappyBlock(block, maxBytes);
  if (codec === 'zstandard') return zstandardBlock(block, maxBytes);
  throw new AvroDecodeError('unsupported-codec', `codec ${codec}`);
}

function snappyBlock(block: Buffer, maxBytes: number): Buffer {
  if (block.length < 4) throw new AvroDecodeError('corrupt', 'snappy: block shorter than its CRC32');
  let data: Buffer;
  try {
    data = uncompress(block.subarray(0, block.length - 4), maxBytes);
  } catch (err) {
    throw new AvroDecodeError('corrupt', `snappy: ${(err as Error).message}`);
  }
  const expected = block.readUInt32BE(block.length - 4);
  const actual = crc32(data);
  if (actual !== expected)
    throw new AvroDecodeError(
      'corrupt',
      `snappy: CRC32 of the block is ${actual.toString(16)}, the container says ${expected.toString(16)}`,
    );
  return data;
}

function zstandardBlock(block: Buffer, maxBytes: number): Buffer {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let ended = false;
  const stream = new Decompress((chunk, final) => {
    size += chunk.length;
    if (size > maxBytes) throw new AvroDecodeError('corrupt', `zstandard: block decompresses to more than ${maxBytes} bytes`);
    chunks.push(chunk);
    if (final) ended = true;
  });
  try {
    stream.push(block, true);
  } catch (err) {
    if (err instanceof AvroDecodeError) throw err;
    throw new AvroDecodeError('corrupt', `zstandard: ${(err as Error).message}`);
  }
  if (!ended && block.length > 0) throw new AvroDecodeError('corrupt', 'zstandard: the block ends inside a frame');
  return Buffer.concat(chunks, size);
}
