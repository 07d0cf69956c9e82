/**
 * Query API tokens against the real database: 401 / 403 as they should be, a revoked token and a
 * deleted share refused on their very next request by every API instance, share tokens limited
 * to their elements and read-only, expiry.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { trendPoint } from '../support/records.ts';
import { startQueryFixture, type QueryFixture } from '../support/query.ts';
import { connections } from '../support/services.ts';

const TS = Date.UTC(2026, 10, 1);

/** Runs the tokens CLI without blocking the event loop (a blocked loop trips @fastify/under-pressure). */
function tokensCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile('npx', ['tsx', 'query/auth/cli.ts', ...args], { env, encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    ),
  );
}

describe('Query API tokens and shares (real database)', () => {
  let f: QueryFixture;

  before(async () => {
    f = await startQueryFixture();
    for (const elementId of [1, 2]) await f.writer.trend(trendPoint(0, { dmsId: 7, dmaId: 1, elementId, parameterId: 10, timestamp: TS }));
    await f.writer.trend(trendPoint(0, { dmsId: 8, dmaId: 1, elementId: 3, parameterId: 10, timestamp: TS }));
    await f.stored();
  });

  after(async () => {
    await f?.stop();
  });

  it('answers 401 with problem+json for no, malformed, unknown and expired tokens', async () => {
    const expired = await f.tokens.create({ kind: 'api', dmsId: 7, name: 'old', scopes: ['shares:write'], expiresAt: Date.now() - 1 });
    for (const token of [undefined, 'nonsense', `staas_${'A'.repeat(32)}`, expired.token]) {
      const r = await f.get<{ status: number; title: string }>('/v1/shares', token);
      assert.equal(r.status, 401, String(token));
      assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="staas"');
      assert.equal(r.body.status, 401);
    }
  });

  it('refuses a request with two Authorization headers (400 naming the header), even when the first is valid', async () => {
    const token = await f.token(7, ['shares:write']);
    const api = await f.newApi();
    await api.listen({ port: 0, host: '127.0.0.1' });
    try {
      const { port } = api.server.address() as AddressInfo;
      // Written on a raw socket: Node's HTTP client would not send a header line twice as asked.
      const ask = async (authorization: string[]) => {
        const socket = connect(port, '127.0.0.1');
        const lines = [
          'GET /v1/shares HTTP/1.1',
          `Host: 127.0.0.1:${port}`,
          ...authorization.map((v) => `Authorization: ${v}`),
          'Connection: close',
        ];
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
        const chunks: Buffer[] = [];
        for await (const chunk of socket) chunks.push(chunk as Buffer);
        const text = Buffer.concat(chunks).toString();
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
        const body = text.slice(text.indexOf('\r\n\r\n') + 4);
        return { status, body };
      };
      assert.equal((await ask([`Bearer ${token}`])).status, 200);
      for (const pair of [
        [`Bearer ${token}`, 'Bearer nonsense'],
        [`Bearer ${token}`, `Bearer ${token}`],
      ]) {
        const r = await ask(pair);
        assert.equal(r.status, 400);
        assert.match(r.body, /"field":"headers\.authorization"/);
      }
    } finally {
      await api.close();
    }
  });

  it('limits failed authentications per address: past the limit 429 with Retry-After, for any token, until the minute ends', async () => {
    const api = await f.newApi({ authFailuresPerMinute: 3 });
    const good = await f.token(7, ['shares:write']);
    const unknown = `staas_${'B'.repeat(32)}`;
    const from = (remoteAddress: string, token: string) =>
      api.inject({ method: 'GET', url: '/v1/shares', remoteAddress, headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 3; i++) assert.equal((await from('10.0.0.1', unknown)).statusCode, 401, `failure ${i + 1}`);
    const limited = await from('10.0.0.1', unknown);
    assert.equal(limited.statusCode, 429);
    assert.match(String(limited.headers['content-type']), /^application\/problem\+json/);
    const retry = Number(limited.headers['retry-after']);
    assert.ok(retry >= 1 && retry <= 60, `retry-after ${retry}`);
    // Blocked before any lookup: a valid token from that address waits too; other addresses do not.
    assert.equal((await from('10.0.0.1', good)).statusCode, 429);
    assert.equal((await from('10.0.0.2', good)).statusCode, 200);
    assert.equal((await from('10.0.0.2', unknown)).statusCode, 401);
    // Successful requests are not failures: many from one address stay 200.
    for (let i = 0; i < 5; i++) assert.equal((await from('10.0.0.3', good)).statusCode, 200);
  });

  it('answers 403 for a token without the route scope', async () => {
    const token = await f.token(7, ['trends:read']);
    const r = await f.get<{ detail: string }>('/v1/shares', token);
    assert.equal(r.status, 403);
    assert.match(r.body.detail, /shares:write/);
  });

  it('refuses a revoked token on its next request, on every instance', async () => {
    const issued = await f.tokens.create({ kind: 'api', dmsId: 7, name: 'soon revoked', scopes: ['shares:write'] });
    const second = await f.newApi();
    assert.equal((await f.get('/v1/shares', issued.token)).status, 200);
    assert.equal((await f.get('/v1/shares', issued.token, second)).status, 200);
    // Revoked through the CLI, as an operator would.
    const env = { ...process.env, STAAS_CLICKHOUSE_DATABASE: f.database.db, STAAS_CLICKHOUSE_URL: connections.clickhouse.url };
    const cli = await tokensCli(['revoke', issued.info.tokenId], env);
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`revoked ${issued.info.tokenId}`));
    // Both instances verified the token a moment ago, so these GETs start before their lookup
    // answers (auth/access.ts holdUntilVerified): the lookup still decides, and the answer is a 401.
    for (const app of [f.api, second]) {
      const r = await f.get<{ status: number; detail: string }>('/v1/shares', issued.token, app);
      assert.equal(r.status, 401);
      assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
      assert.match(String(r.headers['www-authenticate']), /^Bearer/);
      assert.equal(r.body.status, 401);
      assert.equal((r.body as unknown as Record<string, unknown>).shares, undefined, 'nothing of the answer leaks');
    }
  });

  it('creates tokens with the CLI and lists them per DMS', async () => {
    const env = { ...process.env, STAAS_CLICKHOUSE_DATABASE: f.database.db, STAAS_CLICKHOUSE_URL: connections.clickhouse.url };
    const made = await tokensCli(['create', '--dms', '7', '--name', 'cli made', '--scopes', 'shares:write', '--quiet'], env);
    assert.equal(made.status, 0, made.stderr);
    const token = made.stdout.trim();
    assert.match(token, /^staas_[A-Za-z0-9_-]{32}$/);
    assert.equal((await f.get('/v1/shares', token)).status, 200);
    const listed = await tokensCli(['list', '--dms', '7', '--json'], env);
    const list = JSON.parse(listed.stdout) as { name: string; dmsId: number }[];
    assert.ok(list.some((t) => t.name === 'cli made' && t.dmsId === 7));
    assert.ok(!list.some((t) => t.dmsId !== 7));
    const bad = await tokensCli(['create', '--dms', 'seven'], env);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--dms must be an integer/);
  });

  it('creates a read-only share for listed elements; deleting it stops the link at once', async () => {
    const owner = await f.token(7);
    const second = await f.newApi();
    const created = await f.api.inject({
      method: 'POST',
      url: '/v1/shares',
      headers: { authorization: `Bearer ${owner}` },
      payload: { name: 'wall screen', elements: [{ dmaId: 1, elementId: 1 }], expiresInSeconds: 3600 },
    });
    assert.equal(created.statusCode, 201, created.body);
    const { token, share } = created.json<{
      token: string;
      share: { shareId: string; elements: unknown[]; scopes: string[]; expiresAt: number };
    }>();
    assert.deepEqual(share.elements, [{ dmaId: 1, elementId: 1 }]);
    assert.deepEqual(share.scopes, ['trends:read', 'alarms:read', 'elements:read']);
    assert.ok(Math.abs(share.expiresAt - (Date.now() + 3_600_000)) < 60_000);

    // Read-only: a share cannot manage shares.
    assert.equal((await f.get('/v1/shares', token)).status, 403);
    const listed = await f.get<{ shares: { shareId: string }[] }>('/v1/shares', owner);
    assert.ok(listed.body.shares.some((s) => s.shareId === share.shareId));

    // Deleted: refused on the next request by both instances.
    const del = await f.api.inject({ method: 'DELETE', url: `/v1/shares/${share.shareId}`, headers: { authorization: `Bearer ${owner}` } });
    assert.equal(del.statusCode, 204);
    assert.equal((await f.get('/v1/shares', token)).status, 401);
    assert.equal((await f.get('/v1/shares', token, second)).status, 401);
    const again = await f.api.inject({
      method: 'DELETE',
      url: `/v1/shares/${share.shareId}`,
      headers: { authorization: `Bearer ${owner}` },
    });
    assert.equal(again.statusCode, 404);
  });

  it('refuses a share of an element outside the DMS, naming the field', async () => {
    const owner = await f.token(7);
    const r = await f.api.inject({
      method: 'POST',
      url: '/v1/shares',
      headers: { authorization: `Bearer ${owner}` },
      payload: {
        name: 'x',
        elements: [
          { dmaId: 1, elementId: 1 },
          { dmaId: 1, elementId: 3 },
        ],
        expiresInSeconds: 60,
      },
    });
    assert.equal(r.statusCode, 400);
    assert.deepEqual(r.json<{ errors: unknown }>().errors, [
      { field: 'body.elements.1', message: 'element 1/3 is not an element of this DMS' },
    ]);
    // Another DMS cannot delete DMS 7's share.
    const made = await f.api.inject({
      method: 'POST',
      url: '/v1/shares',
      headers: { authorization: `Bearer ${owner}` },
      payload: { name: 'y', elements: [{ dmaId: 1, elementId: 2 }], expiresInSeconds: 60 },
    });
    const id = made.json<{ share: { shareId: string } }>().share.shareId;
    const foreign = await f.token(8);
    const del = await f.api.inject({ method: 'DELETE', url: `/v1/shares/${id}`, headers: { authorization: `Bearer ${foreign}` } });
    assert.equal(del.statusCode, 404);
  });
});
