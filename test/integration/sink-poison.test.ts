/**
 * Poison pills (issue 9): nothing in one message can stop the Sink. Each input goes through the
 * real broker to a Sink process (ingest/sink/cli.ts) storing into the real database: Kafka
 * batches compressed with gzip, snappy, lz4 and zstd are stored; ids past int32, deflate bombs
 * and a message too large for its DLQ copy go to the DLQ with their reason while the messages
 * after them are stored; the sink's peak RSS stays small; a failure that does stop the sink names
 * topic, partition and offset.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDeflateRaw } from 'node:zlib';
import type { Kafka, Producer } from 'kafkajs';
import { Registry } from 'prom-client';
import { compressionType, KAFKA_COMPRESSIONS, registerKafkaCodecs } from '../../ingest/kafka/codecs.ts';
import { batchMessage, HEADER_COUNT, HEADER_TYPE } from '../../ingest/kafka/message.ts';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { startSinkProcess, stopSinkProcess, type SinkProcess } from '../../bench/sink-process.ts';
import { readSinkConfig } from '../../ingest/sink/config.ts';
import { Sink } from '../../ingest/sink/sink.ts';
import { readWriterConfig } from '../../ingest/writer/config.ts';
import { TopicLimits } from '../../ingest/writer/topic-limits.ts';
import { Writer } from '../../ingest/writer/writer.ts';
import avro from 'avsc';
import { encodeBatch } from '../../schemas/container.ts';
import { SCHEMA_JSON, type TrendPoint } from '../../schemas/records.ts';
import { trendPoint } from '../support/records.ts';
import {
  connections,
  committedToEnd,
  consumeMessages,
  createTestDatabase,
  createTestTopics,
  deleteTestTopics,
  queryRows,
  testKafka,
  uniqueName,
  withAdmin,
  type ConsumedMessage,
  type TestDatabase,
} from '../support/services.ts';
import { until } from '../support/wait.ts';

const MiB = 1024 * 1024;
const TS = Date.UTC(2026, 5, 1);

/** Raw deflate of `bytes` zero bytes, streamed (the input is never held). */
async function deflatedZeros(bytes: number): Promise<Buffer> {
  const z = createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  z.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((resolve, reject) => z.on('end', resolve).on('error', reject));
  const chunk = Buffer.alloc(MiB);
  for (let left = bytes; left > 0; left -= chunk.length) {
    if (!z.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await new Promise((r) => z.once('drain', r));
  }
  z.end();
  await done;
  return Buffer.concat(out);
}

/** Avro zig-zag varint of a non-negative long. */
function varLong(n: number): Buffer {
  const bytes: number[] = [];
  let v = n * 2;
  while (v >= 0x80) {
    bytes.push(v % 128 | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

/** A trend container (our writer schema) with one block announcing `count` records over `data`. */
function trendContainer(count: number, data: Buffer, codec: 'null' | 'deflate' = 'deflate'): Buffer {
  const header = encodeBatch('trend', [], { codec });
  const sync = header.subarray(header.length - 16);
  return Buffer.concat([header, varLong(count), varLong(data.length), data, sync]);
}

/**
 * The trend schema with every int as a long: the same varint bytes, without avsc's refusal to
 * encode an int past 2^31-1. The records are then framed under our own (int) writer schema,
 * which a reader decodes as they are: values past int32.
 */
const WIDE_TREND = avro.Type.forSchema(JSON.parse(SCHEMA_JSON.trend.replace(/"type":\s*"int"/g, '"type":"long"')) as avro.Schema, {
  wrapUnions: false,
});

/** One message holding `point` encoded with ints as wide as it says, under our writer schema. */
function widePointMessage(point: TrendPoint, key: string) {
  return { key, value: trendContainer(1, WIDE_TREND.toBuffer(point), 'null'), headers: { [HEADER_TYPE]: 'trend', [HEADER_COUNT]: '1' } };
}

/** Peak resident set of a process in bytes (Linux VmHWM). */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

const header = (m: ConsumedMessage, name: string) => m.headers?.[name]?.toString();
/** Dead letters are sent concurrently: order them by where they came from. */
const bySourceOffset = (a: ConsumedMessage, b: ConsumedMessage) =>
  Number(header(a, 'dlq-source-offset')) - Number(header(b, 'dlq-source-offset'));

describe('Sink poison pills (real broker, real database, sink process)', () => {
  let kafka: Kafka;
  let topics: Topics;
  let database: TestDatabase;
  let producer: Producer;
  let sink: SinkProcess;
  const groupId = uniqueName('sink-poison');

  before(async () => {
    registerKafkaCodecs();
    kafka = testKafka();
    topics = await createTestTopics(kafka, 1);
    database = await createTestDatabase();
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    sink = startSinkProcess({
      STAAS_TOPIC_PREFIX: topics.trend.replace(/\.trend$/, ''),
      STAAS_SINK_GROUP: groupId,
      STAAS_CLICKHOUSE_DATABASE: database.db,
      STAAS_SINK_BATCH_AGE_MS: '100',
    });
  });

  after(async () => {
    await stopSinkProcess(sink);
    await producer.disconnect();
    await deleteTestTopics(kafka, topics);
    await database.drop();
  });

  const stored = async (elementId: number): Promise<number[]> =>
    (
      await queryRows<{ value: number }>(
        database.client,
        `SELECT value FROM ${database.db}.trend_realtime FINAL WHERE element_id = ${elementId} ORDER BY ts`,
      )
    ).map((r) => r.value);

  /** Every message on the DLQ topic so far. */
  const deadLetters = async (): Promise<ConsumedMessage[]> => {
    const [p] = await withAdmin(kafka, (a) => a.fetchTopicOffsets(topics.dlq));
    return consumeMessages(kafka, [topics.dlq], Number(p!.high));
  };

  /** A valid one-point message for element `elementId` (the marker that the sink went on). */
  const marker = (elementId: number) =>
    batchMessage('trend', [trendPoint(0, { elementId, timestamp: TS, value: elementId })], `m${elementId}`);

  it('stores valid trend batches compressed by Kafka with gzip, snappy, lz4 and zstd', async () => {
    const codecs = KAFKA_COMPRESSIONS.filter((c) => c !== 'none');
    for (const [k, codec] of codecs.entries()) {
      const points = Array.from({ length: 200 }, (_, i) => trendPoint(i, { elementId: 100 + k, index: '', timestamp: TS + i, value: i }));
      await producer.send({
        topic: topics.trend,
        acks: -1,
        compression: compressionType(codec),
        messages: [batchMessage('trend', points, `compressed-${codec}`)],
      });
    }
    for (const k of codecs.keys()) {
      await until(`the ${codecs[k]} batch stored`, async () => (await stored(100 + k)).length === 200, 30_000);
      assert.deepEqual(
        await stored(100 + k),
        Array.from({ length: 200 }, (_, i) => i),
        `${codecs[k]}: every value, in order`,
      );
    }
  });

  it('stores what a Writer sends with Kafka-level compression (STAAS_WRITER_KAFKA_COMPRESSION)', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'staas-spool-'));
    try {
      const writer = await Writer.create(
        readWriterConfig(process.env, { topicPrefix: topics.trend.replace(/\.trend$/, ''), spoolDir, kafkaCompression: 'zstd' }),
        connections.kafka,
        { registry: new Registry(), log: { info: () => undefined, warn: () => undefined } },
      );
      for (let i = 0; i < 300; i++) await writer.trend({ dmsId: 7, dmaId: 1, elementId: 150, parameterId: 1, timestamp: TS + i, value: i });
      await writer.close();
    } finally {
      rmSync(spoolDir, { recursive: true, force: true });
    }
    await until('the zstd batches stored', async () => (await stored(150)).length === 300, 30_000);
    assert.deepEqual(
      await stored(150),
      Array.from({ length: 300 }, (_, i) => i),
    );
  });

  it('dead-letters ids and samples past int32 (legal varints) and stores what follows', async () => {
    const big = 2 ** 31;
    await producer.send({
      topic: topics.trend,
      acks: -1,
      messages: [
        widePointMessage(trendPoint(1, { dmsId: big, timestamp: TS }), 'big-dms'),
        widePointMessage(trendPoint(2, { parameterId: big + 5, timestamp: TS }), 'big-parameter'),
        widePointMessage(
          trendPoint(3, { windowMinutes: 5, samples: big, min: 1, max: 2, value: 1.5, status: 5, timestamp: TS }),
          'big-samples',
        ),
        marker(201),
      ],
    });
    await until('the marker after them stored', async () => (await stored(201)).length === 1, 30_000);
    const dlq = (await deadLetters()).filter((m) => m.key?.startsWith('big-'));
    dlq.sort(bySourceOffset);
    assert.deepEqual(
      dlq.map((m) => [m.key, header(m, 'dlq-reason')]),
      [
        ['big-dms', 'invalid-record'],
        ['big-parameter', 'invalid-record'],
        ['big-samples', 'invalid-record'],
      ],
    );
    assert.match(header(dlq[0]!, 'dlq-detail')!, /dmsId/);
    assert.match(header(dlq[1]!, 'dlq-detail')!, /parameterId/);
    assert.match(header(dlq[2]!, 'dlq-detail')!, /samples/);
  });

  it('dead-letters deflate bombs as too-large without the sink growing', async (t) => {
    const before = peakRss(sink.pid);
    // 40 M all-zero trend records (14 bytes each: 560 MB) in ~546 KB; one record in 1000 MiB of zeros.
    const manyRecords = trendContainer(40_000_000, await deflatedZeros(40_000_000 * 14));
    const oneHuge = trendContainer(1, await deflatedZeros(1000 * MiB));
    assert.ok(manyRecords.length < 600_000 && oneHuge.length < 1_040_000, `${manyRecords.length}, ${oneHuge.length} bytes`);
    await producer.send({
      topic: topics.trend,
      acks: -1,
      messages: [
        { key: 'bomb-records', value: manyRecords, headers: { [HEADER_TYPE]: 'trend', [HEADER_COUNT]: '40000000' } },
        { key: 'bomb-bytes', value: oneHuge, headers: { [HEADER_TYPE]: 'trend', [HEADER_COUNT]: '1' } },
        marker(202),
      ],
    });
    await until('the marker after the bombs stored', async () => (await stored(202)).length === 1, 30_000);
    const dlq = (await deadLetters()).filter((m) => m.key?.startsWith('bomb-'));
    dlq.sort(bySourceOffset);
    assert.deepEqual(
      dlq.map((m) => [m.key, header(m, 'dlq-reason'), m.value?.length]),
      [
        ['bomb-records', 'too-large', manyRecords.length],
        ['bomb-bytes', 'too-large', oneHuge.length],
      ],
    );
    assert.match(header(dlq[0]!, 'dlq-detail')!, /40000000, over the limit/);
    assert.match(header(dlq[1]!, 'dlq-detail')!, /inflates to more than/);
    const peak = peakRss(sink.pid);
    t.diagnostic(`sink peak RSS ${Math.round(peak / MiB)} MiB (${Math.round(before / MiB)} MiB before the bombs)`);
    assert.ok(peak < 400 * MiB, `sink peak RSS ${Math.round(peak / MiB)} MiB (before the bombs: ${Math.round(before / MiB)} MiB)`);
  });

  it('truncates the DLQ copy of a bad message close to the size limit, keeping its reason and source', async () => {
    const limits = new TopicLimits(kafka, [topics.trend], Number.MAX_SAFE_INTEGER);
    await limits.refresh(10_000);
    // Fits the source topic with its two headers; its DLQ copy (plus our dlq-* headers) would not.
    const value = Buffer.alloc(limits.maxMessageBytes(topics.trend) - 250, 0x61);
    await producer.send({
      topic: topics.trend,
      acks: -1,
      messages: [{ key: 'near-limit', value, headers: { [HEADER_TYPE]: 'trend', [HEADER_COUNT]: '1' } }],
    });
    await producer.send({ topic: topics.trend, acks: -1, messages: [marker(203)] });
    await until('the marker after it stored', async () => (await stored(203)).length === 1, 30_000);
    const [m] = (await deadLetters()).filter((d) => d.key === 'near-limit');
    assert.ok(m !== undefined, 'a DLQ entry');
    assert.equal(header(m, 'dlq-reason'), 'not-avro');
    assert.equal(header(m, 'dlq-source-topic'), topics.trend);
    assert.equal(header(m, 'dlq-source-partition'), '0');
    assert.match(header(m, 'dlq-source-offset')!, /^\d+$/);
    assert.equal(header(m, 'dlq-truncated'), 'value');
    assert.equal(header(m, 'dlq-original-bytes'), String(value.length));
    assert.ok(m.value!.length < value.length && m.value!.length > value.length - 4096, `kept ${m.value!.length} bytes`);
    assert.ok(m.value!.equals(value.subarray(0, m.value!.length)), 'a prefix of the original');
    assert.equal(header(m, 'original-staas-count'), '1');
  });

  it('was never stopped by any of it, and committed everything', async () => {
    assert.equal(sink.child.exitCode, null, `the sink is running (output: ${sink.output().slice(-500)})`);
    await until('every offset committed', () => committedToEnd(kafka, groupId, [topics.trend]), 30_000);
    sink.child.kill('SIGTERM');
    const code = await sink.exited;
    assert.equal(code, 0, 'a clean stop');
  });
});

describe('Sink stops that name where they stopped (real broker, real database)', () => {
  const errors: string[] = [];
  const log = { info: () => undefined, warn: () => undefined, error: (m: string) => errors.push(m) };

  it('an insert that fails for good names the table, topic, partition and offsets', async () => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 1);
    const database = await createTestDatabase();
    try {
      await database.client.command({ query: `DROP TABLE ${database.db}.trend_realtime` });
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({
        topic: topics.trend,
        acks: -1,
        messages: [0, 1, 2].map((i) => batchMessage('trend', [trendPoint(i, { timestamp: TS + i })], `k${i}`)),
      });
      await producer.disconnect();
      const sink = await Sink.create(
        readSinkConfig(process.env, {
          retentionIntervalMs: 0,
          topicPrefix: topics.trend.replace(/\.trend$/, ''),
          groupId: uniqueName('sink-fatal'),
          batchAgeMs: 100,
        }),
        { ...connections, clickhouse: { ...connections.clickhouse, database: database.db } },
        { registry: new Registry(), log },
      );
      // ensureSchema made the table again: drop it once more, under the running sink.
      await database.client.command({ query: `DROP TABLE ${database.db}.trend_realtime` });
      await sink.start();
      await assert.rejects(sink.finished, /insert into trend_realtime/);
      assert.equal(errors.length, 1);
      assert.match(errors[0]!, new RegExp(`insert into trend_realtime of ${topics.trend.replace(/\./g, '\\.')}\\[0\\]@0\\.\\.2 failed`));
      assert.match(errors[0]!, new RegExp(`uncommitted from: ${topics.trend.replace(/\./g, '\\.')}\\[0\\]@0`));
    } finally {
      await deleteTestTopics(kafka, topics);
      await database.drop();
    }
  });

  it('stop() while the sink waits for topics that do not exist ends the start at once and resolves', async () => {
    const database = await createTestDatabase();
    try {
      const sink = await Sink.create(
        readSinkConfig(process.env, {
          retentionIntervalMs: 0,
          topicPrefix: uniqueName('no-such-topics'), // the sink waits for them (README, Topology changes)
          groupId: uniqueName('sink-no-start'),
        }),
        { ...connections, clickhouse: { ...connections.clickhouse, database: database.db } },
        { registry: new Registry(), log },
      );
      const starting = sink.start();
      await until('waiting for the topics', () => sink.health().reasons.some((r) => r.endsWith('does not exist')), 10_000);
      const stoppedAt = Date.now();
      await sink.stop();
      await starting;
      await sink.finished;
      assert.ok(Date.now() - stoppedAt < 3000, `stopped in ${Date.now() - stoppedAt} ms`);
    } finally {
      await database.drop();
    }
  });
});
