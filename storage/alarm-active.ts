/**
 * Keeps alarm_active the size of the active alarm set, not of the alarm history: trees whose
 * latest event ended them (a clear, status Cleared, an information event) are deleted for good.
 * 18.16 has no TTL and no `is_deleted`, so this is a mutation (`ALTER TABLE … DELETE`), run by the
 * sink beside retention.
 *
 * Why every row of a tree, and why literal keys:
 * - Until merges collapse them, a tree can have several rows (one per event, in different parts).
 *   Deleting only the clear row would bring the tree's previous row back as its latest: active.
 *   So the predicate is the tree key, and it deletes every row of the tree.
 * - The keys are read first and written into the statement as literals. A mutation whose
 *   `IN (SELECT … FROM alarm_active …)` reads the table it mutates evaluates that set per part
 *   while it mutates parts one by one: once the part holding a clear row is rewritten, later parts
 *   no longer see the tree as cleared and keep its older rows — resurrecting it.
 * - One mutation at a time: nothing starts while system.mutations has one not done on the table.
 *
 * At-least-once redelivery cannot resurrect a pruned tree for good. The sink re-reads a Kafka
 * partition from its last committed offset, and every record of one element is on one partition
 * in order, so a redelivered older event of a tree is always followed by the redelivery of every
 * later record of that partition — the tree's clear included. While the replay is between the
 * two, the tree shows as it was at that point of the log (active); once the clear is stored
 * again, its latest row is a clear (FINAL … cleared = 0 drops it) and the next prune deletes it.
 * The Writer's spool replays its batches in order too, so the same holds for writer re-sends.
 * A mutation only touches parts older than itself; rows inserted after it are left for the next
 * run, which is the same case.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { ident, join, sql, type Sql } from './sql.ts';

/** One alarm tree of alarm_active: (DMS, agent where the element was created, element, root alarm id). */
export interface AlarmTreeKey {
  dmsId: number;
  dmaId: number;
  elementId: number;
  rootAlarmId: bigint;
}

const MAX_TREES_PER_MUTATION = 4000;

export interface PruneOptions {
  /**
   * Trees named in one mutation. The server re-parses a stored mutation with default settings,
   * so its statement must fit them: at most 57 bytes and 6 AST elements per tree, 4,000 trees
   * stay under max_query_size (256 KiB) and max_ast_elements (50,000).
   */
  treesPerMutation?: number;
  /** Mutations one run may start (each waits for the previous one to finish). */
  maxMutations?: number;
  /** How long to wait for one mutation before leaving it to finish on its own (ms). */
  mutationTimeoutMs?: number;
  pollMs?: number;
}

export interface PruneResult {
  /** Trees named in the mutations this run started. */
  trees: number;
  mutations: number;
  /** A mutation on alarm_active is still running (an earlier one, or this run's past its timeout). */
  mutationRunning: boolean;
}

/**
 * `ALTER TABLE <db>.alarm_active DELETE WHERE (dms_id, dma_id, element_id, root_alarm_id) IN (…)`
 * for the given trees (at least one).
 */
export function deleteTreesStatement(db: string, keys: readonly AlarmTreeKey[]): Sql {
  if (keys.length === 0) throw new Error('no alarm trees to delete');
  const tuples = keys.map((k) => sql`(${k.dmsId}, ${k.dmaId}, ${k.elementId}, ${k.rootAlarmId})`);
  // A single tuple in parentheses would read as the tuple itself; a repeated one is harmless.
  if (tuples.length === 1) tuples.push(tuples[0]!);
  return sql`ALTER TABLE ${ident(db)}.alarm_active DELETE WHERE (dms_id, dma_id, element_id, root_alarm_id) IN (${join(tuples, ', ')})`;
}

/**
 * Trees whose latest row in alarm_active is cleared (at most `limit`). On equal versions (one
 * event stored twice, or rewritten by a migration) the cleared copy counts, as FINAL keeps the
 * last inserted and a rewrite only ever turns `cleared` on.
 */
export async function clearedTrees(client: ClickHouseClient, db: string, limit: number): Promise<AlarmTreeKey[]> {
  const rs = await client.query({
    query: sql`SELECT dms_id, dma_id, element_id, toString(root_alarm_id) AS root
      FROM ${ident(db)}.alarm_active
      GROUP BY dms_id, dma_id, element_id, root_alarm_id
      HAVING argMax(cleared, (version, cleared)) = 1
      LIMIT ${limit}`.text,
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ dms_id: number; dma_id: number; element_id: number; root: string }>();
  return rows.map((r) => ({ dmsId: r.dms_id, dmaId: r.dma_id, elementId: r.element_id, rootAlarmId: BigInt(r.root) }));
}

/** Mutations on alarm_active that are not done. */
export async function runningMutations(client: ClickHouseClient, db: string): Promise<number> {
  const rs = await client.query({
    query: sql`SELECT count() AS n FROM system.mutations WHERE database = ${db} AND table = 'alarm_active' AND is_done = 0`.text,
    format: 'JSONEachRow',
  });
  const [row] = await rs.json<{ n: string | number }>();
  return Number(row?.n ?? 0);
}

/**
 * Deletes every row of every cleared tree from alarm_active, one mutation of at most
 * `treesPerMutation` trees at a time, each started only when no other mutation of the table is
 * running and awaited (system.mutations.is_done) before the next.
 */
export async function pruneClearedAlarmTrees(client: ClickHouseClient, db: string, opts: PruneOptions = {}): Promise<PruneResult> {
  const perMutation = Math.min(opts.treesPerMutation ?? MAX_TREES_PER_MUTATION, MAX_TREES_PER_MUTATION);
  const maxMutations = opts.maxMutations ?? 50;
  const timeoutMs = opts.mutationTimeoutMs ?? 300_000;
  const pollMs = opts.pollMs ?? 200;
  const result: PruneResult = { trees: 0, mutations: 0, mutationRunning: false };
  while (result.mutations < maxMutations) {
    if ((await runningMutations(client, db)) > 0) return { ...result, mutationRunning: true };
    const keys = await clearedTrees(client, db, perMutation);
    if (keys.length === 0) break;
    const statement = deleteTreesStatement(db, keys);
    await client.command({ query: statement.text });
    result.mutations++;
    result.trees += keys.length;
    const deadline = Date.now() + timeoutMs;
    while ((await runningMutations(client, db)) > 0) {
      if (Date.now() > deadline) return { ...result, mutationRunning: true };
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    if (keys.length < perMutation) break;
  }
  return result;
}
