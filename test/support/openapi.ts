/**
 * The Query API's operations as its OpenAPI document lists them, and example URLs for each, so
 * tests that must cover every route (tenancy, hostile input, current-ClickHouse SQL) pick up a
 * new route without being edited. A required query parameter this file has no value for fails
 * loudly: teach `requiredQuery` about it.
 */
import type { FastifyInstance } from 'fastify';

export interface Operation {
  method: string;
  path: string;
  parameters: { name: string; in: 'path' | 'query'; required?: boolean; schema: { type?: string; items?: { type?: string } } }[];
}

/** Every operation that needs a bearer token. */
export async function authenticatedOperations(app: FastifyInstance): Promise<Operation[]> {
  const res = await app.inject({ method: 'GET', url: '/openapi.json' });
  const doc = res.json<{ paths: Record<string, Record<string, { parameters?: Operation['parameters']; security?: unknown[] }>> }>();
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods)
      .filter(([, op]) => Array.isArray(op.security) && op.security.length > 0)
      .map(([method, op]) => ({ method: method.toUpperCase(), path, parameters: op.parameters ?? [] })),
  );
}

/** What example URLs aim at. */
export interface Target {
  dmaId: number;
  elementId: number;
  tableParameterId: number;
  parameterId: number;
  rootAlarmId: number;
  /** Epoch ms range for `from` / `to`. */
  from: number;
  to: number;
  /** Values of the repeatable trend `parameter` query field. */
  trendParameters: string[];
}

export function pathValue(name: string, t: Target): string {
  switch (name) {
    case 'dmaId':
      return String(t.dmaId);
    case 'elementId':
      return String(t.elementId);
    case 'tableParameterId':
      return String(t.tableParameterId);
    case 'parameterId':
      return String(t.parameterId);
    case 'rootAlarmId':
      return String(t.rootAlarmId);
    case 'shareId':
      return '0123456789abcdef';
    default:
      throw new Error(`no value known for the path parameter ${name}: teach test/support/openapi.ts`);
  }
}

/** Values for the required query parameters of an operation. */
export function requiredQuery(op: Operation, t: Target): URLSearchParams {
  const q = new URLSearchParams();
  for (const p of op.parameters.filter((x) => x.in === 'query' && x.required === true)) {
    if (p.name === 'from') q.set('from', String(t.from));
    else if (p.name === 'to') q.set('to', String(t.to));
    else if (p.name === 'parameter') for (const v of t.trendParameters) q.append('parameter', v);
    else
      throw new Error(
        `no value known for the required query parameter ${p.name} of ${op.method} ${op.path}: teach test/support/openapi.ts`,
      );
  }
  return q;
}

export function urlOf(op: Operation, t: Target, query = requiredQuery(op, t)): string {
  const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(pathValue(name, t)));
  const qs = query.toString();
  return qs === '' ? path : `${path}?${qs}`;
}
