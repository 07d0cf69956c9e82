/**
 * A free list of equal-size buffers (slabs) for answers assembled as bytes (see byte-text.ts).
 *
 * Why: every Buffer over 4 KiB is its own ArrayBuffer, and V8 counts ArrayBuffer memory toward
 * the old generation's limit, so ~1 MB of new slabs per 30-day trend answer forced a full
 * mark-compact every two or three requests on a 25 MB heap (`node --trace-gc`: 15 of them in 40
 * requests, ~15 ms of API CPU per request). Slabs given back once an answer has been sent are
 * handed to the next answer instead.
 */
export class SlabPool {
  private readonly free: Buffer[] = [];

  /**
   * `slabBytes`: the size of every slab (bytes); `maxFree`: how many idle slabs are kept (bytes
   * held at most: slabBytes × maxFree); more given back are left to the garbage collector.
   */
  constructor(
    readonly slabBytes: number,
    private readonly maxFree: number,
  ) {}

  /** A slab of `slabBytes` bytes with unspecified content. */
  get(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.slabBytes);
  }

  /**
   * Gives slabs back. The caller guarantees nothing reads them any more (no view of them is
   * queued on a socket or a compressor): their bytes will be overwritten by the next answer.
   * Buffers of another size are ignored.
   */
  put(slabs: readonly Buffer[]): void {
    for (const s of slabs) if (s.length === this.slabBytes && this.free.length < this.maxFree) this.free.push(s);
  }

  /** Idle slabs held now. */
  get idle(): number {
    return this.free.length;
  }
}
