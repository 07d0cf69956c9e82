/**
 * A bounds-checked walk over Avro binary data, used before avsc decodes untrusted bytes.
 *
 * avsc trusts the counts it reads: a corrupted array or map block count of 2^31 makes it loop
 * billions of times over an exhausted buffer (a hang, then out of memory). This walk checks
 * every count and length against the bytes that are left, and allocates nothing. The container
 * runs it only for writer schemas that contain arrays or maps; the others cannot loop.
 */
import type avro from 'avsc';

export class BoundsError extends Error {}

interface Cursor {
  buf: Buffer;
  pos: number;
  end: number;
}

export function readVarLong(c: Cursor): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (c.pos >= c.end) throw new BoundsError('data ends inside a number');
    const b = c.buf[c.pos++]!;
    result += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) {
      // zig-zag decoding without 32-bit overflow
      return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
    }
    scale *= 128;
  }
  throw new BoundsError('a number is longer than 10 bytes');
}

function skip(c: Cursor, n: number, what: string): void {
  if (n < 0 || n > c.end - c.pos) throw new BoundsError(`${what} of ${n} bytes exceeds the ${c.end - c.pos} bytes left`);
  c.pos += n;
}

type AnyType = avro.Type & {
  fields?: { type: AnyType }[];
  types?: AnyType[];
  itemsType?: AnyType;
  valuesType?: AnyType;
  size?: number;
  symbols?: string[];
  underlyingType?: AnyType;
};

/** Items of zero encoded width (null) could repeat without consuming bytes: cap their count. */
const MAX_ZERO_WIDTH_ITEMS = 1_000_000;

function minWidthZero(t: AnyType): boolean {
  if (t.typeName === 'null') return true;
  if (t.typeName === 'record' || t.typeName === 'error') return (t.fields ?? []).every((f) => minWidthZero(f.type));
  if (t.typeName === 'fixed') return t.size === 0;
  if (t.typeName.startsWith('logical:')) return minWidthZero(t.underlyingType!);
  return false;
}

function walk(t: AnyType, c: Cursor): void {
  switch (t.typeName) {
    case 'null':
      return;
    case 'boolean':
      return skip(c, 1, 'a boolean');
    case 'int':
    case 'long':
    case 'enum': {
      const v = readVarLong(c);
      if (t.typeName === 'enum' && (v < 0 || v >= (t.symbols?.length ?? 0))) throw new BoundsError(`enum index ${v} out of range`);
      return;
    }
    case 'float':
      return skip(c, 4, 'a float');
    case 'double':
      return skip(c, 8, 'a double');
    case 'string':
    case 'bytes':
      return skip(c, readVarLong(c), `a ${t.typeName}`);
    case 'fixed':
      return skip(c, t.size ?? 0, 'a fixed');
    case 'record':
    case 'error':
      for (const f of t.fields ?? []) walk(f.type, c);
      return;
    case 'union:unwrapped':
    case 'union:wrapped': {
      const i = readVarLong(c);
      const branch = t.types?.[i];
      if (branch === undefined) throw new BoundsError(`union branch ${i} out of range`);
      return walk(branch, c);
    }
    case 'array':
    case 'map': {
      const item = (t.typeName === 'array' ? t.itemsType : t.valuesType)!;
      const zero = t.typeName === 'array' && minWidthZero(item);
      for (;;) {
        let n = readVarLong(c);
        if (n === 0) return;
        if (n < 0) {
          n = -n;
          readVarLong(c); // block size in bytes
        }
        if (zero ? n > MAX_ZERO_WIDTH_ITEMS : n > c.end - c.pos) throw new BoundsError(`${t.typeName} block count ${n} exceeds the data`);
        for (let i = 0; i < n; i++) {
          if (t.typeName === 'map') skip(c, readVarLong(c), 'a map key');
          walk(item, c);
        }
      }
    }
    default:
      if (t.typeName.startsWith('logical:') && t.underlyingType !== undefined) return walk(t.underlyingType, c);
      throw new BoundsError(`cannot check type ${t.typeName}`);
  }
}

/** Checks that `count` values of `type` fit exactly in buf[start, end). */
export function checkValues(type: avro.Type, count: number, buf: Buffer, start: number, end: number): void {
  const c: Cursor = { buf, pos: start, end };
  for (let i = 0; i < count; i++) walk(type, c);
  if (c.pos !== end) throw new BoundsError(`${end - c.pos} bytes left after ${count} records`);
}

/** Whether values of this type contain arrays or maps (the only constructs that can loop). */
export function hasCollections(type: avro.Type): boolean {
  const seen = new Set<avro.Type>();
  const visit = (t: AnyType): boolean => {
    if (seen.has(t)) return false;
    seen.add(t);
    if (t.typeName === 'array' || t.typeName === 'map') return true;
    if (t.fields !== undefined) return t.fields.some((f) => visit(f.type));
    if (t.types !== undefined) return t.types.some(visit);
    if (t.underlyingType !== undefined) return visit(t.underlyingType);
    return false;
  };
  return visit(type);
}

/**
 * The fewest bytes one value of this type can take in Avro's binary encoding (numbers, lengths,
 * counts and union indexes take at least one byte each; null takes none). A block that announces
 * `count` records needs at least `count * minEncodedBytes` bytes: checked before anything is
 * allocated for them.
 */
export function minEncodedBytes(type: avro.Type): number {
  const visiting = new Set<avro.Type>();
  const min = (t: AnyType): number => {
    switch (t.typeName) {
      case 'null':
        return 0;
      case 'float':
        return 4;
      case 'double':
        return 8;
      case 'fixed':
        return t.size ?? 0;
      case 'record':
      case 'error': {
        if (visiting.has(t)) return 0; // a recursive record ends in a union or collection anyway
        visiting.add(t);
        const n = (t.fields ?? []).reduce((s, f) => s + min(f.type), 0);
        visiting.delete(t);
        return n;
      }
      default:
        if (t.typeName.startsWith('logical:') && t.underlyingType !== undefined) return min(t.underlyingType);
        return 1; // boolean, int, long, enum, string, bytes, union index, array or map block count
    }
  };
  return min(type);
}
