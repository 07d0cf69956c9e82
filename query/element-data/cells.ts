/**
 * Cells of an element row as `element_rows` stores them: three parallel arrays (see
 * storage/schema.ts and ingest/sink/encoders.ts). A number is in `cell_numbers` with a NULL text,
 * a string in `cell_texts` with a NULL number, and a null value is NULL in both.
 */

/** One cell of a table row: the column's parameter id and its value. */
export interface CellValue {
  columnId: number;
  value: number | string | null;
}

/** The stored arrays of one row, as ClickHouse's JSON output gives them. */
export interface StoredCells {
  cell_ids: readonly number[];
  cell_numbers: readonly (number | null)[];
  cell_texts: readonly (string | null)[];
}

/**
 * The cells of a stored row, in stored order. Throws if the arrays differ in length (the sink
 * always writes them together, so that would be a bug or a damaged table, not bad input).
 */
export function cellsOf(row: StoredCells): CellValue[] {
  const n = row.cell_ids.length;
  if (row.cell_numbers.length !== n || row.cell_texts.length !== n)
    throw new Error(
      `element row cell arrays differ in length: ${n} ids, ${row.cell_numbers.length} numbers, ${row.cell_texts.length} texts`,
    );
  const cells = new Array<CellValue>(n);
  for (let i = 0; i < n; i++) {
    const number = row.cell_numbers[i]!;
    const text = row.cell_texts[i]!;
    cells[i] = { columnId: row.cell_ids[i]!, value: number !== null ? number : text };
  }
  return cells;
}
