/**
 * Who is asking, and what they may read. Bearer tokens are checked by @fastify/bearer-auth with
 * our lookup (tokens.ts); a route names the scope it needs in its `config.scope`. Every read is
 * confined to the token's DMS with `tenantFilter`, so no query can reach another tenant's rows.
 */
import bearerAuth from '@fastify/bearer-auth';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { join, sql, type Sql } from '../../storage/sql.ts';
import { HttpProblem, PROBLEM_CONTENT_TYPE, type Problem } from '../http/problem.ts';
import { isLive, type ElementKey, type Scope, type TokenInfo, type TokenKind, type TokenStore } from './tokens.ts';

export interface Principal {
  tokenId: string;
  kind: TokenKind;
  dmsId: number;
  scopes: ReadonlySet<Scope>;
  /** Share tokens: the elements they may read; null = every element of the DMS. */
  elements: ReadonlySet<ElementKey> | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
    /**
     * A GET whose token was verified moments ago runs with that principal while its token is
     * looked up again: this settles true when the token is still live (see `holdUntilVerified`).
     */
    tokenRecheck: Promise<boolean> | undefined;
  }
  interface FastifyContextConfig {
    /** The scope a route needs; routes without one are public. */
    scope?: Scope;
  }
}

/** The caller of an authenticated route (the auth hook ran before the handler). */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null) throw new HttpProblem(401, 'Unauthorized', 'a bearer token is required');
  return request.principal;
}

/** `dms_id = <token's DMS>`, narrowed to the listed elements for a share token. */
export function tenantFilter(p: Principal): Sql {
  const dms = sql`dms_id = ${p.dmsId}`;
  if (p.elements === null) return dms;
  const pairs = [...p.elements].map((k) => {
    const [dma, element] = k.split('/').map(Number);
    return sql`(dma_id = ${dma!} AND element_id = ${element!})`;
  });
  return sql`${dms} AND (${pairs.length === 0 ? sql`0` : join(pairs, ' OR ')})`;
}

/** What a token may read, as a JSON value: its DMS and, for a share, its sorted elements (cursor binding). */
export function readableScope(p: Principal): unknown {
  return [p.dmsId, p.elements === null ? null : [...p.elements].sort()];
}

/** Whether a share token (if any) lists the element. */
export function mayReadElement(p: Principal, dmaId: number, elementId: number): boolean {
  return p.elements === null || p.elements.has(`${dmaId}/${elementId}`);
}

/** How many Authorization header lines a request carries (Node keeps only the first of several). */
function authorizationLines(rawHeaders: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'authorization') n++;
  return n;
}

/**
 * Bearer-token authentication and scope checks for the routes registered in this context.
 * 401 for a missing, unknown, expired or revoked token (with `WWW-Authenticate: Bearer`),
 * 403 for a token without the route's scope, 400 for more than one Authorization header (RFC 9110
 * §5.3: a field that is not a list may appear once; Node would silently keep the first).
 * Failed authentications are limited per client address (`failuresPerMinute`, counted by
 * @fastify/rate-limit, which the server registers first): past the limit the address is answered
 * 429 until the minute ends, before its tokens are looked up — every lookup of an unknown token is
 * a ClickHouse read, and the per-token limit cannot count requests that have no token.
 */
/** How long a verified token's record lets a GET start before its lookup answers (ms). */
const RECHECK_WINDOW_MS = 60_000;
const MAX_VERIFIED = 10_000;

function principalFrom(info: TokenInfo): Principal {
  return {
    tokenId: info.tokenId,
    kind: info.kind,
    dmsId: info.dmsId,
    scopes: new Set(info.scopes),
    elements: info.kind === 'share' ? new Set(info.elements) : null,
  };
}

/**
 * A root `onSend` hook (registered before compression) that holds every answer of a request
 * that started on a recently verified token (`tokenRecheck`) until that token's fresh lookup
 * answered, and replaces it by a 401 problem when the token was revoked or expired meanwhile (503
 * when the lookup failed). So a GET's reads run beside its token lookup rather than after it,
 * and a revoked token still gets nothing on its next request, on any instance: what decides is
 * the lookup of that request, as before. Writes (POST, DELETE) never start early.
 */
export async function holdUntilVerified(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  const recheck = request.tokenRecheck;
  if (recheck === undefined) return payload;
  request.tokenRecheck = undefined;
  let problem: Problem | undefined;
  try {
    if (!(await recheck))
      problem = {
        type: 'about:blank',
        title: 'Unauthorized',
        status: 401,
        detail: 'a valid bearer token is required (missing, unknown, expired or revoked)',
      };
  } catch (err) {
    const status = err instanceof HttpProblem ? err.status : 503;
    problem = { type: 'about:blank', title: status === 503 ? 'Service Unavailable' : 'Error', status, detail: (err as Error).message };
  }
  if (problem === undefined) return payload;
  if (payload instanceof Readable) payload.destroy();
  // The answer's own coding (a gzip-spliced trend) goes with it: the problem is compressed, or
  // not, like any other answer.
  reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).removeHeader('content-length').removeHeader('content-encoding');
  if (problem.status === 401) reply.header('www-authenticate', 'Bearer realm="staas"');
  request.principal = null;
  return JSON.stringify({ ...problem, instance: request.url.split('?')[0] });
}

export const authentication = fp<{ tokens: TokenStore; failuresPerMinute: number }>(
  async (app: FastifyInstance, { tokens, failuresPerMinute }) => {
    const countFailure = app.createRateLimit({
      max: failuresPerMinute,
      timeWindow: 60_000,
      keyGenerator: (request) => `auth-failure:${request.ip}`,
    });
    /** Client address → end of its block (epoch ms). */
    const blocked = new Map<string, number>();
    const tooMany = (untilMs: number) =>
      new HttpProblem(
        429,
        'Too Many Requests',
        `too many failed authentications from this address; retry in ${Math.ceil((untilMs - Date.now()) / 1000)} s`,
        undefined,
        {
          'retry-after': String(Math.max(1, Math.ceil((untilMs - Date.now()) / 1000))),
        },
      );
    app.decorateRequest('principal', null);
    app.decorateRequest('tokenRecheck', undefined);
    /** Tokens verified live lately, with when: a GET on one starts before its lookup answers. */
    const verified = new Map<string, { info: TokenInfo; at: number }>();
    const remember = (key: string, info: TokenInfo) => {
      if (verified.size >= MAX_VERIFIED) verified.clear();
      verified.set(key, { info, at: Date.now() });
    };
    await app.register(bearerAuth, {
      keys: new Set<string>(),
      addHook: false,
      verifyErrorLogLevel: 'debug',
      // RFC 6749's reading: the scheme name is case-insensitive (`bearer` works too, RFC 7235 §2.1).
      specCompliance: 'rfc6749',
      auth: async (key: string, request: FastifyRequest) => {
        const known = verified.get(key);
        if (request.method === 'GET' && known !== undefined && Date.now() - known.at < RECHECK_WINDOW_MS && isLive(known.info)) {
          request.principal = principalFrom(known.info);
          request.tokenRecheck = tokens.lookup(key).then((info) => {
            if (info !== undefined && isLive(info)) {
              remember(key, info);
              return true;
            }
            verified.delete(key);
            return false;
          });
          // Awaited by holdUntilVerified; a request that fails before sending still settles it.
          request.tokenRecheck.catch(() => undefined);
          return true;
        }
        const info = await tokens.lookup(key);
        if (info === undefined || !isLive(info)) {
          verified.delete(key);
          return false;
        }
        remember(key, info);
        request.principal = principalFrom(info);
        return true;
      },
    });
    app.addHook('onRequest', async (request, reply) => {
      if (request.routeOptions.config.scope === undefined) return;
      if (authorizationLines(request.raw.rawHeaders) > 1)
        throw new HttpProblem(400, 'Bad Request', 'headers.authorization must appear once', [
          { field: 'headers.authorization', message: 'must appear once' },
        ]);
      const until = blocked.get(request.ip);
      if (until !== undefined) {
        if (until > Date.now()) throw tooMany(until);
        blocked.delete(request.ip);
      }
      try {
        await new Promise<void>((resolve, reject) =>
          app.verifyBearerAuth!(request, reply, (err?: Error) => (err ? reject(err) : resolve())),
        );
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        if (err instanceof HttpProblem) throw err;
        if (status === 401 || status === undefined) {
          const limit = await countFailure(request);
          if (!limit.isAllowed && limit.isExceeded) {
            const end = Date.now() + limit.ttl;
            // Bounded: expired blocks are dropped first; a flood from more addresses than this
            // starts over rather than growing without end.
            if (blocked.size >= 100_000) for (const [ip, t] of blocked) if (t <= Date.now()) blocked.delete(ip);
            if (blocked.size >= 100_000) blocked.clear();
            blocked.set(request.ip, end);
            throw tooMany(end);
          }
          throw new HttpProblem(401, 'Unauthorized', 'a valid bearer token is required (missing, unknown, expired or revoked)', undefined, {
            'www-authenticate': 'Bearer realm="staas"',
          });
        }
        throw err;
      }
    });
    app.addHook('preValidation', async (request) => {
      const scope = request.routeOptions.config.scope;
      if (scope === undefined) return;
      if (!principalOf(request).scopes.has(scope)) throw new HttpProblem(403, 'Forbidden', `this token lacks the scope ${scope}`);
    });
  },
);
