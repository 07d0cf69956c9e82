/**
 * The RowBinary bytes of one table batch, copied in from each message's encoding: memory the
 * batch owns and can account for exactly (issue 9 item 2). Batches used to keep views into each
 * message's 64 KiB encoder buffer while counting only the bytes used: 20,000 one-point messages
 * counted as 740 KB held 1,250 MiB.
 *
 * Chunks grow from 64 KiB, doubling, up to 1 MiB each, so a small batch holds little and a large
 * one wastes at most the unused end of its last chunk; rows may span two chunks (the insert body
 * is one byte stream). Chunks are allocated outside Node's shared 8 KiB pool (allocUnsafeSlow),
 * so no pool slab is kept alive by a batch.
 */
const MIN_CHUNK = 64 * 1024;
const MAX_CHUNK = 1024 * 1024;

export class RowChunks {
  private readonly chunks: Buffer[] = [];
  /** Bytes written into the last chunk. */
  private tail = 0;
  private written = 0;
  private allocated = 0;

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
        last = Buffer.allocUnsafeSlow(Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, this.allocated)));
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

  /** The rows as byte ranges in order (views: valid while this object is). */
  views(): Buffer[] {
    return this.chunks.map((c, i) => (i === this.chunks.length - 1 ? c.subarray(0, this.tail) : c));
  }
}
