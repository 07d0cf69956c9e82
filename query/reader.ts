/**
 * Runs the Query API's reads on ClickHouse: every statement comes from storage/sql.ts, runs with
 * `max_execution_time`, a query id (so an abandoned query can be killed: 18.16 keeps running a
 * query whose HTTP client went away) and 64-bit integers as JSON numbers (18.16 and servers
 * before 25.8 quote them by default; ids and epoch-ms times here stay below 2^53).
 */
import { randomUUID } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { clickhouseErrorCode, isUnreachable } from '../storage/client.ts';
import { sql, type Sql } from '../storage/sql.ts';
import { HttpProblem } from './http/problem.ts';
import type { QueryMetrics } from './metrics.ts';
import { decodeRowBinaryStream, type RowShape } from './rowbinary.ts';

/** Whether the error is a connection reset by the server (a stale keep-alive socket). */
export function isSocketReset(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

/** ClickHouse's TIMEOUT_EXCEEDED and TOO_SLOW: the read hit max_execution_time. */
const TIMEOUT_CODES = new Set([159, 160]);

/**
 * Settings of every read. The uncompressed block cache (ClickHouse docs: "use_uncompressed_cache",
 * meant for short frequent queries; the server's cache size is `uncompressed_cache_size`) spares
 * the LZ4 decompression of the blocks a dashboard asks for again and again: measured on 18.16,
 * a 30-day trend's data read went from 56 to 39 ms of server CPU.
 */
const READ_SETTINGS = { use_uncompressed_cache: 1 } as const;

export interface ReadOptions {
  /** Names the statement in metrics and logs, e.g. `trend.data`. */
  label: string;
  signal?: AbortSignal;
  /**
   * ClickHouse `max_threads` for a small read (server default otherwise). 18.16 starts its
   * threads per query: measured for the few hundred rows of a trend's live day (111,000 rows
   * read over 3 branches), 35 ms of server CPU with the default against 19 with one thread.
   */
  maxThreads?: number;
  /**
   * Only from replicas at most 5 s behind (cluster mode; a single server has none): reads whose
   * answers are kept (the cache of sealed days and its late-write polls) must not come from a
   * replica that lacks rows or markers for longer than the markers' replay (10 s). ClickHouse's
   * defaults accept a replica 300 s behind, or a staler one when none is fresh
   * (`max_replica_delay_for_distributed_queries`, `fallback_to_stale_replicas_for_distributed_queries`).
   */
  freshReplicas?: boolean;
}

function settingsOf(opts: ReadOptions): Record<string, number> {
  const out: Record<string, number> = {};
  if (opts.maxThreads !== undefined) out.max_threads = opts.maxThreads;
  if (opts.freshReplicas === true) {
    out.max_replica_delay_for_distributed_queries = 5;
    out.fallback_to_stale_replicas_for_distributed_queries = 0;
  }
  return out;
}

export class ClickHouseReader {
  private readonly clients: readonly ClickHouseClient[];
  /** Which of `clients` reads go to: the first, until it is unreachable; then the next that answers. */
  private current = 0;

  constructor(
    /**
     * The server to read from, or several that serve the same tables (cluster mode: every server
     * has the Distributed tables), first choice first: a read that finds its server unreachable
     * is run again on the next one, which then takes the following reads.
     */
    clients: ClickHouseClient | readonly ClickHouseClient[],
    /** The staas database: a plain identifier, checked when the connection settings were read. */
    readonly database: string,
    private readonly maxExecutionTimeS: number,
    private readonly metrics: QueryMetrics,
    /** Sees every statement before it runs (STAAS_QUERY_SQL_LOG; the current-ClickHouse check). */
    private readonly onStatement?: (label: string, text: string) => void,
  ) {
    this.clients = Array.isArray(clients) ? clients : [clients as ClickHouseClient];
    if (this.clients.length === 0) throw new Error('ClickHouseReader needs at least one client');
  }

  /** The client reads go to now (writes beside the reads, e.g. tokens, use it too). */
  get client(): ClickHouseClient {
    return this.clients[this.current]!;
  }

  /**
   * The rows of a SELECT, as objects keyed by column alias.
   * Throws HttpProblem 503 when ClickHouse is unreachable or the query exceeded
   * max_execution_time; rethrows other server errors (a bug: 500).
   */
  async rows<T>(statement: Sql, opts: ReadOptions): Promise<T[]> {
    return this.read(statement, opts, async (client, queryId) => {
      const rs = await client.query({
        query: statement.text,
        format: 'JSON',
        query_id: queryId,
        abort_signal: opts.signal,
        clickhouse_settings: {
          ...READ_SETTINGS,
          ...settingsOf(opts),
          max_execution_time: this.maxExecutionTimeS,
          output_format_json_quote_64bit_integers: 0,
        },
      });
      const body = await rs.json<T>();
      this.metrics.clickhouseRowsRead.inc({ query: opts.label }, body.statistics?.rows_read ?? 0);
      return body.data;
    });
  }

  /**
   * The rows of a SELECT read as RowBinary (for answers of thousands of rows): `statement` must
   * select exactly `shape`'s columns with `castColumns(shape)`. Errors as for `rows`.
   */
  async binaryRows<T>(statement: Sql, shape: RowShape, opts: ReadOptions): Promise<T[]> {
    const rows: T[] = [];
    for await (const batch of await this.binaryStream<T>(statement, shape, opts)) for (const row of batch) rows.push(row);
    return rows;
  }

  /**
   * Like `binaryRows`, as batches of rows decoded while the answer arrives (one per received
   * chunk), for answers too large to hold at once. The promise settles once ClickHouse answered:
   * it buffers the answer until the query ended (`wait_end_of_query`, spilling to its tmp folder),
   * so query errors (timeouts: 503) reject it, and the iteration fails only when the connection
   * is lost mid-answer or the bytes do not fit `shape` (RowBinaryError).
   */
  async binaryStream<T>(statement: Sql, shape: RowShape, opts: ReadOptions): Promise<AsyncGenerator<T[]>> {
    return decodeRowBinaryStream<T>(await this.binaryChunks(statement, opts), shape);
  }

  /**
   * Like `binaryStream`, undecoded: the RowBinary answer's chunks as they arrive, for a caller
   * that reads rows in place (see rowbinary.ts `spanReaderFor`). The statement must cast its
   * columns to the shape the caller reads (`castColumns`).
   */
  async binaryChunks(statement: Sql, opts: ReadOptions): Promise<AsyncIterable<Buffer>> {
    return this.read(statement, opts, async (client, queryId) => {
      const res = await client.exec({
        query: `${statement.text}\nFORMAT RowBinary`,
        query_id: queryId,
        abort_signal: opts.signal,
        clickhouse_settings: { ...READ_SETTINGS, ...settingsOf(opts), max_execution_time: this.maxExecutionTimeS, wait_end_of_query: 1 },
      });
      return res.stream as AsyncIterable<Buffer>;
    });
  }

  /**
   * What every read shares: the statement log, the duration metric, one retry on a reset socket,
   * the next server when this one is unreachable, errors as problems.
   */
  private async read<R>(statement: Sql, opts: ReadOptions, run: (client: ClickHouseClient, queryId: string) => Promise<R>): Promise<R> {
    this.onStatement?.(opts.label, statement.text);
    const end = this.metrics.clickhouseSeconds.startTimer({ query: opts.label });
    let queryId = randomUUID();
    let client = this.client;
    let resetRetried = false;
    let serversTried = 1;
    try {
      for (;;) {
        try {
          return await run(client, queryId);
        } catch (err) {
          if (opts.signal?.aborted) throw this.failure(err, client, queryId, opts);
          if (isSocketReset(err) && !resetRetried) {
            // A keep-alive socket the server closed at the moment it was reused: reads are
            // idempotent, so one more try on a fresh socket (with a fresh query id).
            resetRetried = true;
          } else if (isUnreachable(err) && serversTried < this.clients.length) {
            serversTried++;
            client = this.next(client);
          } else throw this.failure(err, client, queryId, opts);
          queryId = randomUUID();
        }
      }
    } finally {
      end();
    }
  }

  /**
   * The server after `failed` in the list (or `to`); reads go there from now on (unless another
   * read moved on already).
   */
  private next(failed: ClickHouseClient, to?: ClickHouseClient): ClickHouseClient {
    const i = this.clients.indexOf(failed);
    const next = to === undefined ? (i + 1) % this.clients.length : this.clients.indexOf(to);
    if (this.current === i) {
      this.current = next;
      this.metrics.clickhouseFailovers.inc();
    }
    return this.clients[next]!;
  }

  /** The error to throw for a failed read: 503 problems for timeouts and an unreachable server. */
  private failure(err: unknown, client: ClickHouseClient, queryId: string, opts: ReadOptions): unknown {
    const code = clickhouseErrorCode(err);
    // A read its caller stopped (client gone, early trend read not needed) is not a server failure.
    if (opts.signal?.aborted) this.kill(client, queryId);
    else this.metrics.clickhouseErrors.inc({ query: opts.label, code: code === undefined ? 'none' : String(code) });
    if (code !== undefined && TIMEOUT_CODES.has(code))
      return new HttpProblem(
        503,
        'Service Unavailable',
        `the query took longer than ${this.maxExecutionTimeS} s; ask for a shorter range or fewer series`,
        undefined,
        {
          'retry-after': '1',
        },
      );
    if (code === undefined)
      return new HttpProblem(503, 'Service Unavailable', 'the database is unreachable; try again', undefined, { 'retry-after': '1' });
    return err;
  }

  /**
   * Whether ClickHouse answers a trivial query within 2 s (readiness). When the current server
   * does not (also one that hangs, which reads notice only after their timeout), the others are
   * asked in turn, and the first that answers takes the reads.
   */
  async ready(): Promise<boolean> {
    for (let i = 0; i < this.clients.length; i++) {
      const client = this.clients[(this.current + i) % this.clients.length]!;
      try {
        await client.query({ query: 'SELECT 1', format: 'JSON', abort_signal: AbortSignal.timeout(2000) }).then((rs) => rs.json());
        if (client !== this.client) this.next(this.client, client);
        return true;
      } catch {
        // the next server
      }
    }
    return false;
  }

  private kill(client: ClickHouseClient, queryId: string): void {
    client.command({ query: sql`KILL QUERY WHERE query_id = ${queryId} ASYNC`.text }).catch(() => undefined);
  }
}
