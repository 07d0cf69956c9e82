/** Placeholder while this route module is being written in this session. */
import type { FastifyInstance } from 'fastify';
import type { QueryContext } from '../context.ts';

export async function trendRoutes(_app: FastifyInstance, _opts: { ctx: QueryContext }): Promise<void> {}
