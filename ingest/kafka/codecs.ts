/**
 * Kafka-level compression codecs. kafkajs implements only gzip itself; a record batch compressed
 * with snappy, lz4 or zstd (what Java, librdkafka and Python producers offer as
 * `compression.type`) fails to decode with "<codec> compression not implemented" unless a codec is
 * registered in kafkajs' global `CompressionCodecs` table.
 *
 * - snappy: `kafkajs-snappy` (pure JS, snappyjs; reads the xerial framing Java producers write)
 * - lz4: `kafkajs-lz4` (node-lz4, built at install; Kafka's LZ4 frame format, KIP-57)
 * - zstd: `zstd-napi` (Node-API binding of libzstd, built at install), adapted here: the kafkajs
 *   package `@kafkajs/zstd` depends on `cppzst`, whose native build fails on Node 20's headers
 *   (they need C++17), so it cannot be installed.
 */
import kafkajs from 'kafkajs';
import SnappyCodec from 'kafkajs-snappy';
import lz4Module from 'kafkajs-lz4';
import { compress as zstdCompress, decompress as zstdDecompress } from 'zstd-napi';

// CommonJS exports that Node's ESM loader does not detect by name.
const { CompressionCodecs, CompressionTypes } = kafkajs;
// kafkajs-lz4 replaces module.exports with its class, while its typings declare an ES default export.
const LZ4Codec = ((lz4Module as unknown as { default?: unknown }).default ?? lz4Module) as typeof lz4Module.default;

/** Names as Kafka's `compression.type` spells them. */
export const KAFKA_COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export type KafkaCompression = (typeof KAFKA_COMPRESSIONS)[number];

/** The kafkajs codec shape: `compress` receives kafkajs' encoder (its `buffer` is the batch's bytes). */
interface KafkaCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

const zstdCodec = (): KafkaCodec => ({
  compress: (encoder) => Promise.resolve(zstdCompress(encoder.buffer)),
  // Streaming fallback inside zstd-napi handles frames without a content size (Java's zstd-jni writes those).
  decompress: (buffer) => Promise.resolve(zstdDecompress(buffer)),
});

let registered = false;

/**
 * Registers snappy, lz4 and zstd in kafkajs (process-wide, idempotent). Call before any
 * consumer fetches or producer sends with those codecs.
 */
export function registerKafkaCodecs(): void {
  if (registered) return;
  registered = true;
  const codecs = CompressionCodecs as Record<number, () => KafkaCodec>;
  codecs[CompressionTypes.Snappy] = SnappyCodec;
  codecs[CompressionTypes.LZ4] = new LZ4Codec().codec;
  codecs[CompressionTypes.ZSTD] = zstdCodec;
}

/** kafkajs' numeric compression type for a `compression.type` name. */
export function compressionType(name: KafkaCompression): number {
  const byName: Record<KafkaCompression, number> = {
    none: CompressionTypes.None,
    gzip: CompressionTypes.GZIP,
    snappy: CompressionTypes.Snappy,
    lz4: CompressionTypes.LZ4,
    zstd: CompressionTypes.ZSTD,
  };
  return byName[name];
}
