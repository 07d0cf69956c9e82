/**
 * The Query API: a fastify app whose plugins are, in order, problem+json errors, OpenAPI
 * (@fastify/swagger, docs at /docs), compression, load shedding (@fastify/under-pressure),
 * a rate limit per token (@fastify/rate-limit), request metrics, the public routes (/healthz,
 * /readyz, /metrics, /openapi.json) and the /v1 routes behind bearer tokens.
 */
import compress from '@fastify/compress';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import underPressure from '@fastify/under-pressure';
import { appendFileSync } from 'node:fs';
import type { ClickHouseClient } from '@clickhouse/client';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { ANSWER_ENCODINGS, ANSWER_GZIP_LEVEL } from './http/gzip-splice.ts';
import { ident } from '../storage/sql.ts';
import { authentication, holdUntilVerified } from './auth/access.ts';
import { TokenStore } from './auth/tokens.ts';
import type { QueryConfig } from './config.ts';
import type { QueryContext } from './context.ts';
import { ElementDirectory } from './elements.ts';
import { TrendDayCache } from './trends/day-cache.ts';
import { LateWriteFeed } from './trends/late-writes.ts';
import { PlanMemory } from './trends/plan-memory.ts';
import {
  COMMON_PROBLEMS,
  clientErrorProblem,
  frameworkErrorProblem,
  installProblemHandlers,
  rejectLooseIntegers,
  problemResponses,
  problemSchema,
} from './http/problem.ts';
import { createQueryMetrics, trendCacheGauges, type QueryMetrics } from './metrics.ts';
import { ClickHouseReader } from './reader.ts';
import { V1_ROUTES } from './routes/index.ts';
import { publicRoutes } from './routes/public.ts';

export interface QueryApiOptions {
  /**
   * The ClickHouse server, or several serving the same tables, first choice first (cluster mode:
   * reads move to the next when one is unreachable; see ClickHouseReader).
   */
  client: ClickHouseClient | readonly ClickHouseClient[];
  /** The staas database (a plain identifier). */
  database: string;
  config: QueryConfig;
  metrics?: QueryMetrics;
  logger?: FastifyServerOptions['logger'];
}

export const API_VERSION = '1.0.0';

declare module 'fastify' {
  interface FastifyInstance {
    /** The invalidation feed of the cache of sealed trend days (trends/late-writes.ts). */
    lateWrites: LateWriteFeed;
  }
}

/** Builds the app (not listening); `app.close()` releases it, not the ClickHouse client. */
export async function buildQueryApi(opts: QueryApiOptions): Promise<FastifyInstance> {
  const { config } = opts;
  const metrics = opts.metrics ?? createQueryMetrics();
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: 64 * 1024,
    clientErrorHandler: clientErrorProblem,
    frameworkErrors: frameworkErrorProblem,
    ajv: {
      // Unknown query fields are errors, not silently dropped; every problem is listed at once.
      customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: true, useDefaults: true },
    },
  });
  const sqlLog = config.sqlLogFile;
  const reader = new ClickHouseReader(
    opts.client,
    opts.database,
    config.maxExecutionTimeS,
    metrics,
    sqlLog === undefined ? undefined : (label, text) => appendFileSync(sqlLog, `${JSON.stringify({ label, sql: text })}\n`),
  );
  const ctx: QueryContext = {
    config,
    db: ident(opts.database),
    reader,
    tokens: new TokenStore(reader),
    elements: new ElementDirectory(reader),
    metrics,
    trendPlans: new PlanMemory(config.trendPlanMemory),
    dayCache: new TrendDayCache(config.trendCacheBytes),
  };
  const lateWrites = new LateWriteFeed(reader, ctx.db, ctx.dayCache, {
    warn: (m) => app.log.warn(m),
    info: (m) => app.log.info(m),
  });
  trendCacheGauges(metrics, ctx.dayCache);
  lateWrites.start();
  app.decorate('lateWrites', lateWrites);
  app.addHook('onClose', async () => lateWrites.stop());

  installProblemHandlers(app);
  // Request bodies are JSON only: fastify's built-in text/plain parser would hand a string to the
  // body schema (a 400 about types) where the honest answer is 415.
  app.removeContentTypeParser('text/plain');
  app.addSchema(problemSchema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'staas Query API',
        version: API_VERSION,
        description: "Trends, alarms and element data of one DataMiner System, read back from staas's ClickHouse.",
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // Before compression: an answer replaced by a 401 is then compressed like any other.
  app.addHook('onSend', holdUntilVerified);
  // A trend answer with cached sealed days may come compressed already (routes/trends.ts): the
  // plugin leaves an answer with a Content-Encoding alone.
  await app.register(compress, {
    global: true,
    threshold: 1024,
    encodings: [...ANSWER_ENCODINGS],
    zlibOptions: { level: ANSWER_GZIP_LEVEL },
  });
  await app.register(underPressure, { maxEventLoopDelay: 2000, exposeStatusRoute: false });
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    max: config.rateLimitPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => request.principal?.tokenId ?? request.ip,
  });
  app.addHook('preValidation', async (request) => rejectLooseIntegers(request));
  app.addHook('onResponse', async (request, reply) => {
    metrics.requestSeconds.observe(
      { route: request.routeOptions.url ?? 'unmatched', method: request.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(publicRoutes, { ctx });
  await app.register(
    async (v1) => {
      // Every authenticated route documents its bearer security and the problems it can answer.
      v1.addHook('onRoute', (route) => {
        if (route.config?.scope === undefined) return;
        const schema = (route.schema ??= {});
        schema.security = [{ bearerAuth: [] }];
        schema.response = { ...problemResponses(...COMMON_PROBLEMS), ...(schema.response as object | undefined) };
      });
      await v1.register(authentication, { tokens: ctx.tokens, failuresPerMinute: config.authFailuresPerMinute });
      for (const routes of V1_ROUTES) await v1.register(routes, { ctx });
    },
    { prefix: '/v1' },
  );
  return app;
}
