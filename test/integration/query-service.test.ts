/**
 * The Query API as a stack service: started through the stack code (ops/query-service.ts) on a
 * free port against a fresh test database, idempotent when already running, answering its
 * public routes and refusing /v1 without a token, shown by `status`, stopped by `down`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { queryAddress, queryFiles, startQuery } from '../../ops/query-service.ts';
import { runningPid } from '../../ops/process.ts';
import { down, status } from '../../ops/stack.ts';
import { readStackConfig, type StackConfig } from '../../ops/stack-config.ts';
import { connections, createTestDatabase, type TestDatabase } from '../support/services.ts';
import { freePorts } from '../support/stack.ts';

describe('Query API stack service', () => {
  let database: TestDatabase;
  let cfg: StackConfig;
  let env: NodeJS.ProcessEnv;
  let url: string;

  before(async () => {
    database = await createTestDatabase();
    const [port] = await freePorts(1);
    const stateDir = mkdtempSync(join(tmpdir(), 'staas-query-service-'));
    env = {
      ...process.env,
      STAAS_STATE_DIR: stateDir,
      STAAS_QUERY_PORT: String(port),
      STAAS_CLICKHOUSE_URL: connections.clickhouse.url,
      STAAS_CLICKHOUSE_DATABASE: database.db,
      STAAS_QUERY_LOG_LEVEL: 'warn',
    };
    cfg = readStackConfig(env);
    url = queryAddress(env).url;
    assert.equal(url, `http://127.0.0.1:${port}`);
  });

  after(async () => {
    if (cfg !== undefined) {
      await down(cfg, () => undefined);
      rmSync(cfg.stateDir, { recursive: true, force: true });
    }
    await database?.drop();
  });

  it('starts in the background, compiled (dist/), ready, with a pid file naming its state folder', async () => {
    assert.equal(await startQuery(cfg, env), 'started');
    const pid = runningPid(queryFiles(cfg));
    assert.ok(pid !== undefined, 'pid file points at the running API');
    assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), new RegExp(`dist/query/cli\\.js\\0--stack-state=${cfg.stateDir}`));
  });

  it('is idempotent: a second start leaves the running one alone', async () => {
    const pid = runningPid(queryFiles(cfg));
    assert.equal(await startQuery(cfg, env), 'already running');
    assert.equal(runningPid(queryFiles(cfg)), pid);
  });

  it('answers /healthz, /readyz and /openapi.json without a token', async () => {
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });

    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready' });

    const doc = await fetch(`${url}/openapi.json`);
    assert.equal(doc.status, 200);
    const openapi = (await doc.json()) as { openapi: string; info: { title: string }; paths: Record<string, unknown> };
    assert.equal(openapi.openapi, '3.0.3');
    assert.equal(openapi.info.title, 'staas Query API');
    assert.ok('/v1/shares' in openapi.paths, Object.keys(openapi.paths).join(', '));
  });

  it('answers 401 problem+json on /v1 without a token', async () => {
    const res = await fetch(`${url}/v1/shares`);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="staas"');
    const body = (await res.json()) as { status: number; title: string };
    assert.equal(body.status, 401);
    assert.equal(body.title, 'Unauthorized');
  });

  it('is shown by status and stopped by down', async () => {
    const lines: string[] = [];
    await status(cfg, (l) => lines.push(l), env);
    const pid = runningPid(queryFiles(cfg));
    assert.ok(lines.includes(`query       up (pid ${pid})  ${url}/docs`), lines.join('\n'));

    const stopped: string[] = [];
    await down(cfg, (l) => stopped.push(l));
    assert.ok(stopped.includes(`query: stopped (pid ${pid})`), stopped.join('\n'));
    assert.equal(runningPid(queryFiles(cfg)), undefined);
    await assert.rejects(fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) }));
  });
});
