/**
 * Runs the Query API: `tsx query/cli.ts` (settings: STAAS_QUERY_*, STAAS_CLICKHOUSE_*; see the
 * README). Creates missing tables (idempotent), listens, and closes cleanly on SIGTERM/SIGINT.
 */
import { readConnections } from '../config/connections.ts';
import { ConfigError } from '../config/env.ts';
import { createClickHouseClients } from '../storage/client.ts';
import { ensureSchemaFor } from '../storage/cluster-schema.ts';
import { readQueryConfig } from './config.ts';
import { createQueryMetrics } from './metrics.ts';
import { buildQueryApi } from './server.ts';

async function main(): Promise<void> {
  let config, conn;
  try {
    config = readQueryConfig();
    conn = readConnections(process.env, 'staas-query');
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`query: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  // Cluster mode: reads move to the next server when the current one is unreachable.
  const clients = createClickHouseClients(conn.clickhouse, { requestTimeoutMs: (config.maxExecutionTimeS + 5) * 1000 });
  const client = clients[0]!; // single mode: the server
  // A cluster server that is down does not stop the start: reads move to the others.
  await ensureSchemaFor(client, conn.clickhouse, {
    onUnreachable: (url, err) => console.warn(`query: ClickHouse ${url} did not answer at start (${err.message}); reads use the others`),
  });
  const app = await buildQueryApi({
    client: clients,
    database: conn.clickhouse.database,
    config,
    metrics: createQueryMetrics(undefined, true),
    logger: { level: process.env.STAAS_QUERY_LOG_LEVEL ?? 'info' },
  });
  const address = await app.listen({ host: config.host, port: config.port });
  app.log.info(`staas Query API on ${address} (docs: ${address}/docs)`);
  const stop = async () => {
    await app.close();
    await Promise.all(clients.map((c) => c.close()));
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
