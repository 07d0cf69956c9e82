/**
 * A consumed message's bytes, copied out of the fetch response. kafkajs hands out keys, values and
 * headers as views into the whole response buffer (up to STAAS_SINK_FETCH_MAX_BYTES), so one
 * message kept until its batch is stored — it must be, to dead-letter it if ClickHouse refuses
 * its rows — kept the entire response alive: a replay of the stack's topics retained 180 MiB of
 * buffers beyond the accounted cap. A copy retains exactly the message's own bytes.
 */
import type { IHeaders, KafkaMessage } from 'kafkajs';

/**
 * A copy of `b` in memory of its own, outside Node's shared 8 KiB pool: a small copy from the pool
 * (Buffer.from) would keep its whole 8 KiB slab alive as long as the message is held.
 */
function own(b: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(b.length);
  b.copy(copy);
  return copy;
}

/** The message with its key, value and headers in buffers of their own (the rest is shared). */
export function detach(message: KafkaMessage): KafkaMessage {
  let headers: IHeaders | undefined;
  if (message.headers !== undefined) {
    headers = {};
    for (const [k, v] of Object.entries(message.headers)) {
      if (v === undefined) continue;
      headers[k] = Array.isArray(v) ? v.map((x) => (Buffer.isBuffer(x) ? own(x) : x)) : Buffer.isBuffer(v) ? own(v) : v;
    }
  }
  return {
    ...message,
    key: message.key === null ? null : own(message.key),
    value: message.value === null ? null : own(message.value),
    headers,
  } as KafkaMessage;
}

/** A consumed message's bytes (value, key, headers) plus ~200 bytes of objects around them. */
export function messageBytes(m: KafkaMessage): number {
  let n = 200 + (m.value?.length ?? 0) + (m.key?.length ?? 0);
  for (const [k, v] of Object.entries(m.headers ?? {})) n += k.length + (Buffer.isBuffer(v) ? v.length : String(v).length);
  return n;
}
