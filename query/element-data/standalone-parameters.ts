/**
 * Standalone saved parameters of an element (DataMiner's elementdata with the empty key): element
 * rows with `primary_key = ''` and one cell whose column id is the parameter id itself (the
 * contract of schemas/validate.ts and schemas/element-row.avsc). Read like table rows:
 * FINAL with key columns only, deleted ones hidden after the collapse.
 */
import { join, sql, type Sql } from '../../storage/sql.ts';
import { tenantFilter, type Principal } from '../auth/access.ts';
import type { QueryContext } from '../context.ts';
import { cellsOf, type StoredCells } from './cells.ts';

/** The current value of one standalone saved parameter. */
export interface SavedParameter {
  parameterId: number;
  value: number | string | null;
  /** Time of the change that wrote this version (epoch ms). */
  time: number;
  version: number;
}

export interface SavedParametersRequest {
  dmaId: number;
  elementId: number;
  /** Only these parameters; none = every standalone saved parameter of the element. */
  parameterIds?: readonly number[];
}

interface StoredParameter extends StoredCells {
  table_parameter_id: number;
  ts: number;
  version: number;
}

export function savedParametersStatement(db: Sql, p: Principal, r: SavedParametersRequest): Sql {
  const only =
    r.parameterIds === undefined || r.parameterIds.length === 0
      ? sql``
      : sql` AND table_parameter_id IN (${join(
          r.parameterIds.map((id) => sql`${id}`),
          ', ',
        )})`;
  return sql`SELECT table_parameter_id, cell_ids, cell_numbers, cell_texts, ts, version
    FROM (
      SELECT table_parameter_id, cell_ids, cell_numbers, cell_texts, ts, version, deleted
      FROM ${db}.element_rows FINAL
      WHERE ${tenantFilter(p)} AND dma_id = ${r.dmaId} AND element_id = ${r.elementId} AND primary_key = ''${only}
    ) AS current_parameters
    WHERE deleted = 0
    ORDER BY table_parameter_id`;
}

/** Reads the current standalone saved parameters, ordered by parameter id. */
export async function readSavedParameters(
  ctx: QueryContext,
  p: Principal,
  r: SavedParametersRequest,
  signal?: AbortSignal,
): Promise<SavedParameter[]> {
  const stored = await ctx.reader.rows<StoredParameter>(savedParametersStatement(ctx.db, p, r), {
    label: 'element.saved_parameters',
    signal,
  });
  return stored.map((s) => {
    // The writer refuses any other shape; a row without its own cell reads as null.
    const own = cellsOf(s).find((c) => c.columnId === s.table_parameter_id);
    return { parameterId: s.table_parameter_id, value: own === undefined ? null : own.value, time: s.ts, version: s.version };
  });
}
