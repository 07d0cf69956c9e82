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

  uint8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  int16(v: number): void {
    this.ensure(2);
    this.pos = this.buf.writeInt16LE(v, this.pos);
  }

  uint16(v: number): void {
    this.ensure(2);
    this.pos = this.buf.writeUInt16LE(v, this.pos);
  }

  int32(v: number): void {
    this.ensure(4);
    this.pos = this.buf.writeInt32LE(v, this.pos);
  }

  uint32(v: number): void {
    this.ensure(4);
    this.pos = this.buf.writeUInt32LE(v, this.pos);
  }

  /** UInt64 from a non-negative safe integer, as two 32-bit halves (BigInt costs ~20% here). */
  uint64(v: number): void {
    this.ensure(8);
    this.pos = this.buf.writeUInt32LE(v % 0x1_0000_0000, this.pos);
    this.pos = this.buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), this.pos);
  }

  /** Int64 from a safe integer (two's complement halves). */
  int64(v: number): void {
    if (v >= 0) return this.uint64(v);
    this.ensure(8);
    const hi = Math.floor(v / 0x1_0000_0000);
    const lo = v - hi * 0x1_0000_0000;
    this.pos = this.buf.writeUInt32LE(lo, this.pos);
    this.pos = this.buf.writeInt32LE(hi, this.pos);
  }

  float64(v: number): void {
    this.ensure(8);
    this.pos = this.buf.writeDoubleLE(v, this.pos);
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

  string(s: string): void {
    const bytes = isShortAscii(s) ? s.length : Buffer.byteLength(s);
    this.leb128(bytes);
    this.ensure(bytes);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  nullableString(s: string | null): void {
    if (s === null) return this.uint8(1);
    this.uint8(0);
    this.string(s);
  }
}

/** Short ASCII strings (most keys and ids) are one byte per char: no need to measure. */
function isShortAscii(s: string): boolean {
  if (s.length > 64) return false;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}
