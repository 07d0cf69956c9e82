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

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(LOCK_FILE, `${JSON.stringify(currentFields(), null, 2)}\n`);
  console.log(`wrote ${LOCK_FILE.pathname}`);
}
