/**
 * A whole read path for Query API tests: fresh topics and database, the real Writer and Kafka,
 * a real Sink storing into ClickHouse, and Query API instances over that database. Tests write
 * records with `fixture.writer`, call `fixture.stored()` to wait until the sink has committed
 * everything, then read through `fixture.get()` (fastify's inject: no socket needed) or a
 * listening instance from `fixture.listen()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { readSinkConfig } from '../../ingest/sink/config.ts';
import { Sink } from '../../ingest/sink/sink.ts';
import { readWriterConfig } from '../../ingest/writer/config.ts';
import { Writer } from '../../ingest/writer/writer.ts';
import { SCOPES, TokenStore, type Scope } from '../../query/auth/tokens.ts';
import { readQueryConfig, type QueryConfig } from '../../query/config.ts';
import { createQueryMetrics } from '../../query/metrics.ts';
import { ClickHouseReader } from '../../query/reader.ts';
import { buildQueryApi } from '../../query/server.ts';
import {
  committedToEnd,
  connections,
  createTestDatabase,
  createTestTopics,
  deleteTestTopics,
  testKafka,
  uniqueName,
  type TestDatabase,
} from './services.ts';
import { until } from './wait.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: (m: string) => console.error(m) };

export interface Answer<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: T;
  text: string;
}

export interface QueryFixture {
  kafka: Kafka;
  topics: Topics;
  database: TestDatabase;
  writer: Writer;
  tokens: TokenStore;
  /** The first API instance (more with `newApi()`). */
  api: FastifyInstance;
  /** Another API instance over the same database, e.g. to check that revocations reach every instance. */
  newApi(overrides?: Partial<QueryConfig>): Promise<FastifyInstance>;
  /** A token of an API (not share) kind for a DMS, all scopes unless given. */
  token(dmsId: number, scopes?: readonly Scope[]): Promise<string>;
  /** GET through `api` (or the given instance) with a bearer token; parses JSON bodies. */
  get<T = unknown>(url: string, token?: string, instance?: FastifyInstance): Promise<Answer<T>>;
  /** Flushes the writer and waits until the sink committed every partition to its end. */
  stored(): Promise<void>;
  /** A second sink group that re-reads every topic from the start (at-least-once repeats). */
  rereadFromStart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startQueryFixture(configOverrides: Partial<QueryConfig> = {}): Promise<QueryFixture> {
  const kafka = testKafka();
  const topics = await createTestTopics(kafka, 3);
  const database = await createTestDatabase();
  const prefix = topics.trend.replace(/\.trend$/, '');
  const spoolDir = mkdtempSync(join(tmpdir(), 'staas-query-test-spool-'));
  const writer = await Writer.create(
    readWriterConfig(process.env, { topicPrefix: prefix, spoolDir, batchRecords: 5000 }),
    connections.kafka,
    {
      registry: new Registry(),
      log: quiet,
    },
  );
  const conn = { ...connections, clickhouse: { ...connections.clickhouse, database: database.db } };
  const sinks: { sink: Sink; groupId: string }[] = [];
  const startSink = async (groupId: string) => {
    const sink = await Sink.create(
      readSinkConfig(process.env, { retentionIntervalMs: 0, topicPrefix: prefix, groupId, batchAgeMs: 100 }),
      conn,
      {
        registry: new Registry(),
        log: quiet,
      },
    );
    await sink.start();
    sinks.push({ sink, groupId });
    return groupId;
  };
  const firstGroup = await startSink(uniqueName('query-test'));
  const apis: FastifyInstance[] = [];
  const newApi = async (overrides: Partial<QueryConfig> = {}) => {
    const app = await buildQueryApi({
      client: database.client,
      database: database.db,
      config: readQueryConfig(process.env, { ...configOverrides, ...overrides }),
    });
    await app.ready();
    apis.push(app);
    return app;
  };
  const api = await newApi();
  const tokens = new TokenStore(new ClickHouseReader(database.client, database.db, 30, createQueryMetrics()));
  const topicNames = [topics.trend, topics.alarm, topics.element];

  const fixture: QueryFixture = {
    kafka,
    topics,
    database,
    writer,
    tokens,
    api,
    newApi,
    async token(dmsId, scopes = SCOPES) {
      return (await tokens.create({ kind: 'api', dmsId, name: 'test', scopes })).token;
    },
    async get<T>(url: string, token?: string, instance = api): Promise<Answer<T>> {
      const res = await instance.inject({ method: 'GET', url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
      const type = String(res.headers['content-type'] ?? '');
      return {
        status: res.statusCode,
        headers: res.headers,
        text: res.body,
        body: (type.includes('json') && !type.includes('ndjson') ? JSON.parse(res.body) : res.body) as T,
      };
    },
    async stored() {
      await writer.flush();
      for (const s of sinks)
        await until(`sink ${s.groupId} committed to the end`, () => committedToEnd(kafka, s.groupId, topicNames), 120_000, 250);
      // Late rows (into sealed days) reach the APIs' day caches with their next poll.
      for (const app of apis) await app.lateWrites.caughtUp();
    },
    async rereadFromStart() {
      await startSink(uniqueName('query-test-reread'));
      await fixture.stored();
    },
    async stop() {
      for (const app of apis) await app.close();
      await writer.close().catch(() => undefined);
      for (const s of sinks) await s.sink.stop().catch(() => undefined);
      await deleteTestTopics(kafka, topics);
      await database.drop();
      rmSync(spoolDir, { recursive: true, force: true });
    },
  };
  void firstGroup;
  return fixture;
}
