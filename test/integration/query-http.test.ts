/**
 * The Query API's HTTP behaviour against the real database: rate limit per token, gzip, metrics,
 * health and readiness, a read past max_execution_time and an unreachable ClickHouse answered
 * as 503 problems, unknown routes as 404 problems.
 */
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { createClickHouse } from '../../storage/client.ts';
import { sql } from '../../storage/sql.ts';
import { HttpProblem } from '../../query/http/problem.ts';
import { createQueryMetrics } from '../../query/metrics.ts';
import { readQueryConfig } from '../../query/config.ts';
import { ClickHouseReader } from '../../query/reader.ts';
import { buildQueryApi } from '../../query/server.ts';
import { startQueryFixture, type QueryFixture } from '../support/query.ts';
import { alarmEvent } from '../support/records.ts';
import { connections } from '../support/services.ts';
import { freePorts } from '../support/stack.ts';

describe('Query API over HTTP (real database)', () => {
  let f: QueryFixture;

  before(async () => {
    f = await startQueryFixture();
  });

  after(async () => {
    await f?.stop();
  });

  it('limits requests per token, not per address, with 429 problems and Retry-After', async () => {
    const api = await f.newApi({ rateLimitPerMinute: 3 });
    const [one, two] = [await f.token(7, ['shares:write']), await f.token(7, ['shares:write'])];
    for (let i = 0; i < 3; i++) assert.equal((await f.get('/v1/shares', one, api)).status, 200);
    const limited = await f.get<{ status: number; detail: string }>('/v1/shares', one, api);
    assert.equal(limited.status, 429);
    assert.match(String(limited.headers['content-type']), /^application\/problem\+json/);
    assert.equal(limited.body.status, 429);
    assert.ok(Number(limited.headers['retry-after']) > 0);
    // Another token from the same address has its own budget.
    assert.equal((await f.get('/v1/shares', two, api)).status, 200);
  });

  it('compresses large answers with gzip when asked', async () => {
    const res = await f.api.inject({ method: 'GET', url: '/openapi.json', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.headers['content-encoding'], 'gzip');
    const doc = JSON.parse(gunzipSync(res.rawPayload).toString()) as { openapi: string };
    assert.equal(doc.openapi, '3.0.3');
  });

  it('exposes request and ClickHouse metrics per route', async () => {
    const token = await f.token(7);
    await f.get('/v1/shares', token);
    const text = (await f.get<string>('/metrics')).text;
    assert.match(text, /staas_query_http_request_duration_seconds_count\{route="\/v1\/shares",method="GET",status="200"\} [1-9]/);
    assert.match(text, /staas_query_clickhouse_query_duration_seconds_count\{query="token.lookup"\} [1-9]/);
    assert.match(text, /staas_query_clickhouse_rows_read_total\{query="token.lookup"\} [1-9]/);
  });

  it('answers /healthz always and /readyz by ClickHouse reachability', async () => {
    assert.deepEqual((await f.get('/healthz')).body, { status: 'ok' });
    assert.deepEqual((await f.get('/readyz')).body, { status: 'ready' });
    const [port] = await freePorts(1);
    const client = createClickHouse({ ...connections.clickhouse, url: `http://127.0.0.1:${port}` });
    const down = await buildQueryApi({ client, database: f.database.db, config: readQueryConfig(process.env) });
    try {
      const r = await down.inject({ method: 'GET', url: '/readyz' });
      assert.equal(r.statusCode, 503);
      // An authenticated route: the token cannot be checked, so 503, not 401.
      const v1 = await down.inject({ method: 'GET', url: '/v1/shares', headers: { authorization: `Bearer staas_${'A'.repeat(32)}` } });
      assert.equal(v1.statusCode, 503, v1.body);
      assert.match(String(v1.headers['content-type']), /^application\/problem\+json/);
      assert.equal(v1.headers['retry-after'], '1');
    } finally {
      await down.close();
      await client.close();
    }
  });

  it('stops a read at max_execution_time and answers 503 saying why', async () => {
    const reader = new ClickHouseReader(f.database.client, f.database.db, 1, createQueryMetrics());
    const started = Date.now();
    await assert.rejects(
      reader.rows(sql`SELECT count() AS n FROM numbers(100000000000) WHERE sipHash64(number) = 0`, { label: 'slow' }),
      (err: unknown) => err instanceof HttpProblem && err.status === 503 && /longer than 1 s/.test(err.message),
    );
    assert.ok(Date.now() - started < 10_000, 'the server stopped the query');
  });

  it('refuses numbers that overflow to Infinity (ajv coerces "1e309" and lets it through) in every query and path field', async () => {
    const token = await f.token(7);
    const q = await f.get<{ errors: unknown }>('/v1/alarms/active?limit=1e309', token);
    assert.equal(q.status, 400);
    assert.deepEqual(q.body.errors, [{ field: 'querystring.limit', message: 'must be an integer in plain decimal digits' }]);
    const p = await f.get<{ errors: { field: string }[] }>('/v1/elements/1e309/1/alarms/active', token);
    assert.equal(p.status, 400);
    assert.equal(p.body.errors[0]!.field, 'params.dmaId');
    const long = await f.get<{ status: number }>(`/v1/elements/${'9'.repeat(200)}/1/alarms/active`, token);
    assert.equal(long.status, 400, "a path segment over fastify's maxParamLength");
    assert.match(String(long.headers['content-type']), /^application\/problem\+json/);
  });

  it('refuses integers that are not plain digits (ajv would read " " as 0 and 1e0, 1.0, 01 as 1) in path and query', async () => {
    const token = await f.token(7);
    for (const bad of ['%20', '1e0', '1.0', '01', '+1', '0x1']) {
      const p = await f.get<{ errors: { field: string; message: string }[] }>(`/v1/elements/${bad}/1/alarms/active`, token);
      assert.equal(p.status, 400, bad);
      assert.deepEqual(p.body.errors, [{ field: 'params.dmaId', message: 'must be an integer in plain decimal digits' }], bad);
      const q = await f.get<{ errors: { field: string }[] }>(`/v1/alarms/active?severity=1&severity=${bad}`, token);
      assert.equal(q.status, 400, bad);
      assert.equal(q.body.errors[0]!.field, 'querystring.severity.1');
    }
    // Lower-case scheme name: RFC 7235 makes it case-insensitive.
    const lower = await f.api.inject({ method: 'GET', url: '/v1/alarms/active', headers: { authorization: `bearer ${token}` } });
    assert.equal(lower.statusCode, 200);
  });

  it('refuses a page cursor sent with other filters or by another tenant (it would page something else)', async () => {
    for (let i = 0; i < 3; i++)
      await f.writer.alarm(
        alarmEvent(i * 3, {
          dmsId: 7,
          dmaId: 1,
          elementId: 1,
          severity: 1,
          alarmType: 10,
          alarmId: 100 + i,
          rootAlarmId: 100 + i,
          previousAlarmId: 0,
        }),
      );
    await f.stored();
    const token = await f.token(7);
    const first = await f.get<{ nextCursor: string }>('/v1/alarms/active?severity=1&limit=1', token);
    assert.equal(first.status, 200);
    const cursor = encodeURIComponent(first.body.nextCursor);
    assert.equal((await f.get(`/v1/alarms/active?severity=1&limit=1&cursor=${cursor}`, token)).status, 200);
    for (const [url, t] of [
      [`/v1/alarms/active?severity=2&limit=1&cursor=${cursor}`, token],
      [`/v1/elements/1/1/alarms/active?severity=1&limit=1&cursor=${cursor}`, token],
      [`/v1/alarms/active?severity=1&limit=1&cursor=${cursor}`, await f.token(8)],
    ] as const) {
      const r = await f.get<{ errors: { field: string; message: string }[] }>(url, t);
      assert.equal(r.status, 400, url);
      assert.equal(r.body.errors[0]!.field, 'querystring.cursor');
      assert.match(r.body.errors[0]!.message, /another listing/);
    }
  });

  it('answers unknown routes with 404, and other methods on a known path with 405 and Allow', async () => {
    const token = await f.token(7);
    const r = await f.get<{ status: number; detail: string }>('/v2/nothing');
    assert.equal(r.status, 404);
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
    assert.match(r.body.detail, /no route GET \/v2\/nothing/);
    for (const [method, url, allow] of [
      ['PUT', '/v1/elements/1/1/trends?parameter=1&from=0&to=1', 'GET, HEAD'],
      ['DELETE', '/healthz', 'GET, HEAD'],
      ['PATCH', '/v1/shares', 'GET, HEAD, POST'],
      ['GET', '/v1/shares/abc', 'DELETE'],
    ] as const) {
      const res = await f.api.inject({ method, url, headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.statusCode, 405, `${method} ${url}: ${res.body}`);
      assert.equal(res.headers.allow, allow, `${method} ${url}`);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    }
  });

  it('answers 415 for a request body that is not JSON', async () => {
    const token = await f.token(7);
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await f.api.inject({
        method: 'POST',
        url: '/v1/shares',
        headers: { authorization: `Bearer ${token}`, 'content-type': type },
        payload: 'name=x',
      });
      assert.equal(res.statusCode, 415, `${type}: ${res.body}`);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    }
  });
});
