/**
 * Splitting a RowBinary body by shard, for writing each row straight to its shard's local table
 * (ingest/sink's cluster store). A row's shard is `dms_id mod shards`, the Distributed tables'
 * sharding key (storage/cluster-schema.ts), so rows written directly and rows inserted through a
 * Distributed table land on the same shard.
 */
import { columnTypes, skipperOf, type Skip } from './partitions.ts';
import type { TableName } from './schema.ts';

/**
 * A body's row layout as op codes, so the scan runs one tight loop per row (it runs on every
 * insert): >= 0 skip that many bytes (adjacent fixed widths merged), DMS (read dms_id, 4 bytes),
 * STRING, NULLABLE_STRING, NULLABLE_FIXED - n, COMPLEX - index (arrays: a skipper).
 */
const DMS = -1;
const STRING = -2;
const NULLABLE_STRING = -3;
const NULLABLE_FIXED = -1000;
const COMPLEX = -2000;
const FIXED: Record<string, number> = {
  Int8: 1,
  UInt8: 1,
  Int16: 2,
  UInt16: 2,
  Int32: 4,
  UInt32: 4,
  Float32: 4,
  Int64: 8,
  UInt64: 8,
  Float64: 8,
};

interface Layout {
  ops: Int32Array;
  complex: Skip[];
}

const LAYOUTS = new Map<string, Layout>();

/** The compiled layout of a body's columns (cached per table and column list). */
function layoutOf(table: TableName, columns: readonly string[]): Layout {
  const id = `${table}(${columns.join(',')})`;
  let layout = LAYOUTS.get(id);
  if (layout !== undefined) return layout;
  const types = columnTypes(table);
  if (!columns.includes('dms_id') || types.get('dms_id') !== 'Int32')
    throw new Error(`${table}: a body without dms_id (Int32) cannot be sharded`);
  const ops: number[] = [];
  const complex: Skip[] = [];
  const skip = (n: number) => {
    if (ops.length > 0 && ops[ops.length - 1]! >= 0) ops[ops.length - 1]! += n;
    else ops.push(n);
  };
  for (const c of columns) {
    const type = types.get(c);
    if (type === undefined) throw new Error(`${table} has no column ${c}`);
    const nullable = /^Nullable\((.+)\)$/.exec(type)?.[1];
    if (c === 'dms_id') ops.push(DMS);
    else if (FIXED[type] !== undefined) skip(FIXED[type]);
    else if (type === 'String') ops.push(STRING);
    else if (nullable === 'String') ops.push(NULLABLE_STRING);
    else if (nullable !== undefined && FIXED[nullable] !== undefined) ops.push(NULLABLE_FIXED - FIXED[nullable]);
    else {
      ops.push(COMPLEX - complex.length);
      complex.push(skipperOf(type));
    }
  }
  layout = { ops: Int32Array.from(ops), complex };
  LAYOUTS.set(id, layout);
  return layout;
}

/** The position after a LEB128-prefixed string at `pos`. */
function afterString(buf: Buffer, pos: number): number {
  let n = 0;
  let shift = 1;
  for (;;) {
    if (pos >= buf.length) return buf.length + 1;
    const b = buf[pos++]!;
    n += (b & 0x7f) * shift;
    if (b < 0x80) return pos + n;
    shift *= 128;
  }
}

/**
 * The rows of `body` per shard (index = `dms_id mod shards`; an empty buffer for a shard with no
 * rows), each in their original order. When every row goes to one shard, that shard's entry is
 * `body` itself (no copy). Throws RangeError when `body` does not hold whole rows of `columns`,
 * or a row has a negative dms_id.
 */
export function splitByShard(table: TableName, columns: readonly string[], body: Buffer, shards: number): Buffer[] {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shards must be a positive integer, got ${shards}`);
  const { ops, complex } = layoutOf(table, columns);
  // Runs of consecutive rows of one shard: [start, end, shard] triples.
  const runs: number[] = [];
  const sizes = new Array<number>(shards).fill(0);
  let runShard = -1;
  let runStart = 0;
  let pos = 0;
  while (pos < body.length) {
    const start = pos;
    let dms = -1;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op >= 0) pos += op;
      else if (op === DMS) {
        if (pos + 4 > body.length) {
          pos = body.length + 1;
          break;
        }
        dms = body.readInt32LE(pos);
        pos += 4;
      } else if (op === STRING) pos = afterString(body, pos);
      else if (op === NULLABLE_STRING) pos = body[pos] === 1 ? pos + 1 : afterString(body, pos + 1);
      else if (op > COMPLEX) pos = body[pos] === 1 ? pos + 1 : pos + 1 + (NULLABLE_FIXED - op);
      else pos = complex[COMPLEX - op]!(body, pos);
    }
    if (pos > body.length) throw new RangeError(`RowBinary body of ${table} ends inside a row at byte ${start}`);
    if (dms < 0) throw new RangeError(`${table}: row at byte ${start} has dms_id ${dms}; DMS ids are not negative`);
    const shard = dms % shards;
    if (shard !== runShard) {
      if (runShard >= 0) runs.push(runStart, start, runShard);
      runShard = shard;
      runStart = start;
    }
    sizes[shard]! += pos - start;
  }
  if (runShard >= 0) runs.push(runStart, pos, runShard);
  const only = sizes.findIndex((n) => n === body.length);
  if (only >= 0) return sizes.map((_n, s) => (s === only ? body : Buffer.alloc(0)));
  const out = sizes.map((n) => Buffer.allocUnsafe(n));
  const at = new Array<number>(shards).fill(0);
  for (let r = 0; r < runs.length; r += 3) {
    const s = runs[r + 2]!;
    at[s]! += body.copy(out[s]!, at[s], runs[r], runs[r + 1]);
  }
  return out;
}
