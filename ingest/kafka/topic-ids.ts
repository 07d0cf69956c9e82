/**
 * Topic ids (KIP-516, Kafka ≥ 2.8): the id a broker gives a topic when it is created, so that a
 * topic deleted and created again under the same name can be told from the old one (its offsets
 * start again at 0). kafkajs 2.2.4 speaks Metadata only up to v6, which has no topic id, and no
 * kept Node client for Node 20 offers one (@platformatic/kafka needs Node ≥ 22), so this module
 * sends one Metadata v10 request (the first version with topic ids, Kafka ≥ 2.8) over a kafkajs
 * broker connection — which brings kafkajs's TLS, SASL and reconnects — and decodes the answer
 * itself. Wire format: https://kafka.apache.org/protocol#The_Messages_Metadata (flexible
 * versions: compact strings and arrays, tagged fields; request header v2, response header v1).
 */
import type { Kafka } from 'kafkajs';

/** One topic as the broker describes it now. */
export interface TopicState {
  /** The topic id (base64url, as Kafka prints it); undefined when the topic does not exist. */
  id: string | undefined;
  /** Partition count (0 when the topic does not exist). */
  partitions: number;
}

const METADATA_API_KEY = 3;
const METADATA_VERSION = 10;
const UNKNOWN_TOPIC_OR_PARTITION = 3;

function uvarint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** The body of a Metadata v10 request for `topics`, preceded by the empty tagged fields of request header v2. */
export function encodeMetadataRequest(topics: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0]), uvarint(topics.length + 1)];
  for (const t of topics) {
    const name = Buffer.from(t, 'utf8');
    parts.push(Buffer.alloc(16), uvarint(name.length + 1), name, Buffer.from([0])); // id (zero: by name), name, tags
  }
  // allow_auto_topic_creation, include_cluster_authorized_operations, include_topic_authorized_operations, tags
  parts.push(Buffer.from([0, 0, 0, 0]));
  return Buffer.concat(parts);
}

/** Reads the flexible-version primitives of a response. */
class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  int16(): number {
    const v = this.buf.readInt16BE(this.at);
    this.at += 2;
    return v;
  }
  int32(): number {
    const v = this.buf.readInt32BE(this.at);
    this.at += 4;
    return v;
  }
  skip(n: number): void {
    if (this.at + n > this.buf.length) throw new RangeError('Metadata response cut short');
    this.at += n;
  }
  uvarint(): number {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.buf.readUInt8(this.at++);
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
    }
    throw new RangeError('varint too long in Metadata response');
  }
  /** A compact (nullable) string. */
  string(): string | null {
    const n = this.uvarint();
    if (n === 0) return null;
    const s = this.buf.toString('utf8', this.at, this.at + n - 1);
    this.skip(n - 1);
    return s;
  }
  bytes(n: number): Buffer {
    const b = this.buf.subarray(this.at, this.at + n);
    this.skip(n);
    return b;
  }
  /** A compact array: the count (null array: 0). */
  count(): number {
    return Math.max(0, this.uvarint() - 1);
  }
  tags(): void {
    for (let n = this.uvarint(); n > 0; n--) {
      this.uvarint();
      this.skip(this.uvarint());
    }
  }
}

/** Topic name → state, from a Metadata v10 response body (after the correlation id). Throws on other topic errors. */
export function decodeMetadataResponse(body: Buffer): Map<string, TopicState> {
  const r = new Reader(body);
  r.tags(); // response header v1
  r.int32(); // throttle_time_ms
  for (let n = r.count(); n > 0; n--) {
    r.int32(); // node_id
    r.string(); // host
    r.int32(); // port
    r.string(); // rack
    r.tags();
  }
  r.string(); // cluster_id
  r.int32(); // controller_id
  const topics = new Map<string, TopicState>();
  for (let n = r.count(); n > 0; n--) {
    const error = r.int16();
    const name = r.string() ?? '';
    const id = r.bytes(16);
    r.skip(1); // is_internal
    let partitions = 0;
    for (let p = r.count(); p > 0; p--, partitions++) {
      r.skip(2 + 4 + 4 + 4); // error_code, partition_index, leader_id, leader_epoch
      for (let arrays = 0; arrays < 3; arrays++) r.skip(4 * r.count()); // replica, isr, offline nodes
      r.tags();
    }
    r.int32(); // topic_authorized_operations
    r.tags();
    if (error === UNKNOWN_TOPIC_OR_PARTITION) topics.set(name, { id: undefined, partitions: 0 });
    else if (error !== 0) throw new Error(`Metadata of ${name}: Kafka error code ${error}`);
    else topics.set(name, { id: id.toString('base64url'), partitions });
  }
  return topics;
}

/** The kafkajs internals this module reaches (kafkajs 2.2.4: src/index.js, cluster, broker, connection pool). */
interface KafkaJsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  brokerPool: {
    seedBroker?: {
      versions?: Record<number, { minVersion: number; maxVersion: number }>;
      connectionPool: { send(req: unknown): Promise<unknown> };
    };
  };
}

/**
 * Reads topic ids and partition counts through one kafkajs cluster connection of its own.
 * `read` throws when Kafka cannot be reached or the broker is older than 2.8 (no Metadata v10):
 * callers treat that as "unknown" and try again later.
 */
export class TopicIdReader {
  private cluster: KafkaJsCluster | undefined;

  constructor(private readonly kafka: Kafka) {}

  async read(topics: readonly string[]): Promise<Map<string, TopicState>> {
    const cluster = await this.connected();
    const broker = cluster.brokerPool.seedBroker;
    if (broker === undefined) throw new Error('no broker connection');
    const range = broker.versions?.[METADATA_API_KEY];
    if (range !== undefined && range.maxVersion < METADATA_VERSION)
      throw new Error(`the broker speaks Metadata up to v${range.maxVersion}: topic ids need v10 (Kafka ≥ 2.8)`);
    const body = encodeMetadataRequest(topics);
    try {
      return await this.send(broker, body);
    } catch (err) {
      await this.close(); // a connection that failed once is opened again by the next read
      throw err;
    }
  }

  async close(): Promise<void> {
    const c = this.cluster;
    this.cluster = undefined;
    await c?.disconnect().catch(() => undefined);
  }

  private async send(broker: NonNullable<KafkaJsCluster['brokerPool']['seedBroker']>, body: Buffer): Promise<Map<string, TopicState>> {
    return (await broker.connectionPool.send({
      request: {
        apiKey: METADATA_API_KEY,
        apiVersion: METADATA_VERSION,
        apiName: 'Metadata',
        // kafkajs writes request header v1; `body` starts with header v2's empty tagged fields.
        encode: () => Promise.resolve({ buf: body, buffer: body }),
      },
      response: {
        decode: (payload: Buffer) => Promise.resolve(decodeMetadataResponse(payload)),
        parse: (decoded: Map<string, TopicState>) => Promise.resolve(decoded),
      },
    })) as Map<string, TopicState>;
  }

  private async connected(): Promise<KafkaJsCluster> {
    if (this.cluster !== undefined) return this.cluster;
    const key = Object.getOwnPropertySymbols(this.kafka).find((s) => s.description === 'private:Kafka:createCluster');
    if (key === undefined) throw new Error('this kafkajs has no cluster factory (kafkajs 2.2.x expected)');
    const create = (this.kafka as unknown as Record<symbol, (o: object) => KafkaJsCluster>)[key]!;
    const cluster = create({ metadataMaxAge: 0, allowAutoTopicCreation: false });
    await cluster.connect();
    this.cluster = cluster;
    return cluster;
  }
}
