/**
 * Where simulated records go, and the count of what went there per kind. The sink is the real
 * Writer (or, in tests, anything with the same three methods); every write is awaited, which is
 * the Writer's backpressure. Records produced by events and closing windows are buffered in
 * `RecordOutput` and written in order by `drain()`.
 */
import type { AlarmInput, ElementRowInput, TrendInput } from '../../../schemas/validate.ts';

/** The Writer's three entry points. */
export interface RecordSink {
  trend(input: TrendInput): Promise<void>;
  alarm(input: AlarmInput): Promise<void>;
  elementRow(input: ElementRowInput): Promise<void>;
}

/** What a simulated record is, for the summary. */
export type Kind =
  | 'realtime' // numeric real-time trend change (windowMinutes 0, status 0)
  | 'discrete' // discrete real-time trend change (discreteValue set)
  | 'status' // element-level status row (parameterId -1, negative status)
  | 'avg5'
  | 'avg60'
  | 'avg120' // agent-computed averages per window
  | 'alarm' // alarm event (a step of an alarm tree)
  | 'info' // information event (severity 13)
  | 'row' // element table row (new or updated)
  | 'deleted' // element table row deleted
  | 'saved'; // standalone saved parameter (element row with primary key '')

const TREND_KINDS = new Set<Kind>(['realtime', 'discrete', 'status', 'avg5', 'avg60', 'avg120']);
const ALARM_KINDS = new Set<Kind>(['alarm', 'info']);

/** The average kind of a window of `minutes`. */
export function averageKind(minutes: number): Kind {
  return minutes === 5 ? 'avg5' : minutes === 60 ? 'avg60' : 'avg120';
}

/** Records written per kind; `errors` counts writes the sink refused. */
export class Tally {
  realtime = 0;
  discrete = 0;
  status = 0;
  avg5 = 0;
  avg60 = 0;
  avg120 = 0;
  alarm = 0;
  info = 0;
  row = 0;
  deleted = 0;
  saved = 0;
  total = 0;
  errors = 0;

  add(kind: Kind): void {
    this[kind]++;
    this.total++;
  }

  /** Per record type: what each Kafka topic (and table) received. */
  get byType(): { trend: number; alarm: number; element: number } {
    const trend = this.realtime + this.discrete + this.status + this.avg5 + this.avg60 + this.avg120;
    return { trend, alarm: this.alarm + this.info, element: this.row + this.deleted + this.saved };
  }

  /** One line: what was written per kind. */
  describe(): string {
    return (
      `${this.realtime} real-time points, ${this.discrete} discrete points, ${this.status} status rows, ` +
      `averages 5 min ${this.avg5} / 60 min ${this.avg60} / 120 min ${this.avg120}, ` +
      `${this.alarm} alarm events, ${this.info} info events, ` +
      `${this.row + this.saved + this.deleted} element rows (${this.deleted} deleted, ${this.saved} saved parameters)`
    );
  }
}

/** Reports a refused write (the first few are worth printing). */
export type OnError = (err: Error, count: number) => void;

/**
 * Called every `PACE_EVERY` writes. Awaiting resolved write promises never lets timers or socket
 * I/O run; the default yields to the event loop so the Writer's batches go out while we produce.
 * A back-fill also waits here while the Writer holds much unsent data (see cli.ts).
 */
export type Pace = () => Promise<void>;

export const PACE_EVERY = 1024;
export const yieldToEventLoop: Pace = () => new Promise((resolve) => setImmediate(resolve));

export interface OutputOptions {
  onError?: OnError;
  pace?: Pace;
}

export class RecordOutput {
  private kinds: Kind[] = [];
  private records: (TrendInput | AlarmInput | ElementRowInput)[] = [];
  private writes = 0;
  private readonly onError: OnError;
  private readonly pace: Pace;

  constructor(
    readonly sink: RecordSink,
    readonly tally: Tally,
    options: OutputOptions = {},
  ) {
    this.onError =
      options.onError ??
      ((err) => {
        throw err;
      });
    this.pace = options.pace ?? yieldToEventLoop;
  }

  /** Counts one write; every PACE_EVERY writes, a promise to await (else undefined: no await on the hot path). */
  paced(): Promise<void> | undefined {
    return ++this.writes % PACE_EVERY === 0 ? this.pace() : undefined;
  }

  /** Counts a write the sink refused. */
  refused(err: unknown): void {
    this.tally.errors++;
    this.onError(err as Error, this.tally.errors);
  }

  /** Records waiting for `drain()`. */
  get size(): number {
    return this.records.length;
  }

  trend(kind: Kind, record: TrendInput): void {
    this.kinds.push(kind);
    this.records.push(record);
  }

  alarm(kind: 'alarm' | 'info', record: AlarmInput): void {
    this.kinds.push(kind);
    this.records.push(record);
  }

  row(kind: 'row' | 'deleted' | 'saved', record: ElementRowInput): void {
    this.kinds.push(kind);
    this.records.push(record);
  }

  /** Writes the buffered records in order, awaiting each. */
  async drain(): Promise<void> {
    if (this.records.length === 0) return;
    const kinds = this.kinds;
    const records = this.records;
    this.kinds = [];
    this.records = [];
    for (let i = 0; i < records.length; i++) {
      const kind = kinds[i]!;
      await this.write(kind, records[i]!);
    }
  }

  /** Writes one record now (the live hot path: no buffering). */
  async write(kind: Kind, record: TrendInput | AlarmInput | ElementRowInput): Promise<void> {
    try {
      if (TREND_KINDS.has(kind)) await this.sink.trend(record as TrendInput);
      else if (ALARM_KINDS.has(kind)) await this.sink.alarm(record as AlarmInput);
      else await this.sink.elementRow(record as ElementRowInput);
      this.tally.add(kind);
    } catch (err) {
      this.refused(err);
    }
    const pause = this.paced();
    if (pause) await pause;
  }
}
