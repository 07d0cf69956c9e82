/** Reading late-write markers (storage/late-writes.ts) back, for tests. */
import assert from 'node:assert/strict';
import type { LateWrite } from '../../storage/late-writes.ts';

/** Decodes marker rows: LATE_WRITE_COLUMNS (dms_id, first_day, last_day, marker_id) in RowBinary. */
export function readLateWriteRows(body: Buffer): (LateWrite & { markerId: string })[] {
  const out: (LateWrite & { markerId: string })[] = [];
  for (let q = 0; q < body.length; ) {
    const dmsId = body.readInt32LE(q);
    const firstDay = body.readUInt32LE(q + 4);
    const lastDay = body.readUInt32LE(q + 8);
    const n = body[q + 12]!;
    assert.ok(n < 0x80, 'a one-byte LEB128 length');
    out.push({ dmsId, firstDay, lastDay, markerId: body.toString('latin1', q + 13, q + 13 + n) });
    q += 13 + n;
  }
  return out;
}
