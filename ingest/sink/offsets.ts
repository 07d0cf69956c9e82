/**
 * Which offset of a partition may be committed: the messages of a partition finish out of order
 * (a trend message and an alarm message sit in different table batches), but the committed
 * offset only moves past a message once it and every message before it are stored (or
 * dead-lettered). Kafka's committed offset is the next one to read: last done + 1.
 */
export class PartitionProgress {
  /** Offsets begun, oldest first, and whether each is done. */
  private readonly inFlight: { offset: number; done: boolean; before: number | undefined }[] = [];
  private committable: number | undefined;

  /** The highest offset begun so far (in flight or done), if any. */
  private highest: number | undefined;

  begin(offset: number): void {
    if (this.highest !== undefined && offset <= this.highest) throw new Error(`offset ${offset} begun after ${this.highest}`);
    this.inFlight.push({ offset, done: false, before: this.highest });
    this.highest = offset;
  }

  /** Whether this offset was begun already (a re-delivery of a message still being handled). */
  seen(offset: number): boolean {
    return this.highest !== undefined && offset <= this.highest;
  }

  /** Takes back the last begun offset: its message was rejected and will be read again. */
  forget(offset: number): void {
    const last = this.inFlight.at(-1);
    if (last?.offset !== offset || last.done) throw new Error(`can only forget the last begun offset, not ${offset}`);
    this.inFlight.pop();
    this.highest = last.before;
  }

  done(offset: number): void {
    const entry = this.inFlight.find((e) => e.offset === offset);
    if (entry === undefined) return; // forgotten by a reset: a late completion changes nothing
    entry.done = true;
    while (this.inFlight[0]?.done === true) this.committable = this.inFlight.shift()!.offset + 1;
  }

  /** The offset to commit (next to read), if it moved since the last `take`. */
  take(): number | undefined {
    const c = this.committable;
    this.committable = undefined;
    return c;
  }

  /** Gives back an offset whose commit failed, unless a later one is already waiting. */
  restore(offset: number): void {
    if (this.committable === undefined || this.committable < offset) this.committable = offset;
  }

  /** The offset after the highest begun (where this partition's reading stands), if any was begun. */
  get next(): number | undefined {
    return this.highest === undefined ? undefined : this.highest + 1;
  }

  /** The oldest offset begun and not done, if any. */
  get firstPending(): number | undefined {
    return this.inFlight.find((e) => !e.done)?.offset;
  }

  get pending(): number {
    return this.inFlight.length;
  }
}
