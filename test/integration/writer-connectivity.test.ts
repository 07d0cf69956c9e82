/**
 * The Writer's connection settings against a real broker: a TLS listener with a certificate
 * this test makes, and a bootstrap list in which one gateway is dead.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { logLevel } from 'kafkajs';
import { Registry } from 'prom-client';
import { readConnections, type KafkaConnection } from '../../config/connections.ts';
import { createKafka } from '../../ingest/kafka/client.ts';
import { ensureTopics, topicsFor } from '../../ingest/kafka/topics.ts';
import { readWriterConfig } from '../../ingest/writer/config.ts';
import { Writer } from '../../ingest/writer/writer.ts';
import { kafkaFiles, startKafka } from '../../ops/kafka.ts';
import { stopService } from '../../ops/process.ts';
import { makeServerCertificate } from '../support/certs.ts';
import { readAllRecords, withAdmin } from '../support/services.ts';
import { freePorts, privateStack, type PrivateStack } from '../support/stack.ts';

const TS = Date.UTC(2026, 2, 1);
const quietLog = { info: () => undefined, warn: () => undefined };

describe('Writer connectivity (real broker with a TLS listener)', () => {
  let stack: PrivateStack;
  let certDir: string;
  let tls: { caPem: string; caFile: string; port: number };
  const dirs: string[] = [];

  before(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'staas-certs-'));
    const cert = makeServerCertificate(certDir);
    const [tlsPort] = await freePorts(1);
    stack = await privateStack({ STAAS_KAFKA_TLS_PORT: String(tlsPort), STAAS_KAFKA_TLS_KEYSTORE_PEM: cert.keystorePem });
    tls = { caPem: cert.caPem, caFile: cert.caFile, port: tlsPort! };
    await startKafka(stack.cfg);
    await withAdmin(createKafka(stack.conn.kafka, { logLevel: logLevel.NOTHING }), (a) =>
      ensureTopics(a, topicsFor('conn'), { partitions: 2, replicationFactor: 1 }),
    );
  });

  after(async () => {
    await stopService(kafkaFiles(stack.cfg), 20_000);
    for (const d of [stack.cfg.stateDir, certDir, ...dirs]) rmSync(d, { recursive: true, force: true });
  });

  async function writeAndRead(conn: KafkaConnection, n: number, first: number): Promise<number[]> {
    const spoolDir = mkdtempSync(join(tmpdir(), 'staas-spool-'));
    dirs.push(spoolDir);
    const writer = await Writer.create(readWriterConfig(stack.env, { spoolDir, topicPrefix: 'conn', sendTimeoutMs: 10_000 }), conn, {
      log: quietLog,
      registry: new Registry(),
    });
    for (let i = first; i < first + n; i++)
      await writer.trend({ dmsId: 1, dmaId: 1, elementId: i % 7, parameterId: 1, timestamp: TS + i, value: i });
    await writer.close();
    assert.equal(writer.state.spoolBytes, 0, 'everything went to Kafka, nothing is left in the spool');
    const records = await readAllRecords<{ timestamp: number }>(createKafka(conn, { logLevel: logLevel.NOTHING }), topicsFor('conn').trend);
    return records.map((r) => r.timestamp - TS);
  }

  it('writes over TLS to a broker whose certificate it verifies against the given CA', async () => {
    const conn = readConnections({
      STAAS_KAFKA_BROKERS: `127.0.0.1:${tls.port}`,
      STAAS_KAFKA_TLS: 'true',
      STAAS_KAFKA_TLS_CA_FILE: tls.caFile,
    }).kafka;
    assert.equal(conn.tls?.ca, tls.caPem);
    const seen = new Set(await writeAndRead(conn, 2000, 0));
    for (let i = 0; i < 2000; i++) assert.ok(seen.has(i), `record ${i} arrived`);
  });

  it('refuses a TLS broker whose certificate it cannot verify', async () => {
    const untrusting = createKafka(
      { brokers: [`127.0.0.1:${tls.port}`], clientId: 't', tls: { rejectUnauthorized: true } },
      { logLevel: logLevel.NOTHING, retries: 0 },
    );
    const admin = untrusting.admin();
    await assert.rejects(admin.connect(), /certificate|self.signed|unable to verify/i);
    await admin.disconnect();
  });

  it('keeps writing when one of its bootstrap brokers is dead', async () => {
    const [dead] = await freePorts(1);
    const conn = readConnections({ STAAS_KAFKA_BROKERS: `127.0.0.1:${dead},127.0.0.1:${stack.cfg.kafka.port}` }).kafka;
    const seen = new Set(await writeAndRead(conn, 2000, 10_000));
    for (let i = 10_000; i < 12_000; i++) assert.ok(seen.has(i), `record ${i} arrived`);
  });
});
