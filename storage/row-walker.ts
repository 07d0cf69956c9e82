/**
 * Walking the rows of a RowBinary body without decoding them: where each row ends and the values
 * of a few key columns (a partition key, the sharding key). Inserts are split with it by
 * partition (storage/partitions.ts) and by shard (storage/shard-split.ts); it runs over every
 * row the sink inserts, so a body's columns are compiled once into op codes walked by one tight
 * loop per row. Column types come from the DDL (storage/schema.ts).
 */
import { ddl, type InsertTable } from './schema.ts';

/** Returns the position after one RowBinary value that starts at `pos`. */
export type Skip = (buf: Buffer, pos: number) => number;

function leb128(buf: Buffer, pos: number): [value: number, next: number] {
  let value = 0;
  let shift = 1;
  for (;;) {
    if (pos >= buf.length) throw new RangeError('RowBinary body ends inside a length');
    const b = buf[pos++]!;
    value += (b & 0x7f) * shift;
    if (b < 0x80) return [value, pos];
    shift *= 128;
  }
}

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

/** A function that returns the position after one value of a ClickHouse type in RowBinary (throws for a type it has no layout for). */
export function skipperOf(type: string): Skip {
  const fixed = FIXED[type];
  if (fixed !== undefined) return (_buf, pos) => pos + fixed;
  if (type === 'String')
    return (buf, pos) => {
      const [n, next] = leb128(buf, pos);
      return next + n;
    };
  const nullable = /^Nullable\((.+)\)$/.exec(type);
  if (nullable !== null) {
    const inner = skipperOf(nullable[1]!);
    // Any non-zero flag byte is NULL, as ClickHouse reads it (its readBinary of a bool).
    return (buf, pos) => (buf[pos] !== 0 ? pos + 1 : inner(buf, pos + 1));
  }
  const array = /^Array\((.+)\)$/.exec(type);
  if (array !== null) {
    const inner = skipperOf(array[1]!);
    return (buf, pos) => {
      let [n, p] = leb128(buf, pos);
      while (n-- > 0) p = inner(buf, p);
      return p;
    };
  }
  throw new Error(`no RowBinary layout for type ${type}`);
}

/** Column name -> type of a table, as its CREATE TABLE statement declares them. */
export function columnTypes(table: InsertTable): Map<string, string> {
  const statement = ddl('staas')[table];
  const open = statement.indexOf('(');
  let depth = 0;
  let close = open;
  for (let i = open; i < statement.length; i++) {
    if (statement[i] === '(') depth++;
    else if (statement[i] === ')' && --depth === 0) {
      close = i;
      break;
    }
  }
  const types = new Map<string, string>();
  let item = '';
  depth = 0;
  for (const ch of `${statement.slice(open + 1, close)},`) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      const m = /^\s*(\w+)\s+(.+?)\s*$/s.exec(item);
      if (m !== null) types.set(m[1]!, m[2]!);
      item = '';
    } else item += ch;
  }
  return types;
}

/**
 * Op codes: >= 0 skip that many bytes (adjacent fixed widths merged), STRING, NULLABLE_STRING,
 * NULLABLE_FIXED - n, KEY_U64 / KEY_U16 / KEY_I32 - slot (read a key column into `values[slot]`),
 * COMPLEX - index (arrays: a skipper).
 */
const STRING = -1;
const NULLABLE_STRING = -2;
const NULLABLE_FIXED = -1000;
const KEY_U64 = -2000;
const KEY_U16 = -3000;
const KEY_I32 = -4000;
const COMPLEX = -5000;

/** A body's columns compiled for walking, with the key columns it reads (in `keyColumns` order). */
export interface RowLayout {
  table: InsertTable;
  ops: Int32Array;
  /** Skippers of types without an op code (arrays), by index. */
  complex: Skip[];
  keyColumns: readonly string[];
}

const LAYOUTS = new Map<string, RowLayout>();

/**
 * The layout of bodies of `table` with `columns` (as in their INSERT), reading `keyColumns`
 * (UInt64, UInt16 or Int32 columns). Cached. Throws Error for an unknown column, a key column
 * missing from `columns` or of another type, or a type without a RowBinary layout.
 */
export function rowLayout(table: InsertTable, columns: readonly string[], keyColumns: readonly string[]): RowLayout {
  const id = `${table}(${columns.join(',')})[${keyColumns.join(',')}]`;
  let layout = LAYOUTS.get(id);
  if (layout !== undefined) return layout;
  const types = columnTypes(table);
  for (const k of keyColumns) if (!columns.includes(k)) throw new Error(`${table}: a body without ${k} cannot be split by it`);
  const ops: number[] = [];
  const complex: Skip[] = [];
  const skip = (n: number) => {
    if (ops.length > 0 && ops[ops.length - 1]! >= 0) ops[ops.length - 1]! += n;
    else ops.push(n);
  };
  for (const c of columns) {
    const type = types.get(c);
    if (type === undefined) throw new Error(`${table} has no column ${c}`);
    const slot = keyColumns.indexOf(c);
    const nullable = /^Nullable\((.+)\)$/.exec(type)?.[1];
    if (slot >= 0 && type === 'UInt64') ops.push(KEY_U64 - slot);
    else if (slot >= 0 && type === 'UInt16') ops.push(KEY_U16 - slot);
    else if (slot >= 0 && type === 'Int32') ops.push(KEY_I32 - slot);
    else if (slot >= 0) throw new Error(`key column ${table}.${c} has type ${type}`);
    else if (FIXED[type] !== undefined) skip(FIXED[type]);
    else if (type === 'String') ops.push(STRING);
    else if (nullable === 'String') ops.push(NULLABLE_STRING);
    else if (nullable !== undefined && FIXED[nullable] !== undefined) ops.push(NULLABLE_FIXED - FIXED[nullable]);
    else {
      ops.push(COMPLEX - complex.length);
      complex.push(skipperOf(type));
    }
  }
  layout = { table, ops: Int32Array.from(ops), complex, keyColumns };
  LAYOUTS.set(id, layout);
  return layout;
}

/** The position after a LEB128-prefixed string at `pos` (RangeError when the length is cut). */
function afterString(buf: Buffer, pos: number): number {
  const b = buf[pos];
  if (b !== undefined && b < 0x80) return pos + 1 + b;
  const [n, next] = leb128(buf, pos);
  return next + n;
}

/**
 * Walks the whole rows of `body` from byte 0, reading the layout's key columns into `values` and
 * calling `onRow(end)` after each row (`values` hold that row's keys). Returns where the first row
 * that does not end inside `body` starts (`body.length` when every row is whole), or stops after
 * `maxRows` rows.
 */
export function walkRows(layout: RowLayout, body: Buffer, values: number[], onRow: (end: number) => void, maxRows = Infinity): number {
  const { ops, complex } = layout;
  let pos = 0;
  for (let rows = 0; pos < body.length && rows < maxRows; rows++) {
    const start = pos;
    try {
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        if (op >= 0) pos += op;
        else if (op === STRING) pos = afterString(body, pos);
        else if (op === NULLABLE_STRING) pos = body[pos] !== 0 ? pos + 1 : afterString(body, pos + 1);
        else if (op > KEY_U64) pos = body[pos] !== 0 ? pos + 1 : pos + 1 + (NULLABLE_FIXED - op);
        else if (op > KEY_U16) {
          if (pos + 8 > body.length) return start;
          values[KEY_U64 - op] = body.readUInt32LE(pos) + body.readUInt32LE(pos + 4) * 0x1_0000_0000;
          pos += 8;
        } else if (op > KEY_I32) {
          if (pos + 2 > body.length) return start;
          values[KEY_U16 - op] = body.readUInt16LE(pos);
          pos += 2;
        } else if (op > COMPLEX) {
          if (pos + 4 > body.length) return start;
          values[KEY_I32 - op] = body.readInt32LE(pos);
          pos += 4;
        } else pos = complex[COMPLEX - op]!(body, pos);
      }
    } catch (err) {
      if (err instanceof RangeError) return start; // a length or an array cut at the end
      throw err;
    }
    if (pos > body.length) return start;
    onRow(pos);
  }
  return pos;
}

/** How much of the next chunk is joined to a row cut at a chunk's end at first (the whole chunk if the row is longer). */
const STRADDLE_WINDOW = 4096;

/**
 * A row found by walkChunks: its key values (valid during the call) and its bytes,
 * `chunks[chunk]` from `start` to `end`, or `own` (a copy) for a row that straddles chunks
 * (chunk -1).
 */
export type OnChunkRow = (values: readonly number[], chunk: number, start: number, end: number, own?: Buffer) => void;

/**
 * Walks the rows of one body given as consecutive chunks in which rows may straddle chunk
 * boundaries (a sink table batch's RowChunks): each chunk in place, joining only the bytes of a
 * straddling row, so no copy of the body is made. Throws RangeError when the chunks do not hold
 * whole rows of the layout's columns.
 */
export function walkChunks(layout: RowLayout, chunks: readonly Buffer[], onRow: OnChunkRow): void {
  const values = new Array<number>(layout.keyColumns.length).fill(0);
  let carry: Buffer | undefined; // the start of a row cut at the previous chunk's end
  for (let c = 0; c < chunks.length; c++) {
    const chunk = chunks[c]!;
    let from = 0;
    if (carry !== undefined) {
      // The straddling row: carry + the start of this chunk (more while the row is not whole).
      const carried = carry.length;
      for (let window = STRADDLE_WINDOW; ; window *= 4) {
        const joined = Buffer.concat([carry, chunk.subarray(0, window)]);
        const end = walkRows(layout, joined, values, (e) => onRow(values, -1, 0, e, joined.subarray(0, e)), 1);
        if (end > 0) {
          carry = undefined;
          from = end - carried;
          break;
        }
        if (window >= chunk.length) {
          carry = joined; // still inside the row: it straddles the next chunk too
          break;
        }
      }
      if (carry !== undefined) continue;
    }
    const body = from === 0 ? chunk : chunk.subarray(from);
    let start = from;
    const whole = walkRows(layout, body, values, (end) => {
      onRow(values, c, start, from + end);
      start = from + end;
    });
    if (whole < body.length) carry = Buffer.from(body.subarray(whole));
  }
  if (carry !== undefined)
    throw new RangeError(`RowBinary body of ${layout.table} ends inside a row (${carry.length} bytes of a row left)`);
}
