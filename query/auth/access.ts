/**
 * Who is asking, and what they may read. Bearer tokens are checked by @fastify/bearer-auth with
 * our lookup (tokens.ts); a route names the scope it needs in its `config.scope`. Every read is
 * confined to the token's DMS with `tenantFilter`, so no query can reach another tenant's rows.
 */
import bearerAuth from '@fastify/bearer-auth';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { join, sql, type Sql } from '../../storage/sql.ts';
import { HttpProblem } from '../http/problem.ts';
import { isLive, type ElementKey, type Scope, type TokenKind, type TokenStore } from './tokens.ts';

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

/**
 * Bearer-token authentication and scope checks for the routes registered in this context.
 * 401 for a missing, unknown, expired or revoked token (with `WWW-Authenticate: Bearer`),
 * 403 for a token without the route's scope.
 */
export const authentication = fp<{ tokens: TokenStore }>(async (app: FastifyInstance, { tokens }) => {
  app.decorateRequest('principal', null);
  await app.register(bearerAuth, {
    keys: new Set<string>(),
    addHook: false,
    verifyErrorLogLevel: 'debug',
    // RFC 6749's reading: the scheme name is case-insensitive (`bearer` works too, RFC 7235 §2.1).
    specCompliance: 'rfc6749',
    auth: async (key: string, request: FastifyRequest) => {
      const info = await tokens.lookup(key);
      if (info === undefined || !isLive(info)) return false;
      request.principal = {
        tokenId: info.tokenId,
        kind: info.kind,
        dmsId: info.dmsId,
        scopes: new Set(info.scopes),
        elements: info.kind === 'share' ? new Set(info.elements) : null,
      };
      return true;
    },
  });
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.scope === undefined) return;
    try {
      await new Promise<void>((resolve, reject) => app.verifyBearerAuth!(request, reply, (err?: Error) => (err ? reject(err) : resolve())));
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (err instanceof HttpProblem) throw err;
      if (status === 401 || status === undefined)
        throw new HttpProblem(401, 'Unauthorized', 'a valid bearer token is required (missing, unknown, expired or revoked)', undefined, {
          'www-authenticate': 'Bearer realm="staas"',
        });
      throw err;
    }
  });
  app.addHook('preValidation', async (request) => {
    const scope = request.routeOptions.config.scope;
    if (scope === undefined) return;
    if (!principalOf(request).scopes.has(scope)) throw new HttpProblem(403, 'Forbidden', `this token lacks the scope ${scope}`);
  });
});
