/**
 * schemathesis (PyPI; installed by ops/bootstrap.sh) fuzzes every operation of the Query API from
 * its own /openapi.json, with a bounded number of examples and a fixed seed, against a listening
 * instance over real data: no 5xx, every status code, content type and body as documented.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { alarmEvent, averagePoint, elementRow, trendPoint } from '../support/records.ts';
import { startQueryFixture, type QueryFixture } from '../support/query.ts';

const SCHEMATHESIS = join(process.env.STAAS_CACHE_DIR ?? join(homedir(), '.cache', 'staas'), 'venv-schemathesis', 'bin', 'schemathesis');
const TS = Date.UTC(2026, 10, 1, 12, 0, 0);

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // In a temporary folder: schemathesis leaves a .schemathesis/ folder behind in its working directory.
    const child = spawn(cmd, args, { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('Query API under schemathesis (real pipeline)', () => {
  let f: QueryFixture;
  let base: string;
  let token: string;

  before(async () => {
    f = await startQueryFixture({ rateLimitPerMinute: 1_000_000 });
    const at = { dmsId: 7, dmaId: 1, elementId: 1 };
    for (let i = 0; i < 50; i++) {
      await f.writer.trend(trendPoint(i, { ...at, parameterId: 1, timestamp: TS + i * 1000 }));
      await f.writer.trend({ ...averagePoint(i, 5), ...at, parameterId: 1, index: '' });
      await f.writer.alarm(alarmEvent(i, at));
      await f.writer.elementRow(elementRow(i, at));
    }
    await f.stored();
    token = await f.token(7);
    const app = await f.newApi({ rateLimitPerMinute: 1_000_000 });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });

  after(async () => {
    await f?.stop();
  });

  it('finds no server error and no response that breaks its schema', async () => {
    const { code, output } = await run(
      SCHEMATHESIS,
      [
        'run',
        `${base}/openapi.json`,
        '--checks',
        'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection',
        '--max-examples',
        '20',
        '--seed',
        '20261129',
        '--phases',
        'examples,coverage,fuzzing',
        // One worker: hypothesis's lambda-source cache is not thread-safe on Python 3.11 ("AST constructor recursion depth mismatch").
        '--workers',
        '1',
        '--generation-database',
        'none',
        '--no-color',
        '--header',
        `Authorization: Bearer ${token}`,
      ],
      600_000,
    );
    // Long generated URLs are squeezed so the failure report stays readable.
    const report = output
      .replace(/(%[0-9A-F]{2}){40,}/g, '%…')
      .replace(/(&[A-Za-z]+=[^&\s']*){12,}/g, '&…')
      .split('\n')
      .map((line) => (line.length > 400 ? `${line.slice(0, 400)}…` : line))
      .join('\n');
    assert.equal(code, 0, report.slice(0, 15000));
    assert.match(output, /passed/i);
  });
});
