/**
 * Reading a newer writer whose unions gained branches (evolution rule 4, schemas/README.md).
 *
 * Avro resolution (specification, "Schema Resolution") reads a writer union branch as the first
 * reader branch that matches it, promotions included (int/long/float -> double, bytes -> string).
 * A writer branch that matches none has no reading, and avsc refuses the whole writer schema. So
 * the reader is widened first: every such writer branch is appended to the reader's union, the
 * writer resolved to that widened reader, and each decoded record checked against the real
 * reader: a value of a known branch (or one promoted into it) is stored, a value of an added
 * branch is reported by `unrepresentable`, and its message goes to the DLQ.
 *
 * Writer schemas are parsed with unwrapped unions (the records' shape) and, when that is
 * ambiguous (a union with both `double` and `long`), with wrapped ones: the writer's own value
 * representation does not matter, records are always built by the reader.
 */
import avro from 'avsc';

type Resolver = ReturnType<avro.Type['createResolver']>;

/** A writer schema resolved to a reader: what decoding needs. */
export interface Resolution {
  writer: avro.Type;
  /** The reader records are decoded with: the current schema, or it widened by added branches. */
  decodeAs: avro.Type;
  /** undefined when the writer schema is the reader schema. */
  resolver: Resolver | undefined;
  /** Writer union branches the current reader lacks, as `path: type` (empty: none). */
  addedBranches: string[];
}

/** Parses a writer schema (throws what avsc throws for a schema that is not valid Avro). */
export function parseWriter(schema: avro.Schema): avro.Type {
  try {
    return avro.Type.forSchema(schema, { wrapUnions: false });
  } catch (err) {
    if (!/ambiguous unwrapped union/.test((err as Error).message)) throw err;
    return avro.Type.forSchema(schema, { wrapUnions: true });
  }
}

type Json = Record<string, unknown>;
type Schema = string | Json | Schema[];

function isNamed(t: avro.Type): boolean {
  return t.typeName === 'record' || t.typeName === 'error' || t.typeName === 'enum' || t.typeName === 'fixed';
}

function shortName(name: string | undefined): string | undefined {
  return name?.slice(name.lastIndexOf('.') + 1);
}

/** Whether a reader branch is the one Avro resolution picks for a writer branch (its own nested unions aside). */
function matches(r: avro.Type, w: avro.Type): boolean {
  if (isNamed(r) || isNamed(w)) return r.typeName === w.typeName && shortName(r.name) === shortName(w.name);
  if (r.typeName === 'array' || r.typeName === 'map') return r.typeName === w.typeName;
  try {
    r.createResolver(w);
    return true;
  } catch {
    return false;
  }
}

function unionTypes(t: avro.Type): avro.Type[] | undefined {
  return (t as unknown as { types?: avro.Type[] }).types;
}

/**
 * Appends to `json` (the reader schema, copied) each writer union branch no reader branch
 * matches, walking records by field name, arrays, maps and unions; returns what it added.
 */
function widen(json: Schema, r: avro.Type, w: avro.Type, path: string, added: string[]): void {
  const rTypes = unionTypes(r);
  if (rTypes !== undefined && Array.isArray(json)) {
    const wTypes = unionTypes(w) ?? [w];
    for (const wb of wTypes) {
      const i = rTypes.findIndex((rb) => matches(rb, wb));
      if (i < 0) {
        json.push(wb.schema() as Schema);
        added.push(`${path}: ${wb.typeName}`);
      } else widen(json[i]!, rTypes[i]!, wb, path, added);
    }
    return;
  }
  if (unionTypes(w) !== undefined) return; // a reader non-union from a writer union: plain resolution decides
  if (typeof json !== 'object' || Array.isArray(json)) return; // a primitive, or a named type defined earlier
  if ((r.typeName === 'record' || r.typeName === 'error') && r.typeName === w.typeName) {
    const rFields = (r as avro.types.RecordType).fields;
    const wFields = (w as avro.types.RecordType).fields;
    const jFields = json.fields as Json[];
    rFields.forEach((f, i) => {
      const wf = wFields.find((x) => x.name === f.name);
      if (wf !== undefined) widen(jFields[i]!.type as Schema, f.type, wf.type, `${path}.${f.name}`, added);
    });
  } else if (r.typeName === 'array' && w.typeName === 'array') {
    widen(json.items as Schema, (r as avro.types.ArrayType).itemsType, (w as avro.types.ArrayType).itemsType, `${path}[]`, added);
  } else if (r.typeName === 'map' && w.typeName === 'map') {
    const values = (t: avro.Type) => (t as unknown as { valuesType: avro.Type }).valuesType;
    widen(json.values as Schema, values(r), values(w), `${path}{}`, added);
  }
}

/**
 * Resolves a writer schema to the reader. Throws avsc's error when the two cannot be resolved
 * even with the writer's added union branches (a retyped field, a field without default, …).
 */
export function resolveWriter(reader: avro.Type, writer: avro.Type): Resolution {
  if (writer.equals(reader)) return { writer, decodeAs: reader, resolver: undefined, addedBranches: [] };
  try {
    return { writer, decodeAs: reader, resolver: reader.createResolver(writer), addedBranches: [] };
  } catch (err) {
    const json = structuredClone(reader.schema({ exportAttrs: true })) as Schema;
    const added: string[] = [];
    widen(json, reader, writer, reader.name ?? reader.typeName, added);
    if (added.length === 0) throw err;
    let decodeAs: avro.Type;
    try {
      decodeAs = avro.Type.forSchema(json as avro.Schema, { wrapUnions: false });
    } catch {
      throw err; // the added branches cannot sit beside ours unwrapped: as incompatible as before
    }
    return { writer, decodeAs, resolver: decodeAs.createResolver(writer), addedBranches: added };
  }
}

/**
 * Where a decoded record holds a value the current reader cannot represent (a value of a writer
 * union branch it lacks), as `path holds a <type>`; undefined when it holds none.
 */
export function unrepresentable(reader: avro.Type, record: unknown): string | undefined {
  let found: string | undefined;
  reader.isValid(record, {
    errorHook: (path, value: unknown) => {
      const kind = typeof value === 'object' && value !== null ? (value.constructor?.name ?? 'object') : typeof value;
      found ??= `${path.join('.')} holds a ${kind} (${String(JSON.stringify(value)).slice(0, 40)})`;
    },
  });
  return found;
}
