/**
 * Bearer tokens of the Query API, kept in ClickHouse (`api_tokens`) so that every API instance
 * sees the same set. Only the SHA-256 of a token is stored (tokens are 192 random bits, so a
 * plain hash suffices; nothing is gained from a slow password hash). A token is bound to one
 * DMS (the tenant) and a set of scopes; a share token (dataminer.services' live sharing) is
 * also limited to listed elements and always expires.
 *
 * Tokens are looked up per request, uncached: a revocation or a deleted share is refused on
 * its very next request by every instance.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ident, join, sql } from '../../storage/sql.ts';
import { isSocketReset, type ClickHouseReader } from '../reader.ts';

export const SCOPES = ['trends:read', 'alarms:read', 'elements:read', 'shares:write'] as const;
export type Scope = (typeof SCOPES)[number];
/** What a share token may carry: reading only. */
export const READ_SCOPES: readonly Scope[] = ['trends:read', 'alarms:read', 'elements:read'];

export type TokenKind = 'api' | 'share';

/** An element as DataMiner names it: `dmaId/elementId`. */
export type ElementKey = `${number}/${number}`;

export interface TokenInfo {
  /** Public id (the first 16 hex digits of the hash): listing and revoking use it. */
  tokenId: string;
  kind: TokenKind;
  dmsId: number;
  name: string;
  scopes: Scope[];
  /** Share tokens: the only elements they may read. Empty for API tokens (the whole DMS). */
  elements: ElementKey[];
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms; 0 = never. */
  expiresAt: number;
  /** Epoch ms; 0 = not revoked. */
  revokedAt: number;
}

export interface IssuedToken {
  /** The secret: shown once, never stored. */
  token: string;
  info: TokenInfo;
}

export interface NewToken {
  kind: TokenKind;
  dmsId: number;
  name: string;
  scopes: readonly Scope[];
  elements?: readonly ElementKey[];
  expiresAt?: number;
}

const TOKEN_FORMAT = /^staas_[A-Za-z0-9_-]{32}$/;

interface TokenRow {
  token_hash: string;
  token_id: string;
  kind: string;
  dms_id: number;
  name: string;
  scopes: string[];
  elements: string[];
  created_at: number;
  expires_at: number;
  revoked_at: number;
  version: number;
}

function hashOf(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function toInfo(r: TokenRow): TokenInfo {
  return {
    tokenId: r.token_id,
    kind: r.kind === 'share' ? 'share' : 'api',
    dmsId: Number(r.dms_id),
    name: r.name,
    scopes: r.scopes.filter((s): s is Scope => (SCOPES as readonly string[]).includes(s)),
    elements: r.elements as ElementKey[],
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    revokedAt: Number(r.revoked_at),
  };
}

/** Whether a token may be used at `now` (epoch ms). */
export function isLive(info: TokenInfo, now = Date.now()): boolean {
  return info.revokedAt === 0 && (info.expiresAt === 0 || info.expiresAt > now);
}

const COLUMNS = sql`token_hash, token_id, kind, dms_id, name, scopes, elements, created_at, expires_at, revoked_at, version`;

export class TokenStore {
  /** Reads and writes go to the reader's current server (it moves to another when one is unreachable). */
  constructor(private readonly reader: ClickHouseReader) {}

  private get table() {
    return sql`${ident(this.reader.database)}.api_tokens`;
  }

  /** Creates a token; the returned secret is the only copy. */
  async create(spec: NewToken, now = Date.now()): Promise<IssuedToken> {
    const token = `staas_${randomBytes(24).toString('base64url')}`;
    const hash = hashOf(token);
    const row: TokenRow = {
      token_hash: hash,
      token_id: hash.slice(0, 16),
      kind: spec.kind,
      dms_id: spec.dmsId,
      name: spec.name,
      scopes: [...new Set(spec.scopes)],
      elements: [...new Set(spec.elements ?? [])],
      created_at: now,
      expires_at: spec.expiresAt ?? 0,
      revoked_at: 0,
      version: now,
    };
    await this.write(row);
    return { token, info: toInfo(row) };
  }

  /** The token's record when the string is a known token (live or not); undefined otherwise. */
  async lookup(token: string, signal?: AbortSignal): Promise<TokenInfo | undefined> {
    if (!TOKEN_FORMAT.test(token)) return undefined;
    const rows = await this.reader.rows<TokenRow>(sql`SELECT ${COLUMNS} FROM ${this.table} FINAL WHERE token_hash = ${hashOf(token)}`, {
      label: 'token.lookup',
      maxThreads: 1,
      signal,
    });
    return rows[0] === undefined ? undefined : toInfo(rows[0]);
  }

  /** Tokens of one DMS (or all), newest first; revoked ones included (revokedAt > 0). */
  async list(filter: { dmsId?: number; kind?: TokenKind } = {}): Promise<TokenInfo[]> {
    const where = [sql`1`];
    if (filter.dmsId !== undefined) where.push(sql`dms_id = ${filter.dmsId}`);
    if (filter.kind !== undefined) where.push(sql`kind = ${filter.kind}`);
    const rows = await this.reader.rows<TokenRow>(
      sql`SELECT * FROM (SELECT ${COLUMNS} FROM ${this.table} FINAL) WHERE ${join(where, ' AND ')} ORDER BY created_at DESC, token_id`,
      { label: 'token.list' },
    );
    return rows.map(toInfo);
  }

  /**
   * Revokes a token by id (optionally only within one DMS and of one kind); returns its record,
   * or undefined when no such live token exists.
   */
  async revoke(tokenId: string, scope: { dmsId?: number; kind?: TokenKind } = {}, now = Date.now()): Promise<TokenInfo | undefined> {
    const where = [sql`token_id = ${tokenId}`, sql`revoked_at = 0`];
    if (scope.dmsId !== undefined) where.push(sql`dms_id = ${scope.dmsId}`);
    if (scope.kind !== undefined) where.push(sql`kind = ${scope.kind}`);
    const rows = await this.reader.rows<TokenRow>(
      sql`SELECT * FROM (SELECT ${COLUMNS} FROM ${this.table} FINAL) WHERE ${join(where, ' AND ')}`,
      { label: 'token.revoke' },
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    const revoked = { ...row, revoked_at: now, version: Math.max(now, Number(row.version) + 1) };
    await this.write(revoked);
    return toInfo(revoked);
  }

  private async write(row: TokenRow): Promise<void> {
    // On a cluster api_tokens is a Distributed table: the insert returns once the shard stored
    // the row (not queued for later), so a token or revocation holds at once (a known setting on
    // 18.16 and current servers, where it is an alias of distributed_foreground_insert).
    const insert = () =>
      this.reader.client.insert({
        table: `${this.reader.database}.api_tokens`,
        values: [row],
        format: 'JSONEachRow',
        clickhouse_settings: { insert_distributed_sync: 1 },
      });
    // Writing the same row twice changes nothing (ReplacingMergeTree by hash and version), so a
    // stale keep-alive socket gets one more try, as reads do.
    await insert().catch((err: unknown) => {
      if (!isSocketReset(err)) throw err;
      return insert();
    });
  }
}
