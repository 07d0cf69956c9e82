/**
 * The disk spool: an append-only log of sealed batches (one Kafka message each) for when Kafka
 * cannot take them. Segment files hold checksummed entries; a cursor file remembers how far the
 * drain got. FIFO: entries are read back in the order they were written, which keeps each
 * partition's (so each element's) order.
 *
 * Durability: `append` writes to the OS (survives a killed process); `sync` makes every entry
 * appended before the call durable (survives a machine crash), in this order: fdatasync of the
 * active segment, and only when it succeeded the entries count as durable (a failed or
 * overlapping sync never marks later appends durable, so the next `sync` syncs again); a new
 * segment's directory entry is fsynced when it is created, before anything in it can be
 * reported durable; a closed segment is fdatasynced before the next one takes appends; the
 * drain cursor is written to a temporary file, fdatasynced, renamed over the old one and the
 * directory fsynced (POSIX: a rename is durable only once its directory is). The Writer syncs on
 * flush(), on close() and every `fsyncIntervalMs`.
 *
 * Write faults (ENOSPC, EFBIG, EIO): `append` writes at its own position (never in append mode,
 * which ignores positions) and, when a write fails part-way, cuts the stray bytes off and throws
 * with the spool unchanged, so the caller still holds the entry and a later append lands right
 * after the last whole entry.
 *
 * Damage: a segment left by an earlier process is read up to its last intact entry; a torn or
 * corrupted tail (or a bad entry in the middle) is logged, counted and skipped, and the valid
 * prefix is still delivered. New appends always go to a new segment.
 */
import {
  closeSync,
  existsSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import type { RecordType } from '../../schemas/records.ts';
import type { SealedBatch } from './sealed-batch.ts';

/** The syncing calls of the spool, replaceable so that tests can fail or delay them. */
export interface SpoolIo {
  /** fdatasync(2) of an open file. */
  fdatasync(fd: number): Promise<void>;
  fdatasyncSync(fd: number): void;
  /** fsync(2) of a directory: makes a created, renamed or removed name in it durable. */
  fsyncDir(dir: string): void;
}

const NODE_IO: SpoolIo = {
  fdatasync: promisify(fdatasync),
  fdatasyncSync,
  fsyncDir(dir) {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  },
};

const MAGIC = 0x31535453; // "STS1" little-endian
const HEADER = 12; // magic, payload length, crc32 of payload
const TYPE_CODES: RecordType[] = ['trend', 'alarm', 'element'];
/** An entry larger than this is damage, not data (Kafka messages here are at most 16 MiB). */
const MAX_PAYLOAD = 64 * 1024 * 1024;

/** A spooled entry is a sealed batch: one future Kafka message. */
export type SpoolEntry = SealedBatch;

export interface SpoolDamage {
  segment: string;
  offset: number;
  skippedBytes: number;
  reason: string;
}

export interface SpoolOptions {
  segmentBytes: number;
  onDamage?: (damage: SpoolDamage) => void;
  io?: SpoolIo;
}

interface Segment {
  id: number;
  path: string;
  /** Bytes of intact entries (for the active segment: bytes written so far). */
  size: number;
}

function encodeEntry(e: SpoolEntry): Buffer {
  const topic = Buffer.from(e.topic);
  const key = Buffer.from(e.key);
  const payloadLength = 1 + 2 + topic.length + 4 + 2 + key.length + 4 + e.value.length;
  const buf = Buffer.allocUnsafe(HEADER + payloadLength);
  let p = HEADER;
  p = buf.writeUInt8(TYPE_CODES.indexOf(e.type), p);
  p = buf.writeUInt16LE(topic.length, p);
  p += topic.copy(buf, p);
  p = buf.writeInt32LE(e.partition, p);
  p = buf.writeUInt16LE(key.length, p);
  p += key.copy(buf, p);
  p = buf.writeUInt32LE(e.count, p);
  e.value.copy(buf, p);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt32LE(payloadLength, 4);
  buf.writeUInt32LE(crc32(buf.subarray(HEADER)), 8);
  return buf;
}

function decodePayload(payload: Buffer): SpoolEntry {
  let p = 0;
  const type = TYPE_CODES[payload.readUInt8(p)];
  p += 1;
  if (type === undefined) throw new Error('unknown record type code');
  const topicLength = payload.readUInt16LE(p);
  p += 2;
  const topic = payload.toString('utf8', p, p + topicLength);
  p += topicLength;
  const partition = payload.readInt32LE(p);
  p += 4;
  const keyLength = payload.readUInt16LE(p);
  p += 2;
  const key = payload.toString('utf8', p, p + keyLength);
  p += keyLength;
  const count = payload.readUInt32LE(p);
  p += 4;
  if (p > payload.length) throw new Error('entry fields run past the payload');
  return { type, topic, partition, key, count, value: payload.subarray(p) };
}

/** Reads the entry at `offset` of an open file; undefined at a clean end, a string on damage. */
function readEntryAt(fd: number, offset: number, limit: number): { entry: SpoolEntry; next: number } | undefined | string {
  if (offset === limit) return undefined;
  if (limit - offset < HEADER) return `torn header (${limit - offset} bytes)`;
  const header = Buffer.allocUnsafe(HEADER);
  readSync(fd, header, 0, HEADER, offset);
  if (header.readUInt32LE(0) !== MAGIC) return 'bad magic';
  const length = header.readUInt32LE(4);
  if (length > MAX_PAYLOAD) return `implausible entry length ${length}`;
  if (offset + HEADER + length > limit) return `torn entry (${length} bytes announced, ${limit - offset - HEADER} present)`;
  const payload = Buffer.allocUnsafe(length);
  readSync(fd, payload, 0, length, offset + HEADER);
  if (crc32(payload) !== header.readUInt32LE(8)) return 'checksum mismatch';
  try {
    return { entry: decodePayload(payload), next: offset + HEADER + length };
  } catch (err) {
    return `malformed entry: ${(err as Error).message}`;
  }
}

export class Spool {
  private readonly segments: Segment[] = [];
  private active: Segment;
  private activeFd: number;
  private readonly io: SpoolIo;
  /** Entries appended so far, and how many of them are known durable (synced). */
  private appended = 0;
  private durable = 0;
  /** The cursor moved since it was last written durably. */
  private cursorDirty = false;
  /** A segment whose fdatasync failed, and the error: see `sync`. */
  private failedSync: { segment: number; err: unknown } | undefined;
  private readFd: number | undefined;
  private readSegmentId = -1;
  private cursorOffset: number;
  private peeked: { entry: SpoolEntry; next: number } | undefined;
  private pendingBytes = 0;

  private constructor(
    private readonly dir: string,
    private readonly opts: SpoolOptions,
  ) {
    this.io = opts.io ?? NODE_IO;
    mkdirSync(dir, { recursive: true });
    const cursor = this.readCursor();
    const ids = readdirSync(dir)
      .map((f) => /^(\d{20})\.seg$/.exec(f)?.[1])
      .filter((id): id is string => id !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    for (const id of ids) {
      const path = this.segmentPath(id);
      if (id < cursor.segment) {
        rmSync(path, { force: true }); // fully drained before a crash
        continue;
      }
      const start = id === cursor.segment ? cursor.offset : 0;
      const seg = this.recover(id, path, start);
      if (seg !== undefined) this.segments.push(seg);
    }
    this.cursorOffset = this.segments[0]?.id === cursor.segment ? cursor.offset : 0;
    // Appends never extend a segment from an earlier process: its tail may be torn.
    const nextId = Math.max(cursor.segment, ...ids, 0) + 1;
    this.active = { id: nextId, path: this.segmentPath(nextId), size: 0 };
    this.activeFd = this.createSegment(this.active.path);
    this.segments.push(this.active);
    for (const s of this.segments) this.pendingBytes += s.size;
    this.pendingBytes -= this.cursorOffset;
  }

  static open(dir: string, opts: SpoolOptions): Spool {
    return new Spool(dir, opts);
  }

  /** Bytes of entries not yet drained. */
  get bytes(): number {
    return this.pendingBytes;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  get isEmpty(): boolean {
    return this.pendingBytes === 0;
  }

  /**
   * Appends an entry (to the OS: durable after the next `sync`). Throws the write's error
   * (ENOSPC, EFBIG, …) with the spool unchanged: the entry is not in it.
   */
  append(entry: SpoolEntry): void {
    const buf = encodeEntry(entry);
    if (this.active.size > 0 && this.active.size + buf.length > this.opts.segmentBytes) this.rotate();
    let written = 0;
    try {
      while (written < buf.length) written += writeSync(this.activeFd, buf, written, buf.length - written, this.active.size + written);
    } catch (err) {
      if (written > 0) {
        try {
          ftruncateSync(this.activeFd, this.active.size);
        } catch {
          /* the next append overwrites the stray bytes at this position anyway */
        }
      }
      throw err;
    }
    this.active.size += buf.length;
    this.pendingBytes += buf.length;
    this.appended++;
  }

  /** Whether entries were appended (or the cursor moved) since the last successful `sync`. */
  get unsynced(): boolean {
    return this.durable < this.appended || this.cursorDirty;
  }

  /**
   * Makes every entry appended before the call, and the drain cursor, durable. Rejects with the
   * fdatasync error (nothing is then marked durable: the next call tries again).
   */
  async sync(): Promise<void> {
    // After a failed fdatasync Linux may drop the dirty pages and report success next time
    // ("fsyncgate"): entries of a segment whose sync failed never count as durable; sync keeps
    // rejecting until the drain has sent that segment to Kafka and removed it.
    const failed = this.failedSync;
    if (failed !== undefined) {
      if (this.segments.some((seg) => seg.id === failed.segment)) throw failed.err;
      this.failedSync = undefined;
    }
    const target = this.appended;
    if (this.durable < target) {
      const segment = this.active;
      try {
        await this.io.fdatasync(this.activeFd);
      } catch (err) {
        // A rotation meanwhile synced and closed that segment (its descriptor is gone).
        if (!(this.active !== segment && this.durable >= target)) {
          this.failedSync = { segment: segment.id, err };
          throw err;
        }
      }
      this.durable = Math.max(this.durable, target);
    }
    if (this.cursorDirty) {
      this.cursorDirty = false;
      try {
        this.writeCursor(true);
      } catch (err) {
        this.cursorDirty = true;
        throw err;
      }
    }
  }

  /** The oldest entry not yet drained, without consuming it. */
  peek(): SpoolEntry | undefined {
    if (this.peeked !== undefined) return this.peeked.entry;
    for (;;) {
      const seg = this.segments[0];
      if (seg === undefined) return undefined;
      if (this.readSegmentId !== seg.id) {
        if (this.readFd !== undefined && this.readFd !== this.activeFd) closeSync(this.readFd);
        this.readFd = seg === this.active ? this.activeFd : openSync(seg.path, 'r');
        this.readSegmentId = seg.id;
      }
      const r = readEntryAt(this.readFd!, this.cursorOffset, seg.size);
      if (typeof r === 'object') {
        this.peeked = r;
        return r.entry;
      }
      if (typeof r === 'string') {
        // Recovery bounded closed segments at their last intact entry, so this is new damage.
        this.opts.onDamage?.({ segment: seg.path, offset: this.cursorOffset, skippedBytes: seg.size - this.cursorOffset, reason: r });
        this.pendingBytes -= seg.size - this.cursorOffset;
        this.cursorOffset = seg.size;
      }
      if (seg === this.active) return undefined; // caught up with the writer
      this.dropHeadSegment();
    }
  }

  /** Consumes the entry returned by the last peek (it reached Kafka). */
  advance(): void {
    if (this.peeked === undefined) throw new Error('advance() without peek()');
    this.pendingBytes -= this.peeked.next - this.cursorOffset;
    this.cursorOffset = this.peeked.next;
    this.peeked = undefined;
    const seg = this.segments[0]!;
    if (this.cursorOffset >= seg.size) {
      if (seg === this.active)
        this.rotate(); // start afresh: the drained segment can go
      else this.dropHeadSegment();
    }
    this.writeCursor();
  }

  async close(): Promise<void> {
    await this.sync();
    if (this.readFd !== undefined && this.readFd !== this.activeFd) closeSync(this.readFd);
    closeSync(this.activeFd);
    this.readFd = undefined;
    if (this.active.size === 0 && this.segments.length === 1) {
      rmSync(this.active.path, { force: true });
      this.writeCursor(true);
    }
  }

  /** Starts a new segment; the old one is synced first (throws with nothing changed when that fails). */
  private rotate(): void {
    const old = this.active;
    const id = old.id + 1;
    const next = { id, path: this.segmentPath(id), size: 0 };
    const fd = this.createSegment(next.path);
    try {
      this.io.fdatasyncSync(this.activeFd); // a closed segment is durable before the next one starts
    } catch (err) {
      closeSync(fd);
      rmSync(next.path, { force: true });
      this.failedSync = { segment: old.id, err };
      throw err;
    }
    this.durable = this.appended;
    if (this.readFd === this.activeFd) {
      // Keep reading the old segment through its own descriptor.
      this.readFd = openSync(old.path, 'r');
    }
    closeSync(this.activeFd);
    this.active = next;
    this.activeFd = fd;
    this.segments.push(this.active);
    if (this.segments[0] === old && this.cursorOffset >= old.size) this.dropHeadSegment();
  }

  /** Creates an empty segment for positional writes ('w+': 'a' would ignore the positions) and makes its name durable. */
  private createSegment(path: string): number {
    const fd = openSync(path, 'w+');
    try {
      this.io.fsyncDir(this.dir);
    } catch (err) {
      closeSync(fd);
      rmSync(path, { force: true });
      throw err;
    }
    return fd;
  }

  private dropHeadSegment(): void {
    const seg = this.segments.shift()!;
    if (this.readSegmentId === seg.id) {
      if (this.readFd !== undefined && this.readFd !== this.activeFd) closeSync(this.readFd);
      this.readFd = undefined;
      this.readSegmentId = -1;
    }
    this.cursorOffset = 0;
    this.writeCursor(); // first past the segment, then remove it: a crash in between leaves a drained file, never a cursor into nothing
    rmSync(seg.path, { force: true });
  }

  /** Finds the intact length of a segment left by an earlier process, reporting damage and cutting it off. */
  private recover(id: number, path: string, start: number): Segment | undefined {
    const fd = openSync(path, 'r+');
    try {
      const size = fstatSync(fd).size;
      let offset = start;
      for (;;) {
        const r = readEntryAt(fd, offset, size);
        if (r === undefined) break;
        if (typeof r === 'string') {
          this.opts.onDamage?.({ segment: path, offset, skippedBytes: size - offset, reason: r });
          ftruncateSync(fd, offset); // the damaged tail is gone for good: no later reader trips on it
          break;
        }
        offset = r.next;
      }
      if (offset === start) {
        rmSync(path, { force: true });
        return undefined;
      }
      return { id, path, size: offset };
    } finally {
      closeSync(fd);
    }
  }

  private segmentPath(id: number): string {
    return join(this.dir, `${String(id).padStart(20, '0')}.seg`);
  }

  private readCursor(): { segment: number; offset: number } {
    const path = join(this.dir, 'cursor.json');
    if (!existsSync(path)) return { segment: 0, offset: 0 };
    try {
      const c = JSON.parse(readFileSync(path, 'utf8')) as { segment?: unknown; offset?: unknown };
      if (Number.isSafeInteger(c.segment) && Number.isSafeInteger(c.offset))
        return { segment: c.segment as number, offset: c.offset as number };
    } catch {
      /* fall through: an unreadable cursor replays from the oldest segment (duplicates, never loss) */
    }
    this.opts.onDamage?.({
      segment: path,
      offset: 0,
      skippedBytes: statSync(path).size,
      reason: 'unreadable cursor: replaying all segments',
    });
    return { segment: 0, offset: 0 };
  }

  /**
   * Records how far the drain got: write a temporary file, rename it over the cursor. `durable`:
   * also fdatasync the file before the rename and fsync the directory after it (done by `sync`,
   * not per drained entry: a cursor lost in a crash replays entries, duplicates that storage
   * collapses, never a loss).
   */
  private writeCursor(durable = false): void {
    const path = join(this.dir, 'cursor.json');
    const seg = this.segments[0];
    const fd = openSync(`${path}.tmp`, 'w');
    try {
      writeSync(fd, JSON.stringify({ segment: seg?.id ?? this.active.id, offset: seg === undefined ? 0 : this.cursorOffset }));
      if (durable) this.io.fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(`${path}.tmp`, path);
    if (durable) this.io.fsyncDir(this.dir);
    else this.cursorDirty = true;
  }
}
