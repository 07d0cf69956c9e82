/**
 * Last step: marks messages done and commits, per partition, the offset after the last message
 * that is done with every earlier one (PartitionProgress), at most every `intervalMs`.
 */
import type { SinkMetrics } from '../metrics.ts';
import { PartitionProgress } from '../offsets.ts';
import type { MessageRef, Step } from './step.ts';

export type CommitFn = (offsets: { topic: string; partition: number; offset: string }[]) => Promise<void>;

export class CommitOffsets implements Step<MessageRef> {
  private readonly progress = new Map<string, PartitionProgress>();
  /** Which partition record each begun message belongs to: after a reset its completion changes nothing. */
  private readonly owners = new WeakMap<MessageRef, PartitionProgress>();
  /** The offset last committed per partition by this member. */
  private readonly committedOffsets = new Map<string, number>();
  private generation = 0;
  private lastCommit = 0;
  private committing: Promise<void> | undefined;

  constructor(
    private readonly commit: CommitFn,
    private readonly intervalMs: number,
    private readonly metrics: SinkMetrics,
    private readonly onError: (err: Error) => void,
  ) {}

  /** A new group assignment: what this member tracked may now belong to another. */
  newGeneration(): number {
    this.generation++;
    this.progress.clear();
    this.committedOffsets.clear();
    return this.generation;
  }

  get currentGeneration(): number {
    return this.generation;
  }

  /**
   * Registers a consumed message before it enters the chain. False for an offset this member is
   * already handling (Kafka delivered it again): the caller skips it, it is not begun twice.
   */
  begin(ref: MessageRef): boolean {
    const key = `${ref.topic}:${ref.partition}`;
    let p = this.progress.get(key);
    if (p === undefined) this.progress.set(key, (p = new PartitionProgress()));
    if (p.seen(Number(ref.offset))) return false;
    p.begin(Number(ref.offset));
    this.owners.set(ref, p);
    return true;
  }

  /**
   * Forgets what this member tracked of one partition: its offsets start over (the topic was
   * re-created, or Kafka reset the consumer's position). Messages begun before change nothing
   * when they complete; the next message begun starts the partition's record again. With
   * `commitFrom`, that offset is committed at the next commit (where a restart would resume).
   */
  reset(topic: string, partition: number, commitFrom?: number): void {
    const key = `${topic}:${partition}`;
    const p = new PartitionProgress();
    if (commitFrom !== undefined) p.restore(commitFrom);
    this.progress.set(key, p);
    this.committedOffsets.delete(key);
  }

  /** Where this member's reading of a partition stands (the offset after the highest begun), if it began any. */
  position(topic: string, partition: number): number | undefined {
    return this.progress.get(`${topic}:${partition}`)?.next;
  }

  /** The offset this member last committed for a partition (since its last reset), if any. */
  committed(topic: string, partition: number): number | undefined {
    return this.committedOffsets.get(`${topic}:${partition}`);
  }

  /** Takes back a message the chain rejected: it will be read again. */
  forget(ref: MessageRef): void {
    this.progress.get(`${ref.topic}:${ref.partition}`)?.forget(Number(ref.offset));
  }

  /** A message is done (its Completion says so and calls this, once). */
  submit(ref: MessageRef): void {
    if (!ref.completion.done)
      throw new Error(`${ref.topic}[${ref.partition}]@${ref.offset} is not done: waits for ${ref.completion.waitingFor.join(', ')}`);
    if (ref.generation !== this.generation) return;
    const p = this.progress.get(`${ref.topic}:${ref.partition}`);
    if (p !== undefined && this.owners.get(ref) === p) p.done(Number(ref.offset));
  }

  /** Per partition, the first offset not yet done ("topic[partition]@offset, ..."): where a restart resumes. */
  positions(): string {
    const out: string[] = [];
    for (const [key, p] of this.progress) {
      const first = p.firstPending;
      if (first === undefined) continue;
      const cut = key.lastIndexOf(':');
      out.push(`${key.slice(0, cut)}[${key.slice(cut + 1)}]@${first}`);
    }
    return out.join(', ');
  }

  poll(): void {
    if (this.committing !== undefined || Date.now() - this.lastCommit < this.intervalMs) return;
    this.committing = this.commitNow()
      .catch((err: Error) => this.onError(err))
      .finally(() => (this.committing = undefined));
  }

  async join(): Promise<void> {
    await this.committing;
    await this.commitNow();
  }

  private async commitNow(): Promise<void> {
    this.lastCommit = Date.now();
    const offsets: { topic: string; partition: number; offset: string }[] = [];
    const from: PartitionProgress[] = [];
    for (const [key, p] of this.progress) {
      const next = p.take();
      if (next === undefined) continue;
      const cut = key.lastIndexOf(':');
      offsets.push({ topic: key.slice(0, cut), partition: Number(key.slice(cut + 1)), offset: String(next) });
      from.push(p);
    }
    if (offsets.length === 0) return;
    try {
      await this.commit(offsets);
    } catch (err) {
      // Try again next time (a later offset of the same partition supersedes it), unless the partition was reset meanwhile.
      offsets.forEach((o, i) => from[i]!.restore(Number(o.offset)));
      throw err;
    }
    offsets.forEach((o, i) => {
      const key = `${o.topic}:${o.partition}`;
      if (this.progress.get(key) === from[i]) this.committedOffsets.set(key, Number(o.offset));
    });
    this.metrics.commits.inc();
  }
}
