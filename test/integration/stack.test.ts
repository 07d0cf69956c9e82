/**
 * The local stack itself: idempotent `up`, data that survives down/up, `down` that stops only
 * what it started, and start failures that end quickly with a clear message.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { logLevel } from 'kafkajs';
import { createKafka } from '../../ingest/kafka/client.ts';
import { topicsFor } from '../../ingest/kafka/topics.ts';
import { startClickHouse } from '../../ops/clickhouse.ts';
import { startKafka } from '../../ops/kafka.ts';
import { ServiceStartError } from '../../ops/process.ts';
import { down, status, up } from '../../ops/stack.ts';
import { readStackConfig } from '../../ops/stack-config.ts';
import { createClickHouse } from '../../storage/client.ts';
import { consumeMessages, queryRows } from '../support/services.ts';
import { privateStack } from '../support/stack.ts';

const quiet = () => undefined;

describe('local stack', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const fn of cleanup.reverse()) await fn();
  });

  it('up on a running stack is harmless: services already running, topics and tables present', async () => {
    const lines: string[] = [];
    await up(readStackConfig(), (l) => lines.push(l));
    assert.ok(
      lines.includes(`kafka: already running on ${readStackConfig().kafka.host}:${readStackConfig().kafka.port}`),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => l.startsWith('clickhouse: already running')),
      lines.join('\n'),
    );
    assert.ok(lines.includes('kafka: topics present'), lines.join('\n'));
  });

  it('keeps data across down and up, and down stops only what this stack started', async () => {
    const { cfg, conn } = await privateStack();
    cleanup.push(async () => {
      await down(cfg, quiet);
      rmSync(cfg.stateDir, { recursive: true, force: true });
    });
    await up(cfg, quiet, conn);

    const kafka = createKafka(conn.kafka, { logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topicsFor().alarm, acks: -1, messages: [{ key: 'k', value: Buffer.from('kept') }] });
    await producer.disconnect();
    let ch = createClickHouse(conn.clickhouse);
    await ch.command({ query: `INSERT INTO staas.element_rows (dms_id, primary_key, version) VALUES (9, 'kept', 1)` });
    await ch.close();

    await down(cfg, quiet);
    assert.equal(await status(cfg, quiet), false, 'the private stack is down');
    assert.equal(await status(readStackConfig(), quiet), true, "the suite's own stack is still up");

    await up(cfg, quiet, conn);
    const [message] = await consumeMessages(kafka, [topicsFor().alarm], 1);
    assert.equal(message?.value?.toString(), 'kept');
    ch = createClickHouse(conn.clickhouse);
    const rows = await queryRows(ch, `SELECT dms_id, primary_key FROM staas.element_rows`);
    await ch.close();
    assert.deepEqual(rows, [{ dms_id: 9, primary_key: 'kept' }]);
  });

  it('fails at once, naming the port and its variable, when a port is taken', async () => {
    const { cfg } = await privateStack();
    cleanup.push(() => Promise.resolve(rmSync(cfg.stateDir, { recursive: true, force: true })));
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(cfg.clickhouse.httpPort, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => squatter.close(() => resolve())));
    const started = Date.now();
    await assert.rejects(startClickHouse(cfg), (err: unknown) => {
      assert.ok(err instanceof ServiceStartError);
      assert.match(err.message, new RegExp(`port 127\\.0\\.0\\.1:${cfg.clickhouse.httpPort} is already in use`));
      assert.match(err.message, /STAAS_CLICKHOUSE_HTTP_PORT/);
      return true;
    });
    assert.ok(Date.now() - started < 5000);
  });

  it('reports a service that dies while starting, with the tail of its log, within the time limit', async () => {
    // A 1 MiB heap: the JVM refuses to start.
    const { cfg } = await privateStack({ STAAS_KAFKA_HEAP: '1m' });
    cleanup.push(async () => {
      await down(cfg, quiet);
      rmSync(cfg.stateDir, { recursive: true, force: true });
    });
    const started = Date.now();
    await assert.rejects(startKafka(cfg), (err: unknown) => {
      assert.ok(err instanceof ServiceStartError, String(err));
      assert.match(err.message, /kafka did not start: the process exited/);
      assert.match(err.logTail, /heap/i);
      return true;
    });
    assert.ok(Date.now() - started < cfg.startTimeoutMs);
  });
});
