import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { Spool, type SpoolDamage, type SpoolEntry } from '../../ingest/writer/spool.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'staas-spool-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function entry(i: number, size = 100): SpoolEntry {
  return { type: 'trend', topic: 'staas.trend', partition: i % 3, key: `7:1/${i}`, count: i + 1, value: Buffer.alloc(size, i % 256) };
}

function drain(spool: Spool, limit = Infinity): SpoolEntry[] {
  const out: SpoolEntry[] = [];
  for (let e = spool.peek(); e !== undefined && out.length < limit; e = spool.peek()) {
    out.push(e);
    spool.advance();
  }
  return out;
}

const segments = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.seg'))
    .sort();

describe('disk spool', () => {
  it('gives entries back in order, across segment rotations, and deletes drained segments', async () => {
    const dir = tempDir();
    const spool = Spool.open(dir, { segmentBytes: 1000 });
    for (let i = 0; i < 50; i++) spool.append(entry(i));
    assert.ok(spool.segmentCount > 5);
    assert.ok(spool.bytes > 5000);
    const got = drain(spool);
    assert.deepEqual(
      got.map((e) => e.count),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.deepEqual(got[7], entry(7));
    assert.equal(spool.bytes, 0);
    assert.ok(spool.isEmpty);
    assert.ok(segments(dir).length <= 1);
    await spool.close();
  });

  it('continues after a restart from where the drain stopped', async () => {
    const dir = tempDir();
    let spool = Spool.open(dir, { segmentBytes: 1000 });
    for (let i = 0; i < 30; i++) spool.append(entry(i));
    drain(spool, 12);
    await spool.close();
    spool = Spool.open(dir, { segmentBytes: 1000 });
    spool.append(entry(30));
    assert.deepEqual(
      drain(spool).map((e) => e.count),
      Array.from({ length: 19 }, (_, i) => i + 13),
    );
    await spool.close();
  });

  it('delivers the valid prefix of a segment with a torn tail, and reports the damage', async () => {
    const dir = tempDir();
    let spool = Spool.open(dir, { segmentBytes: 1 << 20 });
    for (let i = 0; i < 10; i++) spool.append(entry(i));
    await spool.close();
    const [seg] = segments(dir);
    const path = join(dir, seg!);
    truncateSync(path, statSync(path).size - 37); // a write cut short by a crash
    const damage: SpoolDamage[] = [];
    spool = Spool.open(dir, { segmentBytes: 1 << 20, onDamage: (d) => damage.push(d) });
    assert.deepEqual(
      drain(spool).map((e) => e.count),
      Array.from({ length: 9 }, (_, i) => i + 1),
    );
    assert.equal(damage.length, 1);
    assert.match(damage[0]!.reason, /torn entry/);
    assert.ok(damage[0]!.skippedBytes > 0);
    await spool.close();
  });

  it('detects a corrupted entry by its checksum and keeps what precedes it', async () => {
    const dir = tempDir();
    let spool = Spool.open(dir, { segmentBytes: 1 << 20 });
    for (let i = 0; i < 10; i++) spool.append(entry(i));
    await spool.close();
    const path = join(dir, segments(dir)[0]!);
    const entrySize = statSync(path).size / 10;
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.from([0xde, 0xad]), 0, 2, entrySize * 6 + 50); // inside entry 6's value
    closeSync(fd);
    const damage: SpoolDamage[] = [];
    spool = Spool.open(dir, { segmentBytes: 1 << 20, onDamage: (d) => damage.push(d) });
    assert.deepEqual(
      drain(spool).map((e) => e.count),
      [1, 2, 3, 4, 5, 6],
    );
    assert.equal(damage[0]?.reason, 'checksum mismatch');
    assert.equal(damage[0]?.offset, entrySize * 6);
    await spool.close();
  });

  it('survives garbage files and an unreadable cursor by replaying (duplicates, never loss)', async () => {
    const dir = tempDir();
    let spool = Spool.open(dir, { segmentBytes: 1 << 20 });
    for (let i = 0; i < 3; i++) spool.append(entry(i));
    drain(spool, 1);
    await spool.close();
    writeFileSync(join(dir, 'cursor.json'), '{not json');
    const damage: SpoolDamage[] = [];
    spool = Spool.open(dir, { segmentBytes: 1 << 20, onDamage: (d) => damage.push(d) });
    assert.ok(drain(spool).length >= 2);
    assert.match(damage[0]!.reason, /unreadable cursor/);
    await spool.close();
  });
});
