/**
 * Avro trend points -> RowBinary rows of trend_realtime and trend_average, byte to byte: no
 * object per point. Trend points are nearly every record the Sink stores, and decoding them into
 * objects (avsc), checking the objects and encoding them again cost most of the Sink's CPU per
 * point (npx tsx bench/sink-encode.ts).
 *
 * Only the plain case is handled here, and nothing is decided differently from the full path
 * (schemas/container.ts decodeRecords -> validate.ts invalidRecords -> encoders.ts): the
 * container's writer schema must be the current TrendPoint schema, every string ASCII, every
 * value within `plainlyValidTrend`'s bounds. On anything else — a value out of range, a non-ASCII
 * string, a malformed varint — `transcodeTrends` returns undefined and the caller takes the full
 * path, which stores the message or dead-letters it with the reason. A property test checks that
 * whatever is transcoded here is what the full path would store.
 *
 * Record layout (schemas/trend-point.avsc, Avro binary encoding): dmsId, dmaId, elementId,
 * parameterId (int), index (string), timestamp (long), windowMinutes (int), value (null|double),
 * discreteValue (null|string), min, max (null|double), discreteMax (null|string), samples, status
 * (int).
 */
import type { ContainerBlock } from '../../schemas/container.ts';
import { INT32_MAX, MAX_TS, MIN_TS } from '../../schemas/validate.ts';
import { averageEncoder, realtimeEncoder, type TableRows, type TableWriters } from './encoders.ts';
import { addKey, keysOrNone, partitionKey } from './trend-keys.ts';

/** The bounds of ingest/sink/validate.ts plainlyValidTrend for strings (ASCII: characters = bytes). */
const MAX_INDEX_BYTES = 256;
const MAX_DISCRETE_BYTES = 21_845;

// The read position and end of the block being transcoded, and the last string's byte range:
// module state rather than returned pairs, so that reading a field allocates nothing.
let pos = 0;
let limit = 0;
let textStart = 0;
let textEnd = 0;

/**
 * A zig-zag varint of at most 5 bytes (an Avro int); NaN when malformed or past the block. Most
 * ints here (ids, windows, union branches, string lengths) take one byte: read without the loop.
 */
function readInt(b: Buffer): number {
  if (pos < limit) {
    const x = b[pos]!;
    if (x < 0x80) {
      pos++;
      return (x >>> 1) ^ -(x & 1);
    }
  }
  return readIntLoop(b);
}

function readIntLoop(b: Buffer): number {
  let z = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= limit) return NaN;
    const x = b[pos++]!;
    if (shift === 28 && x > 0x0f) return NaN;
    z |= (x & 0x7f) << shift;
    if (x < 0x80) {
      z >>>= 0;
      return (z >>> 1) ^ -(z & 1);
    }
  }
  return NaN;
}

/**
 * A zig-zag varint of at most 7 bytes (an Avro long below 2^48: every valid timestamp); NaN
 * otherwise. Unrolled: the first 4 bytes (28 bits) in int arithmetic, the rest as a second int,
 * one float multiply to join them — a timestamp takes 6 bytes, and a float multiply-add per byte
 * was a fifth of the transcoder's time (node --cpu-prof on the sink).
 */
function readLong(b: Buffer): number {
  const p = pos;
  if (p + 7 > limit) return readLongNearEnd(b);
  let x = b[p]!;
  let lo = x & 0x7f;
  let n = 1;
  if (x >= 0x80) {
    x = b[p + 1]!;
    lo |= (x & 0x7f) << 7;
    n = 2;
    if (x >= 0x80) {
      x = b[p + 2]!;
      lo |= (x & 0x7f) << 14;
      n = 3;
      if (x >= 0x80) {
        x = b[p + 3]!;
        lo |= (x & 0x7f) << 21;
        n = 4;
      }
    }
  }
  if (x < 0x80) {
    pos = p + n;
    return (lo >>> 1) ^ -(lo & 1);
  }
  x = b[p + 4]!;
  let hi = x & 0x7f;
  n = 5;
  if (x >= 0x80) {
    x = b[p + 5]!;
    hi |= (x & 0x7f) << 7;
    n = 6;
    if (x >= 0x80) {
      x = b[p + 6]!;
      if (x >= 0x80) return NaN;
      hi |= x << 14;
      n = 7;
    }
  }
  pos = p + n;
  const z = hi * 0x1000_0000 + lo; // < 2^49: exact
  return (lo & 1) === 0 ? z / 2 : -(z + 1) / 2;
}

/** readLong within 7 bytes of the block's end: byte by byte, checking the end. */
function readLongNearEnd(b: Buffer): number {
  if (pos >= limit) return NaN;
  // The zig-zag sign is the first byte's low bit: no float modulo at the end.
  const negative = b[pos]! & 1;
  let r = 0;
  let scale = 1;
  for (let k = 0; k < 7; k++) {
    if (pos >= limit) return NaN;
    const x = b[pos++]!;
    r += (x & 0x7f) * scale;
    if (x < 0x80) return negative === 0 ? r / 2 : -(r + 1) / 2;
    scale *= 128;
  }
  return NaN;
}

/**
 * An ASCII string of at most `max` bytes: sets textStart/textEnd; false otherwise. Its length is
 * an Avro long, read as an int: a valid one is below `max`, and a longer varint sends the message
 * to the full path, which decides.
 */
function readAscii(b: Buffer, max: number): boolean {
  const n = readInt(b);
  if (!(n >= 0 && n <= max && pos + n <= limit)) return false;
  for (let i = pos; i < pos + n; i++) if (b[i]! > 0x7f) return false;
  textStart = pos;
  textEnd = pos + n;
  pos += n;
  return true;
}

/**
 * A [null, double] union: -1 for null, else the offset of the double's 8 bytes (finite); -2 when
 * the branch index is not 0 or 1, the double is NaN or infinite, or the block ends. The branch is
 * one byte (zig-zag 0 = 0x00, 1 = 0x02); a double is not finite when its 11 exponent bits are all
 * set (IEEE 754), the last byte's low 7 bits and the one before's high 4 (little-endian).
 */
function readNullableDouble(b: Buffer): number {
  if (pos >= limit) return -2;
  const branch = b[pos]!;
  if (branch === 0) {
    pos++;
    return -1;
  }
  if (branch !== 2 || pos + 9 > limit) return -2;
  if ((b[pos + 8]! & 0x7f) === 0x7f && (b[pos + 7]! & 0xf0) === 0xf0) return -2;
  pos += 9;
  return pos - 8;
}

/** A [null, string] union of ASCII: 0 null, 1 a string (textStart/textEnd), -1 anything else. */
function readNullableAscii(b: Buffer, max: number): number {
  const branch = readInt(b);
  if (branch === 0) return 0;
  if (branch !== 1) return -1;
  return readAscii(b, max) ? 1 : -1;
}

/**
 * Rows for trend_realtime and trend_average from the blocks of a container written with the
 * current TrendPoint schema (ReadContainer.current), into `writers` (reused: the bodies are
 * views, valid until their next use). Undefined when any record is not plainly valid: then
 * nothing here counts, and the caller decodes the message the full way.
 */
export function transcodeTrends(blocks: readonly ContainerBlock[], writers: TableWriters): TableRows[] | undefined {
  const rt = writers.realtime;
  const avg = writers.average;
  rt.reset();
  avg.reset();
  let realtimeRows = 0;
  let averageRows = 0;
  // Distinct (window, day) keys per table (see TableRows.partitionKeys), the last one remembered:
  // a message's rows are mostly of one day.
  const realtimeKeys: number[] = [];
  const averageKeys: number[] = [];
  let lastKey = -1;
  // Distinct DMS ids (see TableRows.dmsIds): a Writer's batch holds the DMSs of one partition.
  const dmsIds: number[] = [];
  let lastDms = -1;
  for (const { bytes: b, count } of blocks) {
    pos = 0;
    limit = b.length;
    for (let n = 0; n < count; n++) {
      const dmsId = readInt(b);
      const dmaId = readInt(b);
      const elementId = readInt(b);
      const parameterId = readInt(b);
      if (!readAscii(b, MAX_INDEX_BYTES)) return undefined;
      const indexStart = textStart;
      const indexEnd = textEnd;
      const timestamp = readLong(b);
      const windowMinutes = readInt(b);
      const value = readNullableDouble(b);
      const hasDiscrete = readNullableAscii(b, MAX_DISCRETE_BYTES);
      const discreteStart = textStart;
      const discreteEnd = textEnd;
      const min = readNullableDouble(b);
      const max = readNullableDouble(b);
      const hasDiscreteMax = readNullableAscii(b, MAX_DISCRETE_BYTES);
      const samples = readInt(b);
      const status = readInt(b);
      // The bounds of plainlyValidTrend (NaN, from a malformed field, fails every comparison).
      if (
        !(
          dmsId >= 0 &&
          dmsId <= INT32_MAX &&
          dmaId >= 0 &&
          dmaId <= INT32_MAX &&
          elementId >= 0 &&
          elementId <= INT32_MAX &&
          parameterId >= -1 &&
          parameterId <= INT32_MAX &&
          timestamp >= MIN_TS &&
          timestamp < MAX_TS &&
          windowMinutes >= 0 &&
          windowMinutes <= 65_535 &&
          value !== -2 &&
          hasDiscrete >= 0 &&
          min !== -2 &&
          max !== -2 &&
          hasDiscreteMax >= 0 &&
          samples >= 0 &&
          samples <= INT32_MAX &&
          status >= -32_768 &&
          status <= 32_767 &&
          (value >= 0 || hasDiscrete === 1 || status !== 0) &&
          (windowMinutes > 0 || (min === -1 && max === -1 && samples === 0))
        )
      )
        return undefined;
      if (dmsId !== lastDms) {
        lastDms = dmsId;
        addKey(dmsIds, dmsId);
      }
      const key = partitionKey(windowMinutes, timestamp);
      if (key !== lastKey) {
        lastKey = key;
        // Past MAX_KEYS the bound is useless (an insert splits above 50 partitions): addKey stops looking.
        addKey(windowMinutes === 0 ? realtimeKeys : averageKeys, key);
      }
      // One room check per row, then byte stores: every value was range-checked above.
      const w = windowMinutes === 0 ? rt : avg;
      const b2 = w.room(ROW_FIXED_BYTES + (indexEnd - indexStart) + (discreteEnd - discreteStart) + (textEnd - textStart));
      let q = w.length;
      q = put32(b2, q, dmsId);
      q = put32(b2, q, dmaId);
      q = put32(b2, q, elementId);
      q = put32(b2, q, parameterId);
      q = putText(b2, q, b, indexStart, indexEnd);
      if (windowMinutes > 0) {
        b2[q++] = windowMinutes;
        b2[q++] = windowMinutes >>> 8;
      }
      const high = Math.floor(timestamp / 0x1_0000_0000);
      q = put32(b2, q, timestamp - high * 0x1_0000_0000);
      q = put32(b2, q, high);
      q = putNullableDouble(b2, q, b, value);
      if (windowMinutes === 0) {
        q = hasDiscrete === 1 ? putText(b2, q, b, discreteStart, discreteEnd) : putEmpty(b2, q);
        b2[q++] = status;
        b2[q++] = status >> 8;
        w.advance(q);
        realtimeRows++;
        continue;
      }
      q = putNullableDouble(b2, q, b, min);
      q = putNullableDouble(b2, q, b, max);
      q = hasDiscrete === 1 ? putText(b2, q, b, discreteStart, discreteEnd) : putEmpty(b2, q);
      q = hasDiscreteMax === 1 ? putText(b2, q, b, textStart, textEnd) : putEmpty(b2, q);
      q = put32(b2, q, samples);
      b2[q++] = status;
      b2[q++] = status >> 8;
      w.advance(q);
      averageRows++;
    }
    if (pos !== limit) return undefined;
  }
  const out: TableRows[] = [];
  if (realtimeRows > 0)
    out.push({
      encoder: realtimeEncoder,
      body: rt.result(),
      rows: realtimeRows,
      partitionKeys: keysOrNone(realtimeKeys),
      dmsIds: keysOrNone(dmsIds),
    });
  if (averageRows > 0)
    out.push({
      encoder: averageEncoder,
      body: avg.result(),
      rows: averageRows,
      partitionKeys: keysOrNone(averageKeys),
      dmsIds: keysOrNone(dmsIds),
    });
  return out;
}

/**
 * Bytes of an average row without its strings' bytes (the larger row): 4 ids, window, timestamp,
 * 3 nullable doubles, samples, status, and 3 string lengths of up to 3 LEB128 bytes each.
 */
const ROW_FIXED_BYTES = 4 * 4 + 2 + 8 + 3 * 9 + 4 + 2 + 3 * 3;

function put32(b: Buffer, q: number, v: number): number {
  b[q] = v;
  b[q + 1] = v >>> 8;
  b[q + 2] = v >>> 16;
  b[q + 3] = v >>> 24;
  return q + 4;
}

/** A RowBinary String (LEB128 length, bytes) from bytes [start, end) of `src`. */
function putText(b: Buffer, q: number, src: Buffer, start: number, end: number): number {
  let n = end - start;
  while (n >= 0x80) {
    b[q++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  b[q++] = n;
  for (let i = start; i < end; i++) b[q++] = src[i]!;
  return q;
}

function putEmpty(b: Buffer, q: number): number {
  b[q] = 0;
  return q + 1;
}

/** A Nullable(Float64): the null flag, then the 8 bytes at `at` of `src` (at < 0: NULL). */
function putNullableDouble(b: Buffer, q: number, src: Buffer, at: number): number {
  if (at < 0) {
    b[q] = 1;
    return q + 1;
  }
  b[q++] = 0;
  for (let i = 0; i < 8; i++) b[q + i] = src[at + i]!;
  return q + 8;
}
