/**
 * Creates, lists and revokes Query API tokens (stored hashed in ClickHouse, so every API
 * instance sees them at once):
 *   tsx query/auth/cli.ts create --dms 7 --name "ops console" [--scopes trends:read,alarms:read] [--expires-days 30]
 *   tsx query/auth/cli.ts list [--dms 7] [--json]
 *   tsx query/auth/cli.ts revoke <tokenId>
 * `create` prints the token once (with --quiet, only the token, for scripts).
 */
import { parseArgs } from 'node:util';
import { readConnections } from '../../config/connections.ts';
import { createClickHouseClients } from '../../storage/client.ts';
import { ensureSchemaFor } from '../../storage/cluster-schema.ts';
import { createQueryMetrics } from '../metrics.ts';
import { ClickHouseReader } from '../reader.ts';
import { SCOPES, TokenStore, type Scope } from './tokens.ts';

const DAY_MS = 86_400_000;

function fail(message: string): never {
  console.error(`tokens: ${message}`);
  process.exit(2);
}

function parseScopes(raw: string | undefined): Scope[] {
  if (raw === undefined) return [...SCOPES];
  const scopes = raw.split(',').map((s) => s.trim());
  for (const s of scopes)
    if (!(SCOPES as readonly string[]).includes(s)) fail(`unknown scope ${JSON.stringify(s)}; scopes: ${SCOPES.join(', ')}`);
  return scopes as Scope[];
}

function intArg(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) fail(`--${name} must be an integer from ${min} to ${max}, got ${raw}`);
  return Number(raw);
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        dms: { type: 'string' },
        name: { type: 'string' },
        scopes: { type: 'string' },
        'expires-days': { type: 'string' },
        json: { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    // e.g. `--dms -1`: parseArgs reads -1 as an option.
    fail((err as Error).message);
  }
  const { values, positionals } = parsed;
  const [command, tokenId] = positionals;
  const conn = readConnections(process.env, 'staas-tokens');
  // Cluster mode: the store moves to the next server when one is down.
  const clients = createClickHouseClients(conn.clickhouse);
  const client = clients[0]!;
  try {
    await ensureSchemaFor(client, conn.clickhouse, {
      onUnreachable: (url, err) => console.warn(`tokens: ClickHouse ${url} did not answer (${err.message}); using the others`),
    });
    const tokens = new TokenStore(new ClickHouseReader(clients, conn.clickhouse.database, 30, createQueryMetrics()));
    switch (command) {
      case 'create': {
        const dmsId = intArg('dms', values.dms, 0, 2147483647) ?? fail('create needs --dms <DataMiner System id>');
        const days = intArg('expires-days', values['expires-days'], 1, 36_600);
        const issued = await tokens.create({
          kind: 'api',
          dmsId,
          name: values.name ?? 'unnamed',
          scopes: parseScopes(values.scopes),
          expiresAt: days === undefined ? 0 : Date.now() + days * DAY_MS,
        });
        if (values.quiet) console.log(issued.token);
        else if (values.json) console.log(JSON.stringify(issued));
        else {
          console.log(`token ${issued.info.tokenId} for DMS ${dmsId} (${issued.info.scopes.join(', ')}); keep it, it is not shown again:`);
          console.log(issued.token);
        }
        break;
      }
      case 'list': {
        const list = await tokens.list({ dmsId: intArg('dms', values.dms, 0, 2147483647) });
        if (values.json) console.log(JSON.stringify(list));
        else
          for (const t of list) {
            const state = t.revokedAt > 0 ? 'revoked' : t.expiresAt > 0 && t.expiresAt <= Date.now() ? 'expired' : 'live';
            const expires = t.expiresAt === 0 ? 'never' : new Date(t.expiresAt).toISOString();
            console.log(`${t.tokenId}  ${t.kind}  dms ${t.dmsId}  ${state}  expires ${expires}  ${t.scopes.join(',')}  ${t.name}`);
          }
        break;
      }
      case 'revoke': {
        if (tokenId === undefined) fail('revoke needs a token id (see `list`)');
        const revoked = await tokens.revoke(tokenId);
        if (revoked === undefined) fail(`no live token ${tokenId}`);
        console.log(
          `revoked ${revoked.tokenId} (${revoked.kind}, DMS ${revoked.dmsId}); every API instance refuses it from its next request`,
        );
        break;
      }
      default:
        fail('usage: tokens create --dms N [--name S] [--scopes a,b] [--expires-days N] | list [--dms N] [--json] | revoke <tokenId>');
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
