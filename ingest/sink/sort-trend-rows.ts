/**
 * Trend rows put in their table's ORDER BY before they are inserted. ClickHouse sorts every
 * inserted block by the sorting key unless it already is in that order (MergeTreeDataWriter:
 * `isAlreadySorted`, then `stableGetPermutation`; 18.16 and current versions alike, counted as
 * ProfileEvents `MergeTreeDataWriterBlocksAlreadySorted`). That sort was a quarter of the server's
 * CPU at 1,000,000 points/s (`perf record` of clickhouse-server during `bench/e2e.ts`), and an
 * insert of 250,000 real-time rows in arrival order (time, then element) cost the server 61–68 ms
 * of CPU against 31–38 ms for the same rows in key order (`system.query_log`).
 *
 * Here it is cheaper because the rows' shape is known: a batch holds a few thousand series
 * (dms_id, dma_id, element_id, parameter_id, idx[, window_minutes] — the bytes every row starts
 * with), each in time order already unless an agent's spool or a re-read mixed old points in.
 * Rows are told apart by series through a hash table of those leading bytes (one probe per row)
 * and only the few series are sorted. When every series' times only go forward, each row is
 * copied, in arrival order, to the next place of its series' region of the output; otherwise
 * the rows go through a counting sort by series and a stable sort by time. Either way rows with
 * equal keys keep their arrival order, as ClickHouse's stable sort kept it (a ReplacingMergeTree
 * keeps the last of equal rows): the part written is the same as before, byte for byte. Bodies
 * are the encoders' layouts (ingest/sink/encoders.ts: realtimeEncoder, averageEncoder), as chunks
 * in which rows may straddle chunk boundaries (RowChunks).
 *
 * The scratch arrays are kept between batches, so sorting allocates little per batch: 28 bytes
 * per row of the largest batch, rounded up to a power of two (14 MiB at STAAS_SINK_BATCH_ROWS =
 * 450,000, its default), and the series' hash table up to 4 MiB. They are outside the memory cap
 * (STAAS_SINK_MAX_BUFFERED_BYTES), as is the sorted copy of a batch while it is made; arrays for
 * more than KEEP_ROWS rows, and a hash table past KEEP_SLOTS, are let go after use.
 */
import type { RowChunks } from './row-chunks.ts';

/** The trend tables' row layouts (encoders.ts column order). */
export type TrendLayout = 'realtime' | 'average';

// Per-row and per-series scratch, grown as needed and kept: a Sink sorts a batch at a time.
let rowChunk: Int32Array = new Int32Array(0);
let rowStart: Int32Array = new Int32Array(0);
let rowLength: Int32Array = new Int32Array(0);
let rowSeries: Int32Array = new Int32Array(0);
let rowTs: Float64Array = new Float64Array(0);
let order: Int32Array = new Int32Array(0);
/** Per series: its first row (the bytes of its key). */
let seriesRow: Int32Array = new Int32Array(0);
/** The series' hash table (see SLOT). */
let table: Int32Array = new Int32Array(0);
/** Whether the rows being sorted are trend_average's (their key ends with window_minutes). */
let averageRows = false;

function grownInt32(a: Int32Array, n: number): Int32Array {
  return a.length >= n ? a : new Int32Array(Math.max(n, a.length * 2));
}

/**
 * The buffers rows are in (rowChunk): the body's chunks, then for each row that straddled chunks
 * a joined copy (the row and what followed it of the next chunk).
 */
let sources: Buffer[] = [];

/**
 * At most this many series in one sorted batch. Sorting pays when series have several rows each;
 * a batch with more series than this (a huge fleet, each series a row or two) is left to the
 * server, and the hash table stays within 2 × this × 32 bytes (4 MiB).
 */
export const MAX_SERIES = 65_536;

class TooManySeries extends Error {}

/**
 * Writes the rows of `body` (whole rows of `layout`, in chunks) into `out` in the table's sorting
 * key order; returns the number of rows, or -1 (nothing written) when they hold more than
 * MAX_SERIES series. Throws RangeError when `body` does not hold whole rows of the layout (then
 * `out` holds an unspecified part of them).
 */
export function sortTrendRows(body: readonly Buffer[], layout: TrendLayout, out: RowChunks): number {
  averageRows = layout === 'average';
  sources = [...body];
  try {
    return sortRows(body, out);
  } catch (err) {
    if (err instanceof TooManySeries) return -1;
    throw err;
  } finally {
    sources = []; // no batch's chunks kept alive here
    if (rowChunk.length > KEEP_ROWS) {
      rowChunk = rowStart = rowLength = rowSeries = order = new Int32Array(0);
      rowTs = new Float64Array(0);
    }
    if (table.length > KEEP_SLOTS * SLOT) table = new Int32Array(0);
  }
}

/** Rows whose scratch arrays are kept for the next batch (a larger batch's are let go after it). */
const KEEP_ROWS = 1 << 19;
/** Hash table slots kept for the next batch (1 MiB; room for 16,384 series): a larger table is let go. */
const KEEP_SLOTS = 1 << 15;

function sortRows(body: readonly Buffer[], out: RowChunks): number {
  startSeries();
  const n = indexRows(body, averageRows);
  const s = series;
  const byRank = seriesInKeyOrder(s);
  if (!timeGoesBack) {
    scatter(n, s, byRank, out);
    return n;
  }
  // Counting sort by series rank: each series' rows in arrival order.
  const rank = new Int32Array(s);
  for (let k = 0; k < s; k++) rank[byRank[k]!] = k;
  const starts = new Int32Array(s + 1);
  for (let r = 0; r < n; r++) starts[rank[rowSeries[r]!]! + 1]!++;
  for (let i = 0; i < s; i++) starts[i + 1]! += starts[i]!;
  order = grownInt32(order, n);
  const next = starts.slice(0, s);
  for (let r = 0; r < n; r++) order[next[rank[rowSeries[r]!]!]!++] = r;
  for (let i = 0; i < s; i++) sortByTime(starts[i]!, starts[i + 1]!);
  for (let i = 0; i < n; i++) {
    const r = order[i]!;
    out.appendRange(sources[rowChunk[r]!]!, rowStart[r]!, rowStart[r]! + rowLength[r]!);
  }
  return n;
}

/**
 * Writes the rows, read in arrival order, each to its place in `out`: every series' rows are in
 * time order already, so each series' region is filled front to back. Reading in order and
 * writing to a few thousand moving places stays in the CPU's caches; reading in sorted order
 * (`order`) touched a far row each time and cost a third more.
 */
function scatter(n: number, s: number, byRank: Int32Array, out: RowChunks): void {
  // Bytes per series, then each series' first byte in sorted order.
  const bytes = new Float64Array(s);
  for (let r = 0; r < n; r++) bytes[rowSeries[r]!]! += rowLength[r]!;
  let total = 0;
  const first = new Float64Array(s);
  for (let k = 0; k < s; k++) {
    const id = byRank[k]!;
    first[id] = total;
    total += bytes[id]!;
  }
  const chunks = out.allocate(total);
  // Each series' write position as (chunk, offset).
  const curChunk = new Int32Array(s);
  const curOff = new Int32Array(s);
  let c = 0;
  let chunkStart = 0;
  for (let k = 0; k < s; k++) {
    const id = byRank[k]!;
    while (c < chunks.length - 1 && first[id]! >= chunkStart + chunks[c]!.length) chunkStart += chunks[c++]!.length;
    curChunk[id] = c;
    curOff[id] = first[id]! - chunkStart;
  }
  const srcViews = sources.map((b) => new DataView(b.buffer, b.byteOffset, b.byteLength));
  const dstViews = chunks.map((b) => new DataView(b.buffer, b.byteOffset, b.byteLength));
  for (let r = 0; r < n; r++) {
    const id = rowSeries[r]!;
    const sc = rowChunk[r]!;
    let p = rowStart[r]!;
    let left = rowLength[r]!;
    let ci = curChunk[id]!;
    let o = curOff[id]!;
    let dst = chunks[ci]!;
    if (o + left < dst.length) {
      // Four bytes at a time (a DataView's unaligned loads and stores), then the rest.
      const sv = srcViews[sc]!;
      const dv = dstViews[ci]!;
      const words = p + (left & ~3);
      for (; p < words; p += 4, o += 4) dv.setInt32(o, sv.getInt32(p, true), true);
      const src = sources[sc]!;
      for (const end = p + (left & 3); p < end; ) dst[o++] = src[p++]!;
    } else {
      // The row reaches the end of its chunk: the rest goes at the start of the next.
      const src = sources[sc]!;
      while (left > 0) {
        const take = Math.min(left, dst.length - o);
        for (const end = p + take; p < end; ) dst[o++] = src[p++]!;
        left -= take;
        if (o === dst.length && ci + 1 < chunks.length) {
          dst = chunks[++ci]!;
          o = 0;
        }
      }
    }
    curChunk[id] = ci;
    curOff[id] = o;
  }
}

/** Finds every row (rowChunk, rowStart, rowLength, rowTs, rowSeries); returns their number. */
function indexRows(body: readonly Buffer[], average: boolean): number {
  let n = 0;
  let carry: Buffer | undefined;
  for (let c = 0; c < body.length; c++) {
    const chunk = body[c]!;
    let pos = 0;
    if (carry !== undefined) {
      // A row cut at the previous chunk's end: join it with the start of this one.
      let joined: Buffer | undefined;
      for (let window = 4096; ; window *= 4) {
        joined = Buffer.concat([carry, chunk.subarray(0, window)]);
        const end = rowEnd(joined, 0, average);
        if (end >= 0) {
          sources.push(joined);
          n = addRow(n, sources.length - 1, 0, end, joined, average);
          pos = end - carry.length;
          carry = undefined;
          break;
        }
        if (window >= chunk.length) break;
      }
      if (carry !== undefined) {
        carry = joined;
        continue;
      }
    }
    while (pos < chunk.length) {
      const end = rowEnd(chunk, pos, average);
      if (end < 0) {
        carry = Buffer.from(chunk.subarray(pos));
        break;
      }
      n = addRow(n, c, pos, end, chunk, average);
      pos = end;
    }
  }
  if (carry !== undefined) throw new RangeError(`trend rows end inside a row (${carry.length} bytes left)`);
  return n;
}

function addRow(n: number, c: number, start: number, end: number, b: Buffer, average: boolean): number {
  if (n >= rowChunk.length) {
    const size = Math.max(1024, n * 2);
    const grow = (a: Int32Array) => {
      const g = new Int32Array(size);
      g.set(a.subarray(0, n));
      return g;
    };
    rowChunk = grow(rowChunk);
    rowStart = grow(rowStart);
    rowLength = grow(rowLength);
    rowSeries = grow(rowSeries);
    const ts = new Float64Array(size);
    ts.set(rowTs.subarray(0, n));
    rowTs = ts;
  }
  const idx = b[start + 16]!;
  const keyLength = (idx < 0x80 ? 17 + idx : keyLengthOfLongIndex(b, start)) + (average ? 2 : 0);
  const t = start + keyLength;
  const id = seriesOf(n, b, start, keyLength);
  // UInt64 little-endian; a valid time is below 2^53 (7 bytes).
  const ts =
    (b[t]! | (b[t + 1]! << 8) | (b[t + 2]! << 16)) +
    b[t + 3]! * 0x100_0000 +
    (b[t + 4]! + b[t + 5]! * 0x100 + b[t + 6]! * 0x1_0000) * 0x1_0000_0000;
  rowChunk[n] = c;
  rowStart[n] = start;
  rowLength[n] = end - start;
  rowSeries[n] = id;
  rowTs[n] = ts;
  if (ts < seriesLastTs[id]!) timeGoesBack = true;
  seriesLastTs[id] = ts;
  return n + 1;
}

/**
 * The end of the row starting at `pos`, or -1 when it does not end within `b`. Strings are
 * short: one whose length takes more than one LEB128 byte goes the slow way.
 */
function rowEnd(b: Buffer, pos: number, average: boolean): number {
  const len = b.length;
  let p = pos + 16;
  if (p >= len) return -1;
  const idx = b[p]!;
  if (idx >= 0x80) return slowRowEnd(b, pos, average);
  p += 1 + idx + (average ? 2 : 0) + 8;
  const doubles = average ? 3 : 1;
  for (let i = 0; i < doubles; i++) {
    if (p >= len) return -1;
    // Any non-zero flag is NULL, as ClickHouse reads it (its readBinary of a bool).
    p += b[p] !== 0 ? 1 : 9;
  }
  const strings = average ? 2 : 1;
  for (let i = 0; i < strings; i++) {
    if (p >= len) return -1;
    const l = b[p]!;
    if (l >= 0x80) return slowRowEnd(b, pos, average);
    p += 1 + l;
  }
  p += average ? 6 : 2;
  return p <= len ? p : -1;
}

/** A LEB128 length at `p` and where its bytes start; undefined when cut. */
function leb128(b: Buffer, p: number): [number, number] | undefined {
  let v = 0;
  let scale = 1;
  for (;;) {
    if (p >= b.length) return undefined;
    const x = b[p++]!;
    v += (x & 0x7f) * scale;
    if (x < 0x80) return [v, p];
    scale *= 128;
  }
}

/** rowEnd for a row with a long string. */
function slowRowEnd(b: Buffer, pos: number, average: boolean): number {
  const afterString = (p: number) => {
    const l = leb128(b, p);
    return l === undefined ? -1 : l[1] + l[0];
  };
  let p = afterString(pos + 16);
  if (p < 0) return -1;
  p += (average ? 2 : 0) + 8;
  for (let i = 0; i < (average ? 3 : 1); i++) {
    if (p >= b.length) return -1;
    p += b[p] !== 0 ? 1 : 9;
  }
  for (let i = 0; i < (average ? 2 : 1); i++) {
    p = afterString(p);
    if (p < 0) return -1;
  }
  p += average ? 6 : 2;
  return p <= b.length ? p : -1;
}

/** The key length through idx of a row whose idx length takes more than one LEB128 byte (rowEnd read it whole). */
function keyLengthOfLongIndex(b: Buffer, start: number): number {
  const l = leb128(b, start + 16)!;
  return l[1] + l[0] - start;
}

/** Series found so far, and the hash table of their keys (series id + 1; 0 empty; a power of two long). */
let series = 0;
/** Slots of the table less one (their count is a power of two). */
let tableMask = 0;
/** Per series: the time of its last row so far; whether any series' times went back. */
let seriesLastTs: Float64Array = new Float64Array(0);
let timeGoesBack = false;

function startSeries(): void {
  series = 0;
  timeGoesBack = false;
  if (table.length === 0) table = new Int32Array(FIRST_SLOTS * SLOT);
  else table.fill(0);
  tableMask = table.length / SLOT - 1;
}

/**
 * The hash table's slot layout: the series id + 1 (0: empty), its key's four Int32s, its key's
 * length and hash — one cache line per probe, instead of one per array.
 */
const SLOT = 8;
/** The hash table's first size (slots): room for 4,096 series before it grows. */
const FIRST_SLOTS = 8192;

/** The series of row `r` (its key: `length` bytes of `b` from `start`), added when new. */
function seriesOf(r: number, b: Buffer, start: number, length: number): number {
  const k0 = b[start]! | (b[start + 1]! << 8) | (b[start + 2]! << 16) | (b[start + 3]! << 24);
  const k1 = b[start + 4]! | (b[start + 5]! << 8) | (b[start + 6]! << 16) | (b[start + 7]! << 24);
  const k2 = b[start + 8]! | (b[start + 9]! << 8) | (b[start + 10]! << 16) | (b[start + 11]! << 24);
  const k3 = b[start + 12]! | (b[start + 13]! << 8) | (b[start + 14]! << 16) | (b[start + 15]! << 24);
  let h = Math.imul(k0 ^ 0x811c9dc5, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ k1, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ k2, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ k3, 0x9e3779b1);
  for (let i = start + 16, end = start + length; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  h ^= h >>> 15;
  let q = (h & tableMask) * SLOT;
  for (;;) {
    const found = table[q]!;
    if (found === 0) break;
    if (
      table[q + 1] === k0 &&
      table[q + 2] === k1 &&
      table[q + 3] === k2 &&
      table[q + 4] === k3 &&
      table[q + 5] === length &&
      (length === 17 || sameKeyTail(found - 1, b, start, length))
    )
      return found - 1;
    q = q + SLOT === table.length ? 0 : q + SLOT;
  }
  if (series === MAX_SERIES) throw new TooManySeries();
  const id = series++;
  if (id >= seriesRow.length) {
    const size = Math.max(1024, id * 2);
    const rows = new Int32Array(size);
    rows.set(seriesRow.subarray(0, id));
    seriesRow = rows;
    const last = new Float64Array(size);
    last.set(seriesLastTs.subarray(0, id));
    seriesLastTs = last;
  }
  seriesRow[id] = r;
  seriesLastTs[id] = -1;
  table[q] = id + 1;
  table[q + 1] = k0;
  table[q + 2] = k1;
  table[q + 3] = k2;
  table[q + 4] = k3;
  table[q + 5] = length;
  table[q + 6] = h;
  if (series * 2 > tableMask + 1) rehash();
  return id;
}

/** The table at twice the slots, every series moved over. */
function rehash(): void {
  const old = table;
  table = new Int32Array(old.length * 2);
  tableMask = table.length / SLOT - 1;
  for (let from = 0; from < old.length; from += SLOT) {
    if (old[from] === 0) continue;
    let q = (old[from + 6]! & tableMask) * SLOT;
    while (table[q] !== 0) q = q + SLOT === table.length ? 0 : q + SLOT;
    table.set(old.subarray(from, from + SLOT), q);
  }
}

/** Whether the key bytes after the four Int32s (idx, window_minutes) of series `id` and of the row at `start` are equal. */
function sameKeyTail(id: number, b: Buffer, start: number, length: number): boolean {
  const r = seriesRow[id]!;
  const a = sources[rowChunk[r]!]!;
  const from = rowStart[r]!;
  for (let i = 16; i < length; i++) if (a[from + i] !== b[start + i]) return false;
  return true;
}

/** The series ids in the sorting key order: (dms_id, dma_id, element_id, parameter_id) as Int32, idx as bytes, then window_minutes. */
function seriesInKeyOrder(s: number): Int32Array {
  const ids = Array.from({ length: s }, (_, i) => i);
  ids.sort(compareSeries);
  return Int32Array.from(ids);
}

function compareSeries(x: number, y: number): number {
  const a = sources[rowChunk[seriesRow[x]!]!]!;
  const b = sources[rowChunk[seriesRow[y]!]!]!;
  const pa = rowStart[seriesRow[x]!]!;
  const pb = rowStart[seriesRow[y]!]!;
  for (let k = 0; k < 16; k += 4) {
    const d = a.readInt32LE(pa + k) - b.readInt32LE(pb + k);
    if (d !== 0) return d;
  }
  const ia = leb128(a, pa + 16)!;
  const ib = leb128(b, pb + 16)!;
  const common = Math.min(ia[0], ib[0]);
  for (let i = 0; i < common; i++) {
    const d = a[ia[1] + i]! - b[ib[1] + i]!;
    if (d !== 0) return d;
  }
  if (ia[0] !== ib[0]) return ia[0] - ib[0];
  // window_minutes (average rows: a UInt16 after idx); real-time keys end with idx.
  const wa = ia[1] + ia[0];
  const wb = ib[1] + ib[0];
  return averageRows ? a.readUInt16LE(wa) - b.readUInt16LE(wb) : 0;
}

/** Sorts order[from, to) (one series' rows, in arrival order) by time, keeping arrival order among equal times. */
function sortByTime(from: number, to: number): void {
  let inOrder = true;
  for (let i = from + 1; i < to && inOrder; i++) inOrder = rowTs[order[i]!]! >= rowTs[order[i - 1]!]!;
  if (inOrder) return;
  const part = Array.from(order.subarray(from, to));
  part.sort((x, y) => rowTs[x]! - rowTs[y]! || x - y);
  order.set(part, from);
}
