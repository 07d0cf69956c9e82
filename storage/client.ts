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
