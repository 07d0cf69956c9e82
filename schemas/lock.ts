/**
 * schemas.lock.json records every field ever released, with its type. The evolution rule
 * (README.md here) is checked against it by test/unit/schemas.test.ts; after adding a field
 * (with a default), run `npm run schemas:lock` to record it.
 */
import { writeFileSync } from 'node:fs';
import { READER_TYPES, RECORD_TYPES } from './records.ts';

export const LOCK_FILE = new URL('./schemas.lock.json', import.meta.url);

export interface LockedField {
  name: string;
  type: unknown;
}

export function currentFields(): Record<string, LockedField[]> {
  const out: Record<string, LockedField[]> = {};
  for (const t of RECORD_TYPES) {
    const schema = READER_TYPES[t].schema() as { name: string; fields: { name: string; type: unknown }[] };
    out[schema.name] = schema.fields.map((f) => ({ name: f.name, type: f.type }));
  }
  return out;
}

/**
 * Whether a field's current type keeps its locked type (evolution rules 2 and 4): equal, except
 * that a union may have gained branches at its end, at any depth, and a nested record may have
 * gained fields. Types are Avro schema JSON as `Type.schema()` writes them.
 */
export function typeExtends(now: unknown, locked: unknown): boolean {
  if (Array.isArray(locked)) {
    return Array.isArray(now) && now.length >= locked.length && locked.every((branch, i) => typeExtends(now[i], branch));
  }
  if (typeof locked === 'object' && locked !== null) {
    if (typeof now !== 'object' || now === null || Array.isArray(now)) return false;
    const n = now as Record<string, unknown>;
    return Object.entries(locked).every(([key, value]) => {
      if (key !== 'fields') return typeExtends(n[key], value);
      const fields = n.fields as LockedField[] | undefined;
      return (value as LockedField[]).every((f) => {
        const current = fields?.find((x) => x.name === f.name);
        return current !== undefined && typeExtends(current.type, f.type);
      });
    });
  }
  return now === locked;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(LOCK_FILE, `${JSON.stringify(currentFields(), null, 2)}\n`);
  console.log(`wrote ${LOCK_FILE.pathname}`);
}
