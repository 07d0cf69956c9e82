/**
 * Element data (DataMiner's saved parameters): the current rows of a table parameter, paged by
 * primary key, and the standalone saved parameter values of an element. Both need
 * `elements:read`; an element outside the caller's DMS (or share) answers 404.
 */
import type { FastifyInstance } from 'fastify';
import { principalOf, readableScope } from '../auth/access.ts';
import type { QueryContext } from '../context.ts';
import { decodeRowCursor } from '../element-data/cursor.ts';
import {
  elementParams,
  savedParametersQuery,
  savedParametersResponse,
  tableParams,
  tableRowsQuery,
  tableRowsResponse,
} from '../element-data/schemas.ts';
import { readSavedParameters } from '../element-data/standalone-parameters.ts';
import { readTableRows } from '../element-data/table-rows.ts';

export async function elementDataRoutes(app: FastifyInstance, { ctx }: { ctx: QueryContext }): Promise<void> {
  const { defaultPageSize, maxPageSize } = ctx.config;

  app.get<{
    Params: { dmaId: number; elementId: number; tableParameterId: number };
    Querystring: { prefix?: string; limit: number; cursor?: string };
  }>(
    '/elements/:dmaId/:elementId/tables/:tableParameterId/rows',
    {
      config: { scope: 'elements:read' },
      schema: {
        tags: ['element data'],
        summary: 'The current rows of a table parameter, in primary-key order, a page at a time',
        params: tableParams,
        querystring: tableRowsQuery(defaultPageSize, maxPageSize),
        response: { 200: tableRowsResponse },
      },
    },
    async (request) => {
      const p = principalOf(request);
      const { dmaId, elementId, tableParameterId } = request.params;
      const q = request.query;
      await ctx.elements.require(p, dmaId, elementId);
      const listing = ['rows', readableScope(p), dmaId, elementId, tableParameterId, q.prefix ?? null];
      const after = q.cursor === undefined ? undefined : decodeRowCursor(q.cursor, listing);
      return readTableRows(ctx, p, { dmaId, elementId, tableParameterId, prefix: q.prefix, after, limit: q.limit, listing });
    },
  );

  app.get<{ Params: { dmaId: number; elementId: number }; Querystring: { parameterId?: number[] } }>(
    '/elements/:dmaId/:elementId/parameters',
    {
      config: { scope: 'elements:read' },
      schema: {
        tags: ['element data'],
        summary: 'The standalone saved parameter values of an element, by parameter id',
        params: elementParams,
        querystring: savedParametersQuery(maxPageSize),
        response: { 200: savedParametersResponse },
      },
    },
    async (request) => {
      const p = principalOf(request);
      const { dmaId, elementId } = request.params;
      await ctx.elements.require(p, dmaId, elementId);
      const parameters = await readSavedParameters(ctx, p, { dmaId, elementId, parameterIds: request.query.parameterId });
      return { parameters };
    },
  );
}
