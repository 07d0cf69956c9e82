/**
 * Forward compatibility: the project's own code against a current ClickHouse engine (chdb from
 * PyPI, 26.x, behind a small HTTP endpoint: test/support/chdb-http.py; installed by
 * ops/bootstrap.sh). The local server is 18.16; users run current versions. Everything here runs
 * the real code paths unchanged: the DDL (twice: idempotent), the sink's RowBinary inserts of
 * every table (split by partition: one insert of more than 100 partitions is refused there with
 * code 252), reads of 64-bit integers as JSON numbers, retention, the alarm-tree prune, the token
 * store, and every GET route of the Query API with each enum and boolean value and the next page.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import type { ClickHouseClient } from '@clickhouse/client';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { batchMessage } from '../../ingest/kafka/message.ts';
import { describeInsertError } from '../../ingest/sink/clickhouse-errors.ts';
import { readSinkConfig } from '../../ingest/sink/config.ts';
import { Sink } from '../../ingest/sink/sink.ts';
import { encodeForTables, realtimeEncoder } from '../../ingest/sink/encoders.ts';
import { storeBatch } from '../../ingest/sink/store.ts';
import { SCOPES, TokenStore } from '../../query/auth/tokens.ts';
import { readQueryConfig } from '../../query/config.ts';
import { createQueryMetrics } from '../../query/metrics.ts';
import { ClickHouseReader } from '../../query/reader.ts';
import { buildQueryApi } from '../../query/server.ts';
import { pruneClearedAlarmTrees } from '../../storage/alarm-active.ts';
import { createClickHouse } from '../../storage/client.ts';
import { insertBodies } from '../../storage/partitions.ts';
import { applyRetention, partitionZones } from '../../storage/retention.ts';
import { DISTRIBUTED_TABLES, distributedStatement, localDatabase, replicatedStatement } from '../../storage/cluster-schema.ts';
import { ddl, ensureSchema, TABLES } from '../../storage/schema.ts';
import { sql } from '../../storage/sql.ts';
import { authenticatedOperations, requiredQuery, urlOf, type Target } from '../support/openapi.ts';
import { alarmEvent, averagePoint, elementRow, trendPoint } from '../support/records.ts';
import {
  committedToEnd,
  connections,
  createTestTopics,
  deleteTestTopics,
  int64,
  queryRows,
  testKafka,
  uniqueName,
  type Int64Json,
} from '../support/services.ts';
import { until } from '../support/wait.ts';

const PYTHON = join(process.env.STAAS_CACHE_DIR ?? join(homedir(), '.cache', 'staas'), 'venv-chdb', 'bin', 'python');
const DB = 'staas';
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 24, 12);
const TS = NOW - 2 * DAY;

interface ParameterSchema {
  type?: string;
  enum?: unknown[];
  items?: { type?: string; enum?: unknown[] };
}

/** The chdb endpoint: a child process; resolves once it listens. */
async function startChdb(dir: string): Promise<{ url: string; child: ChildProcessWithoutNullStreams }> {
  const child = spawn(PYTHON, [join(import.meta.dirname, '..', 'support', 'chdb-http.py'), dir]);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`chdb-http exited with ${code}: ${stderr}`)));
    lines.once('line', (line) => resolve(Number(/^listening (\d+)$/.exec(line)?.[1])));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

describe('staas on a current ClickHouse (chdb)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'staas-chdb-'));
  let chdb: Awaited<ReturnType<typeof startChdb>>;
  let client: ClickHouseClient;

  before(async () => {
    chdb = await startChdb(dir);
    client = createClickHouse({ url: chdb.url, username: 'default', password: '', database: DB });
  });

  after(async () => {
    await client?.close();
    chdb?.child.stdin.end();
    chdb?.child.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is a current engine', async () => {
    const [row] = await queryRows<{ v: string }>(client, 'SELECT version() AS v');
    assert.match(row!.v, /^2\d\./);
  });

  it('creates every table, and a second run changes nothing', async () => {
    assert.deepEqual(await ensureSchema(client, DB), [...TABLES]);
    const definitions = async () =>
      queryRows<{ name: string; q: string }>(
        client,
        `SELECT name, create_table_query AS q FROM system.tables WHERE database = '${DB}' ORDER BY name`,
      );
    const first = await definitions();
    assert.deepEqual(
      first.map((t) => t.name),
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
    await ensureSchema(client, DB);
    assert.deepEqual(await definitions(), first, 'the view is recognised as current: not dropped and re-created');
    const [server] = await queryRows<{ tz: string }>(client, 'SELECT timezone() AS tz');
    assert.deepEqual(await partitionZones(client, DB), {
      trend_realtime: 'UTC',
      trend_average: 'UTC',
      alarm_events: 'UTC',
      trend_late_writes: server!.tz, // by the server's date of written_at
    });
  });

  it('parses the cluster DDL: Replicated local tables and Distributed tables (chdb has no ZooKeeper, macros or clusters)', async () => {
    const db = 'staas_cluster';
    const local = localDatabase(db);
    const { alarm_active_mv: _view, ...tables } = ddl(local);
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${local}` });
    for (const [table, statement] of Object.entries(tables)) {
      const replicated = replicatedStatement(local, table, statement);
      const [row] = await queryRows<{ q: string }>(client, sql`SELECT formatQuery(${replicated}) AS q`.text);
      assert.match(row!.q, /ENGINE = ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/\{shard\}\//, table);
      // Creating it gets past the statement to the server's configuration: the {shard} macro.
      await assert.rejects(client.command({ query: replicated }), (err: Error) => describeInsertError(err).code === 139, table);
    }
    // Distributed tables over local tables of the same layout: refused only for the cluster's name.
    await ensureSchema(client, local);
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
    for (const table of DISTRIBUTED_TABLES) {
      await assert.rejects(
        client.command({ query: distributedStatement('staas', db, table) }),
        (err: Error) => describeInsertError(err).code === 701 && /cluster 'staas' not found/.test(err.message),
        table,
      );
    }
  });

  it('migrates an alarm_active of the first schema (columns added, view replaced, trees re-flagged), idempotently', async () => {
    const db = 'staas_migrate';
    await ensureSchema(client, db);
    await client.command({ query: `DROP TABLE ${db}.alarm_active_mv` });
    await client.command({ query: `DROP TABLE ${db}.alarm_active` });
    await client.command({
      query: `CREATE TABLE ${db}.alarm_active (
        dms_id Int32, dma_id Int32, element_id Int32, root_alarm_id Int64, alarm_id Int64, version UInt64, parameter_id Int32,
        idx String, display_key String, severity Int16, alarm_type Int16, status Int16, user_status Int16, value String,
        display_value String, ts UInt64, root_created_at UInt64, owner Nullable(String), comment Nullable(String),
        element_name String, parameter_name String, cleared UInt8
      ) ENGINE = ReplacingMergeTree(version) ORDER BY (dms_id, dma_id, element_id, root_alarm_id)`,
    });
    await client.command({
      query: `CREATE MATERIALIZED VIEW ${db}.alarm_active_mv TO ${db}.alarm_active AS
        SELECT dms_id, dma_id, element_id, root_alarm_id, alarm_id, toUInt64(alarm_id) AS version, parameter_id, idx, display_key,
          severity, alarm_type, status, user_status, value, display_value, ts, root_created_at, owner, comment, element_name,
          parameter_name, toUInt8(alarm_type = 11) AS cleared
        FROM ${db}.alarm_events`,
    });
    // 10 trees (root = 5000 + i - i % 3); tree 5000 ends with a clear, tree 5003 with status Cleared (the old view misses it).
    const events = Array.from({ length: 30 }, (_, i) => alarmEvent(i, { elementId: 1, timestamp: TS + i * 1000 }));
    events.push({ ...events[0]!, alarmId: 9000, rootAlarmId: 5000, alarmType: 11, timestamp: TS + 90_000 });
    events.push({ ...events[3]!, alarmId: 9003, rootAlarmId: 5003, status: 11, timestamp: TS + 93_000 });
    await storeBatch(client, db, 'alarm', events);
    const active = async () =>
      int64(
        (
          await queryRows<{ n: Int64Json }>(
            client,
            `SELECT count() AS n FROM (SELECT * FROM ${db}.alarm_active FINAL) AS t WHERE cleared = 0`,
          )
        )[0]!.n,
      );
    assert.equal(await active(), 9, 'the old rule');
    await ensureSchema(client, db);
    assert.equal(await active(), 8, 'the current rule');
    const columns = await queryRows<{ name: string }>(
      client,
      `SELECT name FROM system.columns WHERE database = '${db}' AND table = 'alarm_active'`,
    );
    for (const c of ['previous_alarm_id', 'severity_range', 'created_at'])
      assert.ok(
        columns.some((x) => x.name === c),
        c,
      );
    const view = async () =>
      (
        await queryRows<{ q: string }>(
          client,
          `SELECT create_table_query AS q FROM system.tables WHERE database = '${db}' AND name = 'alarm_active_mv'`,
        )
      )[0]!.q;
    const definition = await view();
    await ensureSchema(client, db);
    assert.equal(await view(), definition);
    assert.equal(await active(), 8);
  });

  it('inserts RowBinary into every table through the sink path, a 150-day batch split by partition', async () => {
    const points = [];
    for (let i = 0; i < 300; i++)
      points.push(
        trendPoint(i, {
          dmsId: 7,
          dmaId: 1,
          elementId: 1,
          parameterId: 10,
          index: i % 2 === 0 ? '' : 'eth0',
          timestamp: NOW - (i % 150) * DAY - i * 1000,
        }),
      );
    for (const w of [5, 60, 120])
      for (let i = 0; i < 30; i++)
        points.push({
          ...averagePoint(i, w),
          dmsId: 7,
          dmaId: 1,
          elementId: 1,
          parameterId: 10,
          index: '',
          timestamp: TS - i * w * 60_000,
        });
    await storeBatch(client, DB, 'trend', points);
    const alarms = Array.from({ length: 30 }, (_, i) =>
      alarmEvent(i, { dmsId: 7, dmaId: 1, elementId: 1, timestamp: TS + i * 1000, createdAt: TS + i * 1000 }),
    );
    alarms.push({ ...alarms[3]!, alarmId: 9000, previousAlarmId: alarms[3]!.alarmId, alarmType: 11, timestamp: TS + 99_000 }); // clears tree 5003
    await storeBatch(client, DB, 'alarm', alarms);
    const rows = Array.from({ length: 30 }, (_, i) => elementRow(i, { dmsId: 7, dmaId: 1, elementId: 1, tableParameterId: 1000 }));
    rows.push(
      elementRow(0, { dmsId: 7, dmaId: 1, elementId: 1, tableParameterId: 30, primaryKey: '', columns: [{ columnId: 30, value: 'on' }] }),
    );
    await storeBatch(client, DB, 'element', rows);

    const counts = await queryRows<{ t: string; n: Int64Json; ts: Int64Json }>(
      client,
      `SELECT 'rt' AS t, count() AS n, max(ts) AS ts FROM ${DB}.trend_realtime UNION ALL SELECT 'avg', count(), max(ts) FROM ${DB}.trend_average
       UNION ALL SELECT 'alarm', count(), max(ts) FROM ${DB}.alarm_events UNION ALL SELECT 'element', count(), max(ts) FROM ${DB}.element_rows`,
    );
    const byTable = Object.fromEntries(counts.map((r) => [r.t, [int64(r.n), int64(r.ts)]]));
    assert.deepEqual(byTable, {
      rt: [300, NOW],
      avg: [90, TS],
      alarm: [31, TS + 99_000],
      element: [31, Math.max(...rows.map((r) => r.timestamp))],
    });
    assert.equal(typeof counts[0]!.n, 'number', 'current servers write 64-bit integers as JSON numbers');
    const [parts] = await queryRows<{ n: Int64Json }>(
      client,
      `SELECT uniqExact(partition) AS n FROM system.parts WHERE active AND database = '${DB}' AND table = 'trend_realtime'`,
    );
    assert.equal(int64(parts!.n), 150);
  });

  it('refuses one insert of more than 100 partitions with code 252, which the sink does not retry', async () => {
    const points = Array.from({ length: 120 }, (_, i) => trendPoint(i, { timestamp: NOW - 200 * DAY - i * DAY }));
    const body = encodeForTables('trend', points)[0]!.body;
    assert.equal(insertBodies('trend_realtime', realtimeEncoder.columns, body).length, 3);
    const err = await client
      .exec({
        query: `INSERT INTO ${DB}.trend_realtime (${realtimeEncoder.columns.join(', ')}) FORMAT RowBinary`,
        values: Readable.from([body]),
      })
      .then(async (r) => {
        r.stream.resume();
        await finished(r.stream);
      })
      .then(
        () => assert.fail('accepted'),
        (e: unknown) => e,
      );
    assert.deepEqual({ ...describeInsertError(err), why: undefined }, { kind: 'fatal', code: 252, name: 'TOO_MANY_PARTS', why: undefined });
    await storeBatch(client, DB, 'trend', points); // split: accepted
    const [row] = await queryRows<{ n: Int64Json }>(client, `SELECT count() AS n FROM ${DB}.trend_realtime WHERE ts < ${NOW - 199 * DAY}`);
    assert.equal(int64(row!.n), 120);
  });

  describe('the Query API and the token store', () => {
    let api: FastifyInstance;
    let tokens: TokenStore;
    before(async () => {
      api = await buildQueryApi({ client, database: DB, config: readQueryConfig(process.env, { rateLimitPerMinute: 1_000_000 }) });
      await api.ready();
      tokens = new TokenStore(new ClickHouseReader(client, DB, 30, createQueryMetrics()));
    });
    after(async () => api?.close());

    it('creates, looks up, lists and revokes tokens', async () => {
      const issued = await tokens.create({ kind: 'api', dmsId: 7, name: 'chdb', scopes: SCOPES });
      assert.equal((await tokens.lookup(issued.token))?.dmsId, 7);
      assert.ok((await tokens.list({ dmsId: 7 })).some((t) => t.tokenId === issued.info.tokenId));
      await tokens.revoke(issued.info.tokenId);
      assert.ok(((await tokens.lookup(issued.token))?.revokedAt ?? 0) > 0, 'revoked');
    });

    it('answers every GET route (each enum and boolean value, and the next page) with the data stored', async () => {
      const token = (await tokens.create({ kind: 'api', dmsId: 7, name: 'routes', scopes: SCOPES })).token;
      const target: Target = {
        dmaId: 1,
        elementId: 1,
        tableParameterId: 1000,
        parameterId: 10,
        rootAlarmId: alarmEvent(0).rootAlarmId,
        from: NOW - 300 * DAY,
        to: NOW + DAY,
        trendParameters: ['10', '10:eth*', '-1'],
      };
      const get = async (url: string) => {
        const res = await api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
        assert.ok(res.statusCode < 500, `${url}: ${res.statusCode} ${res.body.slice(0, 500)}`);
        return res;
      };
      let requests = 0;
      for (const op of (await authenticatedOperations(api)).filter((o) => o.method === 'GET')) {
        const base = requiredQuery(op, target);
        const variants: URLSearchParams[] = [base];
        for (const p of op.parameters.filter((x) => x.in === 'query')) {
          const schema = p.schema as ParameterSchema;
          for (const v of schema.enum ?? schema.items?.enum ?? (schema.type === 'boolean' ? [true, false] : [])) {
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
          const res = await get(urlOf(op, target, q));
          requests++;
          const body = res.headers['content-type']?.toString().includes('application/json')
            ? (res.json<{ nextCursor?: unknown }>() ?? {})
            : {};
          if (typeof body.nextCursor === 'string') {
            q.set('cursor', body.nextCursor);
            await get(urlOf(op, target, q));
            requests++;
          }
        }
      }
      assert.ok(requests > 20, `${requests} requests`);
      // Values, not only status: the real-time series of the last day and the element's rows.
      const trend = (await get(`/v1/elements/1/1/trends?parameter=10&from=${NOW - DAY + 1}&to=${NOW + 1}&type=realtime`)).json<{
        series: { points: { time: number }[] }[];
      }>();
      assert.deepEqual(
        trend.series[0]!.points.map((p) => p.time),
        [NOW, NOW - 150_000],
      );
      const table = (await get('/v1/elements/1/1/tables/1000/rows?limit=100')).json<{ rows: unknown[] }>();
      assert.equal(table.rows.length, 30);
    });
  });

  it('runs the Sink from the real broker into it: one message spanning 150 days, alarms and rows', async () => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 1);
    const groupId = uniqueName('sink-chdb');
    let sink: Sink | undefined;
    try {
      const points = Array.from({ length: 600 }, (_, i) => trendPoint(i, { timestamp: NOW - (i % 150) * DAY - i }));
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: topics.trend, acks: -1, messages: [batchMessage('trend', points, 'k')] });
      await producer.send({ topic: topics.alarm, acks: -1, messages: [batchMessage('alarm', [alarmEvent(1), alarmEvent(2)], 'k')] });
      await producer.send({ topic: topics.element, acks: -1, messages: [batchMessage('element', [elementRow(1)], 'k')] });
      await producer.disconnect();
      const quiet = { info: () => undefined, warn: () => undefined, error: (m: string) => console.error(m) };
      sink = await Sink.create(
        readSinkConfig(process.env, {
          retentionIntervalMs: 0,
          topicPrefix: topics.trend.replace(/\.trend$/, ''),
          groupId,
          batchAgeMs: 100,
        }),
        { kafka: connections.kafka, clickhouse: { url: chdb.url, username: 'default', password: '', database: 'staas_sink' } },
        { registry: new Registry(), log: quiet },
      );
      await sink.start();
      await until(
        'the sink committed everything',
        () => committedToEnd(kafka, groupId, [topics.trend, topics.alarm, topics.element]),
        60_000,
      );
      const counts = await queryRows<{ t: string; n: Int64Json }>(
        client,
        `SELECT 'rt' AS t, count() AS n FROM staas_sink.trend_realtime UNION ALL SELECT 'alarm', count() FROM staas_sink.alarm_events
         UNION ALL SELECT 'active', count() FROM staas_sink.alarm_active UNION ALL SELECT 'element', count() FROM staas_sink.element_rows`,
      );
      assert.deepEqual(Object.fromEntries(counts.map((r) => [r.t, int64(r.n)])), { rt: 600, alarm: 2, active: 2, element: 1 });
    } finally {
      await sink?.stop();
      await deleteTestTopics(kafka, topics);
    }
  });

  it('runs retention and the alarm-tree prune', async () => {
    const dropped = await applyRetention(client, DB, NOW);
    assert.ok(dropped.length > 0 && dropped.every((p) => p.table === 'trend_realtime'), JSON.stringify(dropped.slice(0, 3)));
    const [left] = await queryRows<{ n: Int64Json; oldest: Int64Json }>(
      client,
      `SELECT count() AS n, min(ts) AS oldest FROM ${DB}.trend_realtime`,
    );
    assert.ok(int64(left!.oldest) >= Date.UTC(2026, 10, 17), 'nothing left from days wholly older than 7 days');
    assert.equal(int64(left!.n), 16, 'the 8 UTC days not wholly older than 7 days, two points a day');
    const pruned = await pruneClearedAlarmTrees(client, DB, { pollMs: 50 });
    assert.ok(pruned.trees >= 1, JSON.stringify(pruned));
  });
});
