/** Splitting RowBinary bodies by shard (storage/shard-split.ts) and the cluster DDL (storage/cluster-schema.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { alarmEncoder, elementRowEncoder, encodeForTables, realtimeEncoder } from '../../ingest/sink/encoders.ts';
import { DISTRIBUTED_TABLES, distributedStatement, localDatabase, replicatedStatement } from '../../storage/cluster-schema.ts';
import { ddl } from '../../storage/schema.ts';
import { splitByShard } from '../../storage/shard-split.ts';
import { alarmEvent, elementRow, trendPoint } from '../support/records.ts';

/** The RowBinary body of `records` for one table, row by row (each row encoded alone). */
function rowsOf(type: 'trend' | 'alarm' | 'element', records: readonly unknown[], table: string): Buffer[] {
  return records.map((r) => encodeForTables(type, [r]).find((t) => t.encoder.table === table)!.body);
}

describe('splitByShard', () => {
  const cases = [
    { type: 'trend', encoder: realtimeEncoder, records: Array.from({ length: 40 }, (_v, i) => trendPoint(i, { dmsId: (i * 7) % 5 })) },
    { type: 'alarm', encoder: alarmEncoder, records: Array.from({ length: 40 }, (_v, i) => alarmEvent(i, { dmsId: (i * 3) % 4 })) },
    { type: 'element', encoder: elementRowEncoder, records: Array.from({ length: 40 }, (_v, i) => elementRow(i, { dmsId: i % 6 })) },
  ] as const;
  for (const { type, encoder, records } of cases) {
    it(`puts each ${encoder.table} row on shard dms_id mod shards, in order`, () => {
      const rows = rowsOf(type, records, encoder.table);
      for (const shards of [1, 2, 3]) {
        const parts = splitByShard(encoder.table, encoder.columns, Buffer.concat(rows), shards);
        assert.equal(parts.length, shards);
        for (let s = 0; s < shards; s++) {
          const expected = Buffer.concat(rows.filter((_r, i) => (records[i] as { dmsId: number }).dmsId % shards === s));
          assert.deepEqual(parts[s], expected, `${encoder.table}, ${shards} shards, shard ${s}`);
        }
      }
    });
  }

  it('splits a body given as chunks cut anywhere (rows straddling them) as the whole body', () => {
    for (const { type, encoder, records } of cases) {
      const body = Buffer.concat(rowsOf(type, records, encoder.table));
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 0, max: body.length }), { maxLength: 10 }),
          fc.integer({ min: 1, max: 3 }),
          (cutsAt, shards) => {
            const cuts = [...new Set(cutsAt)].sort((a, b) => a - b);
            const chunks = [...cuts, body.length].map((end, i) => body.subarray(i === 0 ? 0 : cuts[i - 1]!, end));
            assert.deepEqual(
              splitByShard(encoder.table, encoder.columns, chunks, shards),
              splitByShard(encoder.table, encoder.columns, body, shards),
            );
          },
        ),
        { numRuns: 100 },
      );
    }
  });

  it('returns the body itself when every row is on one shard', () => {
    const body = Buffer.concat(rowsOf('trend', [trendPoint(1, { dmsId: 4 }), trendPoint(2, { dmsId: 6 })], 'trend_realtime'));
    const parts = splitByShard('trend_realtime', realtimeEncoder.columns, body, 2);
    assert.equal(parts[0], body);
    assert.equal(parts[1]!.length, 0);
  });

  it('refuses a body that is not whole rows', () => {
    const body = Buffer.concat(rowsOf('trend', [trendPoint(1), trendPoint(2)], 'trend_realtime'));
    assert.throws(() => splitByShard('trend_realtime', realtimeEncoder.columns, body.subarray(0, body.length - 3), 2), RangeError);
  });
});

describe('cluster DDL', () => {
  it('makes every table ReplicatedReplacingMergeTree with a per-shard ZooKeeper path, keeping the version column', () => {
    const local = localDatabase('staas');
    const { alarm_active_mv: _view, ...tables } = ddl(local);
    for (const [table, statement] of Object.entries(tables)) {
      const out = replicatedStatement(local, table, statement);
      const version = /ReplacingMergeTree\((\w*)\)/.exec(statement)![1];
      assert.ok(
        out.includes(
          `ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/staas_shard/${table}', '{replica}'${version ? `, ${version}` : ''})`,
        ),
        out,
      );
      assert.equal(out.replace(/ENGINE = .*\)\n/, ''), statement.replace(/ENGINE = .*\)\n/, ''), 'only the engine changes');
    }
    assert.throws(
      () => replicatedStatement(local, 'x', 'CREATE TABLE x (a Int32) ENGINE = MergeTree() ORDER BY a'),
      /no ReplacingMergeTree/,
    );
  });

  it('puts a Distributed table of the same name over each local table, sharded by the DMS id', () => {
    // Every table but the view, the late-write markers included (read through it; written per shard).
    const { alarm_active_mv: _view, ...tables } = ddl('staas');
    assert.deepEqual([...DISTRIBUTED_TABLES].sort(), Object.keys(tables).sort());
    assert.ok(DISTRIBUTED_TABLES.includes('trend_late_writes'));
    assert.equal(
      distributedStatement('staas', 'staas', 'trend_realtime').replace(/\s+/g, ' '),
      'CREATE TABLE IF NOT EXISTS staas.trend_realtime AS staas_shard.trend_realtime ENGINE = Distributed(staas, staas_shard, trend_realtime, dms_id)',
    );
  });
});
