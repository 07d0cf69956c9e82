/**
 * How long the Sink stalls after its broker restarts (issue 9 item 4: 30–35 s with the fixed 30 s
 * session timeout):
 *   npx tsx bench/sink-broker-restart.ts [--sessions 30000,10000]
 * Starts a private single-node Kafka (a temporary state folder on free ports), a Sink in this
 * process per session timeout given (ms), stores one point, restarts the broker (graceful stop,
 * start), sends one point once the broker is up again and reports how long it took to be stored.
 * ClickHouse is the stack's (a scratch database, dropped at the end).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { logLevel } from 'kafkajs';
import { Registry } from 'prom-client';
import { readConnections } from '../config/connections.ts';
import { createKafka } from '../ingest/kafka/client.ts';
import { batchMessage } from '../ingest/kafka/message.ts';
import { ensureTopics, topicsFor } from '../ingest/kafka/topics.ts';
import { readSinkConfig } from '../ingest/sink/config.ts';
import { Sink } from '../ingest/sink/sink.ts';
import { kafkaFiles, startKafka } from '../ops/kafka.ts';
import { freePorts, stopService } from '../ops/process.ts';
import type { TrendPoint } from '../schemas/records.ts';
import { readStackConfig } from '../ops/stack-config.ts';
import { createClickHouse } from '../storage/client.ts';
import { ensureSchema } from '../storage/schema.ts';

/** One real-time point per element, in 2026. */
const point = (i: number): TrendPoint => ({
  dmsId: 1,
  dmaId: 1,
  elementId: i,
  parameterId: 1,
  index: '',
  timestamp: Date.UTC(2026, 0, 1) + i,
  windowMinutes: 0,
  value: i,
  discreteValue: null,
  min: null,
  max: null,
  discreteMax: null,
  samples: 0,
  status: 0,
});

const { values } = parseArgs({ options: { sessions: { type: 'string', default: '30000,10000' } } });

const [kafkaPort, controllerPort] = await freePorts(2);
const env = {
  ...process.env,
  STAAS_STATE_DIR: mkdtempSync(join(tmpdir(), 'staas-restart-')),
  STAAS_KAFKA_PORT: String(kafkaPort),
  STAAS_KAFKA_CONTROLLER_PORT: String(controllerPort),
  STAAS_KAFKA_HEAP: '256m',
};
const cfg = readStackConfig(env);
const conn = readConnections(env);
const stackConn = readConnections();
const db = `restart_${Date.now().toString(36)}`;
const ch = createClickHouse(stackConn.clickhouse);
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
await startKafka(cfg);
const kafka = createKafka(conn.kafka, { logLevel: logLevel.NOTHING });
let sent = 0;
const send = async () => {
  const producer = kafka.producer();
  await producer.connect();
  const i = sent++;
  await producer.send({ topic: 'staas.trend', acks: -1, messages: [batchMessage('trend', [point(i)], `k${i}`)] });
  await producer.disconnect();
};
const stored = async () => {
  const rs = await ch.query({ query: `SELECT count() AS n FROM ${db}.trend_realtime FINAL`, format: 'JSONEachRow' });
  return Number((await rs.json<{ n: string | number }>())[0]!.n);
};
const waitStored = async (timeoutMs: number) => {
  const start = Date.now();
  while ((await stored()) < sent) {
    if (Date.now() - start > timeoutMs) throw new Error(`not stored within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
};
try {
  await ensureSchema(ch, db);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topicsFor('staas'), { partitions: 1, replicationFactor: 1 });
  await admin.disconnect();
  for (const sessionTimeoutMs of values.sessions.split(',').map(Number)) {
    const sink = await Sink.create(
      readSinkConfig(env, {
        retentionIntervalMs: 0,
        groupId: `restart-${sessionTimeoutMs}-${Date.now()}`,
        batchAgeMs: 100,
        sessionTimeoutMs,
      }),
      { kafka: conn.kafka, clickhouse: { ...stackConn.clickhouse, database: db } },
      { registry: new Registry(), log: quiet },
    );
    await sink.start();
    await send();
    await waitStored(60_000);
    await stopService(kafkaFiles(cfg), 20_000);
    await startKafka(cfg);
    const up = Date.now();
    await send();
    await waitStored(180_000);
    console.log(
      `session timeout ${sessionTimeoutMs} ms: a point sent once the restarted broker was up was stored ${Date.now() - up} ms later`,
    );
    await sink.stop();
  }
} finally {
  await stopService(kafkaFiles(cfg), 20_000);
  rmSync(cfg.stateDir, { recursive: true, force: true });
  await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
  await ch.close();
}
