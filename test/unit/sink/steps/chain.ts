/**
 * The Sink's chain of steps with fakes at its two edges, for unit tests of the steps (after
 * getsentry/arroyo's tests, which drive strategies with recording next steps): a fake ClickHouse
 * whose inserts are acknowledged, refused or held by the test, a fake DLQ producer likewise, and
 * a commit function that records what would be committed. Integration tests use the real services.
 */
import type { IHeaders, KafkaMessage, Producer } from 'kafkajs';
import { Registry } from 'prom-client';
import { batchMessage } from '../../../../ingest/kafka/message.ts';
import { topicsFor } from '../../../../ingest/kafka/topics.ts';
import { Completion } from '../../../../ingest/sink/completion.ts';
import { DeadLetters } from '../../../../ingest/sink/dlq.ts';
import { createSinkMetrics } from '../../../../ingest/sink/metrics.ts';
import type { ChunkPool } from '../../../../ingest/sink/row-chunks.ts';
import { CommitOffsets } from '../../../../ingest/sink/steps/commit.ts';
import { DeadLetter } from '../../../../ingest/sink/steps/dead-letter.ts';
import { Decode } from '../../../../ingest/sink/steps/decode.ts';
import { Insert, type InsertLanes } from '../../../../ingest/sink/steps/insert.ts';
import type { MessageRef } from '../../../../ingest/sink/steps/step.ts';
import { TableBatches } from '../../../../ingest/sink/steps/table-batch.ts';
import type { TrendPoint } from '../../../../schemas/records.ts';
import type { InsertTable, TableName } from '../../../../storage/schema.ts';

/** A promise the test settles. */
export interface Held {
  resolve(): void;
  reject(err: Error): void;
}

function deferred(): { promise: Promise<void> } & Held {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** ClickHouse as the Insert step sees it: `auto` acknowledges at once, else inserts wait for the test. */
export class FakeClickHouse {
  auto = true;
  /** Refuse every insert into these tables (a ClickHouse data error, code 33). */
  readonly refuse = new Set<TableName>();
  /** Fail every insert with this (a fatal error: unknown table, code 60). */
  fatal: Error | undefined;
  /** Lanes (shards) whose inserts wait for the test even when `auto`. */
  readonly heldLanes = new Set<number>();
  readonly held: { table: TableName; rows: number; lane: number; held: Held }[] = [];
  readonly stored: { table: TableName; bytes: number; lane: number; body: Buffer }[] = [];
  /**
   * Late-write marker inserts (trend_late_writes), kept apart from `stored` and acknowledged at
   * once (whatever `auto` says), unless `holdMarkers`: then they wait in `heldMarkers`.
   */
  readonly markers: { lane: number; columns: readonly string[]; body: Buffer }[] = [];
  holdMarkers = false;
  readonly heldMarkers: Held[] = [];
  /** The next this many marker inserts fail as a connection failure would (transient: retried). */
  markerFailures = 0;

  readonly store = (table: InsertTable, columns: readonly string[], chunks: readonly Buffer[], _queryId = '', lane = 0): Promise<void> => {
    if (this.fatal !== undefined) return Promise.reject(this.fatal);
    if (table === 'trend_late_writes') return this.storeMarkers(columns, Buffer.concat(chunks), lane);
    if (this.refuse.has(table))
      return Promise.reject(new Error(`Code: 33, e.displayText() = DB::Exception: Cannot read all data (${table})`));
    if (this.auto && !this.heldLanes.has(lane)) {
      const body = Buffer.concat(chunks);
      this.stored.push({ table, bytes: body.length, lane, body });
      return Promise.resolve();
    }
    const d = deferred();
    this.held.push({
      table,
      rows: 0,
      lane,
      held: {
        // The bytes are read when acknowledged, as a server reads the body before it answers:
        // memory reused while an insert is pending shows as a wrong body here.
        resolve: () => {
          const body = Buffer.concat(chunks);
          this.stored.push({ table, bytes: body.length, lane, body });
          d.resolve();
        },
        reject: (err) => d.reject(err),
      },
    });
    return d.promise;
  };

  private storeMarkers(columns: readonly string[], body: Buffer, lane: number): Promise<void> {
    if (this.markerFailures > 0) {
      this.markerFailures--;
      return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:8123'));
    }
    if (!this.holdMarkers) {
      this.markers.push({ lane, columns, body });
      return Promise.resolve();
    }
    const d = deferred();
    this.heldMarkers.push({
      resolve: () => {
        this.markers.push({ lane, columns, body });
        d.resolve();
      },
      reject: (err) => d.reject(err),
    });
    return d.promise;
  }

  /** Acknowledges the held inserts of `lane`, and lets its later ones through. */
  ackLane(lane: number): void {
    this.heldLanes.delete(lane);
    for (const h of this.held.filter((x) => x.lane === lane)) {
      this.held.splice(this.held.indexOf(h), 1);
      h.held.resolve();
    }
  }

  /** Acknowledges the held inserts into `table`. */
  ack(table: TableName): void {
    for (const h of this.held.filter((x) => x.table === table)) {
      this.held.splice(this.held.indexOf(h), 1);
      h.held.resolve();
    }
  }
}

/** The DLQ producer: `auto` acknowledges at once, else sends wait; `fail` rejects them. */
export class FakeDlqProducer {
  auto = true;
  fail: Error | undefined;
  readonly sent: { key: string | null; headers: IHeaders }[] = [];
  readonly held: Held[] = [];

  asProducer(): Producer {
    return {
      send: ({ messages }: { messages: { key: Buffer | string | null; headers: IHeaders }[] }) => {
        if (this.fail !== undefined) return Promise.reject(this.fail);
        const record = () => this.sent.push(...messages.map((m) => ({ key: m.key?.toString() ?? null, headers: m.headers })));
        if (this.auto) {
          record();
          return Promise.resolve([]);
        }
        const d = deferred();
        this.held.push({
          resolve: () => {
            record();
            d.resolve();
          },
          reject: (err) => d.reject(err),
        });
        return d.promise.then(() => []);
      },
    } as unknown as Producer;
  }

  release(): void {
    for (const h of this.held.splice(0)) h.resolve();
  }
}

export const TOPICS = topicsFor('unit');

export interface Chain {
  clickhouse: FakeClickHouse;
  dlqProducer: FakeDlqProducer;
  decode: Decode;
  batches: TableBatches;
  insert: Insert;
  deadLetter: DeadLetter;
  commit: CommitOffsets;
  /** Every message the commit step was handed, in order (its Completion said done). */
  delivered: MessageRef[];
  /** Offsets committed to "Kafka": topic[partition] -> next offset. */
  committed: Map<string, string>;
  /** When set, committing fails with it (Kafka unreachable). */
  commitFailure: Error | undefined;
  /** A consumed message as the consumer loop makes it (registered with the commit step). */
  ref(value: Buffer | null, opts?: { partition?: number; headers?: IHeaders }): MessageRef;
}

export interface ChainOptions {
  batchRows?: number;
  maxInFlight?: number;
  maxDlqPending?: number;
  maxBufferedBytes?: number;
  /** Insert lanes (a cluster's shards). */
  lanes?: InsertLanes;
  /** Where table batches' row chunks come from (as the Sink gives one). */
  chunkPool?: ChunkPool;
}

let nextOffset = 0;

/** The chain the Sink builds (ingest/sink/sink.ts), with the fakes above at its edges. */
export function chain(opts: ChainOptions = {}): Chain {
  const metrics = createSinkMetrics(new Registry());
  const clickhouse = new FakeClickHouse();
  const dlqProducer = new FakeDlqProducer();
  const c: Partial<Chain> & { delivered: MessageRef[]; committed: Map<string, string> } = {
    clickhouse,
    dlqProducer,
    delivered: [],
    committed: new Map(),
    commitFailure: undefined,
  };
  const commit = new CommitOffsets(
    (offsets) => {
      if (c.commitFailure !== undefined) return Promise.reject(c.commitFailure);
      for (const o of offsets) c.committed.set(`${o.topic}[${o.partition}]`, o.offset);
      return Promise.resolve();
    },
    0,
    metrics,
    () => undefined,
  );
  const deadLetters = new DeadLetters(dlqProducer.asProducer(), TOPICS.dlq, { maxRatio: 1, minInvalid: 1_000_000, windowMessages: 10 });
  const deadLetter = new DeadLetter(deadLetters, metrics, () => undefined, opts.maxDlqPending ?? 100);
  const quiet = { info: () => undefined, warn: () => undefined };
  const insert = new Insert(clickhouse.store, opts.maxInFlight ?? 4, deadLetter, metrics, quiet, () => undefined, opts.lanes);
  const batches = new TableBatches(
    { rows: opts.batchRows ?? 1_000_000, bytes: 1 << 30, ageMs: 60_000, maxBufferedBytes: opts.maxBufferedBytes ?? 1 << 30 },
    insert,
    (lane) => insert.bytes(lane),
    opts.lanes,
    opts.chunkPool,
  );
  const decode = new Decode(TOPICS, batches, deadLetter, deadLetters, metrics);
  const delivered = c.delivered;
  const submit = commit.submit.bind(commit);
  commit.submit = (ref) => {
    delivered.push(ref);
    submit(ref);
  };
  return Object.assign(c, {
    decode,
    batches,
    insert,
    deadLetter,
    commit,
    ref(value: Buffer | null, o: { partition?: number; headers?: IHeaders } = {}): MessageRef {
      const offset = String(nextOffset++);
      const message = {
        key: null,
        value,
        headers: o.headers ?? {},
        offset,
        timestamp: '0',
        attributes: 0,
        size: 0,
      } as unknown as KafkaMessage;
      const ref: MessageRef = {
        topic: TOPICS.trend,
        partition: o.partition ?? 0,
        offset,
        message,
        completion: new Completion(() => commit.submit(ref)),
        generation: commit.currentGeneration,
      };
      commit.begin(ref);
      return ref;
    },
  }) as Chain;
}

/** A trend message's value and headers: real-time points, and averages if `averages` (two tables). */
export function trendMessage(points: TrendPoint[]): { value: Buffer; headers: IHeaders } {
  const m = batchMessage('trend', points, 'k');
  return { value: m.value as Buffer, headers: m.headers as IHeaders };
}

/** Submits one trend message of `points` through the whole chain (decode first). */
export function submitTrend(c: Chain, points: TrendPoint[]): void {
  const m = trendMessage(points);
  c.decode.submit(c.ref(m.value, { headers: m.headers }));
}

/** Lets promise callbacks (fake acknowledgements) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}
