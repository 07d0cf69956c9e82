/**
 * Share tokens (dataminer.services' live sharing): read-only tokens limited to listed elements,
 * with an expiry. Created and deleted by a token with the `shares:write` scope; a deleted share
 * is refused on its next request (tokens are looked up per request).
 */
import type { FastifyInstance } from 'fastify';
import { principalOf } from '../auth/access.ts';
import { READ_SCOPES, type ElementKey, type TokenInfo } from '../auth/tokens.ts';
import type { QueryContext } from '../context.ts';
import { badField, notFound } from '../http/problem.ts';

const elementRef = {
  type: 'object',
  additionalProperties: false,
  required: ['dmaId', 'elementId'],
  properties: {
    dmaId: { type: 'integer', minimum: 0, maximum: 2147483647 },
    elementId: { type: 'integer', minimum: 0, maximum: 2147483647 },
  },
} as const;

const share = {
  type: 'object',
  required: ['shareId', 'name', 'elements', 'scopes', 'createdAt', 'expiresAt'],
  properties: {
    shareId: { type: 'string' },
    name: { type: 'string' },
    elements: { type: 'array', items: elementRef },
    scopes: { type: 'array', items: { type: 'string', enum: [...READ_SCOPES] } },
    createdAt: { type: 'integer', description: 'epoch ms' },
    expiresAt: { type: 'integer', description: 'epoch ms' },
  },
} as const;

function toShare(info: TokenInfo) {
  return {
    shareId: info.tokenId,
    name: info.name,
    elements: info.elements.map((k) => {
      const [dmaId, elementId] = k.split('/').map(Number);
      return { dmaId: dmaId!, elementId: elementId! };
    }),
    scopes: info.scopes,
    createdAt: info.createdAt,
    expiresAt: info.expiresAt,
  };
}

export async function shareRoutes(app: FastifyInstance, { ctx }: { ctx: QueryContext }): Promise<void> {
  const maxLifetimeS = Math.floor(ctx.config.maxShareLifetimeMs / 1000);

  app.post<{ Body: { name: string; elements: { dmaId: number; elementId: number }[]; scopes?: string[]; expiresInSeconds: number } }>(
    '/shares',
    {
      config: { scope: 'shares:write' },
      schema: {
        tags: ['shares'],
        summary: 'Create a share token: read-only, limited to the listed elements, expiring',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'elements', 'expiresInSeconds'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            elements: { type: 'array', minItems: 1, maxItems: 1000, items: elementRef },
            scopes: { type: 'array', items: { type: 'string', enum: [...READ_SCOPES] }, uniqueItems: true, minItems: 1 },
            expiresInSeconds: { type: 'integer', minimum: 1, maximum: maxLifetimeS },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['token', 'share'],
            properties: { token: { type: 'string', description: 'the bearer token: shown once' }, share },
          },
        },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      const body = request.body;
      for (const [i, e] of body.elements.entries()) {
        if (
          !(await ctx.elements.exists(p.dmsId, e.dmaId, e.elementId)) ||
          (p.elements !== null && !p.elements.has(`${e.dmaId}/${e.elementId}`))
        )
          throw badField(`body.elements.${i}`, `element ${e.dmaId}/${e.elementId} is not an element of this DMS`);
      }
      const issued = await ctx.tokens.create({
        kind: 'share',
        dmsId: p.dmsId,
        name: body.name,
        scopes: (body.scopes ?? READ_SCOPES) as typeof READ_SCOPES,
        elements: body.elements.map((e): ElementKey => `${e.dmaId}/${e.elementId}`),
        expiresAt: Date.now() + body.expiresInSeconds * 1000,
      });
      return reply.code(201).send({ token: issued.token, share: toShare(issued.info) });
    },
  );

  app.get(
    '/shares',
    {
      config: { scope: 'shares:write' },
      schema: {
        tags: ['shares'],
        summary: 'The live shares of this DMS',
        response: { 200: { type: 'object', required: ['shares'], properties: { shares: { type: 'array', items: share } } } },
      },
    },
    async (request) => {
      const p = principalOf(request);
      const now = Date.now();
      const all = await ctx.tokens.list({ dmsId: p.dmsId, kind: 'share' });
      return { shares: all.filter((t) => t.revokedAt === 0 && t.expiresAt > now).map(toShare) };
    },
  );

  app.delete<{ Params: { shareId: string } }>(
    '/shares/:shareId',
    {
      config: { scope: 'shares:write' },
      schema: {
        tags: ['shares'],
        summary: 'Delete a share: its link stops working at once',
        params: {
          type: 'object',
          required: ['shareId'],
          properties: { shareId: { type: 'string', pattern: '^[0-9a-f]{16}$' } },
        },
        response: { 204: { type: 'null', description: 'deleted' } },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      const revoked = await ctx.tokens.revoke(request.params.shareId, { dmsId: p.dmsId, kind: 'share' });
      if (revoked === undefined) throw notFound(`share ${request.params.shareId} not found`);
      return reply.code(204).send();
    },
  );
}
