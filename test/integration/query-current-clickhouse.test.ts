/**
 * The SQL of staas on a current ClickHouse. The local server is 18.16; users run current
 * versions, where some old forms are refused (alias resolution by the new analyzer, type rules
 * of UNION ALL, removed settings). This test drives every route of the Query API from its
 * OpenAPI document — each enum and boolean query value in turn, and the next page of every paged
 * answer — records the statements they ran (STAAS_QUERY_SQL_LOG), and runs them with the DDL of
 * every table on chdb (PyPI; an embedded current ClickHouse engine, installed by
 * ops/bootstrap.sh). Every statement must parse and analyse there too.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ddl } from '../../storage/schema.ts';
import { authenticatedOperations, requiredQuery, urlOf, type Target } from '../support/openapi.ts';
import { startQueryFixture, type QueryFixture } from '../support/query.ts';
import { alarmEvent, averagePoint, elementRow, trendPoint } from '../support/records.ts';

const PYTHON = join(process.env.STAAS_CACHE_DIR ?? join(homedir(), '.cache', 'staas'), 'venv-chdb', 'bin', 'python');
const TS = Date.UTC(2026, 10, 1, 12, 0, 0);
const DAY = 86_400_000;

interface ParameterSchema {
  type?: string;
  enum?: unknown[];
  items?: { type?: string; enum?: unknown[] };
}

describe('Query API SQL on a current ClickHouse (chdb)', () => {
  let f: QueryFixture;
  const dir = mkdtempSync(join(tmpdir(), 'staas-sql-log-'));
  const logFile = join(dir, 'statements.ndjson');

  before(async () => {
    f = await startQueryFixture({ rateLimitPerMinute: 1_000_000 });
    const at = { dmsId: 7, dmaId: 1, elementId: 1 };
    for (let i = 0; i < 30; i++) {
      await f.writer.trend(trendPoint(i, { ...at, parameterId: 10, index: i % 2 === 0 ? '' : 'eth0', timestamp: TS + i * 60_000 }));
      for (const w of [5, 60, 120]) await f.writer.trend({ ...averagePoint(i, w), ...at, parameterId: 10, index: '' });
      await f.writer.alarm(alarmEvent(i, at));
      await f.writer.elementRow(elementRow(i, { ...at, tableParameterId: 1000 }));
    }
    await f.writer.elementRow(elementRow(0, { ...at, tableParameterId: 30, primaryKey: '', columns: [{ columnId: 30, value: 'on' }] }));
    await f.stored();
  });

  after(async () => {
    await f?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs every statement of every route on chdb', async () => {
    const api = await f.newApi({ rateLimitPerMinute: 1_000_000, sqlLogFile: logFile });
    const token = await f.token(7);
    const target: Target = {
      dmaId: 1,
      elementId: 1,
      tableParameterId: 1000,
      parameterId: 10,
      rootAlarmId: alarmEvent(0).rootAlarmId,
      from: TS - 400 * DAY,
      to: TS + DAY,
      trendParameters: ['10', '10:eth*', '-1'],
    };
    const call = async (url: string) => {
      const r = await f.get<{ nextCursor?: string | null }>(url, token, api);
      assert.ok(r.status < 500, `${url}: ${r.status} ${r.text.slice(0, 300)}`);
      return r;
    };
    let requests = 0;
    for (const op of (await authenticatedOperations(api)).filter((o) => o.method === 'GET')) {
      const base = requiredQuery(op, target);
      const variants: URLSearchParams[] = [base];
      for (const p of op.parameters.filter((x) => x.in === 'query')) {
        const schema = p.schema as ParameterSchema;
        const values = schema.enum ?? schema.items?.enum ?? (schema.type === 'boolean' ? [true, false] : []);
        for (const v of values) {
          const q = new URLSearchParams(base);
          q.set(p.name, String(v));
          variants.push(q);
        }
        if (p.name === 'limit') {
          const q = new URLSearchParams(base);
          q.set('limit', '2');
          variants.push(q);
        }
      }
      for (const q of variants) {
        const r = await call(urlOf(op, target, q));
        requests++;
        if (typeof r.body.nextCursor === 'string') {
          q.set('cursor', r.body.nextCursor);
          await call(urlOf(op, target, q));
          requests++;
        }
      }
    }
    const statements = readFileSync(logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { label: string; sql: string });
    const distinct = [...new Map(statements.map((s) => [s.sql, s])).values()];
    assert.ok(requests > 10 && distinct.length > 10, `only ${requests} requests, ${distinct.length} statements`);

    const job = { ddl: [`CREATE DATABASE IF NOT EXISTS ${f.database.db}`, ...Object.values(ddl(f.database.db))], statements: distinct };
    const run = spawnSync(PYTHON, [join(import.meta.dirname, '..', 'support', 'current-clickhouse.py')], {
      input: JSON.stringify(job),
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { version: string; failures: { label: string; sql: string; error: string }[] };
    assert.match(result.version, /^2\d\./, 'a current engine');
    assert.deepEqual(
      result.failures.map((x) => `${x.label}: ${x.error}\n  ${x.sql}`),
      [],
      `on ClickHouse ${result.version}, ${result.failures.length} of ${distinct.length} statements failed`,
    );
  });
});
