/** ByteText (answer bytes carved from pooled slabs) and SlabPool: what is handed over stays intact until released. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ByteText } from '../../query/http/byte-text.ts';
import { SlabPool } from '../../query/http/slab-pool.ts';

describe('SlabPool', () => {
  it('hands back given slabs, keeps at most maxFree idle, ignores other sizes', () => {
    const pool = new SlabPool(64, 2);
    const a = pool.get();
    const b = pool.get();
    const c = pool.get();
    assert.deepEqual([a.length, b.length, c.length], [64, 64, 64]);
    pool.put([a, b, c, Buffer.alloc(32)]);
    assert.equal(pool.idle, 2);
    const again = [pool.get(), pool.get()];
    assert.ok(again.includes(a) && again.includes(b));
    assert.equal(pool.idle, 0);
    assert.notEqual(pool.get(), c);
  });
});

describe('ByteText', () => {
  it('pieces taken read back exactly what was written, across slabs, until release', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 300 })), { maxLength: 60 }), (parts) => {
        const pool = new SlabPool(128, 4);
        const text = new ByteText(pool);
        const taken: Buffer[] = [];
        const expected: Buffer[] = [];
        parts.forEach((p, n) => {
          if (typeof p === 'string') {
            text.utf8(p);
            expected.push(Buffer.from(p, 'utf8'));
          } else {
            text.bytes(p);
            expected.push(Buffer.from(p));
          }
          if (n % 3 === 0) taken.push(Buffer.from(text.take()));
        });
        taken.push(text.take());
        assert.deepEqual(Buffer.concat(taken), Buffer.concat(expected));
        text.release();
        assert.ok(pool.idle <= 4);
      }),
    );
  });

  it("a released slab is the next answer's: its bytes change, so release must wait for the send", () => {
    const pool = new SlabPool(64, 4);
    const first = new ByteText(pool);
    first.ascii('first answer');
    const piece = first.take();
    first.release();
    const second = new ByteText(pool);
    second.ascii('SECOND ANSWR');
    assert.equal(piece.toString('latin1'), 'SECOND ANSWR');
  });

  it('a piece longer than a slab gets a buffer of its own, not returned to the pool', () => {
    const pool = new SlabPool(16, 4);
    const text = new ByteText(pool);
    text.ascii('x'.repeat(40));
    assert.equal(text.take().toString('latin1'), 'x'.repeat(40));
    text.release();
    assert.equal(pool.idle, 1);
  });
});
