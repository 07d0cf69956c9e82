/**
 * Avro binary encoding of a TrendPoint written by hand for the current schema
 * (schemas/trend-point.avsc), byte for byte what avsc writes (Avro 1.11 spec, "Binary Encoding":
 * int and long as zig-zag varints, strings as a long byte length and UTF-8, a union as the
 * branch index (a long) and the value, doubles as 8 bytes little-endian).
 *
 * Why not avsc's generated writer: trend points are nearly every record of the pipeline, and per
 * point avsc's union handling, its Tap and the growth retries of `Type.encode` cost more than the
 * encoding itself (writer profile at 150,000 points/s: ~0.5 CPU-s per million points in avsc).
 * The other record types, and writers of other schema versions (tests), keep avsc. Records must be
 * valid (schemas/validate.ts): ids are int32, the timestamp a safe integer.
 */
import type { TrendPoint } from './records.ts';

/** A growable output: `buf` from 0 to `pos` holds what was written. */
export interface ByteOutput {
  buf: Buffer;
  pos: number;
  /** Makes room for `n` more bytes. */
  reserve(n: number): void;
}

/** Longest string copied in a JS loop: Buffer.write crosses into C++ on every call. */
const SHORT_STRING = 64;
/** Scratch for a double's bytes (little-endian on every platform Node runs on). */
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);

/**
 * Bytes a trend point needs at most: 4 ids, window, samples and status as 5-byte ints, the
 * timestamp as a 10-byte long, 3 nullable doubles (1 + 8), 3 strings and 2 union indices, each
 * string at most 3 UTF-8 bytes per UTF-16 unit plus a 10-byte length.
 */
export function maxTrendBytes(p: TrendPoint): number {
  return 7 * 5 + 10 + 3 * 9 + 2 + 30 + 3 * (p.index.length + (p.discreteValue?.length ?? 0) + (p.discreteMax?.length ?? 0));
}

/** Appends `p` to `out` (growing it when needed). */
export function writeTrendPoint(out: ByteOutput, p: TrendPoint): void {
  out.reserve(maxTrendBytes(p));
  let pos = out.pos;
  const b = out.buf;
  pos = writeInt(b, pos, p.dmsId);
  pos = writeInt(b, pos, p.dmaId);
  pos = writeInt(b, pos, p.elementId);
  pos = writeInt(b, pos, p.parameterId);
  pos = writeString(b, pos, p.index);
  pos = writeLong(b, pos, p.timestamp);
  pos = writeInt(b, pos, p.windowMinutes);
  pos = writeNullableDouble(b, pos, p.value);
  pos = writeNullableString(b, pos, p.discreteValue);
  pos = writeNullableDouble(b, pos, p.min);
  pos = writeNullableDouble(b, pos, p.max);
  pos = writeNullableString(b, pos, p.discreteMax);
  pos = writeInt(b, pos, p.samples);
  pos = writeInt(b, pos, p.status);
  out.pos = pos;
}

/** An Avro int (32-bit) as a zig-zag varint. */
function writeInt(b: Buffer, pos: number, n: number): number {
  let z = ((n << 1) ^ (n >> 31)) >>> 0;
  while (z > 0x7f) {
    b[pos++] = (z & 0x7f) | 0x80;
    z >>>= 7;
  }
  b[pos++] = z;
  return pos;
}

/** An Avro long from a safe integer, as a zig-zag varint. */
function writeLong(b: Buffer, pos: number, n: number): number {
  if (n >= -0x40000000 && n < 0x40000000) return writeInt(b, pos, n);
  const z = n >= 0 ? n * 2 : -n * 2 - 1;
  // z >= 2^31: the low 28 bits are four full groups of seven (each with a continuation bit),
  // the rest (< 2^26) a short varint; one division instead of one per group (a timestamp in ms
  // takes six groups).
  const hi = Math.floor(z / 0x10000000);
  let lo = z - hi * 0x10000000;
  b[pos] = (lo & 0x7f) | 0x80;
  lo >>>= 7;
  b[pos + 1] = (lo & 0x7f) | 0x80;
  lo >>>= 7;
  b[pos + 2] = (lo & 0x7f) | 0x80;
  b[pos + 3] = (lo >>> 7) | 0x80;
  return writeUnsigned(b, pos + 4, hi);
}

/** An unsigned varint of `u` < 2^32. */
function writeUnsigned(b: Buffer, pos: number, u: number): number {
  while (u > 0x7f) {
    b[pos++] = (u & 0x7f) | 0x80;
    u >>>= 7;
  }
  b[pos++] = u;
  return pos;
}

function writeDouble(b: Buffer, pos: number, v: number): number {
  F64[0] = v;
  b[pos] = F64_BYTES[0]!;
  b[pos + 1] = F64_BYTES[1]!;
  b[pos + 2] = F64_BYTES[2]!;
  b[pos + 3] = F64_BYTES[3]!;
  b[pos + 4] = F64_BYTES[4]!;
  b[pos + 5] = F64_BYTES[5]!;
  b[pos + 6] = F64_BYTES[6]!;
  b[pos + 7] = F64_BYTES[7]!;
  return pos + 8;
}

function writeString(b: Buffer, pos: number, s: string): number {
  const n = s.length;
  if (n <= SHORT_STRING) {
    // ASCII: the length's zig-zag varint is one byte (2n < 128 for n <= 63) or two.
    const start = pos;
    let p = writeInt(b, pos, n);
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      b[p++] = c;
    }
    if (i === n) return p;
    pos = start;
  }
  const bytes = Buffer.byteLength(s);
  pos = writeLong(b, pos, bytes);
  return pos + b.write(s, pos, 'utf8');
}

function writeNullableDouble(b: Buffer, pos: number, v: number | null): number {
  if (v === null) {
    b[pos] = 0;
    return pos + 1;
  }
  b[pos] = 2;
  return writeDouble(b, pos + 1, v);
}

function writeNullableString(b: Buffer, pos: number, s: string | null): number {
  if (s === null) {
    b[pos] = 0;
    return pos + 1;
  }
  b[pos] = 2;
  return writeString(b, pos + 1, s);
}
