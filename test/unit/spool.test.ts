import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { Spool, type SpoolDamage, type SpoolEntry, type SpoolIo } from '../../ingest/writer/spool.ts';

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

  /** Syncing calls that record their order and can be held or failed. */
  function recordingIo(dir: string) {
    const calls: string[] = [];
    let hold: { resolve: () => void; reject: (e: Error) => void } | undefined;
    let holdNext = false;
    const io: SpoolIo = {
      fdatasync: () => {
        calls.push('fdatasync');
        if (!holdNext) return Promise.resolve();
        holdNext = false;
        return new Promise<void>((resolve, reject) => (hold = { resolve, reject }));
      },
      fdatasyncSync: () => {
        // The cursor is synced as the temporary file, before it replaces the old one.
        calls.push(existsSync(join(dir, 'cursor.json.tmp')) ? 'fdatasyncSync(cursor.tmp)' : 'fdatasyncSync');
      },
      fsyncDir: () => {
        calls.push(existsSync(join(dir, 'cursor.json.tmp')) ? 'fsyncDir(before rename)' : 'fsyncDir');
      },
    };
    return {
      io,
      calls,
      holdNextSync: () => (holdNext = true),
      release: () => hold!.resolve(),
      fail: (e: Error) => hold!.reject(e),
    };
  }

  it('counts entries durable only once their fdatasync succeeded; a failed sync is tried again', async () => {
    const dir = tempDir();
    const r = recordingIo(dir);
    const spool = Spool.open(dir, { segmentBytes: 1 << 20, io: r.io });
    assert.deepEqual(r.calls, ['fsyncDir'], "the new segment's name is made durable when it is created");
    spool.append(entry(1));
    assert.ok(spool.unsynced);

    // sync() settles only after the fdatasync does.
    r.holdNextSync();
    let settled = false;
    const first = spool.sync().then(() => (settled = true));
    await new Promise((res) => setImmediate(res));
    assert.equal(settled, false);
    spool.append(entry(2)); // appended while that sync runs: not covered by it
    r.release();
    await first;
    assert.ok(spool.unsynced, 'an append during a sync stays unsynced');

    await spool.sync();
    assert.ok(!spool.unsynced);
    const before = r.calls.filter((c) => c === 'fdatasync').length;
    await spool.sync();
    assert.equal(r.calls.filter((c) => c === 'fdatasync').length, before, 'nothing new: no fdatasync');

    // A failing fdatasync rejects and marks nothing durable, and keeps rejecting (Linux may drop
    // the pages and succeed next time) until the drain has sent that segment away.
    spool.append(entry(3));
    r.holdNextSync();
    const failing = spool.sync();
    r.fail(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    await assert.rejects(failing, /EIO/);
    assert.ok(spool.unsynced);
    await assert.rejects(spool.sync(), /EIO/, 'a later sync does not claim what the failed one lost');
    assert.equal(drain(spool).length, 3);
    await spool.sync(); // the suspect segment is in Kafka now: durable again
    assert.ok(!spool.unsynced);
    await spool.close();
  });

  it('syncs a segment before the next one takes appends, and writes the cursor durably: sync the file, rename, sync the directory', async () => {
    const dir = tempDir();
    const r = recordingIo(dir);
    const spool = Spool.open(dir, { segmentBytes: 64 * 1024, io: r.io });
    r.calls.length = 0;
    for (let i = 0; i < 10; i++) spool.append(entry(i, 10_000)); // rotates once (64 KiB segments)
    assert.deepEqual(r.calls, ['fsyncDir', 'fdatasyncSync']);
    drain(spool, 3);
    r.calls.length = 0;
    await spool.sync();
    assert.deepEqual(r.calls, ['fdatasync', 'fdatasyncSync(cursor.tmp)', 'fsyncDir']);
    assert.ok(!spool.unsynced);
    await spool.close();
  });

  it('keeps what it had when the file system refuses an append (EFBIG under ulimit -f), and goes on when space returns', async () => {
    const dir = tempDir();
    const script = join(import.meta.dirname, '../support/spool-fill.ts');
    // 200 KiB per file: a segment holds ~20 entries before the limit; `ulimit -S` leaves SIGXFSZ ignored by Node.
    const { stdout } = await promisify(execFile)('bash', ['-c', `ulimit -S -f 200 && exec node --import tsx "${script}" "${dir}"`], {
      cwd: join(import.meta.dirname, '../..'),
    });
    const child = JSON.parse(stdout.trim().split('\n').at(-1)!) as { appended: number; errors: string[]; bytes: number };
    assert.deepEqual(child.errors, ['EFBIG', 'EFBIG'], stdout);
    assert.ok(child.appended > 5, stdout);

    // Every entry the child appended comes back, nothing else; no damage (the stray bytes were cut off).
    const damage: SpoolDamage[] = [];
    const spool = Spool.open(dir, { segmentBytes: 1 << 20, onDamage: (d) => damage.push(d) });
    assert.equal(spool.bytes, child.bytes);
    spool.append({ ...entry(9999, 10_000), key: 'after' });
    const got = drain(spool);
    assert.deepEqual(damage, []);
    assert.equal(got.length, child.appended + 1);
    got.slice(0, -1).forEach((e, i) => assert.equal(e.key, `1:1/${i}`));
    assert.equal(got.at(-1)!.key, 'after');
    await spool.close();
  });

  it('cuts a torn tail off when it opens a segment, so no later reader meets it', async () => {
    const dir = tempDir();
    const spool = Spool.open(dir, { segmentBytes: 1 << 20 });
    for (let i = 0; i < 3; i++) spool.append(entry(i));
    await spool.close();
    const seg = readdirSync(dir).find((f) => f.endsWith('.seg'))!;
    const whole = statSync(join(dir, seg)).size;
    const fd = openSync(join(dir, seg), 'a');
    writeSync(fd, Buffer.from('torn bytes of a half-written entry'));
    closeSync(fd);
    const damage: SpoolDamage[] = [];
    const again = Spool.open(dir, { segmentBytes: 1 << 20, onDamage: (d) => damage.push(d) });
    assert.equal(damage.length, 1);
    assert.equal(statSync(join(dir, seg)).size, whole);
    assert.deepEqual(
      drain(again).map((e) => e.key),
      ['7:1/0', '7:1/1', '7:1/2'],
    );
    await again.close();
    assert.ok(readFileSync(join(dir, 'cursor.json'), 'utf8').length > 0);
  });
});
