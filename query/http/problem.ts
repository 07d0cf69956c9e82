/**
 * Errors as RFC 9457 problem details (`application/problem+json`): every error the API answers
 * has `type`, `title`, `status` and `detail`; validation errors also list each bad field.
 */
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SqlLiteralError } from '../../storage/sql.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** One bad input: `field` is `<part>.<name>`, e.g. `querystring.from`, `params.elementId`. */
export interface FieldProblem {
  field: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: FieldProblem[];
}

/** Thrown by handlers for an answer other than 200; the error handler turns it into a problem. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly errors?: FieldProblem[],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'HttpProblem';
  }
}

/** A 400 naming the field: for rules JSON schema cannot state (from <= to, range limits, …). */
export function badField(field: string, message: string): HttpProblem {
  return new HttpProblem(400, 'Bad Request', `${field} ${message}`, [{ field, message }]);
}

export function notFound(detail: string): HttpProblem {
  return new HttpProblem(404, 'Not Found', detail);
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  406: 'Not Acceptable',
  413: 'Payload Too Large',
  405: 'Method Not Allowed',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The JSON schema of a problem body (for response schemas and the OpenAPI document). */
export const problemSchema = {
  $id: 'Problem',
  type: 'object',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['field', 'message'],
        properties: { field: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
} as const;

/** Response schema entries for the given error statuses, as problem+json. */
export function problemResponses(...statuses: number[]): Record<number, unknown> {
  return Object.fromEntries(
    statuses.map((s) => [s, { description: TITLES[s] ?? 'Error', content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: 'Problem#' } } } }]),
  );
}

/**
 * The statuses any authenticated route can answer besides its own. 431: Node refuses a request
 * line plus headers over its 16 KiB limit before routing (a URL with thousands of repeated
 * query values), answered by `clientErrorProblem`.
 */
export const COMMON_PROBLEMS = [400, 401, 403, 404, 429, 431, 500, 503] as const;

/**
 * fastify's `clientErrorHandler`: errors Node's HTTP parser raises before a request reaches
 * fastify (headers or URL too large, malformed request line) answered as problem+json too.
 */
export function clientErrorProblem(err: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) return;
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const detail =
    status === 431 ? 'the request line and headers exceed 16 KiB; send fewer or shorter query values' : 'malformed HTTP request';
  const body = JSON.stringify({ type: 'about:blank', title: TITLES[status], status, detail });
  socket.end(
    `HTTP/1.1 ${status} ${TITLES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function send(reply: FastifyReply, request: FastifyRequest, p: Omit<Problem, 'type' | 'instance'>): FastifyReply {
  const body: Problem = { type: 'about:blank', instance: request.url.split('?')[0], ...p };
  // A coding set for the answer this replaces (a gzip-spliced trend) does not apply to the problem.
  return reply.code(p.status).type(PROBLEM_CONTENT_TYPE).removeHeader('content-encoding').send(body);
}

/** The field a fastify/ajv validation error points at, as `<part>.<path>`. */
function fieldOf(context: string | undefined, v: { instancePath?: string; params?: Record<string, unknown> }): string {
  const path = (v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  const missing = typeof v.params?.missingProperty === 'string' ? v.params.missingProperty : undefined;
  const extra = typeof v.params?.additionalProperty === 'string' ? v.params.additionalProperty : undefined;
  const name = [path, missing ?? extra].filter((s) => s !== undefined && s !== '').join('.');
  return `${context ?? 'request'}${name === '' ? '' : `.${name}`}`;
}

/**
 * fastify's `frameworkErrors`: a URL that cannot be routed (a path segment over fastify's
 * 100-character `maxParamLength`, bad percent-encoding) is a 400 problem like any bad input.
 */
export function frameworkErrorProblem(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const detail =
    err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path parameter is longer than 100 characters' : `the URL cannot be routed (${err.code})`;
  void send(reply, request, { title: 'Bad Request', status: 400, detail, errors: [{ field: 'params', message: detail }] });
}

const PLAIN_INTEGER = /^-?(0|[1-9][0-9]*)$/;

interface PropertySchema {
  type?: unknown;
  items?: { type?: unknown };
}

/**
 * ajv's coercion reads `' '` as 0, `1e0`, `1.0` or `01` as 1, and `1e309` as Infinity (which
 * then passes an `integer` schema with a `maximum`; fastify 5's ajv 8) for an integer field: a
 * request would silently ask for something other than what it says. Before validation (a preValidation
 * hook), every path or query value of an integer field must be plain decimal digits.
 */
export function rejectLooseIntegers(request: FastifyRequest): void {
  const schema = request.routeOptions.schema;
  for (const [part, values, partSchema] of [
    ['params', request.params, schema?.params],
    ['querystring', request.query, schema?.querystring],
  ] as const) {
    const properties = (partSchema as { properties?: Record<string, PropertySchema> } | undefined)?.properties;
    if (properties === undefined || typeof values !== 'object' || values === null) continue;
    for (const [name, raw] of Object.entries(values as Record<string, unknown>)) {
      const p = properties[name];
      const integer = p?.type === 'integer' || (p?.type === 'array' && p.items?.type === 'integer');
      if (!integer) continue;
      // Array items are named by position, as ajv names them (`querystring.severity.0`).
      const items = Array.isArray(raw) ? raw : [raw];
      items.forEach((v, i) => {
        const field = p?.type === 'array' ? `${part}.${name}.${i}` : `${part}.${name}`;
        if (typeof v === 'string' && !PLAIN_INTEGER.test(v)) throw badField(field, 'must be an integer in plain decimal digits');
      });
    }
  }
}

/** A route's path pattern as a regular expression (`:param` = one path segment). */
function pathPattern(url: string): RegExp {
  const escaped = url
    .split(/(:[A-Za-z_][A-Za-z0-9_]*)/)
    .map((part, i) => (i % 2 === 1 ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${escaped.join('')}/?$`);
}

/**
 * Installs the problem+json error and not-found handlers. Call before any route is added: a
 * path that exists with other methods answers 405 with `Allow` (RFC 9110 §15.5.6), not 404.
 */
export function installProblemHandlers(app: FastifyInstance): void {
  const routes: { pattern: RegExp; methods: string[] }[] = [];
  app.addHook('onRoute', (route) => {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).map(String);
    routes.push({ pattern: pathPattern(route.url), methods });
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = [...new Set(routes.filter((r) => r.pattern.test(path)).flatMap((r) => r.methods))].sort();
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      return send(reply, request, {
        title: 'Method Not Allowed',
        status: 405,
        detail: `${request.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`,
      });
    }
    return send(reply, request, { title: 'Not Found', status: 404, detail: `no route ${request.method} ${path}` });
  });
  app.setErrorHandler((err: FastifyError | HttpProblem | SqlLiteralError, request, reply) => {
    if (err instanceof HttpProblem) {
      reply.headers(err.headers);
      return send(reply, request, {
        title: err.title,
        status: err.status,
        detail: err.message,
        ...(err.errors ? { errors: err.errors } : {}),
      });
    }
    if (err instanceof SqlLiteralError) {
      return send(reply, request, { title: 'Bad Request', status: 400, detail: `a value cannot be used: ${err.message}` });
    }
    const fe = err;
    if (fe.validation !== undefined) {
      const errors = fe.validation.map((v) => ({ field: fieldOf(fe.validationContext, v), message: v.message ?? 'is invalid' }));
      return send(reply, request, {
        title: 'Bad Request',
        status: 400,
        detail: errors.map((e) => `${e.field} ${e.message}`).join('; '),
        errors,
      });
    }
    const status = typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 600 ? fe.statusCode : 500;
    if (status >= 500) request.log.error({ err }, 'request failed');
    const detail = status >= 500 ? 'the request failed; the server log has the cause' : fe.message;
    return send(reply, request, { title: TITLES[status] ?? 'Error', status, detail });
  });
}
