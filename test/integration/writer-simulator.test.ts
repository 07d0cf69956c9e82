/** The fleet simulator CLI against the real broker: what it reports is what Kafka holds. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import type { Topics } from '../../ingest/kafka/topics.ts';
import { createTestTopics, deleteTestTopics, readAllRecords, testKafka } from '../support/services.ts';

describe('fleet simulator (ingest/writer/cli.ts)', () => {
  const kafka = testKafka();
  let topics: Topics | undefined;
  const spoolDir = mkdtempSync(join(tmpdir(), 'staas-sim-spool-'));
  after(async () => {
    if (topics) await deleteTestTopics(kafka, topics);
    rmSync(spoolDir, { recursive: true, force: true });
  });

  it('writes agents x elements x parameters at the target rate and reports exactly what it wrote', async () => {
    topics = await createTestTopics(kafka, 3);
    const prefix = topics.trend.replace(/\.trend$/, '');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        'ingest/writer/cli.ts',
        '--agents',
        '2',
        '--elements',
        '5',
        '--parameters',
        '3',
        '--rate',
        '4000',
        '--duration',
        '2',
        '--alarm-share',
        '0.01',
        '--row-share',
        '0.05',
      ],
      { env: { ...process.env, STAAS_TOPIC_PREFIX: prefix, STAAS_WRITER_SPOOL_DIR: spoolDir } },
    );
    const m =
      /simulate: (\d+) records in [\d.]+ s \((\d+) rec\/s; target 4000\): (\d+) trend points, (\d+) alarm events, (\d+) element rows; 30 series; errors 0/.exec(
        stdout,
      );
    assert.ok(m, stdout);
    const [, total, rate, trends, alarms, rows] = m.map<number>(Number);
    assert.ok(total! >= 7000 && total! <= 8100, `about 8000 records, got ${total}`);
    assert.ok(rate! > 3000, `rate ${rate}`);
    assert.equal((await readAllRecords(kafka, topics.trend)).length, trends);
    assert.equal((await readAllRecords(kafka, topics.alarm)).length, alarms);
    assert.equal((await readAllRecords(kafka, topics.element)).length, rows);
    assert.ok(alarms! > 0 && rows! > 0);
  });

  it('refuses bad arguments with a clear message', async () => {
    await assert.rejects(
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'ingest/writer/cli.ts', '--rate', 'fast']),
      (err: { stderr: string; code: number }) => {
        assert.equal(err.code, 2);
        assert.match(err.stderr, /--rate must be a positive number, got fast/);
        return true;
      },
    );
  });
});
