/**
 * Alarm routes (scope `alarms:read`), in DataMiner's terms:
 * - active alarms of the DMS or of one element (optionally one parameter / table row), with
 *   counts per severity and keyset paging by alarm tree;
 * - alarm history of a time range (GetHistoryAlarmsFor…): latest event per tree or whole trees,
 *   information events on request, newest first;
 * - one whole alarm tree by its root alarm id.
 * Element routes answer 404 for an element the caller's DMS does not have (or a share does not list).
 */
import type { FastifyInstance } from 'fastify';
import { SEVERITY_INFORMATION } from '../../storage/schema.ts';
import { readActiveAlarms } from '../alarms/active.ts';
import type { AlarmFilter, ElementScope } from '../alarms/filters.ts';
import { readAlarmHistory } from '../alarms/history.ts';
import { alarmItemSchema } from '../alarms/item.ts';
import { readAlarmTree } from '../alarms/tree.ts';
import { principalOf } from '../auth/access.ts';
import type { QueryContext } from '../context.ts';
import { badField } from '../http/problem.ts';

const ID = { type: 'integer', minimum: 0, maximum: 2147483647 } as const;
const EPOCH_MS = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'epoch ms' } as const;
const enumIds = (description: string) =>
  ({ type: 'array', items: { type: 'integer', minimum: 0, maximum: 32767 }, maxItems: 100, description }) as const;

const elementParams = {
  type: 'object',
  additionalProperties: false,
  required: ['dmaId', 'elementId'],
  properties: { dmaId: ID, elementId: ID },
} as const;

const alarmList = { type: 'array', items: { $ref: 'AlarmEvent#' } } as const;
const nextCursor = { type: 'string', nullable: true, description: 'pass as `cursor` for the next page; null on the last page' } as const;

interface ListQuery {
  severity?: number[];
  alarmType?: number[];
  owner?: string;
  parameterId?: number;
  index?: string;
  limit: number;
  cursor?: string;
}

interface HistoryQuery extends ListQuery {
  from: number;
  to: number;
  includeInformationEvents: boolean;
  wholeTrees: boolean;
}

interface ElementParams {
  dmaId: number;
  elementId: number;
}

/** The filter of a request; an index needs the parameter it is a row of. */
function filterOf(q: ListQuery & { includeInformationEvents?: boolean }): AlarmFilter {
  if (q.index !== undefined && q.parameterId === undefined) throw badField('querystring.index', 'needs parameterId (the table parameter)');
  return {
    parameterId: q.parameterId,
    index: q.index,
    severity: q.severity,
    alarmType: q.alarmType,
    owner: q.owner,
    excludeInformationEvents: q.includeInformationEvents === false,
  };
}

export async function alarmRoutes(app: FastifyInstance, { ctx }: { ctx: QueryContext }): Promise<void> {
  const { maxPageSize, defaultPageSize, maxRangeMs } = ctx.config;
  app.addSchema(alarmItemSchema);

  const paging = {
    limit: { type: 'integer', minimum: 1, maximum: maxPageSize, default: defaultPageSize },
    cursor: { type: 'string', minLength: 1, maxLength: 512, description: 'nextCursor of the previous page' },
  } as const;
  const parameterFilter = {
    parameterId: { type: 'integer', minimum: -1, maximum: 2147483647, description: 'only this parameter (-1: element-level alarms)' },
    index: { type: 'string', maxLength: 768, description: 'only this table row (primary key); needs parameterId' },
  } as const;
  const activeFilters = {
    severity: enumIds('severity ids, any of them (repeat the parameter)'),
    alarmType: enumIds('alarm type ids, any of them (repeat the parameter)'),
    owner: { type: 'string', maxLength: 256, description: 'owner name, exactly' },
    ...paging,
  } as const;
  const historyFilters = {
    from: { ...EPOCH_MS, description: 'range start, inclusive (epoch ms)' },
    to: { ...EPOCH_MS, description: 'range end, exclusive (epoch ms)' },
    includeInformationEvents: { type: 'boolean', default: false },
    wholeTrees: { type: 'boolean', default: false, description: 'every event of the range; false = the latest event per tree' },
    severity: enumIds('severity ids, any of them (repeat the parameter)'),
    alarmType: enumIds('alarm type ids, any of them (repeat the parameter)'),
    ...paging,
  } as const;

  const activeResponse = {
    200: {
      type: 'object',
      required: ['alarms', 'counts', 'nextCursor'],
      properties: {
        alarms: { ...alarmList, description: 'the latest event of each active alarm tree, by dmaId, elementId, rootAlarmId' },
        counts: {
          type: 'array',
          description: 'active alarms per severity over the whole filtered set (not just this page)',
          items: {
            type: 'object',
            required: ['severity', 'count'],
            properties: { severity: { type: 'integer' }, count: { type: 'integer' } },
          },
        },
        nextCursor,
      },
    },
  } as const;
  const historyResponse = {
    200: {
      type: 'object',
      required: ['alarms', 'nextCursor'],
      properties: { alarms: { ...alarmList, description: 'alarm events, newest first' }, nextCursor },
    },
  } as const;

  const active = async (element: ElementScope | undefined, principal: ReturnType<typeof principalOf>, q: ListQuery) =>
    readActiveAlarms(ctx, principal, { element, filter: filterOf(q), limit: q.limit, cursor: q.cursor });

  const history = async (element: ElementScope | undefined, principal: ReturnType<typeof principalOf>, q: HistoryQuery) => {
    if (q.from >= q.to) throw badField('querystring.from', 'must be before to');
    if (q.to - q.from > maxRangeMs) throw badField('querystring.to', `is more than ${maxRangeMs} ms after from`);
    if (!q.includeInformationEvents && q.severity?.includes(SEVERITY_INFORMATION))
      throw badField('querystring.severity', `${SEVERITY_INFORMATION} (information) needs includeInformationEvents=true`);
    return readAlarmHistory(ctx, principal, {
      element,
      filter: filterOf(q),
      from: q.from,
      to: q.to,
      wholeTrees: q.wholeTrees,
      limit: q.limit,
      cursor: q.cursor,
    });
  };

  app.get<{ Querystring: ListQuery }>(
    '/alarms/active',
    {
      config: { scope: 'alarms:read' },
      schema: {
        tags: ['alarms'],
        summary: 'Active alarms of the DMS: the latest event of every alarm tree not cleared',
        querystring: { type: 'object', additionalProperties: false, properties: activeFilters },
        response: activeResponse,
      },
    },
    async (request) => active(undefined, principalOf(request), request.query),
  );

  app.get<{ Params: ElementParams; Querystring: ListQuery }>(
    '/elements/:dmaId/:elementId/alarms/active',
    {
      config: { scope: 'alarms:read' },
      schema: {
        tags: ['alarms'],
        summary: 'Active alarms of one element (or one parameter / table row of it)',
        params: elementParams,
        querystring: { type: 'object', additionalProperties: false, properties: { ...activeFilters, ...parameterFilter } },
        response: activeResponse,
      },
    },
    async (request) => {
      const p = principalOf(request);
      const { dmaId, elementId } = request.params;
      await ctx.elements.require(p, dmaId, elementId);
      return active({ dmaId, elementId }, p, request.query);
    },
  );

  app.get<{ Querystring: HistoryQuery }>(
    '/alarms/history',
    {
      config: { scope: 'alarms:read' },
      schema: {
        tags: ['alarms'],
        summary: 'Alarm history of the DMS in a time range, newest first',
        querystring: { type: 'object', additionalProperties: false, required: ['from', 'to'], properties: historyFilters },
        response: historyResponse,
      },
    },
    async (request) => history(undefined, principalOf(request), request.query),
  );

  app.get<{ Params: ElementParams; Querystring: HistoryQuery }>(
    '/elements/:dmaId/:elementId/alarms/history',
    {
      config: { scope: 'alarms:read' },
      schema: {
        tags: ['alarms'],
        summary: 'Alarm history of one element (or one parameter / table row of it) in a time range, newest first',
        params: elementParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['from', 'to'],
          properties: { ...historyFilters, ...parameterFilter },
        },
        response: historyResponse,
      },
    },
    async (request) => {
      const p = principalOf(request);
      const { dmaId, elementId } = request.params;
      await ctx.elements.require(p, dmaId, elementId);
      return history({ dmaId, elementId }, p, request.query);
    },
  );

  app.get<{ Params: ElementParams & { rootAlarmId: number } }>(
    '/elements/:dmaId/:elementId/alarms/trees/:rootAlarmId',
    {
      config: { scope: 'alarms:read' },
      schema: {
        tags: ['alarms'],
        summary: 'One whole alarm tree: every event, in event order',
        params: {
          type: 'object',
          additionalProperties: false,
          required: ['dmaId', 'elementId', 'rootAlarmId'],
          properties: {
            dmaId: ID,
            elementId: ID,
            rootAlarmId: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "the tree's first alarm id" },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['events'],
            properties: { events: { ...alarmList, description: 'the events of the tree, alarm id ascending' } },
          },
        },
      },
    },
    async (request) => {
      const p = principalOf(request);
      const { dmaId, elementId, rootAlarmId } = request.params;
      await ctx.elements.require(p, dmaId, elementId);
      return { events: await readAlarmTree(ctx, p, { dmaId, elementId }, rootAlarmId) };
    },
  );
}
