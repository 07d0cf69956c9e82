/** Builds kafkajs clients from a validated KafkaConnection. */
import './crc32c.ts'; // before any produce request: record-batch checksums in native code
import { Kafka, logLevel, type KafkaConfig, type logCreator, type SASLOptions } from 'kafkajs';
import type { KafkaConnection } from '../../config/connections.ts';

export interface KafkaClientOptions {
  /** kafkajs logs every retried request at ERROR; callers that handle failures pass NOTHING or WARN. */
  logLevel?: logLevel;
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  retries?: number;
  /** Receives kafkajs's log entries at `logLevel` and above (kafkajs's console logger if absent). */
  logCreator?: logCreator;
}

export function createKafka(conn: KafkaConnection, opts: KafkaClientOptions = {}): Kafka {
  const config: KafkaConfig = {
    clientId: conn.clientId,
    brokers: conn.brokers,
    logLevel: opts.logLevel ?? logLevel.WARN,
    connectionTimeout: opts.connectionTimeoutMs ?? 3000,
    requestTimeout: opts.requestTimeoutMs ?? 30000,
    retry: { retries: opts.retries ?? 5, initialRetryTime: 200, maxRetryTime: 5000 },
    ...(opts.logCreator === undefined ? {} : { logCreator: opts.logCreator }),
  };
  if (conn.tls !== undefined) {
    config.ssl = { rejectUnauthorized: conn.tls.rejectUnauthorized, ...(conn.tls.ca === undefined ? {} : { ca: [conn.tls.ca] }) };
  }
  if (conn.sasl !== undefined) {
    config.sasl = { mechanism: conn.sasl.mechanism, username: conn.sasl.username, password: conn.sasl.password } as SASLOptions;
  }
  return new Kafka(config);
}
