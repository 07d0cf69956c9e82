/**
 * What a failed send means for the batch. Kafka answers some produce requests with errors that
 * no retry can cure (kafkajs marks them `retriable: false`; Kafka protocol error codes): the
 * batch is too large (MESSAGE_TOO_LARGE 10, RECORD_LIST_TOO_LARGE 18) — split it — or the broker
 * refuses it for good (authorization 29/31, INVALID_RECORD 87, INVALID_TIMESTAMP 32, policy 44,
 * …) — set it aside. Anything else (timeouts, a broker down, leader changes) is transient: the
 * batch waits in the spool and is tried again.
 */

export type DeliveryFailure = { kind: 'transient' } | { kind: 'too-large'; reason: string } | { kind: 'refused'; reason: string };

const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);
const REFUSED = new Set([
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'INVALID_RECORD',
  'INVALID_TIMESTAMP',
  'POLICY_VIOLATION',
  'UNSUPPORTED_FOR_MESSAGE_FORMAT',
  'INVALID_REQUIRED_ACKS',
  'UNSUPPORTED_COMPRESSION_TYPE',
]);

/** Classifies a send error by the Kafka error type found on it or its causes (kafkajs wraps them). */
export function classifySendError(err: unknown): DeliveryFailure {
  let e: unknown = err;
  for (let depth = 0; depth < 6 && typeof e === 'object' && e !== null; depth++) {
    const { type, message, cause, originalError } = e as { type?: unknown; message?: unknown; cause?: unknown; originalError?: unknown };
    if (typeof type === 'string') {
      const reason = `${type}: ${typeof message === 'string' ? message : ''}`.trim();
      if (TOO_LARGE.has(type)) return { kind: 'too-large', reason };
      if (REFUSED.has(type)) return { kind: 'refused', reason };
    }
    e = cause ?? originalError;
  }
  return { kind: 'transient' };
}
