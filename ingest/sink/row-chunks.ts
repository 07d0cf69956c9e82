/**
 * The RowBinary bytes of one table batch, copied in from each message's encoding: memory the
 * batch owns and can account for exactly (issue 9 item 2). Batches used to keep views into each
 * message's 64 KiB encoder buffer while counting only the bytes used: 20,000 one-point messages
 * counted as 740 KB held 1,250 MiB.
 *
 * Chunks grow from 64 KiB, doubling, up to 1 MiB each, so a small batch holds little and a large
 * one wastes at most the unused end of its last chunk; rows may span two chunks (the insert body
 * is one byte stream). Chunks are allocated outside Node's shared 8 KiB pool (allocUnsafeSlow),
 * so no pool slab is kept alive by a batch, and come from a ChunkPool when one is given: a stored
 * batch's chunks go back to it for the next batches.
 */
const MIN_CHUNK = 64 * 1024;
const MAX_CHUNK = 1024 * 1024;

/**
 * Chunks of stored batches, kept for the next ones, by size. Without it each batch's chunks were
 * garbage once inserted, and their memory (outside V8's heap) came back only with V8's next full
 * collection, which external memory triggers late: at 1,000,000 points/s and past capacity the
 * Sink's RSS stood at 260–330 MiB with 48 MiB of rows held. A reused chunk also touches no fresh
 * pages. Bounds: kept bytes and `liveBytes()` (the rows held elsewhere) together at most
 * `maxBytes`; and what stayed kept through a whole `idleMs` period (its low-water mark) is let go
 * by half per period, so a Sink past a burst, busy or idle, does not keep its busiest moment.
 */
export class ChunkPool {
  private readonly free = new Map<number, Buffer[]>();
  private held = 0;
  /** The least `held` since the last period began. */
  private lowWater = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    /** The most bytes kept and held together (the Sink: its STAAS_SINK_MAX_BUFFERED_BYTES). */
    readonly maxBytes: number,
    /** Bytes of rows held outside the pool (the Sink: open batches and in-flight inserts). */
    private readonly liveBytes: () => number = () => 0,
    idleMs = 10_000,
  ) {
    this.timer = setInterval(() => {
      this.shrink(Math.ceil(this.lowWater / 2));
      this.lowWater = this.held;
    }, idleMs).unref();
  }

  /** Bytes kept for reuse. */
  get bytes(): number {
    return this.held;
  }

  /** A chunk of `size` bytes (contents undefined): a kept one, or a new one. */
  take(size: number): Buffer {
    const kept = this.free.get(size)?.pop();
    if (kept === undefined) return Buffer.allocUnsafeSlow(size);
    this.held -= size;
    this.lowWater = Math.min(this.lowWater, this.held);
    return kept;
  }

  /**
   * Keeps `chunks` for reuse, as far as `maxBytes` allows. The caller must hold no view of them
   * any more: a stored batch's body, once ClickHouse answered its insert (the server read every
   * byte, so no write of them is pending).
   */
  give(chunks: readonly Buffer[]): void {
    const room = this.maxBytes - this.liveBytes();
    for (const c of chunks) {
      if (this.held + c.length > room) return;
      let list = this.free.get(c.length);
      if (list === undefined) this.free.set(c.length, (list = []));
      list.push(c);
      this.held += c.length;
    }
  }

  /** Lets go of at least `bytes` kept bytes (the largest chunks first). */
  shrink(bytes: number): void {
    const sizes = [...this.free.keys()].sort((a, b) => b - a);
    for (const size of sizes) {
      const list = this.free.get(size)!;
      while (bytes > 0 && list.length > 0) {
        list.pop();
        this.held -= size;
        bytes -= size;
      }
    }
    this.lowWater = Math.min(this.lowWater, this.held);
  }

  /** Stops the idle timer and lets go of everything. */
  close(): void {
    clearInterval(this.timer);
    this.shrink(this.held);
  }
}

export class RowChunks {
  private chunks: Buffer[] = [];
  /** Bytes written into the last chunk. */
  private tail = 0;
  private written = 0;
  private allocated = 0;

  constructor(private readonly pool?: ChunkPool) {}

  /** Bytes of rows held. */
  get length(): number {
    return this.written;
  }

  /** Bytes allocated (what the batch retains): `length` plus the unused end of the last chunk. */
  get capacity(): number {
    return this.allocated;
  }

  /** Copies `src` in (one memcpy, two across a chunk boundary). */
  append(src: Buffer): void {
    let from = 0;
    while (from < src.length) {
      let last = this.chunks.at(-1);
      if (last === undefined || this.tail === last.length) {
        const size = Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, this.allocated));
        last = this.pool === undefined ? Buffer.allocUnsafeSlow(size) : this.pool.take(size);
        this.chunks.push(last);
        this.allocated += last.length;
        this.tail = 0;
      }
      const n = Math.min(src.length - from, last.length - this.tail);
      src.copy(last, this.tail, from, from + n);
      this.tail += n;
      from += n;
      this.written += n;
    }
  }

  /**
   * Copies bytes [start, end) of `src` in: `append` without a view of them (a view per row, for
   * rows laid out one by one, cost more than the copy), a short range byte by byte.
   */
  appendRange(src: Buffer, start: number, end: number): void {
    const last = this.chunks.at(-1);
    const n = end - start;
    if (last === undefined || n > 256 || this.tail + n > last.length) {
      this.append(src.subarray(start, end));
      return;
    }
    let q = this.tail;
    for (let i = start; i < end; i++) last[q++] = src[i]!;
    this.tail = q;
    this.written += n;
  }

  /** A new empty body whose chunks come from the same pool. */
  sibling(): RowChunks {
    return new RowChunks(this.pool);
  }

  /**
   * Empties this body (its chunks back to the pool) and gives it chunks of exactly `total` bytes
   * in all, sized as `append` would have grown them, for the caller to fill in place before any
   * other use.
   */
  allocate(total: number): Buffer[] {
    this.release();
    while (this.allocated < total) {
      const size = Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, this.allocated));
      const chunk = this.pool === undefined ? Buffer.allocUnsafeSlow(size) : this.pool.take(size);
      this.chunks.push(chunk);
      this.allocated += size;
    }
    const last = this.chunks.at(-1);
    this.tail = last === undefined ? 0 : last.length - (this.allocated - total);
    this.written = total;
    return this.views();
  }

  /** The rows as byte ranges in order (views: valid while this object is, until `release`). */
  views(): Buffer[] {
    return this.chunks.map((c, i) => (i === this.chunks.length - 1 ? c.subarray(0, this.tail) : c));
  }

  /**
   * Hands the chunks back to the pool (if any) and empties this body. Only once no view of them
   * is used any more: a later batch writes over them.
   */
  release(): void {
    this.pool?.give(this.chunks);
    this.chunks = [];
    this.tail = 0;
    this.written = 0;
    this.allocated = 0;
  }
}
