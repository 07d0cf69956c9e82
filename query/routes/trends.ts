/**
 * Trend graphs of one element (DataMiner's GetTrendDataMessage): per parameter (or table cell)
 * the most precise stored tier that fits the point budget, falling back past tiers with no data,
 * aggregated on the fly into time buckets when nothing fits; element-level status rows beside.
 * Ranges that touch sealed days (UTC days that ended 2 h ago) take them from the API's cache and
 * read only the days still being written (trends/sealed-read.ts, trends/live-rows.ts), as do ranges
 * of days being written only; wildcard table indices (and every range while the cache is not
 * serving) read the tier counts of every series, then every series' points.
 */
import type { Readable } from 'node:stream';
import { Negotiator } from '@fastify/accept-negotiator';
import type { FastifyInstance } from 'fastify';
import { principalOf, tenantFilter } from '../auth/access.ts';
import type { QueryContext } from '../context.ts';
import { ANSWER_GZIP_LEVEL, wantsGzipSplice } from '../http/gzip-splice.ts';
import { badField } from '../http/problem.ts';
import { planSeries } from '../trends/plan.ts';
import { TrendBodyWriter, trendAnswer, type SealedSplice, type TrendFormat } from '../trends/response.ts';
import { liveSplit, splitSealed } from '../trends/sealed-days.ts';
import { SealedTrendRead } from '../trends/sealed-read.ts';
import { parseSeriesSpecs } from '../trends/series.ts';
import { samePlan, shapeKey, type TrendPlan } from '../trends/plan-memory.ts';
import { hasStatusRows, tierCountsQuery, trendDataQuery, type SeriesRead, type TierCountRow, type TrendScope } from '../trends/sql.ts';
import { bucketMsFor, type IntervalChoice, type TrendTypeChoice } from '../trends/tiers.ts';

const id = { type: 'integer', minimum: 0, maximum: 2147483647 } as const;
const epochMs = { type: 'integer', minimum: 0, maximum: 8_640_000_000_000_000, description: 'epoch ms (UTC)' } as const;
const nullableNumber = { type: ['number', 'null'] } as const;
const nullableString = { type: ['string', 'null'] } as const;

const point = {
  type: 'object',
  additionalProperties: false,
  required: ['time', 'status', 'value', 'min', 'max', 'samples', 'discreteValue', 'discreteMax'],
  properties: {
    time: { ...epochMs, description: 'epoch ms (UTC); for an aggregated series the start of the bucket' },
    status: {
      type: 'integer',
      description: '0 = real-time value, 5/60/120… = average window, negative = DataMiner status row (-1..-18)',
    },
    value: { ...nullableNumber, description: 'numeric value or average; null for discrete parameters and status rows' },
    min: { ...nullableNumber, description: 'averages: minimum of the window (or bucket); null for real-time' },
    max: { ...nullableNumber, description: 'averages: maximum of the window (or bucket); null for real-time' },
    samples: {
      type: ['integer', 'null'],
      description: 'averages: samples of the window; buckets: points (real-time) or samples aggregated',
    },
    discreteValue: { ...nullableString, description: 'discrete (string) value, or the most frequent one in a bucket' },
    discreteMax: { ...nullableString, description: 'averages of discrete parameters: the most frequent value' },
  },
} as const;

const series = {
  type: 'object',
  additionalProperties: false,
  required: ['parameterId', 'index', 'type', 'windowMinutes', 'aggregated', 'bucketMs', 'points'],
  properties: {
    parameterId: id,
    index: { type: 'string', description: "table index; '' for a standalone parameter" },
    type: { type: 'string', enum: ['realtime', 'average'] },
    windowMinutes: { type: 'integer', minimum: 0, description: 'average window; 0 for real-time' },
    aggregated: { type: 'boolean', description: 'true when the tier held more than maxPoints points and was read in time buckets' },
    bucketMs: { type: ['integer', 'null'], description: 'bucket width of an aggregated series (buckets start at from + k·bucketMs)' },
    points: { type: 'array', items: point },
  },
} as const;

const response = {
  type: 'object',
  additionalProperties: false,
  required: ['dmaId', 'elementId', 'from', 'to', 'order', 'series', 'statusRows'],
  properties: {
    dmaId: id,
    elementId: id,
    from: epochMs,
    to: epochMs,
    order: { type: 'string', enum: ['asc', 'desc'] },
    series: { type: 'array', items: series },
    statusRows: {
      type: 'array',
      description: 'element-level status rows (parameter -1: element start, pause, timeout, stop …) in the range',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['time', 'status'],
        properties: { time: epochMs, status: { type: 'integer' } },
      },
    },
  },
} as const;

const NDJSON = 'application/x-ndjson';

/** A data read started before its plan was confirmed. */
interface EarlyRead {
  plan: TrendPlan;
  chunks: Promise<AsyncIterable<Buffer>>;
  /** Stops the read (its ClickHouse query is killed) and drops its answer. */
  cancel(): void;
}

function startEarlyRead(plan: TrendPlan, read: (plan: TrendPlan, signal: AbortSignal) => Promise<AsyncIterable<Buffer>>): EarlyRead {
  const controller = new AbortController();
  const chunks = read(plan, controller.signal);
  // A cancelled read's failure is nobody's answer; a used one's is awaited (and thrown) by the route.
  chunks.catch(() => undefined);
  return {
    plan,
    chunks,
    cancel() {
      controller.abort();
      void chunks.then(
        (c) => (c as Readable).destroy(),
        () => undefined,
      );
    },
  };
}

const negotiator = new Negotiator({ supportedValues: ['application/json', NDJSON] });

/** `ndjson` when the Accept header prefers application/x-ndjson to application/json, else `json`. */
export function preferredFormat(accept: string | undefined): TrendFormat {
  return accept !== undefined && negotiator.negotiate(accept) === NDJSON ? 'ndjson' : 'json';
}

/** One line of the NDJSON answer (see trends/response.ts). */
const ndjsonLine = {
  type: 'object',
  description:
    'First `{"kind":"trend", dmaId, elementId, from, to, order}`; per series `{"kind":"series", parameterId, index, type, ' +
    'windowMinutes, aggregated, bucketMs}` then its points `{"kind":"point", parameterId, index, …point fields}`; last the ' +
    'element status rows `{"kind":"status", time, status}`',
  required: ['kind'],
  properties: { kind: { type: 'string', enum: ['trend', 'series', 'point', 'status'] } },
} as const;

interface TrendQuery {
  parameter: string[];
  from: number;
  to: number;
  type: TrendTypeChoice;
  interval: IntervalChoice;
  maxPoints?: number;
  order: 'asc' | 'desc';
}

export async function trendRoutes(app: FastifyInstance, { ctx }: { ctx: QueryContext }): Promise<void> {
  const { config } = ctx;

  app.get<{ Params: { dmaId: number; elementId: number }; Querystring: TrendQuery }>(
    '/elements/:dmaId/:elementId/trends',
    {
      config: { scope: 'trends:read' },
      schema: {
        tags: ['trends'],
        summary: "Trend graph data of an element's parameters (GetTrendDataMessage)",
        description:
          'Per series, `type=auto` answers the most precise tier (real-time, then 5-minute, 1-hour, long averages) whose ' +
          'point count in [from, to) fits maxPoints, skipping tiers without data; when none fits, the most precise tier ' +
          'with data is aggregated into buckets of ceil((to-from)/maxPoints) rounded up to a second. Element status rows ' +
          '(parameter -1) are always returned beside the series.',
        params: {
          type: 'object',
          additionalProperties: false,
          required: ['dmaId', 'elementId'],
          properties: { dmaId: id, elementId: id },
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['parameter', 'from', 'to'],
          properties: {
            parameter: {
              type: 'array',
              minItems: 1,
              maxItems: config.maxSeries,
              items: { type: 'string', minLength: 1, maxLength: 1024 },
              description: '`<parameterId>` or `<parameterId>:<table index>`; `*` and `?` in the index are wildcards (repeatable)',
            },
            from: { ...epochMs, description: 'start of the range, epoch ms (inclusive)' },
            to: { ...epochMs, description: 'end of the range, epoch ms (exclusive)' },
            type: { type: 'string', enum: ['auto', 'realtime', 'average'], default: 'auto' },
            interval: { type: 'string', enum: ['auto', '5m', '1h', 'long'], default: 'auto' },
            maxPoints: {
              type: 'integer',
              minimum: 1,
              maximum: config.maxPointsLimit,
              description: `points per series (default ${config.defaultMaxPoints})`,
            },
            order: { type: 'string', enum: ['desc', 'asc'], default: 'desc', description: 'desc = newest first, as DataMiner answers' },
          },
        },
        response: {
          200: {
            description: 'The series and status rows; with `Accept: application/x-ndjson`, the same content as one JSON object per line',
            content: {
              'application/json': { schema: response },
              [NDJSON]: { schema: ndjsonLine },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      const { dmaId, elementId } = request.params;
      const q = request.query;
      await ctx.elements.require(p, dmaId, elementId);
      if (q.from >= q.to) throw badField('querystring.from', 'must be before to');
      if (q.to - q.from > config.maxRangeMs) throw badField('querystring.to', `must be at most ${config.maxRangeMs} ms after from`);
      if (q.type === 'realtime' && q.interval !== 'auto') throw badField('querystring.interval', 'must be auto when type is realtime');
      const specs = parseSeriesSpecs(q.parameter);
      const maxPoints = q.maxPoints ?? config.defaultMaxPoints;

      const scope: TrendScope = { db: ctx.db, tenant: tenantFilter(p), dmaId, elementId, from: q.from, to: q.to };
      const tables = { realtime: q.type !== 'average' && q.interval === 'auto', average: q.type !== 'realtime' };
      const bucketMs = bucketMsFor(q.from, q.to, maxPoints);
      const dataRead = (plan: TrendPlan, signal?: AbortSignal) =>
        ctx.reader.binaryChunks(trendDataQuery(scope, plan.reads, bucketMs, q.order, plan.withStatusRows), {
          label: 'trend.data',
          signal,
        });
      /**
       * Counts, then data; the data read of the plan this graph got last starts beside the
       * counts (see trends/plan-memory.ts) and is used only when the counts give the same plan.
       */
      const readWithPlanMemory = async (): Promise<{ chunks: AsyncIterable<Buffer>; reads: SeriesRead[] }> => {
        const shape = shapeKey({
          tenant: scope.tenant.text,
          dmaId,
          elementId,
          parameters: q.parameter,
          type: q.type,
          interval: q.interval,
          maxPoints,
          rangeMs: q.to - q.from,
        });
        const remembered = ctx.trendPlans.get(shape);
        const early = remembered === undefined ? undefined : startEarlyRead(remembered, dataRead);
        try {
          const counts = await ctx.reader.rows<TierCountRow>(tierCountsQuery(scope, specs, tables), { label: 'trend.counts' });
          const reads = planSeries(specs, counts, planOptions);
          const plan: TrendPlan = { reads, withStatusRows: hasStatusRows(counts) };
          ctx.trendPlans.set(shape, plan);
          if (early !== undefined && samePlan(early.plan, plan)) {
            ctx.metrics.trendEarlyReads.inc({ outcome: 'used' });
            return { chunks: await early.chunks, reads };
          }
          ctx.metrics.trendEarlyReads.inc({ outcome: early === undefined ? 'none' : 'cancelled' });
          early?.cancel();
          return { chunks: await dataRead(plan), reads };
        } catch (err) {
          early?.cancel();
          throw err;
        }
      };
      const planOptions = { type: q.type, interval: q.interval, maxPoints, maxSeries: config.maxSeries, range: { from: q.from, to: q.to } };
      let chunks: AsyncIterable<Buffer> | Iterable<Buffer>;
      let reads: SeriesRead[];
      let splice: SealedSplice | undefined;
      // Whole sealed days from the API's cache, the rest from ClickHouse (trends/sealed-read.ts).
      // A range of days not sealed only (the last hours) takes the same live reads, with no day from the cache.
      const split =
        ctx.dayCache.serving() && specs.every((s) => !s.wildcard)
          ? (splitSealed(q.from, q.to, Date.now()) ?? liveSplit(q.from, q.to))
          : undefined;
      if (split !== undefined) {
        const sealed = new SealedTrendRead(ctx, scope, p.dmsId, specs, split, q.order);
        const counts = await sealed.counts(tables, { type: q.type, interval: q.interval, maxPoints, range: planOptions.range });
        reads = planSeries(specs, counts, planOptions);
        const withStatusRows = hasStatusRows(counts);
        const aggregated = reads.some((r) => r.aggregated);
        ctx.metrics.trendSealedReads.inc({ outcome: aggregated ? 'aggregated' : split.firstDay === split.endDay ? 'live' : 'spliced' });
        if (aggregated) chunks = await dataRead({ reads, withStatusRows });
        else ({ chunks, splice } = await sealed.data(reads, withStatusRows));
      } else {
        ({ chunks, reads } = await readWithPlanMemory());
      }
      const format = preferredFormat(request.headers.accept);
      // An answer with cached sealed days goes out gzip-spliced when gzip is what the client gets:
      // the days' text was compressed once, only the rest is compressed now (http/gzip-splice.ts).
      // (Not without sealed days: all of it would be compressed on the event loop, not in zlib's threads.)
      const gzip = splice !== undefined && split!.firstDay < split!.endDay && format === 'json' && wantsGzipSplice(request.headers);
      if (gzip) reply.header('content-encoding', 'gzip').header('vary', 'accept-encoding');
      const head = { dmaId, elementId, from: q.from, to: q.to, order: q.order };
      const writer = new TrendBodyWriter(head, reads, bucketMs, format, splice, gzip);
      // The body is written while the rows arrive (see trends/response.ts); a failure past this
      // point (connection to ClickHouse lost) cuts the response short, which clients see.
      // Its buffers are reused only after a complete send ('finish': every byte handed to the
      // socket, through the compressor if any); an aborted answer's are left to the GC.
      reply.raw.once('finish', () => writer.release());
      return reply
        .type(format === 'json' ? 'application/json; charset=utf-8' : NDJSON)
        .send(trendAnswer(writer, chunks, gzip ? ANSWER_GZIP_LEVEL : undefined));
    },
  );
}
