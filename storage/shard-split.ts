/**
 * Splitting a RowBinary body by shard, for writing each row straight to its shard's local table
 * (ingest/sink's cluster store). A row's shard is `dms_id mod shards`, the Distributed tables'
 * sharding key (storage/cluster-schema.ts), so rows written directly and rows inserted through a
 * Distributed table land on the same shard.
 */
import { rowLayout, walkChunks, type RowLayout } from './row-walker.ts';
import type { TableName } from './schema.ts';

/** The shard of a DMS's rows among `shards` (the Distributed tables' sharding key). */
export function shardOf(dmsId: number, shards: number): number {
  return dmsId % shards;
}

/**
 * The rows of `body` per shard (index = `dms_id mod shards`; an empty buffer for a shard with no
 * rows), each in their original order. `body`: one buffer, or consecutive chunks whose rows may
 * straddle them (walked in place, row-walker.ts). When every row of a one-buffer body goes to one
 * shard, that shard's entry is `body` itself (no copy). `rowsOut`, when given, receives the row
 * count per shard. Throws RangeError when `body` does not hold whole rows of `columns`, or a row
 * has a negative dms_id.
 */
export function splitByShard(
  table: TableName,
  columns: readonly string[],
  body: Buffer | readonly Buffer[],
  shards: number,
  rowsOut?: number[],
): Buffer[] {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shards must be a positive integer, got ${shards}`);
  const chunks = Buffer.isBuffer(body) ? [body] : body;
  const layout = dmsLayout(table, columns);
  // Runs of consecutive rows of one shard in one chunk, as [shard, chunk, start, end] (flat: one
  // per row when shards alternate); a row straddling chunks is a run of its own, chunk -1 - i
  // naming its copy owned[i].
  const runs: number[] = [];
  const owned: Buffer[] = [];
  const sizes = new Array<number>(shards).fill(0);
  const rows = new Array<number>(shards).fill(0);
  walkChunks(layout, chunks, (values, chunk, start, end, own) => {
    const dms = values[0]!;
    if (dms < 0) throw new RangeError(`${table}: a row has dms_id ${dms}; DMS ids are not negative`);
    const shard = shardOf(dms, shards);
    sizes[shard]! += end - start;
    rows[shard]!++;
    const n = runs.length;
    if (own !== undefined) {
      owned.push(own);
      runs.push(shard, -owned.length, start, end);
    } else if (n > 0 && runs[n - 4] === shard && runs[n - 3] === chunk && runs[n - 1] === start) runs[n - 1] = end;
    else runs.push(shard, chunk, start, end);
  });
  if (rowsOut !== undefined) for (let i = 0; i < shards; i++) rowsOut[i] = rows[i]!;
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const only = sizes.findIndex((n) => n === total && n > 0);
  if (only >= 0 && chunks.length === 1) return sizes.map((_n, s) => (s === only ? chunks[0]! : Buffer.alloc(0)));
  const out = sizes.map((n) => Buffer.allocUnsafe(n));
  const at = new Array<number>(shards).fill(0);
  for (let r = 0; r < runs.length; r += 4) {
    const shard = runs[r]!;
    const chunk = runs[r + 1]!;
    const from = chunk >= 0 ? chunks[chunk]! : owned[-chunk - 1]!;
    at[shard]! += from.copy(out[shard]!, at[shard], runs[r + 2], runs[r + 3]);
  }
  return out;
}

/** The layout of `columns` reading dms_id (Int32). Throws when the body has no dms_id. */
function dmsLayout(table: TableName, columns: readonly string[]): RowLayout {
  return rowLayout(table, columns, ['dms_id']);
}
