/** Routes without a token: liveness, readiness, metrics and the OpenAPI document. */
import type { FastifyInstance } from 'fastify';
import type { QueryContext } from '../context.ts';

const hidden = { hide: true } as const;
const noLimit = { rateLimit: false } as const;

export async function publicRoutes(app: FastifyInstance, { ctx }: { ctx: QueryContext }): Promise<void> {
  app.get('/healthz', { schema: { ...hidden }, config: noLimit }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { ...hidden }, config: noLimit }, async (_request, reply) => {
    const ready = await ctx.reader.ready();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'clickhouse unreachable' });
  });

  app.get('/metrics', { schema: { ...hidden }, config: noLimit }, async (_request, reply) =>
    reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics()),
  );

  app.get('/openapi.json', { schema: { ...hidden }, config: noLimit }, async () => app.swagger());
}
