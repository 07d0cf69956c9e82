/**
 * Splitting a RowBinary body by shard, for writing each row straight to its shard's local table
 * (ingest/sink's cluster store). A row's shard is `dms_id mod shards`, the Distributed tables'
 * sharding key (storage/cluster-schema.ts), so rows written directly and rows inserted through a
 * Distributed table land on the same shard.
 */
import { columnTypes, skipperOf, type Skip } from './partitions.ts';
import type { TableName } from './schema.ts';

const SKIPPERS = new Map<string, { dmsAt: number; skips: Skip[] }>();

/** Per column of a body, how to step over it; and which column is dms_id (cached per table and columns). */
function layoutOf(table: TableName, columns: readonly string[]): { dmsAt: number; skips: Skip[] } {
  const id = `${table}(${columns.join(',')})`;
  let layout = SKIPPERS.get(id);
  if (layout === undefined) {
    const types = columnTypes(table);
    const skips = columns.map((c) => {
      const type = types.get(c);
      if (type === undefined) throw new Error(`${table} has no column ${c}`);
      return skipperOf(type);
    });
    const dmsAt = columns.indexOf('dms_id');
    if (dmsAt < 0 || types.get('dms_id') !== 'Int32') throw new Error(`${table}: a body without dms_id (Int32) cannot be sharded`);
    layout = { dmsAt, skips };
    SKIPPERS.set(id, layout);
  }
  return layout;
}

/**
 * The rows of `body` per shard (index = `dms_id mod shards`; an empty buffer for a shard with no
 * rows), each in their original order. When every row goes to one shard, that shard's entry is
 * `body` itself (no copy). Throws RangeError when `body` does not hold whole rows of `columns`,
 * or a row has a negative dms_id.
 */
export function splitByShard(table: TableName, columns: readonly string[], body: Buffer, shards: number): Buffer[] {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shards must be a positive integer, got ${shards}`);
  const { dmsAt, skips } = layoutOf(table, columns);
  const ends: number[] = [];
  const shardOf: number[] = [];
  const sizes = new Array<number>(shards).fill(0);
  let pos = 0;
  while (pos < body.length) {
    const start = pos;
    let dms = -1;
    for (let c = 0; c < skips.length; c++) {
      if (c === dmsAt) {
        if (pos + 4 > body.length) throw new RangeError(`RowBinary body of ${table} ends inside a row at byte ${start}`);
        dms = body.readInt32LE(pos);
      }
      pos = skips[c]!(body, pos);
    }
    if (pos > body.length) throw new RangeError(`RowBinary body of ${table} ends inside a row at byte ${start}`);
    if (dms < 0) throw new RangeError(`${table}: row at byte ${start} has dms_id ${dms}; DMS ids are not negative`);
    const shard = dms % shards;
    ends.push(pos);
    shardOf.push(shard);
    sizes[shard]! += pos - start;
  }
  const only = sizes.findIndex((n) => n === body.length);
  if (only >= 0) return sizes.map((_n, s) => (s === only ? body : Buffer.alloc(0)));
  const out = sizes.map((n) => Buffer.allocUnsafe(n));
  const at = new Array<number>(shards).fill(0);
  // Copy runs of consecutive rows of one shard at once.
  let runStart = 0;
  for (let i = 0; i < ends.length; i++) {
    const s = shardOf[i]!;
    if (i + 1 < ends.length && shardOf[i + 1] === s) continue;
    at[s]! += body.copy(out[s]!, at[s], runStart, ends[i]);
    runStart = ends[i]!;
  }
  return out;
}
