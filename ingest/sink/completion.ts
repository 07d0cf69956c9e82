/**
 * When one consumed message is done — the one place that decides (issue 9 item 3). A message is
 * done when either
 *   - every table it fed has stored its rows, or
 *   - it went to the DLQ as a whole (its copy acknowledged by Kafka) and every table it fed has
 *     settled (stored, or refused the rows as bad data).
 * A message whose rows one table refused while another table's insert is still queued or
 * retrying is not done: committing it then would pass rows that may never be stored.
 *
 * The steps report facts (fed, stored, refused, dead-lettered); only this object draws the
 * conclusion, and it hands the message to the commit step exactly once, when it becomes done.
 */
/**
 * What a message's rows went into: a table, or on a cluster one shard's part of a table
 * (`tableFeed`), each stored or refused on its own.
 */
export type Feed = string;

/** The feed of `table` in Insert lane `lane` of `lanes` (the table alone without a cluster's lanes). */
export function tableFeed(table: string, lane: number, lanes: number): Feed {
  return lanes === 1 ? table : `${table} (shard ${lane + 1})`;
}

export class Completion {
  /** Feeds not yet settled. */
  private readonly pending = new Set<Feed>();
  private fed = false;
  private refusedBy: Feed | undefined;
  private dlq: 'none' | 'sending' | 'sent' = 'none';
  private reported = false;

  /** `onDone`: called once, when the message becomes done (the commit step's submit). */
  constructor(private readonly onDone: () => void) {}

  /** The message's rows go to these tables (feeds); none (an empty batch) makes it done at once. Called once. */
  feeds(tables: readonly Feed[]): void {
    if (this.fed) throw new Error('a message feeds its tables once');
    this.fed = true;
    for (const t of tables) this.pending.add(t);
    this.settle();
  }

  /** `table` (a feed) acknowledged the insert holding this message's rows. */
  stored(table: Feed): void {
    this.pending.delete(table);
    this.settle();
  }

  /**
   * `table` refused the rows as bad data. True the first time: the caller sends the message to
   * the DLQ now (once, whatever else its other tables do).
   */
  refused(table: Feed): boolean {
    this.pending.delete(table);
    const first = this.refusedBy === undefined && this.dlq === 'none';
    this.refusedBy ??= table;
    this.settle();
    return first;
  }

  /** Its DLQ copy is on the way (a message is dead-lettered at most once). */
  deadLettering(): void {
    if (this.dlq !== 'none') throw new Error('a message is dead-lettered once');
    this.dlq = 'sending';
  }

  /** Kafka acknowledged its DLQ copy. */
  deadLettered(): void {
    this.dlq = 'sent';
    this.settle();
  }

  get done(): boolean {
    if (this.pending.size > 0) return false;
    if (this.dlq === 'sent') return true;
    return this.fed && this.refusedBy === undefined && this.dlq === 'none';
  }

  /** For logs and tests: what the message still waits for. */
  get waitingFor(): string[] {
    const w: string[] = [...this.pending];
    if (this.dlq === 'sending' || (this.refusedBy !== undefined && this.dlq === 'none')) w.push('dlq');
    if (!this.fed && this.dlq === 'none') w.push('decode');
    return w;
  }

  private settle(): void {
    if (this.reported || !this.done) return;
    this.reported = true;
    this.onDone();
  }
}
