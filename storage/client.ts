/** One place that builds ClickHouse clients and reads ClickHouse error codes. */
import { createClient, ClickHouseLogLevel, type ClickHouseClient } from '@clickhouse/client';
import type { ClickHouseConnection } from '../config/connections.ts';

export function createClickHouse(conn: ClickHouseConnection, opts: { requestTimeoutMs?: number } = {}): ClickHouseClient {
  return createClient({
    url: conn.url,
    username: conn.username,
    password: conn.password,
    // No default database: the schema module creates it, and every statement names it.
    request_timeout: opts.requestTimeoutMs ?? 30_000,
    max_open_connections: 10,
    // The server closes an idle keep-alive socket after 3 s (keep_alive_timeout, the default).
    // The client's default 2.5 s leaves too little margin when the event loop is busy: a socket
    // reused just as the server closes it fails with ECONNRESET ("socket hang up").
    keep_alive: { enabled: true, idle_socket_ttl: 1000 },
    // The client logs every failed request at ERROR; callers handle and report failures themselves.
    log: { level: ClickHouseLogLevel.OFF },
  });
}

/**
 * Clients for every server that serves the staas tables, `conn.url` (STAAS_CLICKHOUSE_URL) first,
 * then, in cluster mode, every other replica (each has the Distributed tables): the list a
 * ClickHouseReader moves along when a server is unreachable. One client in single mode.
 */
export function createClickHouseClients(conn: ClickHouseConnection, opts: { requestTimeoutMs?: number } = {}): ClickHouseClient[] {
  const urls = [...new Set([conn.url, ...(conn.cluster?.shards.flat() ?? [])])];
  return urls.map((url) => createClickHouse({ ...conn, url }, opts));
}

/**
 * The server's error code. 18.16 answers with plain errors the client cannot classify
 * (no "(ERROR_NAME)" suffix), so fall back to the "Code: N" in the message.
 */
export function clickhouseErrorCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^\d+$/.test(code)) return Number(code);
  const message = (err as { message?: unknown }).message;
  const m = typeof message === 'string' ? /Code: (\d+)/.exec(message) : null;
  return m === null ? undefined : Number(m[1]);
}

/**
 * Whether the server could not be reached or stopped answering: refused or reset connections,
 * a host that is gone, the client's request timeout (the server enforces max_execution_time
 * first, so a timeout means it hangs). Another server of a cluster may answer instead.
 */
export function isUnreachable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT'].includes(code))
    return true;
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' && /^(Timeout error|socket hang up)/.test(message);
}
