/**
 * Runs the Sink until SIGINT/SIGTERM (graceful: store, commit, leave the group; bounded by
 * STAAS_SINK_STOP_TIMEOUT_MS).
 *   npx tsx ingest/sink/cli.ts
 * Serves /metrics (Prometheus) and /health on STAAS_SINK_METRICS_PORT: /health answers 200, or
 * 503 with the reasons (stopped, not in its consumer group, inserts stalled, ClickHouse not
 * answering its ping, a topic missing, a re-created topic being read again), and `topology`: the
 * last topic changes it noticed.
 */
import { createServer } from 'node:http';
import { collectDefaultMetrics, register } from 'prom-client';
import { readConnections } from '../../config/connections.ts';
import { ConfigError } from '../../config/env.ts';
import { readSinkConfig } from './config.ts';
import { Sink } from './sink.ts';

async function main(): Promise<number> {
  // Every configuration problem in one pass (the sink's own settings and the connections).
  const problems: string[] = [];
  const read = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
      return undefined;
    }
  };
  const config = read(() => readSinkConfig());
  const conn = read(() => readConnections(process.env, 'staas-sink'));
  if (config === undefined || conn === undefined) {
    console.error(`sink: ${new ConfigError(problems).message}`);
    return 2;
  }
  // The process's own: resident memory, V8 heap and external (Buffer) memory, GC pauses, event
  // loop delay — what the Sink's memory bound and CPU per point are judged by.
  collectDefaultMetrics({ prefix: 'staas_sink_' });
  // The metrics port first: a port in use is one clear line, before any connection is made.
  let sink: Sink | undefined;
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      register.metrics().then(
        (body) => res.writeHead(200, { 'content-type': register.contentType }).end(body),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else if (req.url === '/health') {
      const health = sink?.health() ?? { healthy: false, reasons: ['starting'] };
      res.writeHead(health.healthy ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ...health, ...sink?.state }));
    } else res.writeHead(404).end();
  });
  if (config.metricsPort > 0) {
    const listening = await new Promise<Error | undefined>((resolve) => {
      server.once('error', resolve);
      server.listen(config.metricsPort, '127.0.0.1', () => resolve(undefined));
    });
    if (listening !== undefined) {
      const code = (listening as NodeJS.ErrnoException).code;
      console.error(
        code === 'EADDRINUSE'
          ? `sink: port ${config.metricsPort} is in use: set STAAS_SINK_METRICS_PORT to a free port (0: no metrics server)`
          : `sink: cannot serve metrics on 127.0.0.1:${config.metricsPort}: ${listening.message}`,
      );
      return 2;
    }
  }
  try {
    sink = await Sink.create(config, conn);
  } catch (err) {
    console.error(`sink: cannot start: ${(err as Error).message}`);
    server.close();
    return 1;
  }
  const running = sink;
  const stop = () => void running.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await running.start();
  } catch (err) {
    console.error(`sink: cannot consume: ${(err as Error).message}`);
    await running.stop();
    server.close();
    return 1;
  }
  console.log(`sink: consuming as group ${config.groupId}; metrics on http://127.0.0.1:${config.metricsPort}/metrics`);
  try {
    await running.finished;
    return 0;
  } catch (err) {
    console.error(`sink: ${(err as Error).message}`);
    return 1;
  } finally {
    server.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
