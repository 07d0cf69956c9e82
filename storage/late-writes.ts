/**
 * Late-write markers (trend_late_writes, storage/schema.ts): rows that tell the Query API which
 * trend rows of UTC days that had already ended changed, so that it drops those days from the
 * cache of ended days it keeps. Two writers: the sink after it stored such rows
 * (ingest/sink/late-writes.ts) and retention after it dropped a trend partition
 * (storage/retention.ts). Over-marking only costs the API a re-read; a missing marker leaves it
 * serving stale data, so every writer marks conservatively (EVERY_DMS, EVERY_DAY when unsure).
 */
import { randomUUID } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { insertRowBinary } from './insert.ts';
import type { MarkerTableName } from './schema.ts';

export const LATE_WRITES_TABLE: MarkerTableName = 'trend_late_writes';

/** The columns a marker insert sends: written_at is left to the server (DEFAULT now()). */
export const LATE_WRITE_COLUMNS = ['dms_id', 'first_day', 'last_day', 'marker_id'] as const;

/** One day since the epoch (ms): UTC day numbers are floor(ts / DAY_MS). */
export const DAY_MS = 86_400_000;

/** One marker: `dmsId` -1 for every DMS; `firstDay`..`lastDay` an inclusive range of UTC day numbers. */
export interface LateWrite {
  dmsId: number;
  firstDay: number;
  lastDay: number;
}

/** UUIDs in their 36-character text form (crypto.randomUUID), one per marker. */
const MARKER_ID_BYTES = 36;

/**
 * The RowBinary rows of `markers` for LATE_WRITE_COLUMNS, each with a fresh marker id from
 * `newId` (36 ASCII characters: a random UUID by default). Throws RangeError for a DMS id outside
 * Int32, a day outside UInt32, a range that ends before it starts, or an id of another length.
 */
export function lateWriteRows(markers: readonly LateWrite[], newId: () => string = randomUUID): Buffer {
  const rowBytes = 4 + 4 + 4 + 1 + MARKER_ID_BYTES;
  const out = Buffer.allocUnsafe(markers.length * rowBytes);
  let q = 0;
  for (const m of markers) {
    if (!Number.isInteger(m.dmsId) || m.dmsId < -0x8000_0000 || m.dmsId > 0x7fff_ffff) throw new RangeError(`DMS id ${m.dmsId}`);
    for (const day of [m.firstDay, m.lastDay])
      if (!Number.isInteger(day) || day < 0 || day > 0xffff_ffff) throw new RangeError(`day ${day} does not fit UInt32`);
    if (m.lastDay < m.firstDay) throw new RangeError(`days ${m.firstDay}..${m.lastDay}: the range ends before it starts`);
    const id = newId();
    if (id.length !== MARKER_ID_BYTES || !/^[\x20-\x7e]+$/.test(id)) throw new RangeError(`marker id ${JSON.stringify(id)}`);
    q = out.writeInt32LE(m.dmsId, q);
    q = out.writeUInt32LE(m.firstDay, q);
    q = out.writeUInt32LE(m.lastDay, q);
    q = out.writeUInt8(MARKER_ID_BYTES, q); // the String's LEB128 length (< 128: one byte)
    q += out.write(id, q, 'latin1');
  }
  return out;
}

/**
 * Inserts `markers` into `db`.trend_late_writes (on a cluster: a server's local table, whose
 * Distributed table readers read). Rejects with ClickHouse's error; nothing is sent for none.
 */
export async function insertLateWrites(
  client: ClickHouseClient,
  db: string,
  markers: readonly LateWrite[],
  opts: { queryId?: string } = {},
): Promise<void> {
  if (markers.length === 0) return;
  await insertRowBinary(client, db, LATE_WRITES_TABLE, LATE_WRITE_COLUMNS, lateWriteRows(markers), opts);
}
