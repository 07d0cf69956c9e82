/**
 * A growable buffer of response bytes, written as ASCII text, UTF-8 text or byte ranges copied
 * from another buffer: a large answer is assembled without building JavaScript strings for the
 * parts that arrive as bytes (ClickHouse's text of trend points).
 */
import { SlabPool } from './slab-pool.ts';

/**
 * Up to this many bytes, a copy is a JavaScript loop: Buffer.write and Buffer.copy cross into C++
 * on every call, which costs more than copying a few bytes. Measured on a 30-day trend (8,640
 * points, ~60,000 pieces): native calls only ~5 ms, loops up to 160 bytes ~6 ms, up to 32 ~3 ms.
 */
const SHORT = 32;

/** Slabs shared by the answers of one process: 64 idle slabs of 256 KiB, 16 MiB at most. */
const SHARED_POOL = new SlabPool(256 * 1024, 64);

export class ByteText {
  /** The buffer written into; handed-over pieces are views of it (see `take`). */
  private slab: Buffer;
  /** Where the piece not yet taken starts, and the write position. */
  private start = 0;
  private pos = 0;
  /** The pool's slabs written into so far, given back by `release`. */
  private readonly used: Buffer[] = [];

  /**
   * Pieces are carved from the pool's slabs: few large buffers rather than one per piece (every
   * Buffer over 4 KiB is its own ArrayBuffer, and their churn made V8 collect garbage far more
   * often: GC grew from 4 to 17 ms per 1 MB answer with a new 64 KiB buffer per piece), and
   * reused across answers (see slab-pool.ts).
   */
  constructor(private readonly pool: SlabPool = SHARED_POOL) {
    this.slab = pool.get();
    this.used.push(this.slab);
  }

  /** Bytes written since the last `take`. */
  get length(): number {
    return this.pos - this.start;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.slab.length) return;
    const piece = this.pos - this.start;
    // A piece larger than a slab (a long discrete string) gets a buffer of its own.
    const next = piece + n <= this.pool.slabBytes ? this.pool.get() : Buffer.allocUnsafe(2 * (piece + n));
    if (next.length === this.pool.slabBytes) this.used.push(next);
    this.slab.copy(next, 0, this.start, this.pos);
    this.slab = next;
    this.start = 0;
    this.pos = piece;
  }

  /** Text whose characters are all below U+0080 (JSON punctuation, numbers, names we chose). */
  ascii(s: string): void {
    this.ensure(s.length);
    if (s.length > SHORT) {
      this.pos += this.slab.write(s, this.pos, 'latin1');
      return;
    }
    const buf = this.slab;
    let pos = this.pos;
    for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i);
    this.pos = pos;
  }

  /** Any text, as UTF-8. */
  utf8(s: string): void {
    this.ensure(Buffer.byteLength(s));
    this.pos += this.slab.write(s, this.pos, 'utf8');
  }

  /** All of `src` (e.g. text encoded once, ahead of time). */
  bytes(src: Uint8Array): void {
    this.copy(src, 0, src.length);
  }

  /** Bytes [start, end) of `src`. */
  copy(src: Uint8Array, start: number, end: number): void {
    this.ensure(end - start);
    if (end - start > SHORT) {
      this.slab.set(src.subarray(start, end), this.pos);
      this.pos += end - start;
      return;
    }
    const buf = this.slab;
    let pos = this.pos;
    for (let i = start; i < end; i++) buf[pos++] = src[i]!;
    this.pos = pos;
  }

  /** The bytes written since the last take, handed over: a view the writer never writes into again. */
  take(): Buffer {
    const out = this.slab.subarray(this.start, this.pos);
    this.start = this.pos;
    return out;
  }

  /**
   * Gives the slabs back to the pool once every piece taken has been sent (the response has
   * finished): the pieces' bytes become another answer's. The ByteText is not used afterwards.
   */
  release(): void {
    this.pool.put(this.used.splice(0));
  }
}
