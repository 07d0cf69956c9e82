/**
 * The smoke round trip: one record of each type is encoded, produced to its Kafka topic,
 * consumed back, decoded, inserted into ClickHouse and selected again. It proves the whole
 * path with the real services; it is not the Sink (ingest/sink), just the same building blocks.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Kafka } from 'kafkajs';
import { batchMessage, elementKey, readBatchMessage } from '../ingest/kafka/message.ts';
import type { Topics } from '../ingest/kafka/topics.ts';
import type { AlarmEvent, ElementRow, RecordType, TrendPoint } from '../schemas/records.ts';
import { storeBatch } from '../ingest/sink/store.ts';

export interface SmokeResult {
  type: RecordType;
  partition: number;
  offset: string;
  table: string;
  row: Record<string, unknown>;
}

function smokeRecords(now: number): { trend: TrendPoint; alarm: AlarmEvent; element: ElementRow } {
  // DMS 0: the smoke records never show among the simulated fleet's data (DMS 1 and up).
  const id = { dmsId: 0, dmaId: 1, elementId: 1 };
  return {
    trend: {
      ...id,
      parameterId: 10,
      index: '',
      timestamp: now,
      windowMinutes: 0,
      value: 42.5,
      discreteValue: null,
      min: null,
      max: null,
      discreteMax: null,
      samples: 0,
      status: 0,
    },
    alarm: {
      ...id,
      parameterId: 10,
      index: '',
      displayKey: '',
      alarmId: now,
      rootAlarmId: now,
      previousAlarmId: 0,
      severity: 2,
      severityRange: 6,
      alarmType: 10,
      status: 1,
      userStatus: 0,
      value: '42.5',
      displayValue: '42.5 dBm',
      timestamp: now,
      createdAt: now,
      rootCreatedAt: now,
      owner: null,
      comment: 'smoke test',
      elementName: 'smoke element',
      parameterName: 'RX level',
    },
    element: {
      ...id,
      tableParameterId: 1000,
      primaryKey: 'smoke',
      displayKey: 'Smoke row',
      columns: [
        { columnId: 1002, value: 42.5 },
        { columnId: 1003, value: 'up' },
      ],
      timestamp: now,
      version: now,
      deleted: false,
    },
  };
}

const SELECT: Record<RecordType, (now: number) => string> = {
  trend: (now) =>
    `SELECT * FROM {db}.trend_realtime FINAL WHERE dms_id = 0 AND dma_id = 1 AND element_id = 1 AND parameter_id = 10 AND idx = '' AND ts = ${now}`,
  alarm: (now) =>
    `SELECT * FROM {db}.alarm_events FINAL WHERE dms_id = 0 AND dma_id = 1 AND element_id = 1 AND root_alarm_id = ${now} AND alarm_id = ${now}`,
  element: () =>
    `SELECT * FROM {db}.element_rows FINAL WHERE dms_id = 0 AND dma_id = 1 AND element_id = 1 AND table_parameter_id = 1000 AND primary_key = 'smoke'`,
};

export async function smokeRoundTrip(
  kafka: Kafka,
  topics: Topics,
  ch: ClickHouseClient,
  db: string,
  timeoutMs = 30_000,
): Promise<SmokeResult[]> {
  const now = Date.now();
  const records = smokeRecords(now);
  const types: RecordType[] = ['trend', 'alarm', 'element'];

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const produced = new Map<string, { partition: number; offset: string }>();
  try {
    for (const type of types) {
      const r = records[type];
      const [meta] = await producer.send({ topic: topics[type], acks: -1, messages: [batchMessage(type, [r as never], elementKey(r))] });
      produced.set(topics[type], { partition: meta!.partition, offset: meta!.baseOffset ?? '0' });
    }
  } finally {
    await producer.disconnect();
  }

  // A throw-away group that starts exactly at the produced offsets.
  const consumer = kafka.consumer({ groupId: `staas-smoke-${now}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  const results: SmokeResult[] = [];
  try {
    await consumer.subscribe({ topics: types.map((t) => topics[t]), fromBeginning: false });
    // Seek once the group has its assignment: the produced offsets, not "latest".
    consumer.on(consumer.events.GROUP_JOIN, () => {
      for (const [topic, at] of produced) consumer.seek({ topic, partition: at.partition, offset: at.offset });
    });
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`smoke: not every record came back from Kafka within ${timeoutMs} ms`)), timeoutMs);
      const seen = new Set<string>();
      void consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ topic, partition, message }) => {
            const want = produced.get(topic);
            if (want === undefined || want.partition !== partition || message.offset !== want.offset) return;
            const batch = readBatchMessage(message.value, message.headers);
            for (const table of await storeBatch(ch, db, batch.type, batch.records)) {
              const rs = await ch.query({ query: SELECT[batch.type](now).replace('{db}', db), format: 'JSONEachRow' });
              const [row] = await rs.json<Record<string, unknown>>();
              if (row === undefined) throw new Error(`smoke: the ${batch.type} record is not in ${table}`);
              results.push({ type: batch.type, partition, offset: message.offset, table, row });
            }
            seen.add(topic);
            if (seen.size === produced.size) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    await done;
  } finally {
    await consumer.disconnect();
    const admin = kafka.admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([`staas-smoke-${now}`]))
      .catch(() => undefined)
      .finally(() => admin.disconnect());
  }
  return results.sort((a, b) => types.indexOf(a.type) - types.indexOf(b.type));
}
