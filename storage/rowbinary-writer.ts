/**
 * A growable RowBinary writer (ClickHouse's native row format over HTTP): little-endian fixed
 * width numbers, LEB128 lengths, a 1-byte null flag before Nullable values. About 7x cheaper than
 * JSONEachRow here, and doubles (NaN, ±Inf, -0) survive exactly.
 */
export class RowBinaryWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(private readonly initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /**
   * Starts over for the next rows, keeping the buffer (a writer reused per message allocates
   * nothing) unless one large message grew it past `keepBytes`.
   */
  reset(keepBytes = 4 * 1024 * 1024): void {
    this.pos = 0;
    if (this.buf.length > keepBytes) this.buf = Buffer.allocUnsafe(this.initialBytes);
  }

  get length(): number {
    return this.pos;
  }

  /** The bytes written so far (a view: copy it if the writer is reused). */
  result(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  // Bytes are stored one by one rather than with Buffer's write*LE methods, which validate
  // their arguments generically: per trend point the encoding cost 0.7 CPU-s per million with
  // them (npx tsx bench/sink-encode.ts). Each method still refuses a value its
  // column cannot hold (RangeError), as Buffer's did: a silently wrapped id would be stored
  // under another element.

  /**
   * For a caller that writes a row's bytes itself (ingest/sink/trend-transcoder.ts): makes room
   * for `n` more bytes and returns the buffer to write at `length`; then call `advance`.
   */
  room(n: number): Buffer {
    this.ensure(n);
    return this.buf;
  }

  /** Moves the write position to `pos` after bytes written into `room`'s buffer. */
  advance(pos: number): void {
    this.pos = pos;
  }

  uint8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  int16(v: number): void {
    if ((v << 16) >> 16 !== v) throw outOfRange('Int16', v);
    this.ensure(2);
    const b = this.buf;
    const p = this.pos;
    b[p] = v;
    b[p + 1] = v >> 8;
    this.pos = p + 2;
  }

  uint16(v: number): void {
    if ((v & 0xffff) !== v) throw outOfRange('UInt16', v);
    this.ensure(2);
    const b = this.buf;
    const p = this.pos;
    b[p] = v;
    b[p + 1] = v >>> 8;
    this.pos = p + 2;
  }

  int32(v: number): void {
    if ((v | 0) !== v) throw outOfRange('Int32', v);
    this.ensure(4);
    this.put32(v);
  }

  uint32(v: number): void {
    if (v >>> 0 !== v) throw outOfRange('UInt32', v);
    this.ensure(4);
    this.put32(v);
  }

  /** UInt64 from a non-negative safe integer, as two 32-bit halves (BigInt costs ~20% here). */
  uint64(v: number): void {
    if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER) || Math.floor(v) !== v) throw outOfRange('UInt64 (safe integer)', v);
    this.ensure(8);
    this.put32(v % 0x1_0000_0000);
    this.put32(Math.floor(v / 0x1_0000_0000));
  }

  /** Int64 from a safe integer (two's complement halves). */
  int64(v: number): void {
    if (v >= 0) return this.uint64(v);
    if (!(v >= Number.MIN_SAFE_INTEGER) || Math.floor(v) !== v) throw outOfRange('Int64 (safe integer)', v);
    this.ensure(8);
    const hi = Math.floor(v / 0x1_0000_0000);
    this.put32(v - hi * 0x1_0000_0000);
    this.put32(hi);
  }

  float64(v: number): void {
    this.ensure(8);
    F64[0] = v;
    const b = this.buf;
    const p = this.pos;
    b[p] = F64_BYTES[0]!;
    b[p + 1] = F64_BYTES[1]!;
    b[p + 2] = F64_BYTES[2]!;
    b[p + 3] = F64_BYTES[3]!;
    b[p + 4] = F64_BYTES[4]!;
    b[p + 5] = F64_BYTES[5]!;
    b[p + 6] = F64_BYTES[6]!;
    b[p + 7] = F64_BYTES[7]!;
    this.pos = p + 8;
  }

  nullableFloat64(v: number | null): void {
    if (v === null) return this.uint8(1);
    this.uint8(0);
    this.float64(v);
  }

  leb128(n: number): void {
    this.ensure(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  /**
   * A String column: LEB128 byte length, then UTF-8. Short ASCII strings (ids, table indices,
   * most discrete values; empty ones above all) are copied in a loop: Buffer.write crosses into
   * C++ on every call, which costs more than the copy.
   */
  string(s: string): void {
    const n = s.length;
    if (n <= SHORT_STRING) {
      this.ensure(n + 1);
      const b = this.buf;
      let p = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        b[p++] = c;
      }
      if (i === n) {
        b[this.pos] = n;
        this.pos = p;
        return;
      }
    }
    const bytes = Buffer.byteLength(s);
    this.leb128(bytes);
    this.ensure(bytes);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** A String column from UTF-8 bytes [start, end) of `src` (e.g. an Avro string's bytes). */
  stringBytes(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.leb128(n);
    this.ensure(n);
    const b = this.buf;
    let p = this.pos;
    if (n <= SHORT_STRING) for (let i = start; i < end; i++) b[p++] = src[i]!;
    else {
      b.set(src.subarray(start, end), p);
      p += n;
    }
    this.pos = p;
  }

  /** A Float64 column from 8 little-endian bytes of `src` at `at` (an Avro double). */
  float64Bytes(src: Uint8Array, at: number): void {
    this.ensure(8);
    const b = this.buf;
    const p = this.pos;
    for (let i = 0; i < 8; i++) b[p + i] = src[at + i]!;
    this.pos = p + 8;
  }

  nullableString(s: string | null): void {
    if (s === null) return this.uint8(1);
    this.uint8(0);
    this.string(s);
  }

  /** The low 32 bits of `v`, little-endian; the caller made room. */
  private put32(v: number): void {
    const b = this.buf;
    const p = this.pos;
    b[p] = v;
    b[p + 1] = v >>> 8;
    b[p + 2] = v >>> 16;
    b[p + 3] = v >>> 24;
    this.pos = p + 4;
  }
}

/** Longest string copied in a JS loop (below 128, so its length is one LEB128 byte). */
const SHORT_STRING = 64;

/** Scratch for a double's bytes (the platform's order: little-endian on every target of Node). */
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);

function outOfRange(type: string, v: number): RangeError {
  return new RangeError(`${v} does not fit a ${type} column`);
}
