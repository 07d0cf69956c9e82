/** The /v1 route modules, one per kind of data. */
import type { FastifyInstance } from 'fastify';
import type { QueryContext } from '../context.ts';
import { alarmRoutes } from './alarms.ts';
import { elementDataRoutes } from './element-data.ts';
import { shareRoutes } from './shares.ts';
import { trendRoutes } from './trends.ts';

export type RouteModule = (app: FastifyInstance, opts: { ctx: QueryContext }) => Promise<void>;

export const V1_ROUTES: readonly RouteModule[] = [trendRoutes, alarmRoutes, elementDataRoutes, shareRoutes];
