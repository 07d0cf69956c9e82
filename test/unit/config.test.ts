import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readConnections } from '../../config/connections.ts';
import { ConfigError, MAX_TIMER_MS } from '../../config/env.ts';
import { readSinkConfig } from '../../ingest/sink/config.ts';
import { readWriterConfig } from '../../ingest/writer/config.ts';
import { usersXml } from '../../ops/clickhouse.ts';
import { readStackConfig } from '../../ops/stack-config.ts';

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration from the environment', () => {
  it('defaults to the local stack', () => {
    const c = readConnections({});
    assert.deepEqual(c.kafka.brokers, ['127.0.0.1:9092']);
    assert.equal(c.clickhouse.url, 'http://127.0.0.1:8123');
    assert.equal(c.clickhouse.database, 'staas');
  });

  it('moves the clients with the service ports', () => {
    const c = readConnections({ STAAS_KAFKA_PORT: '19092', STAAS_CLICKHOUSE_HTTP_PORT: '18123' });
    assert.deepEqual(c.kafka.brokers, ['127.0.0.1:19092']);
    assert.equal(c.clickhouse.url, 'http://127.0.0.1:18123');
  });

  it("defaults to cluster mode's brokers and ClickHouse servers with STAAS_STACK_MODE=cluster", () => {
    const c = readConnections({ STAAS_STACK_MODE: 'cluster' });
    assert.deepEqual(c.kafka.brokers, ['127.0.0.1:19092', '127.0.0.1:19093', '127.0.0.1:19094']);
    assert.equal(c.clickhouse.url, 'http://127.0.0.1:28123');
    assert.deepEqual(c.clickhouse.cluster?.shards, [
      ['http://127.0.0.1:28123', 'http://127.0.0.1:28124'],
      ['http://127.0.0.1:28125', 'http://127.0.0.1:28126'],
    ]);
    const moved = readConnections({ STAAS_STACK_MODE: 'cluster', STAAS_KAFKA_CLUSTER_PORTS: '29092, 29093,29094' });
    assert.deepEqual(moved.kafka.brokers, ['127.0.0.1:29092', '127.0.0.1:29093', '127.0.0.1:29094']);
    assert.deepEqual(readConnections({ STAAS_STACK_MODE: 'cluster', STAAS_KAFKA_BROKERS: 'gw1:9092' }).kafka.brokers, ['gw1:9092']);
  });

  it('takes a list of bootstrap brokers', () => {
    assert.deepEqual(readConnections({ STAAS_KAFKA_BROKERS: 'gw1:9092, gw2:9093' }).kafka.brokers, ['gw1:9092', 'gw2:9093']);
  });

  it('reports every problem at once, naming the variable', () => {
    const p = problems(() =>
      readConnections({
        STAAS_KAFKA_PORT: 'x',
        STAAS_KAFKA_BROKERS: 'nohost',
        STAAS_CLICKHOUSE_URL: 'ftp://a',
        STAAS_CLICKHOUSE_DATABASE: 'a;drop',
      }),
    );
    assert.equal(p.length, 4, p.join('\n'));
    assert.match(p.join('\n'), /STAAS_KAFKA_PORT="x" is not an integer/);
    assert.match(p.join('\n'), /STAAS_KAFKA_BROKERS: "nohost" is not host:port/);
    assert.match(p.join('\n'), /STAAS_CLICKHOUSE_URL="ftp:\/\/a" must be an http\(s\) URL/);
    assert.match(p.join('\n'), /STAAS_CLICKHOUSE_DATABASE="a;drop" is not a plain identifier/);
  });

  it('requires SASL credentials with a SASL mechanism', () => {
    assert.match(
      problems(() => readConnections({ STAAS_KAFKA_SASL_MECHANISM: 'plain' })).join(),
      /USERNAME and STAAS_KAFKA_SASL_PASSWORD are required/,
    );
    const c = readConnections({
      STAAS_KAFKA_SASL_MECHANISM: 'scram-sha-512',
      STAAS_KAFKA_SASL_USERNAME: 'u',
      STAAS_KAFKA_SASL_PASSWORD: 'p',
      STAAS_KAFKA_TLS: 'true',
    });
    assert.deepEqual(c.kafka.sasl, { mechanism: 'scram-sha-512', username: 'u', password: 'p' });
    assert.deepEqual(c.kafka.tls, { rejectUnauthorized: true });
  });

  it("logs ClickHouse's queries only when asked (STAAS_CLICKHOUSE_LOG_QUERIES), in the default profile", () => {
    assert.equal(readStackConfig({}).clickhouse.logQueries, false);
    assert.equal(readStackConfig({ STAAS_CLICKHOUSE_LOG_QUERIES: 'true' }).clickhouse.logQueries, true);
    assert.throws(() => readStackConfig({ STAAS_CLICKHOUSE_LOG_QUERIES: 'sometimes' }), /STAAS_CLICKHOUSE_LOG_QUERIES/);
    assert.match(usersXml('      <log_queries>1</log_queries>\n'), /<default>[\s\S]*<log_queries>1<\/log_queries>[\s\S]*<\/default>/);
  });

  it('rejects out-of-range ports, clashing ports and bad heap sizes for the stack', () => {
    const p = problems(() => readStackConfig({ STAAS_KAFKA_PORT: '70000', STAAS_CLICKHOUSE_TCP_PORT: '9093', STAAS_KAFKA_HEAP: 'lots' }));
    assert.match(p.join('\n'), /STAAS_KAFKA_PORT=70000 is above the maximum 65535/);
    assert.match(p.join('\n'), /service ports must differ/);
    assert.match(p.join('\n'), /STAAS_KAFKA_HEAP=lots must look like 512m or 1g/);
  });

  it('stack mode: single by default; cluster mode has three Kafka nodes beside the single-node ports, and is checked', () => {
    assert.equal(readStackConfig({}).mode, 'single');
    const c = readStackConfig({ STAAS_STACK_MODE: 'cluster' });
    assert.equal(c.mode, 'cluster');
    assert.deepEqual(c.kafka.cluster, {
      nodes: [
        { nodeId: 1, port: 19092, controllerPort: 19192 },
        { nodeId: 2, port: 19093, controllerPort: 19193 },
        { nodeId: 3, port: 19094, controllerPort: 19194 },
      ],
      heap: '384m',
      partitions: 6,
    });
    const p = problems(() =>
      readStackConfig({
        STAAS_STACK_MODE: 'mesh',
        STAAS_KAFKA_CLUSTER_PORTS: '19092,19093',
        STAAS_KAFKA_CLUSTER_CONTROLLER_PORTS: '19092,x',
        STAAS_KAFKA_CLUSTER_HEAP: 'big',
      }),
    );
    assert.deepEqual(p, [
      'STAAS_STACK_MODE="mesh" must be one of single, cluster',
      'STAAS_KAFKA_CLUSTER_CONTROLLER_PORTS="19092,x" must be a comma-separated list of ports',
      'STAAS_KAFKA_CLUSTER_PORTS and STAAS_KAFKA_CLUSTER_CONTROLLER_PORTS must list the same number of ports, at least 3 (got 2 and 3)',
      'STAAS_KAFKA_CLUSTER_HEAP=big must look like 512m or 1g',
    ]);
    assert.deepEqual(
      problems(() =>
        readStackConfig({ STAAS_KAFKA_CLUSTER_PORTS: '19092,19093,19094', STAAS_KAFKA_CLUSTER_CONTROLLER_PORTS: '19094,19195,19196' }),
      ),
      ['cluster Kafka ports must all differ, got 19092, 19093, 19094, 19094, 19195, 19196'],
    );
  });

  it("refuses every timer value Node's timers cannot hold (they would fire after 1 ms), naming the variable", () => {
    const timers: [string, (env: Record<string, string>) => unknown, number][] = [
      ['STAAS_WRITER_SEND_TIMEOUT_MS', (env) => readWriterConfig(env), 1],
      ['STAAS_WRITER_FSYNC_INTERVAL_MS', (env) => readWriterConfig(env), 1],
      ['STAAS_SINK_BATCH_AGE_MS', (env) => readSinkConfig(env), 1],
      ['STAAS_SINK_INSERT_TIMEOUT_MS', (env) => readSinkConfig(env), 1],
      ['STAAS_SINK_COMMIT_INTERVAL_MS', (env) => readSinkConfig(env), 1],
      ['STAAS_SINK_RETENTION_INTERVAL_S', (env) => readSinkConfig(env), 1000],
      ['STAAS_SINK_STOP_TIMEOUT_MS', (env) => readSinkConfig(env), 1],
      ['STAAS_SINK_HEALTH_STALL_MS', (env) => readSinkConfig(env), 1],
      ['STAAS_SINK_METADATA_REFRESH_S', (env) => readSinkConfig(env), 1000],
    ];
    for (const [name, read, unitMs] of timers) {
      const max = Math.floor(MAX_TIMER_MS / unitMs);
      assert.doesNotThrow(() => read({ [name]: String(max) }), name);
      assert.deepEqual(
        problems(() => read({ [name]: String(max + 1) })),
        [`${name}=${max + 1} is above the maximum ${max} (Node's timers hold at most 2^31-1 ms, about 24.8 days)`],
      );
      assert.deepEqual(
        problems(() => read({ [name]: '3000000000' })),
        [`${name}=3000000000 is above the maximum ${max} (Node's timers hold at most 2^31-1 ms, about 24.8 days)`],
      );
      assert.deepEqual(
        problems(() => read({ [name]: '3e9' })),
        [`${name}="3e9" is not an integer`],
      );
    }
    assert.deepEqual(
      problems(() => readWriterConfig({ STAAS_WRITER_SPOOL_MAX_BYTES: '99999999999999999999' })),
      ['STAAS_WRITER_SPOOL_MAX_BYTES=99999999999999999999 is too large to be exact (at most 9007199254740991)'],
    );
  });
});

describe('sink configuration', () => {
  it('refuses a DLQ guard that could never trip (more invalid messages needed than the window holds)', () => {
    assert.deepEqual(
      problems(() => readSinkConfig({ STAAS_SINK_DLQ_MIN_INVALID: '2000', STAAS_SINK_DLQ_WINDOW: '1000' })),
      ['STAAS_SINK_DLQ_MIN_INVALID=2000 exceeds STAAS_SINK_DLQ_WINDOW=1000: the DLQ guard could never stop the sink'],
    );
    assert.doesNotThrow(() => readSinkConfig({ STAAS_SINK_DLQ_MIN_INVALID: '1000', STAAS_SINK_DLQ_WINDOW: '1000' }));
  });
});
