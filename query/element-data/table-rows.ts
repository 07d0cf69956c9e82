/**
 * The current rows of one table parameter of an element, a page at a time in primary-key order.
 *
 * `element_rows` is a ReplacingMergeTree(version): repeats and older versions of a row collapse
 * to the highest version under FINAL. Only sorting-key columns are filtered inside the FINAL
 * subquery (18.16 may move other conditions to PREWHERE, before the collapse); deleted rows are
 * hidden by the outer query, after the collapse, so a deleted row stays deleted until a higher
 * version re-adds it.
 */
import { join, likePrefix, sql, type Sql } from '../../storage/sql.ts';
import { tenantFilter, type Principal } from '../auth/access.ts';
import type { QueryContext } from '../context.ts';
import { cellsOf, type CellValue, type StoredCells } from './cells.ts';
import { encodeRowCursor } from './cursor.ts';

/** One current row of a table parameter. */
export interface TableRow {
  primaryKey: string;
  displayKey: string;
  cells: CellValue[];
  /** Time of the change that wrote this version (epoch ms). */
  time: number;
  version: number;
}

export interface TableRowsPage {
  rows: TableRow[];
  /** Continues after the last row; null on the last page. */
  nextCursor: string | null;
}

export interface TableRowsRequest {
  dmaId: number;
  elementId: number;
  tableParameterId: number;
  /** Only rows whose primary key starts with this (matched literally, `%` and `_` included). */
  prefix?: string;
  /** Rows after this primary key (a decoded cursor); none = from the first row. */
  after?: string;
  limit: number;
  /** What defines this listing; the next page's cursor is bound to it. */
  listing: unknown;
}

interface StoredRow extends StoredCells {
  primary_key: string;
  display_key: string;
  ts: number;
  version: number;
}

/** The SELECT of one page: `limit + 1` rows, so the caller knows whether another page exists. */
export function tableRowsStatement(db: Sql, p: Principal, r: TableRowsRequest): Sql {
  // The standalone saved parameters have the empty primary key: `> ''` leaves them out.
  const keyFilter = [sql`primary_key > ${r.after ?? ''}`];
  if (r.prefix !== undefined && r.prefix !== '') keyFilter.push(sql`primary_key LIKE ${likePrefix(r.prefix)}`);
  const where = join(
    [
      tenantFilter(p),
      sql`dma_id = ${r.dmaId}`,
      sql`element_id = ${r.elementId}`,
      sql`table_parameter_id = ${r.tableParameterId}`,
      ...keyFilter,
    ],
    ' AND ',
  );
  return sql`SELECT primary_key, display_key, cell_ids, cell_numbers, cell_texts, ts, version
    FROM (
      SELECT primary_key, display_key, cell_ids, cell_numbers, cell_texts, ts, version, deleted
      FROM ${db}.element_rows FINAL
      WHERE ${where}
    ) AS current_rows
    WHERE deleted = 0
    ORDER BY primary_key
    LIMIT ${r.limit + 1}`;
}

/** Reads one page of current rows (the caller has checked that the element is readable). */
export async function readTableRows(ctx: QueryContext, p: Principal, r: TableRowsRequest, signal?: AbortSignal): Promise<TableRowsPage> {
  const stored = await ctx.reader.rows<StoredRow>(tableRowsStatement(ctx.db, p, r), { label: 'element.table_rows', signal });
  const more = stored.length > r.limit;
  const page = more ? stored.slice(0, r.limit) : stored;
  const rows = page.map(
    (s): TableRow => ({ primaryKey: s.primary_key, displayKey: s.display_key, cells: cellsOf(s), time: s.ts, version: s.version }),
  );
  return { rows, nextCursor: more ? encodeRowCursor(rows[rows.length - 1]!.primaryKey, r.listing) : null };
}
