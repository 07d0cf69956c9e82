/**
 * Runs the Sink until SIGINT/SIGTERM (graceful: store, commit, leave the group).
 *   npx tsx ingest/sink/cli.ts
 * Serves /metrics (Prometheus) and /health on STAAS_SINK_METRICS_PORT.
 */
import { createServer } from 'node:http';
import { register } from 'prom-client';
import { readConnections } from '../../config/connections.ts';
import { ConfigError } from '../../config/env.ts';
import { readSinkConfig } from './config.ts';
import { Sink } from './sink.ts';

async function main(): Promise<number> {
  let sink: Sink;
  let config: ReturnType<typeof readSinkConfig>;
  try {
    config = readSinkConfig();
    sink = await Sink.create(config, readConnections(process.env, 'staas-sink'));
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`sink: ${err.message}`);
      return 2;
    }
    throw err;
  }
  let healthy = true;
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      register.metrics().then(
        (body) => res.writeHead(200, { 'content-type': register.contentType }).end(body),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else if (req.url === '/health') {
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ healthy, ...sink.state }));
    } else res.writeHead(404).end();
  });
  if (config.metricsPort > 0) server.listen(config.metricsPort, '127.0.0.1');
  const stop = () => void sink.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await sink.start();
  console.log(`sink: consuming as group ${config.groupId}; metrics on http://127.0.0.1:${config.metricsPort}/metrics`);
  try {
    await sink.finished;
    return 0;
  } catch (err) {
    healthy = false;
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
