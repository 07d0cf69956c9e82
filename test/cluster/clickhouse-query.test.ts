/**
 * The Query API over the 2 x 2 ClickHouse cluster (issue 11): reads go through the Distributed
 * tables with the same SQL as on one server, so a tenant on either shard gets exactly its points,
 * with a token written through the Distributed api_tokens table.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { SCOPES, TokenStore } from '../../query/auth/tokens.ts';
import { readQueryConfig } from '../../query/config.ts';
import { createQueryMetrics } from '../../query/metrics.ts';
import { ClickHouseReader } from '../../query/reader.ts';
import { stopService } from '../../ops/process.ts';
import { queryFiles, startQuery } from '../../ops/query-service.ts';
import { readStackConfig } from '../../ops/stack-config.ts';
import { createClickHouse } from '../../storage/client.ts';
import { buildQueryApi } from '../../query/server.ts';
import {
  BASE_TS,
  clusterEnv,
  clusterNode,
  clusterStackConfig,
  DMS_IDS,
  killNode,
  nodeUrl,
  pointsByDms,
  restartNode,
  startClusterSink,
  syncReplicas,
  writePoints,
  type ClusterDatabase,
  clusterTestBed,
} from '../support/clickhouse-cluster.ts';
import { freePorts } from '../support/stack.ts';
import { until } from '../support/wait.ts';

const POINTS = 8_000;

describe('Query API over the ClickHouse cluster', { timeout: 180_000 }, () => {
  let topics: Topics;
  let database: ClusterDatabase;
  let api: FastifyInstance;
  let tokens: TokenStore;
  const cleanup: (() => Promise<unknown>)[] = [];

  before(async () => {
    ({ topics, database } = await clusterTestBed(cleanup));
    const { sink } = await startClusterSink(topics, database);
    cleanup.push(() => sink.stop());
    await writePoints(topics, 0, POINTS);
    await until('every point stored', async () => [...(await pointsByDms(database)).values()].reduce((n, d) => n + d.n, 0) === POINTS);
    await syncReplicas(database);
    api = await buildQueryApi({ client: database.client, database: database.db, config: readQueryConfig(process.env) });
    await api.ready();
    cleanup.push(() => api.close());
    tokens = new TokenStore(new ClickHouseReader(database.client, database.db, 30, createQueryMetrics()));
  });
  after(async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  it("answers each tenant's trend from its shard, exactly, with a token stored through the Distributed table", async () => {
    // Element e holds the points seq with seq mod 20 = e; their DMS is DMS_IDS[e mod 4] (writePoints).
    for (const element of [4, 5]) {
      const dms = DMS_IDS[element % 4]!;
      const { token } = await tokens.create({ kind: 'api', dmsId: dms, name: 'cluster', scopes: SCOPES });
      const url = `/v1/elements/1/${element}/trends?parameter=1&from=${BASE_TS}&to=${BASE_TS + POINTS}&type=realtime&order=asc`;
      const get = () => api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
      // The token is on one replica of its shard when create() returns; a read may pick the other
      // replica until replication fetched it (usually well under a second).
      // 503 asks the client to try again (Retry-After: 1), which a client does.
      await until('the token replicated', async () => ![401, 503].includes((await get()).statusCode), 10_000, 100);
      const res = await get();
      assert.equal(res.statusCode, 200, `DMS ${dms}: ${res.body.slice(0, 300)}`);
      const body = res.json<{ series: { points: { time: number; value: number | null }[] }[] }>();
      const points = body.series.flatMap((s) => s.points);
      const expected = Array.from({ length: POINTS / 20 }, (_v, i) => element + 20 * i);
      assert.deepEqual(
        points.map((p) => [p.time - BASE_TS, p.value]),
        expected.map((seq) => [seq, seq]),
        `DMS ${dms} (shard ${(dms % 2) + 1}): every point once, in order`,
      );
    }
  });

  // Last: it kills the first server and starts it again.
  it('answers on the other servers while the first one (its STAAS_CLICKHOUSE_URL) is killed with -9, tokens included', async () => {
    const clients = database.conn
      .cluster!.shards.flat()
      .map((url) => createClickHouse({ ...database.conn, url }, { requestTimeoutMs: 15_000 }));
    const metrics = createQueryMetrics();
    const failover = await buildQueryApi({ client: clients, database: database.db, config: readQueryConfig(process.env), metrics });
    const victim = clusterNode(0);
    assert.equal(nodeUrl(clusterStackConfig, victim), database.conn.cluster!.shards[0]![0], 'the first client is the first server');
    try {
      const element = 5;
      const dms = DMS_IDS[element % 4]!;
      const url = `/v1/elements/1/${element}/trends?parameter=1&from=${BASE_TS}&to=${BASE_TS + POINTS}&type=realtime&order=asc`;
      const before = await tokens.create({ kind: 'api', dmsId: dms, name: 'failover', scopes: SCOPES });
      const get = (token: string) => failover.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
      await until('the token replicated', async () => (await get(before.token)).statusCode === 200, 10_000, 100);
      const answer = (await get(before.token)).json<unknown>();

      await killNode(victim);
      const res = await get(before.token);
      assert.equal(res.statusCode, 200, res.body.slice(0, 300));
      assert.deepEqual(res.json<unknown>(), answer, 'the same answer from the other servers');
      assert.equal((await failover.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
      assert.equal((await metrics.clickhouseFailovers.get()).values[0]?.value, 1, 'one move, then reads stay on the next server');
      // A share written while the first server is down (through the server reads moved to) works at once.
      const share = await failover.inject({
        method: 'POST',
        url: '/v1/shares',
        headers: { authorization: `Bearer ${before.token}` },
        payload: { elements: [{ dmaId: 1, elementId: element }], expiresInSeconds: 3600, name: 'failover' },
      });
      assert.equal(share.statusCode, 201, share.body.slice(0, 300));
      const shareToken = share.json<{ token: string }>().token;
      await until('the share usable', async () => (await get(shareToken)).statusCode === 200, 10_000, 100);

      // Services start while the first server is down: the Query API (the real service, compiled)
      // and a sink skip it when they check the tables, and the API's reads use the others.
      const [port] = await freePorts(1);
      const state = mkdtempSync(join(tmpdir(), 'staas-query-cluster-'));
      const env = {
        ...clusterEnv,
        STAAS_STATE_DIR: state,
        STAAS_QUERY_PORT: String(port),
        STAAS_CLICKHOUSE_DATABASE: database.db,
        STAAS_QUERY_LOG_LEVEL: 'warn',
      };
      const service = readStackConfig(env);
      try {
        assert.equal(await startQuery(service, env), 'started');
        const res2 = await fetch(`http://127.0.0.1:${port}${url}`, { headers: { authorization: `Bearer ${before.token}` } });
        assert.equal(res2.status, 200);
        assert.deepEqual(await res2.json(), answer, 'a Query API started with the first server down answers the same');
        const { sink: late } = await startClusterSink(topics, database);
        await late.stop();
      } finally {
        await stopService(queryFiles(service), 15_000);
        rmSync(state, { recursive: true, force: true });
      }
    } finally {
      await restartNode(victim);
      await failover.close();
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});
