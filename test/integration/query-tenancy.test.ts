/**
 * Tenancy and hostile input on every route of the Query API, against the real database with data
 * written through the real Writer, Kafka and Sink. The routes come from the OpenAPI document, so a
 * new route is covered without editing this test:
 * - a token of DMS A never sees anything of DMS B, which uses the same element ids; an element
 *   only B has is 404 for A;
 * - a share token sees only its listed elements, on element routes and DMS-wide routes alike;
 * - injection strings and malformed values in every parameter give 400 or an empty/404 answer,
 *   never a 5xx, never B's data, and the tables are still there afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { alarmEvent, averagePoint, elementRow, trendPoint } from '../support/records.ts';
import { authenticatedOperations, pathValue, requiredQuery, urlOf as openapiUrl, type Operation, type Target } from '../support/openapi.ts';
import { startQueryFixture, type QueryFixture } from '../support/query.ts';
import { queryRows } from '../support/services.ts';

const A = 7;
const B = 8;
const TS = Date.UTC(2026, 10, 1, 12, 0, 0);
const DAY = 86_400_000;
/** Strings and numbers that exist only in DMS B's data: none may ever reach A. */
const B_MARKERS = ['B-SECRET', '8888.125'];

/** Writes the same shapes for one DMS: real-time, averages, a status row, a table, alarms, standalone values. */
async function writeTenant(f: QueryFixture, dmsId: number, marker: string, number: number): Promise<void> {
  for (const elementId of dmsId === B ? [1, 2, 3] : [1, 2]) {
    const at = { dmsId, dmaId: 1, elementId };
    for (let i = 0; i < 20; i++) {
      await f.writer.trend(
        trendPoint(i, { ...at, parameterId: 10, index: '', timestamp: TS + i * 60_000, value: number + i, discreteValue: null }),
      );
      await f.writer.trend(
        trendPoint(i, { ...at, parameterId: 11, index: '', timestamp: TS + i * 60_000, value: null, discreteValue: `${marker}-${i}` }),
      );
      await f.writer.trend(trendPoint(i, { ...at, parameterId: 20, index: `${marker}-row`, timestamp: TS + i * 60_000, value: number }));
      await f.writer.trend({ ...averagePoint(i, 5), ...at, parameterId: 10, index: '', value: number, min: number, max: number });
      await f.writer.trend({ ...averagePoint(i, 60), ...at, parameterId: 10, index: '', value: number, min: number, max: number });
    }
    await f.writer.trend(
      trendPoint(0, { ...at, parameterId: -1, index: '', timestamp: TS + 5_000, value: null, discreteValue: null, status: -2 }),
    );
    for (let i = 0; i < 6; i++)
      await f.writer.alarm(
        alarmEvent(i, {
          ...at,
          value: `${marker}-${i}`,
          displayValue: marker,
          owner: marker,
          elementName: marker,
          parameterName: marker,
          parameterId: 10,
        }),
      );
    // An information event.
    await f.writer.alarm(
      alarmEvent(9, {
        ...at,
        alarmId: 9000,
        rootAlarmId: 9000,
        previousAlarmId: 0,
        severity: 13,
        alarmType: 10,
        status: 11,
        value: marker,
      }),
    );
    for (let i = 0; i < 3; i++)
      await f.writer.elementRow(
        elementRow(i, {
          ...at,
          primaryKey: `${marker}-key-${i}`,
          displayKey: marker,
          columns: [
            { columnId: 2, value: marker },
            { columnId: 3, value: number },
          ],
        }),
      );
    await f.writer.elementRow(elementRow(0, { ...at, tableParameterId: 30, primaryKey: '', columns: [{ columnId: 30, value: marker }] }));
  }
}

function target(elementId: number): Target {
  return {
    dmaId: 1,
    elementId,
    tableParameterId: 1000,
    parameterId: 10,
    rootAlarmId: alarmEvent(0).rootAlarmId,
    from: TS - DAY,
    to: TS + DAY,
    trendParameters: ['10', '11', '20:*'],
  };
}

function urlOf(op: Operation, elementId: number, query?: URLSearchParams): string {
  return openapiUrl(op, target(elementId), query ?? requiredQuery(op, target(elementId)));
}

function assertNoB(text: string, what: string): void {
  for (const m of B_MARKERS) assert.ok(!text.includes(m), `${what} leaked DMS B's ${m}: ${text.slice(0, 300)}`);
}

describe('Query API tenancy and hostile input (real pipeline)', () => {
  let f: QueryFixture;
  let tokenA: string;
  let operations: Operation[];

  before(async () => {
    f = await startQueryFixture({ rateLimitPerMinute: 1_000_000 });
    await writeTenant(f, A, 'A-VISIBLE', 1234.5);
    await writeTenant(f, B, 'B-SECRET', 8888.125);
    await f.stored();
    tokenA = await f.token(A);
    operations = await authenticatedOperations(f.api);
  });

  after(async () => {
    await f?.stop();
  });

  it('reads the authenticated routes from the OpenAPI document', () => {
    const gets = operations.filter((o) => o.method === 'GET').map((o) => o.path);
    assert.ok(gets.includes('/v1/shares'));
    // Every route that is not a GET is one this test knows how to attack (below); a new one fails here until it is covered.
    const known = new Set(['POST /v1/shares', 'DELETE /v1/shares/{shareId}']);
    for (const o of operations.filter((x) => x.method !== 'GET'))
      assert.ok(known.has(`${o.method} ${o.path}`), `cover ${o.method} ${o.path} here`);
  });

  it('a token of DMS A gets nothing of DMS B on any GET route', async () => {
    for (const op of operations.filter((o) => o.method === 'GET')) {
      // An element only B has: 404 for A on element routes; DMS-wide routes answer A's data only.
      const onlyB = await f.get(urlOf(op, 3), tokenA);
      assertNoB(onlyB.text, `${op.path} (element only B has)`);
      if (op.path.includes('{elementId}')) assert.equal(onlyB.status, 404, `${op.path} for B's element: ${onlyB.text.slice(0, 200)}`);
      // An element id both DMSs use: A's data, never B's.
      const shared = await f.get(urlOf(op, 1), tokenA);
      assertNoB(shared.text, `${op.path} (element ids both DMSs use)`);
      assert.ok(shared.status < 500, `${op.path}: ${shared.status} ${shared.text.slice(0, 300)}`);
    }
  });

  it('element routes show A its own data (the check above is not vacuous)', async () => {
    const elementGets = operations.filter((o) => o.method === 'GET' && o.path.includes('{elementId}') && !o.path.includes('{rootAlarmId}'));
    let withData = 0;
    for (const op of elementGets) {
      const r = await f.get(urlOf(op, 1), tokenA);
      assert.equal(r.status, 200, `${op.path}: ${r.text.slice(0, 300)}`);
      if (r.text.includes('A-VISIBLE') || r.text.includes('1234.5')) withData++;
    }
    assert.ok(withData >= Math.min(elementGets.length, 3), `only ${withData} of ${elementGets.length} element routes returned A's data`);
  });

  it('a share token sees only its listed elements', async () => {
    const created = await f.api.inject({
      method: 'POST',
      url: '/v1/shares',
      headers: { authorization: `Bearer ${tokenA}` },
      payload: { name: 'one element', elements: [{ dmaId: 1, elementId: 2 }], expiresInSeconds: 600 },
    });
    assert.equal(created.statusCode, 201, created.body);
    const share = created.json<{ token: string }>().token;
    for (const op of operations.filter((o) => o.method === 'GET')) {
      const listed = await f.get(urlOf(op, 2), share);
      const unlisted = await f.get(urlOf(op, 1), share);
      assertNoB(listed.text, `share ${op.path}`);
      assertNoB(unlisted.text, `share ${op.path}`);
      if (op.path === '/v1/shares') {
        assert.equal(listed.status, 403, 'a share cannot manage shares');
        continue;
      }
      if (op.path.includes('{elementId}')) assert.equal(unlisted.status, 404, `share on an unlisted element: ${op.path}`);
      else {
        // DMS-wide routes: nothing of element 1/1 (its alarms carry elementId 1).
        assert.ok(listed.status < 500, `${op.path}: ${listed.text.slice(0, 200)}`);
        assert.ok(!/"elementId":1[,}]/.test(listed.text), `share saw element 1/1 on ${op.path}: ${listed.text.slice(0, 300)}`);
      }
    }
  });

  it('injection strings and malformed values give 400 or an empty answer, never a 5xx or a changed query', async () => {
    const hostile = [
      "' OR 1=1 --",
      "1' UNION ALL SELECT * FROM system.tables --",
      '1; DROP TABLE trend_realtime',
      "\\' OR dms_id = 8 --",
      '%27%20OR%201%3D1',
      '-1',
      '2147483648',
      '1e309',
      'NaN',
      '0x10',
      '',
      '*',
      '\u0000',
      '\uFFFF\u{1F600}',
      'x'.repeat(10_000),
    ];
    for (const op of operations.filter((o) => o.method === 'GET')) {
      const names = [
        ...op.parameters.filter((p) => p.in === 'query').map((p) => `q:${p.name}`),
        ...op.parameters.filter((p) => p.in === 'path').map((p) => `p:${p.name}`),
      ];
      for (const name of names) {
        for (const bad of hostile) {
          let url: string;
          if (name.startsWith('q:')) {
            const q = requiredQuery(op, target(1));
            q.set(name.slice(2), bad);
            url = urlOf(op, 1, q);
          } else {
            const param = name.slice(2);
            url = urlOf(op, 1).replace(`/${encodeURIComponent(pathValue(param, target(1)))}`, `/${encodeURIComponent(bad)}`);
          }
          const r = await f.get(url, tokenA);
          assert.ok(
            [200, 400, 404].includes(r.status),
            `${name}=${JSON.stringify(bad.slice(0, 40))} on ${op.path}: ${r.status} ${r.text.slice(0, 200)}`,
          );
          assertNoB(r.text, `${name}=${JSON.stringify(bad.slice(0, 40))} on ${op.path}`);
          if (r.status === 400) assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
        }
      }
    }
    const tables = await queryRows<{ name: string }>(
      f.database.client,
      `SELECT name FROM system.tables WHERE database = '${f.database.db}' ORDER BY name`,
    );
    assert.deepEqual(
      tables.map((t) => t.name),
      [
        'alarm_active',
        'alarm_active_mv',
        'alarm_events',
        'api_tokens',
        'element_rows',
        'trend_average',
        'trend_late_writes',
        'trend_realtime',
      ],
    );
  });

  it('a POST with another DMS element or hostile bodies is refused with 400', async () => {
    for (const payload of [
      { name: 'x', elements: [{ dmaId: 1, elementId: 3 }], expiresInSeconds: 60 },
      { name: "' OR 1=1 --", elements: [{ dmaId: "1' OR '1'='1", elementId: 1 }], expiresInSeconds: 60 },
      { name: 'x', elements: [], expiresInSeconds: 60 },
      { name: 'x', elements: [{ dmaId: 1, elementId: 1 }], expiresInSeconds: 10 ** 12 },
      { name: 'x', elements: [{ dmaId: 1, elementId: 1 }], expiresInSeconds: 60, scopes: ['shares:write'] },
    ]) {
      const r = await f.api.inject({ method: 'POST', url: '/v1/shares', headers: { authorization: `Bearer ${tokenA}` }, payload });
      assert.equal(r.statusCode, 400, `${JSON.stringify(payload)}: ${r.body}`);
      assert.ok(Array.isArray(r.json<{ errors: unknown[] }>().errors));
    }
    const del = await f.api.inject({
      method: 'DELETE',
      url: `/v1/shares/${encodeURIComponent("' OR 1=1 --")}`,
      headers: { authorization: `Bearer ${tokenA}` },
    });
    assert.equal(del.statusCode, 400);
  });
});
