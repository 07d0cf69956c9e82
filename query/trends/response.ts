/**
 * Writes a trend answer as text while its rows arrive, so that a large answer (up to maxSeries ×
 * maxPoints points) is streamed, never held whole in memory, and no object per point is built
 * for raw rows (profiled: building the points and serialising them through the response schema
 * cost more Node CPU than decoding the rows).
 *
 * Two formats with the same content:
 * - `json`: one document, exactly the route's response schema
 *   (`{dmaId, elementId, from, to, order, series: [{…, points: […]}], statusRows: […]}`);
 * - `ndjson` (application/x-ndjson): one JSON object per line, each readable alone —
 *   `{"kind":"trend", dmaId, elementId, from, to, order}` first, then per series
 *   `{"kind":"series", parameterId, index, type, windowMinutes, aggregated, bucketMs}` followed by
 *   its points `{"kind":"point", parameterId, index, time, status, value, …}`, then the element
 *   status rows `{"kind":"status", time, status}`.
 *
 * Input: rows of `trendDataQuery` in answer order (series by `ord`, then status rows with
 * `ord` = the number of series), in batches; with a `SealedSplice`, the text of cached sealed days
 * goes in between, where their time range falls.
 */
import { Readable } from 'node:stream';
import { ByteText } from '../http/byte-text.ts';
import { GzipSplice, rawOf, type AnswerPiece } from '../http/gzip-splice.ts';
import { RowBinaryError, spanReaderFor, spanSlots } from '../rowbinary.ts';
import type { DayText } from './day-cache.ts';
import { bucketPoint, type BucketGroup, type TrendPointOut } from './points.ts';
import { TREND_DATA_SHAPE, type BucketStats, type SeriesRead } from './sql.ts';

export type TrendFormat = 'json' | 'ndjson';

/** A spliced day at least this large goes on as a view of the cache's buffer; smaller ones are copied into pieces of about this size. */
const SPLICE_VIEW_BYTES = 64 * 1024;

/**
 * Points of sealed days from the API's cache (trends/day-cache.ts), spliced into the answer of a
 * read of the rest of the range: every row of the read is either before `from` or at/after `to`.
 */
export interface SealedSplice {
  /** The sealed days' range [from, to) (epoch ms). */
  from: number;
  to: number;
  /** Per series `ord` (the status rows at `reads.length`): its days' points [k0, k1), oldest first. */
  days: readonly (readonly DaySlice[])[];
}

/** The points [k0, k1) (oldest first) of one day's text. */
export interface DaySlice {
  text: DayText;
  k0: number;
  k1: number;
}

/** What the answer says about the request. */
export interface TrendHead {
  dmaId: number;
  elementId: number;
  from: number;
  to: number;
  order: 'asc' | 'desc';
}

/** JSON text of a number as JSON.stringify writes it (non-finite: null). */
const num = (v: number | null): string => (v === null || !Number.isFinite(v) ? 'null' : String(v));
const str = (s: string | null): string => (s === null ? 'null' : JSON.stringify(s));

function pointFields(p: TrendPointOut): string {
  return `"time":${p.time},"status":${p.status},"value":${num(p.value)},"min":${num(p.min)},"max":${num(p.max)},"samples":${num(p.samples)},"discreteValue":${str(p.discreteValue)},"discreteMax":${str(p.discreteMax)}`;
}

const { slots: SLOT } = spanSlots(TREND_DATA_SHAPE);
const ORD = SLOT.ord!;
const AGG = SLOT.agg!;
const JSON_TEXT = SLOT.json!;
const VALUE_DISCRETE = SLOT.value_discrete!;
const MAX_DISCRETE = SLOT.max_discrete!;
const readRow = spanReaderFor(TREND_DATA_SHAPE);
/** The end of a raw point without discrete values, encoded once: most points of numeric parameters. */
const NO_DISCRETES = Buffer.from(',"discreteValue":null,"discreteMax":null', 'latin1');
const POINT_END = Buffer.from('}', 'latin1');
const POINT_END_LINE = Buffer.from('}\n', 'latin1');

/** A discrete string column of a row as JSON: '' (no value) is null. */
function writeDiscrete(out: ByteText, buf: Buffer, spans: Float64Array, slot: number): void {
  const start = spans[slot]!;
  const end = spans[slot + 1]!;
  if (start === end) out.ascii('null');
  else out.utf8(JSON.stringify(buf.toString('utf8', start, end)));
}

/**
 * The fields of a raw point of the data query's row at `spans` (read by `readTrendDataRow`),
 * without braces: ClickHouse's text of its numbers, then the discrete strings (`averaged`: an
 * average tier; real-time rows have no discreteMax). Returns true when it had no discrete values.
 */
export function writePointFields(out: ByteText, buf: Buffer, spans: Float64Array, averaged: boolean): boolean {
  out.copy(buf, spans[JSON_TEXT]!, spans[JSON_TEXT + 1]!);
  if (spans[VALUE_DISCRETE] === spans[VALUE_DISCRETE + 1] && (!averaged || spans[MAX_DISCRETE] === spans[MAX_DISCRETE + 1])) {
    out.bytes(NO_DISCRETES);
    return true;
  }
  out.ascii(',"discreteValue":');
  writeDiscrete(out, buf, spans, VALUE_DISCRETE);
  out.ascii(',"discreteMax":');
  if (averaged) writeDiscrete(out, buf, spans, MAX_DISCRETE);
  else out.ascii('null');
  return false;
}

/**
 * Reads the data query's row at `at` of `buf` into `spans` (a Float64Array of
 * `TREND_DATA_SPANS`): returns the next row's offset, or -1 when the row is cut short.
 */
export const readTrendDataRow: (buf: Buffer, at: number, spans: Float64Array) => number = readRow;
/** The length of the spans array `readTrendDataRow` fills. */
export const TREND_DATA_SPANS = spanSlots(TREND_DATA_SHAPE).size;
/** Slots of the spans: `ord` and `agg` values; `json` start (end at +1). */
export const TREND_DATA_SLOT = { ord: ORD, agg: AGG, json: JSON_TEXT } as const;

/**
 * The answer's bytes, piece by piece: `start()` once, `add(buf)` per chunk of the data query's
 * RowBinary answer (it consumes the whole rows and returns how many bytes they took), `end()`
 * once; `take()` hands over what was written so far. Raw points and status rows are copied as
 * bytes (their text was written by ClickHouse: `TrendDataRow.json`); only discrete strings and
 * bucket groups are decoded. Rows of one bucket (same series and bucket start, `agg` 1) may span
 * chunks: they are held until the next row or `end()`.
 */
export class TrendBodyWriter {
  /** The series whose header was written last; -1 before the first. */
  private current = -1;
  /** Points (json) written in the current series or status rows, for the separators. */
  private written = 0;
  /** The groups of the bucket being read, and its series. */
  private group: BucketGroup[] = [];
  private groupOrd = -1;
  private readonly out = new ByteText();
  private readonly spans = new Float64Array(spanSlots(TREND_DATA_SHAPE).size);
  /** Per series: what precedes a point's fields in NDJSON (kind, parameterId, index). */
  private readonly ndjsonPrefix: string[];
  /** Per series `ord`: whether its sealed days were written. */
  private readonly spliced: boolean[];
  /** Pieces taken before a spliced day's buffer, and those buffers (or their deflated forms), in answer order (see `take`). */
  private queued: AnswerPiece[] = [];

  constructor(
    private readonly head: TrendHead,
    private readonly reads: readonly SeriesRead[],
    /** Bucket width of aggregated series (ms). */
    private readonly bucketMs: number,
    readonly format: TrendFormat,
    private readonly sealed?: SealedSplice,
    /**
     * Whether the answer is gzip-spliced (http/gzip-splice.ts): whole sealed days of a JSON
     * answer then go out as their cached deflated text (`DayText.deflated`), not copied.
     */
    private readonly deflatedDays = false,
  ) {
    this.ndjsonPrefix = reads.map((r) => `{"kind":"point","parameterId":${r.parameterId},"index":${JSON.stringify(r.index)},`);
    this.spliced = new Array<boolean>(reads.length + 1).fill(sealed === undefined);
  }

  start(): void {
    const h = this.head;
    const fields = `"dmaId":${h.dmaId},"elementId":${h.elementId},"from":${h.from},"to":${h.to},"order":"${h.order}"`;
    this.out.ascii(this.format === 'json' ? `{${fields},"series":[` : `{"kind":"trend",${fields}}\n`);
  }

  /** Writes the whole rows of `buf`; returns the bytes they took (a row cut at the end waits for the next chunk). */
  add(buf: Buffer): number {
    const s = this.spans;
    let at = 0;
    for (;;) {
      const next = readRow(buf, at, s);
      if (next < 0) return at;
      at = next;
      const ord = s[ORD]!;
      if (s[AGG] === 1) {
        const g: BucketGroup = {
          stats: JSON.parse(buf.toString('latin1', s[JSON_TEXT], s[JSON_TEXT + 1])) as BucketStats,
          valueDiscrete: buf.toString('utf8', s[VALUE_DISCRETE], s[VALUE_DISCRETE + 1]),
          maxDiscrete: buf.toString('utf8', s[MAX_DISCRETE], s[MAX_DISCRETE + 1]),
        };
        if (this.group.length > 0 && (ord !== this.groupOrd || g.stats.time !== this.group[0]!.stats.time)) this.flushGroup();
        if (ord !== this.current) this.moveTo(ord);
        this.group.push(g);
        this.groupOrd = ord;
        continue;
      }
      if (this.group.length > 0) this.flushGroup();
      if (ord !== this.current) this.moveTo(ord);
      if (!this.spliced[ord] && this.spliceDue(buf)) this.splice(ord);
      if (ord === this.reads.length) this.statusRow(buf);
      else this.rawPoint(buf, ord);
    }
  }

  end(): void {
    this.flushGroup();
    this.moveTo(this.reads.length);
    if (!this.spliced[this.reads.length]) this.splice(this.reads.length);
    if (this.format === 'json') this.out.ascii(']}');
  }

  /** Whether the current raw row comes after the sealed days in the answer's order. */
  private spliceDue(buf: Buffer): boolean {
    const t = timeOf(buf, this.spans[JSON_TEXT]!);
    return this.head.order === 'asc' ? t >= this.sealed!.to : t < this.sealed!.from;
  }

  /** Writes the sealed days of series `ord` (the current one). */
  private splice(ord: number): void {
    this.spliced[ord] = true;
    const days = this.sealed!.days[ord] ?? [];
    const asc = this.head.order === 'asc';
    for (let k = 0; k < days.length; k++) {
      const { text, k0, k1 } = days[asc ? k : days.length - 1 - k]!;
      if (k0 >= k1) continue;
      if (this.format === 'json') {
        if (this.written > 0) this.out.ascii(',');
        const bytes = text.joined(this.head.order, k0, k1);
        this.written += k1 - k0;
        const deflated = this.deflatedDays && k0 === 0 && k1 === text.count ? text.deflated(this.head.order) : undefined;
        if (deflated !== undefined) {
          const head = this.out.take();
          if (head.length > 0) this.queued.push(head);
          this.queued.push({ raw: bytes, deflated });
          continue;
        }
        if (bytes.length >= SPLICE_VIEW_BYTES) {
          const head = this.out.take();
          if (head.length > 0) this.queued.push(head);
          this.queued.push(bytes);
          continue;
        }
        // Small days (a day of hourly averages is ~3 KB) are copied: hundreds of pieces, each a
        // write through the compressor, cost more than the copy (1-year trend: ~10 ms of CPU).
        this.out.bytes(bytes);
        if (this.out.length >= SPLICE_VIEW_BYTES) this.queued.push(this.out.take());
        continue;
      }
      const prefix = ord === this.reads.length ? '{"kind":"status",' : this.ndjsonPrefix[ord]!;
      for (let j = 0; j < k1 - k0; j++) {
        this.out.utf8(prefix);
        this.out.bytes(text.point(asc ? k0 + j : k1 - 1 - j));
        this.out.ascii('}\n');
      }
    }
  }

  /**
   * The bytes written since the last take, in order: pieces of the writer's own buffer and
   * spliced sealed days (the cache's buffers, handed on without a copy, with their deflated form
   * when `deflatedDays`).
   */
  take(): AnswerPiece[] {
    const tail = this.out.take();
    if (this.queued.length === 0) return tail.length === 0 ? [] : [tail];
    const pieces = this.queued;
    this.queued = [];
    if (tail.length > 0) pieces.push(tail);
    return pieces;
  }

  /** Call once the whole answer has been sent: its buffers go to the next answer (ByteText.release). */
  release(): void {
    this.out.release();
  }

  private flushGroup(): void {
    if (this.group.length === 0) return;
    const ord = this.groupOrd;
    const p = bucketPoint(this.group, this.reads[ord]!.windowMinutes > 0);
    this.group = [];
    this.pointStart(ord);
    this.out.utf8(pointFields(p));
    this.out.ascii('}');
    this.pointEnd();
  }

  /** Closes the current series and opens every series up to `ord` (empty ones included). */
  private moveTo(ord: number): void {
    while (this.current < ord) {
      if (this.current >= 0 && !this.spliced[this.current]) this.splice(this.current);
      if (this.format === 'json' && this.current >= 0) this.out.ascii(']}');
      this.current++;
      this.written = 0;
      if (this.current === this.reads.length) {
        if (this.format === 'json') this.out.ascii('],"statusRows":[');
        break;
      }
      const r = this.reads[this.current]!;
      const fields = `"parameterId":${r.parameterId},"index":${JSON.stringify(r.index)},"type":"${r.windowMinutes === 0 ? 'realtime' : 'average'}","windowMinutes":${r.windowMinutes},"aggregated":${r.aggregated},"bucketMs":${r.aggregated ? this.bucketMs : null}`;
      this.out.utf8(this.format === 'json' ? `${this.current > 0 ? ',' : ''}{${fields},"points":[` : `{"kind":"series",${fields}}\n`);
    }
  }

  /** What precedes a point's fields: a separator and `{`, or the NDJSON line's head. */
  private pointStart(ord: number): void {
    if (this.format === 'json') this.out.ascii(this.written++ > 0 ? ',{' : '{');
    else this.out.utf8(this.ndjsonPrefix[ord]!);
  }

  private pointEnd(): void {
    if (this.format === 'ndjson') this.out.ascii('\n');
  }

  /** A raw point: ClickHouse's text of its numbers, then the discrete strings (real-time rows have no discreteMax). */
  private rawPoint(buf: Buffer, ord: number): void {
    this.pointStart(ord);
    if (writePointFields(this.out, buf, this.spans, this.reads[ord]!.windowMinutes > 0)) {
      this.out.bytes(this.format === 'json' ? POINT_END : POINT_END_LINE);
      return;
    }
    this.out.ascii('}');
    this.pointEnd();
  }

  private statusRow(buf: Buffer): void {
    if (this.format === 'json') this.out.ascii(this.written++ > 0 ? ',{' : '{');
    else this.out.ascii('{"kind":"status",');
    this.out.copy(buf, this.spans[JSON_TEXT]!, this.spans[JSON_TEXT + 1]!);
    this.out.ascii(this.format === 'json' ? '}' : '}\n');
  }
}

/** The time of a raw row or status row: its JSON text starts `"time":<digits>` (trends/sql.ts). */
export function timeOf(buf: Buffer, jsonStart: number): number {
  let t = 0;
  for (let i = jsonStart + 7; i < buf.length; i++) {
    const c = buf[i]! - 48;
    if (c < 0 || c > 9) break;
    t = t * 10 + c;
  }
  return t;
}

/**
 * The answer as pieces, those of each chunk of the data query's RowBinary answer in turn (empty
 * ones skipped). Throws RowBinaryError when the answer ends inside a row.
 */
export async function* trendBody(writer: TrendBodyWriter, chunks: AsyncIterable<Buffer> | Iterable<Buffer>): AsyncGenerator<AnswerPiece> {
  writer.start();
  /** The start of a row cut by the end of the previous chunk. */
  let pending: Buffer | undefined;
  for await (const chunk of chunks) {
    let rest = chunk;
    if (pending !== undefined) {
      // Complete the cut row from the head of this chunk (copying a few KiB, not the chunk:
      // a copy of every chunk was as much garbage again as the answer).
      for (let head = Math.min(chunk.length, 4096); ; head = Math.min(chunk.length, head * 4)) {
        const joined = Buffer.concat([pending, chunk.subarray(0, head)]);
        const used = writer.add(joined);
        if (used > pending.length) {
          rest = chunk.subarray(used - pending.length);
          pending = undefined;
          break;
        }
        if (head === chunk.length) {
          pending = joined;
          rest = chunk.subarray(chunk.length);
          break;
        }
      }
    }
    if (pending === undefined) {
      const used = writer.add(rest);
      if (used < rest.length) pending = rest.subarray(used);
    }
    yield* writer.take();
  }
  if (pending !== undefined) throw new RowBinaryError(`the trend answer ends inside a row (${pending.length} bytes)`);
  writer.end();
  yield* writer.take();
}

async function* plainBody(pieces: AsyncIterable<AnswerPiece>): AsyncGenerator<Buffer> {
  for await (const p of pieces) yield rawOf(p);
}

/** Gzip output is handed on in buffers of at least this many bytes (the last excepted). */
const GZIP_CHUNK_BYTES = 64 * 1024;

/**
 * The spliced gzip answer, its small pieces (a cached day deflates to ~3 KB, a separator to a
 * 6-byte stored block) joined into buffers of GZIP_CHUNK_BYTES: each buffer handed on is a chunk
 * of the HTTP answer with its own header, and a 30-day answer in ~100 pieces cost the event loop
 * more in socket writes than its whole compression (profiled).
 */
async function* gzipBody(pieces: AsyncIterable<AnswerPiece>, level: number): AsyncGenerator<Buffer> {
  const gzip = new GzipSplice(level);
  let batch: Buffer[] = [];
  let bytes = 0;
  const add = (out: Buffer[]) => {
    for (const b of out) {
      batch.push(b);
      bytes += b.length;
    }
  };
  const take = () => {
    const joined = batch.length === 1 ? batch[0]! : Buffer.concat(batch, bytes);
    batch = [];
    bytes = 0;
    return joined;
  };
  for await (const p of pieces) {
    add(gzip.push(p));
    if (bytes >= GZIP_CHUNK_BYTES) yield take();
  }
  add(gzip.end());
  yield take();
}

/**
 * The answer as a stream (`trendBody`): its bytes, or with `gzipLevel` (zlib's 0–9 for what is
 * compressed now) a gzip stream splicing in the deflated sealed days (the writer's
 * `deflatedDays`). An answer dropped before it was read through (replaced
 * by a 401 once the token's lookup answered, a client gone) destroys `chunks` too: the generator
 * may never have started, and an unread ClickHouse response would hold one of the client's
 * sockets until its timeout.
 */
export function trendAnswer(writer: TrendBodyWriter, chunks: AsyncIterable<Buffer> | Iterable<Buffer>, gzipLevel?: number): Readable {
  const body = Readable.from(
    gzipLevel === undefined ? plainBody(trendBody(writer, chunks)) : gzipBody(trendBody(writer, chunks), gzipLevel),
  );
  body.once('close', () => (chunks as Partial<Readable>).destroy?.());
  return body;
}
