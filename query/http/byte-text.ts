/**
 * A growable buffer of response bytes, written as ASCII text, UTF-8 text or byte ranges copied
 * from another buffer: a large answer is assembled without building JavaScript strings for the
 * parts that arrive as bytes (ClickHouse's text of trend points).
 */
/**
 * Up to this many bytes, a copy is a JavaScript loop: Buffer.write and Buffer.copy cross into C++
 * on every call, which costs more than copying a few bytes. Measured on a 30-day trend (8,640
 * points, ~60,000 pieces): native calls only ~5 ms, loops up to 160 bytes ~6 ms, up to 32 ~3 ms.
 */
const SHORT = 32;

export class ByteText {
  private buf: Buffer;
  private pos = 0;

  /** `chunkBytes`: the capacity each buffer starts with (it doubles when a write needs more). */
  constructor(private readonly chunkBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(chunkBytes);
  }

  /** Bytes written since the last `take`. */
  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  /** Text whose characters are all below U+0080 (JSON punctuation, numbers, names we chose). */
  ascii(s: string): void {
    this.ensure(s.length);
    if (s.length > SHORT) {
      this.pos += this.buf.write(s, this.pos, 'latin1');
      return;
    }
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i);
    this.pos = pos;
  }

  /** Any text, as UTF-8. */
  utf8(s: string): void {
    this.ensure(Buffer.byteLength(s));
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** All of `src` (e.g. text encoded once, ahead of time). */
  bytes(src: Uint8Array): void {
    this.copy(src, 0, src.length);
  }

  /** Bytes [start, end) of `src`. */
  copy(src: Uint8Array, start: number, end: number): void {
    this.ensure(end - start);
    if (end - start > SHORT) {
      this.buf.set(src.subarray(start, end), this.pos);
      this.pos += end - start;
      return;
    }
    const buf = this.buf;
    let pos = this.pos;
    for (let i = start; i < end; i++) buf[pos++] = src[i]!;
    this.pos = pos;
  }

  /** The bytes written since the last take, handed over: later writes go to a new buffer. */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.buf = Buffer.allocUnsafe(this.chunkBytes);
    this.pos = 0;
    return out;
  }
}
