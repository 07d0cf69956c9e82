/** Private service stacks for tests that stop, kill or reconfigure services. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readConnections, type Connections } from '../../config/connections.ts';
import { readStackConfig, type StackConfig } from '../../ops/stack-config.ts';

import { freePorts } from '../../ops/process.ts';

export { freePorts };

export interface PrivateStack {
  env: Record<string, string | undefined>;
  cfg: StackConfig;
  conn: Connections;
}

/** A stack configuration in a temporary state folder on free ports (nothing is started). */
export async function privateStack(extra: Record<string, string> = {}): Promise<PrivateStack> {
  const [kafkaPort, controllerPort, httpPort, tcpPort] = await freePorts(4);
  const env = {
    ...process.env,
    STAAS_STATE_DIR: mkdtempSync(join(tmpdir(), 'staas-stack-')),
    STAAS_KAFKA_PORT: String(kafkaPort),
    STAAS_KAFKA_CONTROLLER_PORT: String(controllerPort),
    STAAS_CLICKHOUSE_HTTP_PORT: String(httpPort),
    STAAS_CLICKHOUSE_TCP_PORT: String(tcpPort),
    STAAS_KAFKA_HEAP: '256m',
    STAAS_START_TIMEOUT_S: '60',
    ...extra,
  };
  return { env, cfg: readStackConfig(env), conn: readConnections(env) };
}
