/**
 * The sink process's health and shutdown (issue 9 item 7), with the real broker and database:
 * /health answers 503 with the reason while ClickHouse hangs, SIGTERM ends within its bound even
 * then (what was not stored stays uncommitted), a metrics port in use and bad configuration are
 * one clear report each.
 */
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { batchMessage } from '../../ingest/kafka/message.ts';
import { trendPoint } from '../support/records.ts';
import {
  connections,
  createTestDatabase,
  createTestTopics,
  deleteTestTopics,
  queryRows,
  testKafka,
  uniqueName,
  withAdmin,
} from '../support/services.ts';
import { freePorts } from '../support/stack.ts';
import { until } from '../support/wait.ts';
import { startSinkProcess } from '../../bench/sink-process.ts';

const TS = Date.UTC(2026, 5, 1);

/** A TCP relay to ClickHouse that can be made to hang: it stops passing bytes both ways. */
class HangingRelay {
  private server: Server | undefined;
  private readonly pairs: [Socket, Socket][] = [];
  hung = false;

  async listen(target: { host: string; port: number }): Promise<number> {
    this.server = createServer((client) => {
      if (this.hung) return; // accepted, never answered
      const upstream = connect(target.port, target.host);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      this.pairs.push([client, upstream]);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }

  hang(): void {
    this.hung = true;
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  close(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.server?.close();
  }
}

/** A sink process (compiled, as deployed) with retention off and `env` on top of this process's. */
const run = (env: Record<string, string>) => startSinkProcess(env);

describe('Sink health and shutdown (sink process, real broker and database)', () => {
  it('reports a metrics port in use in one line and exits 2', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    const database = await createTestDatabase();
    try {
      const s = run({
        STAAS_SINK_METRICS_PORT: String(port),
        STAAS_CLICKHOUSE_DATABASE: database.db,
        STAAS_TOPIC_PREFIX: uniqueName('unused'),
      });
      assert.equal(await s.exited, 2);
      assert.equal(s.stderr().trim(), `sink: port ${port} is in use: set STAAS_SINK_METRICS_PORT to a free port (0: no metrics server)`);
    } finally {
      busy.close();
      await database.drop();
    }
  });

  it('reports every configuration problem, its own and the connections, in one pass', async () => {
    const s = run({ STAAS_SINK_BATCH_ROWS: 'many', STAAS_KAFKA_PORT: '70000', STAAS_SINK_METRICS_PORT: '0' });
    assert.equal(await s.exited, 2);
    assert.match(s.stderr(), /STAAS_SINK_BATCH_ROWS="many" is not an integer/);
    assert.match(s.stderr(), /STAAS_KAFKA_PORT=70000 is above the maximum 65535/);
  });

  it('answers /health 503 when ClickHouse stops answering while the sink is idle (periodic ping)', async () => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 1);
    const database = await createTestDatabase();
    const relay = new HangingRelay();
    const ch = new URL(connections.clickhouse.url);
    const relayPort = await relay.listen({ host: ch.hostname, port: Number(ch.port) });
    const [metricsPort] = await freePorts(1);
    const s = run({
      STAAS_TOPIC_PREFIX: topics.trend.replace(/\.trend$/, ''),
      STAAS_SINK_GROUP: uniqueName('sink-ping'),
      STAAS_CLICKHOUSE_DATABASE: database.db,
      STAAS_CLICKHOUSE_URL: `http://127.0.0.1:${relayPort}`,
      STAAS_SINK_METRICS_PORT: String(metricsPort),
      STAAS_SINK_CLICKHOUSE_PING_S: '1',
    });
    const health = async () => {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/health`);
      return { status: res.status, body: (await res.json()) as { reasons: string[] } };
    };
    try {
      await until('healthy', async () => (await health()).status === 200, 30_000);
      // The process's own metrics beside the Sink's: resident, heap and external memory.
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      for (const name of [
        'staas_sink_process_resident_memory_bytes',
        'staas_sink_nodejs_heap_size_used_bytes',
        'staas_sink_nodejs_external_memory_bytes',
      ]) {
        const value = Number(new RegExp(`^${name} (\\S+)`, 'm').exec(metrics)?.[1]);
        assert.ok(value > 0, `${name} = ${value}`);
      }
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await health()).status, 200, 'pings pass while ClickHouse answers');
      relay.hang(); // nothing is consumed or inserted: only the ping can notice
      const hungAt = Date.now();
      await until('503 while idle', async () => (await health()).status === 503, 10_000);
      assert.ok(Date.now() - hungAt < 5000, `noticed after ${Date.now() - hungAt} ms`);
      assert.match((await health()).body.reasons.join('; '), /ClickHouse unreachable for \d+ s: no answer to a ping within 1000 ms/);
      assert.match(s.stderr(), /sink: ClickHouse is unreachable: no answer to a ping within 1000 ms/);
    } finally {
      s.child.kill('SIGKILL');
      await s.exited;
      relay.close();
      await deleteTestTopics(kafka, topics);
      await database.drop();
    }
  });

  it('answers /health 503 while ClickHouse hangs, and SIGTERM still ends within its bound without committing unstored data', async () => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 1);
    const database = await createTestDatabase();
    const relay = new HangingRelay();
    const ch = new URL(connections.clickhouse.url);
    const relayPort = await relay.listen({ host: ch.hostname, port: Number(ch.port) });
    const [metricsPort] = await freePorts(1);
    const groupId = uniqueName('sink-health');
    const s = run({
      STAAS_TOPIC_PREFIX: topics.trend.replace(/\.trend$/, ''),
      STAAS_SINK_GROUP: groupId,
      STAAS_CLICKHOUSE_DATABASE: database.db,
      STAAS_CLICKHOUSE_URL: `http://127.0.0.1:${relayPort}`,
      STAAS_SINK_METRICS_PORT: String(metricsPort),
      STAAS_SINK_BATCH_AGE_MS: '100',
      STAAS_SINK_COMMIT_INTERVAL_MS: '100',
      STAAS_SINK_HEALTH_STALL_MS: '2000',
      STAAS_SINK_STOP_TIMEOUT_MS: '3000',
    });
    const health = async () => {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/health`);
      return { status: res.status, body: (await res.json()) as { reasons: string[] } };
    };
    const producer = kafka.producer();
    try {
      await until('healthy: in its group', async () => (await health()).status === 200, 30_000);
      await producer.connect();
      const send = (i: number) =>
        producer.send({
          topic: topics.trend,
          acks: -1,
          messages: [batchMessage('trend', [trendPoint(i, { timestamp: TS + i })], `k${i}`)],
        });
      await send(0);
      const count = async () =>
        Number((await queryRows<{ n: string }>(database.client, `SELECT count() AS n FROM ${database.db}.trend_realtime`))[0]!.n);
      await until('the first point stored', async () => (await count()) === 1, 30_000);
      await until('its offset committed', async () => (await committed()) === '1', 10_000);

      relay.hang();
      await send(1);
      await until('503 while ClickHouse hangs', async () => (await health()).status === 503, 20_000);
      const { body } = await health();
      assert.match(body.reasons.join('; '), /no insert succeeded for \d+ s with 1 waiting/);

      const signalled = Date.now();
      s.child.kill('SIGTERM');
      await s.exited;
      const tookMs = Date.now() - signalled;
      assert.ok(tookMs < 3000 + 5000, `stopped in ${tookMs} ms (bound 3000 ms)`);
      assert.match(s.stderr(), /not everything was stored within 3000 ms; uncommitted from: .*\[0\]@1/);
      assert.equal(await committed(), '1', 'the unstored message stays uncommitted');
    } finally {
      if (s.child.exitCode === null) s.child.kill('SIGKILL');
      relay.close();
      await producer.disconnect();
      await deleteTestTopics(kafka, topics);
      await database.drop();
    }

    async function committed(): Promise<string | undefined> {
      const [t] = await withAdmin(kafka, (a) => a.fetchOffsets({ groupId, topics: [topics.trend] }));
      return t?.partitions[0]?.offset;
    }
  });
});
