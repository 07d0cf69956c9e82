/**
 * What a held message keeps (ingest/sink/detach.ts) and what the Sink counts for it: copies that
 * own their memory (not views of the fetch response, not slices of Node's shared 8 KiB pool), and
 * dead letters being sent counted until their send ends.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { detach, messageBytes } from '../../../ingest/sink/detach.ts';
import { chain, settle } from './steps/chain.ts';

/** A message whose key, value and headers are views of one fetch response, as kafkajs decodes them. */
function fromResponse(response: Buffer): KafkaMessage {
  return {
    key: response.subarray(0, 4),
    value: response.subarray(64, 64 + 3000),
    headers: { 'staas-type': response.subarray(4, 9), 'staas-count': [response.subarray(9, 12)] },
    offset: '0',
    timestamp: '0',
    attributes: 0,
  };
}

describe('detach', () => {
  it('copies the key, the value and every header into memory of their own', () => {
    const response = Buffer.allocUnsafeSlow(1024 * 1024).fill(9);
    const m = detach(fromResponse(response));
    const own = (b: Buffer) => b.buffer !== response.buffer && b.buffer.byteLength === b.length;
    assert.ok(own(m.key!), 'key');
    assert.ok(own(m.value!), 'value');
    assert.ok(own(m.headers!['staas-type'] as Buffer), 'header');
    assert.ok(own((m.headers!['staas-count'] as Buffer[])[0]!), 'header array element');
    assert.deepEqual(m.value, response.subarray(64, 64 + 3000));
    assert.deepEqual(m.key, response.subarray(0, 4));
  });

  it('counts a message as its value, key and headers plus ~200 bytes', () => {
    const m = detach(fromResponse(Buffer.alloc(4096)));
    const n = messageBytes(m);
    assert.ok(n >= 200 + 3000 + 4 + 'staas-type'.length + 5 && n < 200 + 3000 + 4 + 100, `${n} bytes`);
  });
});

describe('the DLQ step', () => {
  it('counts the messages whose sends are pending, until the send ends', async () => {
    const c = chain();
    c.dlqProducer.auto = false;
    const garbage = Buffer.alloc(5000, 0xff); // not Avro: the decode step dead-letters it
    const ref = c.ref(garbage);
    c.decode.submit(ref);
    assert.equal(c.dlqProducer.held.length, 1, 'the send waits on Kafka');
    assert.equal(c.deadLetter.bytes(), messageBytes(ref.message));
    assert.ok(c.deadLetter.bytes() >= 5000);
    c.dlqProducer.release();
    await settle();
    assert.equal(c.deadLetter.bytes(), 0);
    assert.ok(ref.completion.done);
  });
});
