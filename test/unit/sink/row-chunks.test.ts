/** A table batch's own row memory (ingest/sink/row-chunks.ts): exact copies, honest capacity, reused chunks. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { ChunkPool, RowChunks } from '../../../ingest/sink/row-chunks.ts';
import { trendPoint } from '../../support/records.ts';
import { chain, settle, submitTrend } from './steps/chain.ts';

const KiB = 1024;

describe('RowChunks', () => {
  it('holds exactly the bytes appended, in order, across chunk boundaries', () => {
    const c = new RowChunks();
    const parts = Array.from({ length: 500 }, (_, i) => Buffer.alloc(1 + ((i * 7919) % 9000), i % 251));
    for (const p of parts) c.append(p);
    const all = Buffer.concat(parts);
    assert.equal(c.length, all.length);
    assert.ok(Buffer.concat(c.views()).equals(all));
  });

  it('retains what it allocated, growing from 64 KiB to 1 MiB chunks', () => {
    const c = new RowChunks();
    c.append(Buffer.alloc(50));
    assert.deepEqual([c.length, c.capacity], [50, 64 * KiB], 'one small message: one 64 KiB chunk');
    for (let i = 0; i < 100; i++) c.append(Buffer.alloc(100 * KiB));
    assert.equal(c.length, 50 + 100 * 100 * KiB);
    assert.ok(c.capacity >= c.length && c.capacity - c.length < 1024 * KiB, `capacity ${c.capacity} for ${c.length} bytes`);
  });

  it('keeps 20,000 one-point messages in about their own size (they held 1,250 MiB as 64 KiB views)', () => {
    const c = new RowChunks();
    for (let i = 0; i < 20_000; i++) c.append(Buffer.alloc(37, i % 256));
    assert.equal(c.length, 740_000);
    assert.ok(c.capacity < 2 * 1024 * KiB, `${c.capacity} bytes retained`);
  });
});

describe('ChunkPool', () => {
  it("gives a released batch's chunks to the next batch, which holds exactly its own bytes", () => {
    const pool = new ChunkPool(64 * 1024 * KiB);
    try {
      const first = new RowChunks(pool);
      for (let i = 0; i < 40; i++) first.append(Buffer.alloc(100 * KiB, 0xaa));
      const memory = new Set(first.views().map((v) => v.buffer));
      const allocated = first.capacity;
      first.release();
      assert.deepEqual([first.length, first.capacity, first.views().length], [0, 0, 0], 'a released body is empty');
      assert.equal(pool.bytes, allocated, 'every chunk kept');
      const second = new RowChunks(pool);
      const parts = Array.from({ length: 30 }, (_, i) => Buffer.alloc(1 + ((i * 7919) % 200_000), i + 1));
      for (const p of parts) second.append(p);
      assert.ok(Buffer.concat(second.views()).equals(Buffer.concat(parts)), 'no byte of the first batch shows through');
      assert.ok(
        second.views().every((v) => memory.has(v.buffer)),
        'the second batch took the kept chunks',
      );
      assert.equal(pool.bytes, allocated - second.capacity);
    } finally {
      pool.close();
    }
  });

  it('keeps at most maxBytes less the rows held elsewhere', () => {
    let live = 0;
    const pool = new ChunkPool(3 * 1024 * KiB, () => live);
    try {
      const c = new RowChunks(pool);
      for (let i = 0; i < 8; i++) c.append(Buffer.alloc(1024 * KiB));
      c.release();
      assert.equal(pool.bytes, 3 * 1024 * KiB, 'kept up to the bound');
      pool.shrink(pool.bytes);
      live = 2 * 1024 * KiB;
      const d = new RowChunks(pool);
      for (let i = 0; i < 8; i++) d.append(Buffer.alloc(1024 * KiB));
      d.release();
      assert.equal(pool.bytes, 1024 * KiB, 'with 2 MiB held elsewhere, 1 MiB kept');
    } finally {
      pool.close();
    }
  });

  it('lets go of what stays kept through a period, busy or idle', async () => {
    const pool = new ChunkPool(64 * 1024 * KiB, () => 0, 20);
    try {
      const c = new RowChunks(pool);
      for (let i = 0; i < 16; i++) c.append(Buffer.alloc(1024 * KiB));
      c.release();
      const kept = pool.bytes;
      // Busy: a small batch now and then takes and gives back one 64 KiB chunk.
      const deadline = Date.now() + 5000;
      while (pool.bytes > 2 * 1024 * KiB && Date.now() < deadline) {
        const small = new RowChunks(pool);
        small.append(Buffer.alloc(100));
        small.release();
        await sleep(5);
      }
      assert.ok(pool.bytes <= 2 * 1024 * KiB, `${pool.bytes} of ${kept} bytes still kept under light traffic`);
    } finally {
      pool.close();
    }
  });

  it('never hands out a chunk whose insert is still pending', async () => {
    const pool = new ChunkPool(64 * 1024 * KiB);
    try {
      const c = chain({ batchRows: 1, chunkPool: pool });
      c.clickhouse.auto = false;
      submitTrend(c, [trendPoint(1)]);
      await settle();
      assert.equal(c.clickhouse.held.length, 1, 'the first insert waits');
      c.clickhouse.auto = true;
      submitTrend(c, [trendPoint(2)]);
      await settle();
      c.clickhouse.ack('trend_realtime');
      await c.decode.join();
      const bodies = c.clickhouse.stored.map((s) => s.body);
      assert.equal(bodies.length, 2);
      assert.ok(!bodies[0]!.equals(bodies[1]!), 'two different rows stored');
      // The held insert's body, read at its acknowledgement, is the first point's row.
      const alone = chain({ batchRows: 1 });
      submitTrend(alone, [trendPoint(1)]);
      await alone.decode.join();
      assert.ok(bodies[1]!.equals(alone.clickhouse.stored[0]!.body), 'the first batch kept its own bytes while pending');
    } finally {
      pool.close();
    }
  });

  it('gets chunks back from stored batches only: a batch ClickHouse refused is not reused', async () => {
    const pool = new ChunkPool(64 * 1024 * KiB);
    try {
      const c = chain({ batchRows: 1, chunkPool: pool });
      submitTrend(c, [trendPoint(1)]);
      await c.decode.join();
      assert.equal(c.clickhouse.stored.length, 1);
      // Trend rows are sorted into chunks of their own before the insert (ingest/sink/sort-trend-rows.ts):
      // the chunk they came in goes back then, the sorted one once stored.
      assert.equal(pool.bytes, 128 * KiB, 'the stored batch gave both its chunks back');

      c.clickhouse.refuse.add('trend_realtime');
      submitTrend(c, [trendPoint(2)]);
      await c.decode.join();
      assert.equal(c.dlqProducer.sent.length, 1, 'dead-lettered');
      assert.equal(pool.bytes, 64 * KiB, 'the refused batch did not give back the chunk it sent');
    } finally {
      pool.close();
    }
  });
});
