/**
 * The one place that turns values into ClickHouse SQL. ClickHouse 18.16 has no server-side query
 * parameters (`{name:Type}` fails with code 115), so values are inlined as literals; this module
 * formats every literal, and statements are composed only with the `sql` tag below, whose
 * interpolations are literals (or fragments built here), never raw text. Request text therefore
 * cannot change a statement's shape.
 *
 * Literal rules (ClickHouse's lexer, `src/Parsers/Lexer.cpp`, `readEscapedString`):
 * - strings: `'…'` with `\\`, `\'` and every byte below 0x20 or 0x7F as `\xHH`; other characters
 *   travel as UTF-8 bytes. A lone UTF-16 surrogate has no UTF-8 form: it is refused, never replaced;
 * - safe integers and bigints in Int64/UInt64 range: decimal digits;
 * - any other number (fractions, ±0 sign, subnormals that 18.16's parser refuses, NaN, ±Infinity):
 *   `reinterpretAsFloat64(unhex('<8 bytes LE>'))`, exact to the bit on every version;
 * - booleans: 1 / 0; null: NULL; arrays: `[a, b]`. ClickHouse types `5000000000` as UInt64 and
 *   finds no common type of it with Float64 or a signed integer, so `[0.5, 5000000000]` and
 *   `[-1, 5000000000]` would be refused: an array holding a number that is no safe integer writes
 *   its integers as `toFloat64(n)`, and one holding a negative integer writes integers of 2^32 and
 *   more as `toInt64(n)` (both exact for safe integers). Bigints follow the integer rule (a bigint
 *   above Int64 beside a negative integer is refused); beside a fraction they keep their digits.
 *
 * LIKE patterns: a NUL byte in a pattern that starts with `%` is mishandled by 18.16 (`'' LIKE
 * '%\x00'` is 1), so `likeWildcard` refuses a filter holding NUL; `likePrefix` never starts with `%`.
 */
import { assertIdentifier } from './identifier.ts';

/** A piece of SQL built by this module: safe to place into a statement as is. */
export class Sql {
  /** @internal use `sql`, `ident`, `raw` or `join` to build one. */
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

/** A value that can be placed into a statement as a literal. */
export type SqlValue = Sql | string | number | bigint | boolean | null | readonly SqlValue[];

/** Thrown for a value that has no exact literal (a lone surrogate, an out-of-range bigint, …). */
export class SqlLiteralError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SqlLiteralError';
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
// Bytes ClickHouse would read as something other than themselves, or that break a log line.
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\\'\x00-\x1f\x7f]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function stringLiteral(s: string): string {
  if (LONE_SURROGATE.test(s)) throw new SqlLiteralError('string holds a lone UTF-16 surrogate, which has no UTF-8 form');
  return `'${s.replace(NEEDS_ESCAPE, (c) => (c === '\\' ? '\\\\' : c === "'" ? "\\'" : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`))}'`;
}

/** Whether a number is written as decimal digits (else as the bits of a Float64). */
function isIntegerLiteral(n: number): boolean {
  return Number.isSafeInteger(n) && !Object.is(n, -0);
}

/** How an array's numbers are written so they share a ClickHouse type (see the module comment). */
type NumberMode = 'own' | 'float' | 'signed';

function numberLiteral(n: number, mode: NumberMode): string {
  if (isIntegerLiteral(n)) {
    if (mode === 'float') return `toFloat64(${n})`;
    if (mode === 'signed' && n > 0xffff_ffff) return `toInt64(${n})`;
    return String(n);
  }
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleLE(n);
  return `reinterpretAsFloat64(unhex('${bytes.toString('hex')}'))`;
}

/** Whether an array (at any depth) holds a number or bigint for which `test` is true. */
function holds(values: readonly SqlValue[], test: (n: number | bigint) => boolean): boolean {
  return values.some((v) =>
    typeof v === 'number' || typeof v === 'bigint' ? test(v) : Array.isArray(v) && holds(v as readonly SqlValue[], test),
  );
}

/** The literal for one value; throws SqlLiteralError for a value with no exact literal. */
export function literal(value: SqlValue): string {
  return format(value, 'own');
}

/** `mode`: how numbers are written; 'own' outside arrays, chosen per outermost array. */
function format(value: SqlValue, mode: NumberMode): string {
  if (value instanceof Sql) return value.text;
  if (value === null) return 'NULL';
  switch (typeof value) {
    case 'string':
      return stringLiteral(value);
    case 'number':
      return numberLiteral(value, mode);
    case 'bigint':
      if (value < INT64_MIN || value > UINT64_MAX) throw new SqlLiteralError(`integer ${value} is outside Int64/UInt64`);
      if (mode === 'signed' && value > 0xffff_ffffn) {
        if (value > INT64_MAX) throw new SqlLiteralError(`integer ${value} is above Int64 in an array with negative integers`);
        return `toInt64(${value})`;
      }
      return value.toString();
    case 'boolean':
      return value ? '1' : '0';
    default:
      if (Array.isArray(value)) {
        const items = value as readonly SqlValue[];
        const inner: NumberMode =
          mode !== 'own'
            ? mode
            : holds(items, (n) => typeof n === 'number' && !isIntegerLiteral(n))
              ? 'float'
              : holds(items, (n) => n < 0)
                ? 'signed'
                : 'own';
        return `[${items.map((v) => format(v, inner)).join(', ')}]`;
      }
      throw new SqlLiteralError(`no SQL literal for a ${typeof value}`);
  }
}

/**
 * Builds a statement: every `${value}` becomes a literal (a nested `Sql` is placed as is).
 * Example: sql`SELECT ts FROM ${ident(db)}.trend_realtime WHERE dms_id = ${dmsId}`.
 */
export function sql(strings: TemplateStringsArray, ...values: readonly SqlValue[]): Sql {
  let text = strings[0]!;
  for (let i = 0; i < values.length; i++) text += literal(values[i]!) + strings[i + 1]!;
  return new Sql(text);
}

/** A database, table or column name: plain identifiers only (never taken from a request). */
export function ident(name: string): Sql {
  return new Sql(assertIdentifier(name));
}

/** A ClickHouse type name such as `Nullable(Float64)` (for CAST; never taken from a request). */
export function typeName(name: string): Sql {
  if (!/^[A-Za-z][A-Za-z0-9]*(\([A-Za-z0-9, ()]*\))?$/.test(name)) throw new SqlLiteralError(`not a type name: ${JSON.stringify(name)}`);
  return new Sql(name);
}

/** Fragments joined by a separator such as ' AND ' or ', '. */
export function join(parts: readonly Sql[], separator: string): Sql {
  return new Sql(parts.map((p) => p.text).join(separator));
}

/** LIKE needs its own escaping on top of the string literal: `%`, `_` and `\` match literally. */
function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** A LIKE pattern matching strings that start with `prefix` (index-friendly on a key column). */
export function likePrefix(prefix: string): Sql {
  return new Sql(stringLiteral(`${escapeLike(prefix)}%`));
}

/**
 * A LIKE pattern from a DataMiner-style wildcard filter: `*` matches any run of characters and
 * `?` one character; everything else matches itself (trend templates' row filters).
 * Throws SqlLiteralError for a filter holding NUL (see the module comment).
 */
export function likeWildcard(filter: string): Sql {
  if (filter.includes('\0')) throw new SqlLiteralError('a wildcard filter cannot hold a NUL character (ClickHouse 18.16 mismatches it)');
  return new Sql(stringLiteral(escapeLike(filter).replace(/\*/g, '%').replace(/\?/g, '_')));
}
