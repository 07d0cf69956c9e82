/** What a failed send means for its batch, for errors as kafkajs raises them (pure logic). */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { classifySendError } from '../../ingest/writer/delivery-errors.ts';
import { SendTimeoutError } from '../../ingest/writer/sender.ts';

// kafkajs builds protocol errors from Kafka's error codes with this (not exported by name).
const { createErrorFromCode } = createRequire(import.meta.url)('kafkajs/src/protocol/error') as {
  createErrorFromCode: (code: number) => Error & { type: string };
};
const { KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSConnectionError } = kafkajs;

/** The ways kafkajs hands a protocol error to the caller: bare, as bailed out of its retrier, after its retries. */
const wrapped = (code: number): Error[] => {
  const e = createErrorFromCode(code);
  // The retrier passes { cause } too (kafkajs src/retry); the typings know only the error.
  const bailed = new KafkaJSNonRetriableError(e);
  Object.assign(bailed, { cause: e });
  return [e, bailed, new KafkaJSNumberOfRetriesExceeded(e, { retryCount: 4, retryTime: 3000 })];
};

describe('send errors', () => {
  it('splits batches refused as too large (MESSAGE_TOO_LARGE 10, RECORD_LIST_TOO_LARGE 18), however wrapped', () => {
    for (const code of [10, 18]) for (const e of wrapped(code)) assert.equal(classifySendError(e).kind, 'too-large', `${code} ${e.name}`);
  });

  it('sets aside batches refused for good: authorization, invalid record or timestamp, policy', () => {
    for (const code of [29, 31, 87, 32, 44]) {
      for (const e of wrapped(code)) {
        const f = classifySendError(e);
        assert.equal(f.kind, 'refused', `${code} ${e.name}`);
        assert.match((f as { reason: string }).reason, new RegExp(`^${createErrorFromCode(code).type}`));
      }
    }
  });

  it('retries everything else: leader changes, unknown partitions, timeouts, lost connections, anything unknown', () => {
    for (const code of [6, 3, 7, 19, 20])
      for (const e of wrapped(code)) assert.equal(classifySendError(e).kind, 'transient', `${code} ${e.name}`);
    assert.equal(classifySendError(new SendTimeoutError('late')).kind, 'transient');
    assert.equal(classifySendError(new KafkaJSConnectionError('refused')).kind, 'transient');
    assert.equal(classifySendError(new Error('anything')).kind, 'transient');
    assert.equal(classifySendError(undefined).kind, 'transient');
  });
});
