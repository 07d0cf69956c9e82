/**
 * The Writer's ordered outbox against a real broker of its own (so that it can be paused with
 * SIGSTOP: sends hang, then time out, as with a broker that stops answering): per-element order
 * across every mode switch, backpressure instead of spooling while Kafka is merely slow, and
 * batches sized in encoded bytes below the topic's `max.message.bytes`, split or set aside when
 * the broker refuses them anyway.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import kafkajs, { logLevel, type Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { createKafka } from '../../ingest/kafka/client.ts';
import { createTopicsWaiting, type Topics, topicsFor } from '../../ingest/kafka/topics.ts';
import { RecordTooLargeError } from '../../ingest/writer/batcher.ts';
import { readWriterConfig, type WriterConfig } from '../../ingest/writer/config.ts';
import { KAFKA_DEFAULT_MAX_MESSAGE_BYTES } from '../../ingest/writer/topic-limits.ts';
import { Writer } from '../../ingest/writer/writer.ts';
import { kafkaFiles, startKafka } from '../../ops/kafka.ts';
import { runningPid, stopService } from '../../ops/process.ts';
import type { ElementRow, TrendPoint } from '../../schemas/records.ts';
import { readAllRecords, withAdmin } from '../support/services.ts';
import { privateStack, type PrivateStack } from '../support/stack.ts';

const { ConfigResourceTypes } = kafkajs;
const BASE_TS = Date.UTC(2026, 0, 1);
const quietLog = { info: () => undefined, warn: () => undefined };

describe('Writer outbox: order, backpressure and message sizes (real broker)', () => {
  let stack: PrivateStack;
  let kafka: Kafka;
  const cleanup: string[] = [];

  before(async () => {
    stack = await privateStack();
    await startKafka(stack.cfg);
    kafka = createKafka(stack.conn.kafka, { logLevel: logLevel.NOTHING });
  });

  after(async () => {
    resumeBroker();
    await stopService(kafkaFiles(stack.cfg), 20_000);
    for (const d of [stack.cfg.stateDir, ...cleanup]) rmSync(d, { recursive: true, force: true });
  });

  const brokerPid = () => runningPid(kafkaFiles(stack.cfg))!;
  /** The broker stops answering (its connections stay open): sends hang until they time out. */
  const pauseBroker = () => process.kill(brokerPid(), 'SIGSTOP');
  const resumeBroker = () => {
    const pid = stack === undefined ? undefined : runningPid(kafkaFiles(stack.cfg));
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
  };

  async function topics(prefix: string, elementConfig: Record<string, string> = {}): Promise<Topics> {
    const t = topicsFor(prefix);
    await withAdmin(kafka, (a) =>
      createTopicsWaiting(
        a,
        [t.trend, t.alarm, t.element, t.dlq].map((topic) => ({
          topic,
          numPartitions: 3,
          replicationFactor: 1,
          configEntries: topic === t.element ? Object.entries(elementConfig).map(([name, value]) => ({ name, value })) : [],
        })),
      ),
    );
    return t;
  }

  async function writer(prefix: string, over: Partial<WriterConfig> = {}) {
    const spoolDir = mkdtempSync(join(tmpdir(), 'staas-outbox-'));
    cleanup.push(spoolDir);
    const registry = new Registry();
    const w = await Writer.create(readWriterConfig(stack.env, { spoolDir, topicPrefix: prefix, ...over }), stack.conn.kafka, {
      log: quietLog,
      registry,
    });
    const metric = async (name: string) => ((await registry.getSingleMetric(name)?.get())?.values ?? []).reduce((n, v) => n + v.value, 0);
    return { w, spoolDir, metric };
  }

  /** Asserts that each element's values arrive complete and in order (a repeat of an earlier value — at-least-once — is allowed). */
  function assertOrdered(points: TrendPoint[], elements: number, perElement: number): void {
    const seen = new Map<number, Set<number>>();
    const last = new Map<number, number>();
    for (const p of points) {
      const s = seen.get(p.elementId) ?? new Set<number>();
      seen.set(p.elementId, s);
      if (s.has(p.value!)) continue;
      assert.ok((last.get(p.elementId) ?? -1) < p.value!, `element ${p.elementId}: ${p.value} arrived after ${last.get(p.elementId)}`);
      last.set(p.elementId, p.value!);
      s.add(p.value!);
    }
    assert.equal(seen.size, elements);
    for (const [element, s] of seen) assert.equal(s.size, perElement, `element ${element}`);
  }

  it("keeps each element's order across every mode switch: sends timing out, the memory budget full, the spool, and back", async () => {
    const prefix = 'order';
    const t = await topics(prefix);
    const { w, metric } = await writer(prefix, {
      batchRecords: 20,
      lingerMs: 5,
      batchBytes: 64 * 1024,
      maxMemoryBytes: 1024 * 1024,
      sendTimeoutMs: 1000,
      drainBytesPerSecond: 64 * 1024 * 1024,
    });
    const ELEMENTS = 4;
    const PER_ELEMENT = 10_000;
    let paused = 0;
    for (let i = 0; i < ELEMENTS * PER_ELEMENT; i++) {
      // Pause the broker twice, mid-stream, for longer than the send timeout.
      if (i === 8_000 || i === 24_000) {
        pauseBroker();
        paused++;
        setTimeout(resumeBroker, 2500);
      }
      const element = i % ELEMENTS;
      await w.trend({ dmsId: 1, dmaId: 1, elementId: element, parameterId: 1, timestamp: BASE_TS + i, value: Math.floor(i / ELEMENTS) });
    }
    assert.equal(paused, 2);
    assert.ok(await w.delivered(60_000), 'everything reached Kafka');
    assert.ok((await metric('staas_writer_records_spooled_total')) > 0, 'the timeouts sent batches through the spool');
    await w.close();
    assertOrdered(await readAllRecords<TrendPoint>(kafka, t.trend), ELEMENTS, PER_ELEMENT);
  });

  it('holds callers back instead of spooling while Kafka is slower than the writes', async () => {
    const prefix = 'slow';
    const t = await topics(prefix);
    const { w, metric } = await writer(prefix, {
      batchRecords: 200,
      lingerMs: 5,
      batchBytes: 64 * 1024,
      maxMemoryBytes: 1024 * 1024,
      sendTimeoutMs: 30_000,
    });
    pauseBroker();
    let written = 0;
    let blocked = false;
    try {
      while (!blocked) {
        const write = w.trend({ dmsId: 1, dmaId: 1, elementId: written % 3, parameterId: 1, timestamp: BASE_TS + written, value: written });
        written++;
        blocked = await Promise.race([write.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 500))]);
        if (blocked) {
          assert.ok(w.state.blocked);
          assert.equal(w.state.mode, 'live', 'a slow broker is not a reason to spool');
          assert.equal(w.state.spoolBytes, 0);
          assert.ok(w.state.memoryBytes <= 1024 * 1024 + 64 * 1024, `memory ${w.state.memoryBytes}`);
          resumeBroker();
          await write; // released once Kafka takes the backlog
        }
      }
    } finally {
      resumeBroker();
    }
    assert.ok(await w.delivered(30_000));
    assert.equal(await metric('staas_writer_records_spooled_total'), 0);
    assert.ok((await metric('staas_writer_backpressure_seconds_total')) > 0);
    await w.close();
    const points = await readAllRecords<TrendPoint>(kafka, t.trend);
    assert.equal(new Set(points.map((p) => p.value)).size, written);
  });

  it("sizes batches in encoded bytes below the topic's max.message.bytes: 120 rows of 9,000 Cyrillic characters go through", async () => {
    const prefix = 'cyrillic';
    const t = await topics(prefix, { 'max.message.bytes': String(KAFKA_DEFAULT_MAX_MESSAGE_BYTES) });
    const { w, spoolDir, metric } = await writer(prefix); // default settings
    const row = (i: number) => ({
      dmsId: 1,
      dmaId: 1,
      elementId: 1,
      tableParameterId: 1000,
      primaryKey: `row-${i}`,
      timestamp: BASE_TS + i,
      columns: [{ columnId: 1001, value: 'Ж'.repeat(9000) }],
    });
    for (let i = 0; i < 120; i++) await w.elementRow(row(i));
    await w.trend({ dmsId: 1, dmaId: 1, elementId: 1, parameterId: 1, timestamp: BASE_TS, value: 1 });
    // A record that alone is larger than the topic takes is refused at the door.
    assert.throws(
      () => w.elementRow({ ...row(999), columns: Array.from({ length: 20 }, (_, c) => ({ columnId: c, value: 'x'.repeat(60_000) })) }),
      (e: unknown) => e instanceof RecordTooLargeError && e.recordType === 'element' && /max\.message\.bytes/.test(e.message),
    );
    assert.ok(await w.delivered(30_000));
    assert.equal(await metric('staas_writer_batch_splits_total'), 0, 'sized right from the start');
    assert.equal(await metric('staas_writer_records_quarantined_total'), 0);
    await w.close();
    const rows = await readAllRecords<ElementRow>(kafka, t.element);
    assert.deepEqual(
      rows.map((r) => r.primaryKey),
      Array.from({ length: 120 }, (_, i) => `row-${i}`),
    );
    assert.equal((await readAllRecords<TrendPoint>(kafka, t.trend)).length, 1);
    assert.ok(!existsSync(join(spoolDir, 'quarantine')));
  });

  it('splits a batch the broker refuses as too large, and sets aside a lone record it still refuses, delivering everything else', async () => {
    const prefix = 'refused';
    const t = await topics(prefix);
    const { w, spoolDir, metric } = await writer(prefix, { lingerMs: 60_000, batchRecords: 10_000 });
    // Lowered after the writer read the limit: its batches are now too large for the broker.
    await withAdmin(kafka, (a) =>
      a.alterConfigs({
        validateOnly: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: t.element, configEntries: [{ name: 'max.message.bytes', value: '40000' }] }],
      }),
    );
    const row = (i: number, chars: number) => ({
      dmsId: 1,
      dmaId: 1,
      elementId: 1,
      tableParameterId: 1000,
      primaryKey: `row-${i}`,
      timestamp: BASE_TS + i,
      columns: [{ columnId: 1001, value: 'Ж'.repeat(chars) }],
    });
    for (let i = 0; i < 40; i++) await w.elementRow(row(i, i === 17 ? 30_000 : 9000)); // row 17 alone: 60 KB
    await w.trend({ dmsId: 1, dmaId: 1, elementId: 1, parameterId: 1, timestamp: BASE_TS, value: 1 });
    assert.ok(await w.delivered(30_000), 'nothing blocks');
    assert.ok((await metric('staas_writer_batch_splits_total')) >= 5);
    assert.equal(await metric('staas_writer_records_quarantined_total'), 1);
    await w.close();

    const rows = await readAllRecords<ElementRow>(kafka, t.element);
    assert.deepEqual(
      rows.map((r) => r.primaryKey),
      Array.from({ length: 40 }, (_, i) => `row-${i}`).filter((k) => k !== 'row-17'),
    );
    assert.equal((await readAllRecords<TrendPoint>(kafka, t.trend)).length, 1);
    const files = readdirSync(join(spoolDir, 'quarantine'));
    assert.equal(files.length, 2, files.join(', '));
    const meta = JSON.parse(readFileSync(join(spoolDir, 'quarantine', files.find((f) => f.endsWith('.json'))!), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.equal(meta.topic, t.element);
    assert.equal(meta.count, 1);
    assert.match(String(meta.reason), /^MESSAGE_TOO_LARGE|^RECORD_LIST_TOO_LARGE/);
  });

  it('uses partitions added to a topic within seconds', async () => {
    const prefix = 'grown';
    const t = await topics(prefix);
    const { w } = await writer(prefix, { lingerMs: 5 });
    await withAdmin(kafka, (a) => a.createPartitions({ topicPartitions: [{ topic: t.trend, count: 6 }] }));
    const started = Date.now();
    let reached = false;
    for (let round = 0; !reached && Date.now() - started < 30_000; round++) {
      for (let e = 0; e < 100; e++)
        await w.trend({ dmsId: 1, dmaId: 1, elementId: e, parameterId: 1, timestamp: BASE_TS + round, value: round });
      await w.flush();
      // New partitions may have no leader for a moment: their offsets are then unknown.
      const offsets = await withAdmin(kafka, (a) => a.fetchTopicOffsets(t.trend)).catch(() => []);
      reached = offsets.some((o) => o.partition >= 3 && Number(o.high) > 0);
      if (!reached) await new Promise((r) => setTimeout(r, 1000));
    }
    await w.close();
    assert.ok(reached, 'records reached the new partitions within 30 s (they used to wait up to 5 minutes)');
  });

  it(
    'survives a spool the file system refuses (EFBIG under ulimit -f): holds writes back, flush() refuses to claim durability, nothing acknowledged is lost',
    { timeout: 180_000 },
    async () => {
      const prefix = 'spoolfault';
      const t = await topics(prefix);
      const spoolDir = mkdtempSync(join(tmpdir(), 'staas-outbox-'));
      cleanup.push(spoolDir);
      await stopService(kafkaFiles(stack.cfg), 20_000);
      const script = join(import.meta.dirname, '../support/writer-spool-fault-child.ts');
      const child = spawn(
        'bash',
        ['-c', `ulimit -S -f 400 && exec "${process.execPath}" --import tsx "${script}" "${spoolDir}" ${prefix}`],
        {
          env: stack.env,
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      const phases: Record<string, unknown>[] = [];
      let buffer = '';
      const restarted = new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          buffer += chunk.toString();
          for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
            const line = JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>;
            buffer = buffer.slice(nl + 1);
            phases.push(line);
            if (line.phase === 'flush') startKafka(stack.cfg).then(() => resolve(), reject);
          }
        });
      });
      const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
      await Promise.race([restarted, exit]);
      assert.equal(await exit, 0, JSON.stringify(phases));

      const [blocked, flush, done] = phases;
      assert.equal(blocked!.phase, 'blocked');
      assert.ok((blocked!.spoolWriteFailures as number) > 0, 'the spool refused appends');
      assert.equal(blocked!.blocked, true, 'writes were held back');
      assert.ok((blocked!.spoolBytes as number) < 400 * 1024, `spool ${String(blocked!.spoolBytes)}`);
      assert.deepEqual([flush!.phase, flush!.error], ['flush', 'SpoolUnavailableError'], String(flush!.message));
      assert.deepEqual([done!.phase, done!.delivered], ['done', true]);
      const points = await readAllRecords<TrendPoint>(kafka, t.trend);
      assert.equal(new Set(points.map((p) => p.value)).size, done!.written, 'every accepted record reached Kafka');
    },
  );
});
