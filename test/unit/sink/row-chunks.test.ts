/** A table batch's own row memory (ingest/sink/row-chunks.ts): exact copies, honest capacity. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RowChunks } from '../../../ingest/sink/row-chunks.ts';

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
    assert.deepEqual([c.length, c.capacity], [50, 64 * 1024], 'one small message: one 64 KiB chunk');
    for (let i = 0; i < 100; i++) c.append(Buffer.alloc(100 * 1024));
    assert.equal(c.length, 50 + 100 * 100 * 1024);
    assert.ok(c.capacity >= c.length && c.capacity - c.length < 1024 * 1024, `capacity ${c.capacity} for ${c.length} bytes`);
  });

  it('keeps 20,000 one-point messages in about their own size (they held 1,250 MiB as 64 KiB views)', () => {
    const c = new RowChunks();
    for (let i = 0; i < 20_000; i++) c.append(Buffer.alloc(37, i % 256));
    assert.equal(c.length, 740_000);
    assert.ok(c.capacity < 2 * 1024 * 1024, `${c.capacity} bytes retained`);
  });
});
