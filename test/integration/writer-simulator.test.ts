/**
 * The fleet simulator CLI against the real broker, and through a Sink into a test database: what
 * it reports is what Kafka holds, and every kind it sends lands in its table (real-time points
 * with status rows, discrete and table-row trends; averages of all three windows; alarm trees
 * with clears and info events; element rows with deleted rows). A back-fill written twice stores
 * the same rows once.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { readSinkConfig } from '../../ingest/sink/config.ts';
import { Sink } from '../../ingest/sink/sink.ts';
import {
  committedToEnd,
  connections,
  createTestDatabase,
  createTestTopics,
  deleteTestTopics,
  queryRows,
  readAllRecords,
  testKafka,
  uniqueName,
  type TestDatabase,
  type Int64Json,
} from '../support/services.ts';
import { until } from '../support/wait.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: (m: string) => console.error(m) };

/** The summary line's figures, in the order it prints them. */
const FIGURES = [
  'total',
  'rate',
  'realtime',
  'discrete',
  'status',
  'avg5',
  'avg60',
  'avg120',
  'alarm',
  'info',
  'rows',
  'deleted',
  'saved',
  'errors',
] as const;
type Summary = Record<(typeof FIGURES)[number], number>;

const SUMMARY =
  /simulate: (\d+) records in [\d.]+ s \((\d+) rec\/s; [^)]*\): (\d+) real-time points, (\d+) discrete points, (\d+) status rows, averages 5 min (\d+) \/ 60 min (\d+) \/ 120 min (\d+), (\d+) alarm events, (\d+) info events, (\d+) element rows \((\d+) deleted, (\d+) saved parameters\); errors (\d+)/;

function summary(stdout: string): Summary {
  const m = SUMMARY.exec(stdout);
  assert.ok(m, stdout);
  return Object.fromEntries(FIGURES.map((name, i) => [name, Number(m[i + 1])])) as Summary;
}

describe('fleet simulator (ingest/writer/cli.ts) through Kafka and a Sink into ClickHouse', () => {
  let kafka: Kafka;
  let topics: Topics;
  let database: TestDatabase;
  let sink: Sink | undefined;
  const spoolDir = mkdtempSync(join(tmpdir(), 'staas-sim-spool-'));
  let live: Summary;
  let backfill: Summary;

  const simulate = async (args: string[]): Promise<Summary> => {
    const prefix = topics.trend.replace(/\.trend$/, '');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'ingest/writer/cli.ts', '--quiet', ...args], {
      env: { ...process.env, STAAS_TOPIC_PREFIX: prefix, STAAS_WRITER_SPOOL_DIR: spoolDir },
    });
    return summary(stdout);
  };

  before(async () => {
    kafka = testKafka();
    topics = await createTestTopics(kafka, 3);
    database = await createTestDatabase();
  });

  after(async () => {
    await sink?.stop();
    await deleteTestTopics(kafka, topics);
    await database?.drop();
    rmSync(spoolDir, { recursive: true, force: true });
  });

  it('live: writes at the target rate, every kind, and Kafka holds exactly what it reports', async () => {
    live = await simulate(
      ['--agents', '2', '--elements', '3', '--parameters', '5', '--table-rows', '2', '--rate', '4000', '--duration', '3'].concat([
        '--alarm-rate',
        '3600',
        '--gap-rate',
        '1200',
        '--row-rate',
        '3600',
      ]),
    );
    assert.ok(live.total >= 10_000 && live.total <= 12_100, `about 12000 records, got ${live.total}`);
    assert.ok(live.rate > 3000, `rate ${live.rate}`);
    assert.equal(live.errors, 0);
    assert.ok(live.realtime / live.total > 0.9, 'most volume is numeric real-time points');
    for (const kind of ['discrete', 'status', 'alarm', 'info', 'rows', 'saved'] as const)
      assert.ok(live[kind] > 0, `${kind}: ${live[kind]}`);
    const trend = live.realtime + live.discrete + live.status + live.avg5 + live.avg60 + live.avg120;
    assert.equal((await readAllRecords(kafka, topics.trend)).length, trend);
    assert.equal((await readAllRecords(kafka, topics.alarm)).length, live.alarm + live.info);
    assert.equal((await readAllRecords(kafka, topics.element)).length, live.rows);
  });

  it('back-fill: N days of every kind, the same records when written again', async () => {
    const args = [
      '--backfill-days',
      '3',
      '--backfill-end',
      '2026-03-04T17:42:00Z',
      '--agents',
      '1',
      '--elements',
      '2',
      '--parameters',
      '5',
    ];
    backfill = await simulate([...args, '--table-rows', '1']);
    assert.equal(backfill.errors, 0);
    // 2 elements x (5 parameters + 2 table columns x 1 row) = 14 series; no gap is an hour long.
    assert.equal(backfill.avg60, 14 * 3 * 24);
    assert.equal(backfill.avg120, 14 * 3 * 12);
    assert.ok(backfill.avg5 > 14 * 3 * 288 * 0.98 && backfill.avg5 <= 14 * 3 * 288);
    for (const kind of ['realtime', 'discrete', 'status', 'alarm', 'info', 'rows', 'deleted', 'saved'] as const)
      assert.ok(backfill[kind] > 0, `${kind}: ${backfill[kind]}`);
    assert.deepEqual({ ...(await simulate([...args, '--table-rows', '1'])), rate: 0 }, { ...backfill, rate: 0 });
  });

  it('a Sink stores both runs: every kind in its table, the repeated back-fill collapsed', async () => {
    const groupId = uniqueName('sim-sink');
    const conn = { ...connections, clickhouse: { ...connections.clickhouse, database: database.db } };
    const prefix = topics.trend.replace(/\.trend$/, '');
    sink = await Sink.create(readSinkConfig(process.env, { retentionIntervalMs: 0, topicPrefix: prefix, groupId, batchAgeMs: 200 }), conn, {
      registry: new Registry(),
      log: quiet,
    });
    await sink.start();
    await until('the sink stored everything', () => committedToEnd(kafka, groupId, [topics.trend, topics.alarm, topics.element]), 120_000);

    const db = database.db;
    /** The one row of `sql`, its columns (named K) as numbers. */
    const one = async <K extends string>(sql: string): Promise<Record<K, number>> => {
      const [row] = await queryRows<Record<K, Int64Json>>(database.client, sql);
      return Object.fromEntries(Object.entries(row!).map(([k, v]) => [k, Number(v)])) as Record<K, number>;
    };
    // Aliases differ from column names: 18.16 would resolve a same-named alias inside countIf.
    const rt = await one<'n' | 'n_status' | 'n_discrete' | 'n_rows' | 'n_numeric'>(
      `SELECT count() AS n, countIf(parameter_id = -1 AND status < 0) AS n_status, countIf(value_discrete != '') AS n_discrete,
        countIf(idx != '') AS n_rows, countIf(parameter_id != -1 AND value_discrete = '' AND isNotNull(value)) AS n_numeric
       FROM ${db}.trend_realtime FINAL`,
    );
    assert.deepEqual(rt, {
      n: live.realtime + live.discrete + live.status + backfill.realtime + backfill.discrete + backfill.status,
      n_status: live.status + backfill.status,
      n_discrete: live.discrete + backfill.discrete,
      n_rows: rt.n_rows,
      n_numeric: live.realtime + backfill.realtime,
    });
    assert.ok(rt.n_rows > 0, 'table rows are trended by index');

    const avg = await one<'w5' | 'w60' | 'w120' | 'n_discrete' | 'n_bad_status'>(
      `SELECT countIf(window_minutes = 5) AS w5, countIf(window_minutes = 60) AS w60, countIf(window_minutes = 120) AS w120,
        countIf(max_discrete != '') AS n_discrete, countIf(status != toInt16(window_minutes)) AS n_bad_status
       FROM ${db}.trend_average FINAL`,
    );
    assert.deepEqual(avg, {
      w5: live.avg5 + backfill.avg5,
      w60: live.avg60 + backfill.avg60,
      w120: live.avg120 + backfill.avg120,
      n_discrete: avg.n_discrete,
      n_bad_status: 0,
    });
    assert.ok(avg.n_discrete > 0, 'discrete averages carry the most frequent value');

    const alarms = await one<'n' | 'n_clears' | 'n_info' | 'n_roots'>(
      `SELECT count() AS n, countIf(alarm_type = 11) AS n_clears, countIf(severity = 13) AS n_info,
        countIf(alarm_id = root_alarm_id AND previous_alarm_id = 0) AS n_roots
       FROM ${db}.alarm_events FINAL`,
    );
    assert.equal(alarms.n, live.alarm + live.info + backfill.alarm + backfill.info);
    assert.equal(alarms.n_info, live.info + backfill.info);
    assert.ok(alarms.n_clears > 0 && alarms.n_roots > alarms.n_info, JSON.stringify(alarms));

    const rows = await one<'n' | 'n_deleted' | 'n_saved'>(
      `SELECT count() AS n, countIf(deleted = 1) AS n_deleted, countIf(primary_key = '') AS n_saved FROM ${db}.element_rows FINAL`,
    );
    assert.ok(rows.n_deleted > 0 && rows.n_saved > 0 && rows.n > rows.n_deleted + rows.n_saved, JSON.stringify(rows));
  });

  it('refuses bad arguments with a clear message', async () => {
    for (const [args, message] of [
      [['--rate', 'fast'], /--rate must be a positive number, got fast/],
      [['--backfill-days', '1', '--backfill-end', 'yesterday'], /--backfill-end must be an ISO date-time, got yesterday/],
      [['--parameters', '1000'], /--parameters must be a whole number up to 999, got 1000/],
    ] as const) {
      await assert.rejects(
        promisify(execFile)(process.execPath, ['--import', 'tsx', 'ingest/writer/cli.ts', ...args]),
        (err: { stderr: string; code: number }) => {
          assert.equal(err.code, 2);
          assert.match(err.stderr, message);
          return true;
        },
      );
    }
  });
});
