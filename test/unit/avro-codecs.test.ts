/**
 * Avro container codecs snappy and zstandard, read from files written by fastavro (the reference
 * Python implementation; test/fixtures/avro/generate.py), beside its null and deflate files.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { describe, it } from 'node:test';
import { compress } from 'snappyjs';
import { MAX_BLOCK_BYTES, decodeBlock } from '../../schemas/codecs.ts';
import { decodeBatch } from '../../schemas/container.ts';
import { AvroDecodeError } from '../../schemas/errors.ts';
import { RECORD_TYPES } from '../../schemas/records.ts';

const FIXTURES = new URL('../fixtures/avro/', import.meta.url);
const EXPECTED = JSON.parse(readFileSync(new URL('records.json', FIXTURES), 'utf8')) as Record<string, unknown[]>;
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

function snappyBlock(data: Buffer): Buffer {
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data));
  return Buffer.concat([compress(data), crc]);
}

/** The compressed bytes of a container file's first block (after the header's sync marker: count, size, bytes). */
function firstBlock(file: Buffer): Buffer {
  const marker = file.subarray(file.length - 16);
  let pos = file.indexOf(marker) + 16;
  const varint = () => {
    let n = 0;
    let shift = 0;
    for (;;) {
      const b = file[pos++]!;
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
      shift += 7;
    }
  };
  varint(); // record count
  const size = varint();
  return file.subarray(pos, pos + size);
}

function failure(fn: () => unknown): AvroDecodeError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AvroDecodeError, String(err));
    return err;
  }
  assert.fail('no error');
}

describe('Avro container codecs (files written by fastavro)', () => {
  for (const type of RECORD_TYPES) {
    for (const codec of ['null', 'deflate', 'snappy', 'zstandard']) {
      it(`reads ${type} records of a ${codec} container of several blocks`, () => {
        const file = readFileSync(new URL(`${type}-${codec}.avro`, FIXTURES));
        const out = decodeBatch(file, EXPECTED[type]!.length);
        assert.equal(out.type, type);
        assert.deepEqual(plain(out.records), EXPECTED[type]);
      });
    }
  }

  it('checks the CRC32 that follows each snappy block', () => {
    const data = Buffer.from('staas '.repeat(100));
    assert.deepEqual(decodeBlock('snappy', snappyBlock(data)), data);
    const bad = snappyBlock(data);
    bad[bad.length - 1]! ^= 1;
    assert.match(failure(() => decodeBlock('snappy', bad)).message, /^corrupt: snappy: CRC32/);
    // In a file, the first block's CRC ends where its sync marker starts (the marker's second occurrence).
    const file = Buffer.from(readFileSync(new URL('trend-snappy.avro', FIXTURES)));
    const marker = file.subarray(file.length - 16);
    file[file.indexOf(marker, file.indexOf(marker) + 16) - 1]! ^= 0xff;
    assert.match(failure(() => decodeBatch(file)).message, /^corrupt: snappy: CRC32/);
  });

  it('bounds the decompressed size before or while allocating', () => {
    const big = Buffer.alloc(2 * 1024 * 1024);
    assert.match(failure(() => decodeBlock('snappy', snappyBlock(big), 1024 * 1024)).message, /too big/);
    const block = firstBlock(readFileSync(new URL('trend-zstandard.avro', FIXTURES)));
    assert.ok(decodeBlock('zstandard', block).length > 100);
    assert.match(failure(() => decodeBlock('zstandard', block, 100)).message, /more than 100 bytes/);
    assert.match(failure(() => decodeBlock('zstandard', block.subarray(0, block.length - 5))).message, /^corrupt: zstandard/);
    assert.ok(MAX_BLOCK_BYTES >= 16 * 1024 * 1024);
  });

  it('refuses codecs it does not know, and garbage in known ones, with a reason', () => {
    assert.equal(failure(() => decodeBlock('bzip2', Buffer.from('x'))).failure, 'unsupported-codec');
    assert.equal(failure(() => decodeBlock('zstandard', Buffer.from('not zstd at all'))).failure, 'corrupt');
    assert.equal(failure(() => decodeBlock('snappy', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3, 4]))).failure, 'corrupt');
  });
});
