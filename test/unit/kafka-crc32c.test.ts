/**
 * Record-batch checksums in native code (ingest/kafka/crc32c.ts): installed in place of kafkajs'
 * JavaScript CRC-32C, equal to it on any bytes, and what kafkajs writes into a record batch.
 * (The broker checks every batch's checksum: the Writer's integration tests would fail on a wrong one.)
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import '../../ingest/kafka/client.ts';
import { nativeCrc32c, nativeCrc32cInstalled } from '../../ingest/kafka/crc32c.ts';

const require = createRequire(import.meta.url);
const jsCrc32c = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (b: Buffer) => number;

describe('native CRC-32C for kafkajs record batches', () => {
  // First, before anything here loads kafkajs' record batch module: it keeps the function it finds then.
  it("is what kafkajs' own produce request calls to checksum its record batch", async () => {
    const cached = require.cache[require.resolve('kafkajs/src/protocol/recordBatch/crc32C')]!;
    assert.equal(cached.exports, nativeCrc32c);
    let calls = 0;
    cached.exports = (b: Buffer) => (calls++, nativeCrc32c(b));
    try {
      const produce = require('kafkajs/src/protocol/requests/produce') as {
        protocol(o: { version: number }): (r: object) => { request: { encode(): Promise<{ buffer: Buffer }> } };
      };
      const { request } = produce.protocol({ version: 3 })({
        acks: -1,
        timeout: 1000,
        topicData: [
          {
            topic: 't',
            partitions: [{ partition: 0, firstSequence: 0, messages: [{ key: 'k', value: Buffer.alloc(2000, 7), timestamp: 1 }] }],
          },
        ],
      });
      const { buffer } = await request.encode();
      assert.equal(calls, 1);
      assert.ok(buffer.length > 2000);
    } finally {
      cached.exports = nativeCrc32c;
    }
  });

  it('is installed where kafkajs loads its checksum from (fails after a kafkajs upgrade moves it)', () => {
    assert.equal(nativeCrc32cInstalled, true);
    assert.equal(require('kafkajs/src/protocol/recordBatch/crc32C'), nativeCrc32c);
  });

  it('equals kafkajs JavaScript CRC-32C on any bytes, and the standard check value', () => {
    assert.equal(nativeCrc32c(Buffer.from('123456789')), 0xe3069283); // CRC-32C check value (RFC 3720 B.4)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), (bytes) => {
        const b = Buffer.from(bytes);
        assert.equal(nativeCrc32c(b), jsCrc32c(b) >>> 0);
      }),
      { numRuns: 500 },
    );
  });

  it('is the checksum kafkajs writes into a record batch (over attributes .. records)', async () => {
    const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (o: object) => Promise<{ buffer: Buffer }> };
    const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (o: object) => unknown;
    const records = [0, 1, 2].map((i) =>
      Record({ offsetDelta: i, timestampDelta: i, key: Buffer.from(`k${i}`), value: Buffer.alloc(3000, i) }),
    );
    const { buffer } = await RecordBatch({ records, firstTimestamp: 1, maxTimestamp: 3, lastOffsetDelta: 2 });
    // baseOffset int64, batchLength int32, partitionLeaderEpoch int32, magic int8, crc uint32, then the checked bytes
    assert.equal(buffer.readInt8(16), 2);
    assert.equal(buffer.readUInt32BE(17), jsCrc32c(buffer.subarray(21)) >>> 0);
  });
});
