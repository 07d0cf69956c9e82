/**
 * Active alarms: the alarm trees whose latest event does not end them, read from alarm_active
 * (one row per tree after merges; cleared trees are pruned, and `cleared = 0` after FINAL leaves
 * out any not pruned yet). Pages go by tree (dmaId, elementId, rootAlarmId) with a keyset
 * cursor, so an element with any number of active alarms pages through all of them; the counts
 * per severity cover the whole filtered set, not just the page.
 *
 * alarm_active holds every column of an alarm item (the view copies the latest event whole), so
 * a page is one read of one table; no join back to alarm_events, whose retention (1 year) could
 * otherwise lose the root of a long-open alarm.
 */
import { sql, type Sql } from '../../storage/sql.ts';
import { readableScope, type Principal } from '../auth/access.ts';
import type { QueryContext } from '../context.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { alarmConditions, keysetAfter, treeScope, type AlarmFilter, type ElementScope } from './filters.ts';
import { ALARM_COLUMNS, toAlarmItem, type AlarmItem, type AlarmRow } from './item.ts';

const TREE_KEY = ['dma_id', 'element_id', 'root_alarm_id'] as const;

export interface ActiveAlarmsRequest {
  element?: ElementScope;
  filter: AlarmFilter;
  limit: number;
  cursor?: string;
}

export interface ActiveAlarmsPage {
  alarms: AlarmItem[];
  /** Active alarms per severity over the whole filtered set, by severity id ascending. */
  counts: { severity: number; count: number }[];
  nextCursor: string | null;
}

/** What defines an active-alarm listing, for binding its cursors (all but cursor and limit). */
function activeListing(p: Principal, req: ActiveAlarmsRequest): unknown {
  return ['active', readableScope(p), req.element ?? null, req.filter];
}

/** The latest event of every active tree in scope, after the key condition `after`. */
function activeTrees(ctx: QueryContext, p: Principal, req: ActiveAlarmsRequest, after: Sql): Sql {
  return sql`SELECT ${ALARM_COLUMNS} FROM (
      SELECT ${ALARM_COLUMNS}, cleared FROM ${ctx.db}.alarm_active FINAL
      WHERE ${treeScope(p, req.element)} AND ${after}
    ) AS latest
    WHERE cleared = 0 AND ${alarmConditions(req.filter)}`;
}

/** One page of active alarms. Throws a 400 HttpProblem for a cursor this listing did not make. */
export async function readActiveAlarms(ctx: QueryContext, p: Principal, req: ActiveAlarmsRequest): Promise<ActiveAlarmsPage> {
  const after = req.cursor === undefined ? sql`1` : keysetAfter(TREE_KEY, decodeCursor('active', req.cursor, activeListing(p, req)), 'asc');
  const [rows, counts] = await Promise.all([
    ctx.reader.rows<AlarmRow>(sql`${activeTrees(ctx, p, req, after)} ORDER BY dma_id, element_id, root_alarm_id LIMIT ${req.limit + 1}`, {
      label: 'alarms.active',
    }),
    ctx.reader.rows<{ severity: number; n: number }>(
      sql`SELECT severity, count() AS n FROM (${activeTrees(ctx, p, req, sql`1`)}) AS active GROUP BY severity ORDER BY severity`,
      { label: 'alarms.active.counts' },
    ),
  ]);
  const page = rows.slice(0, req.limit);
  const last = page[page.length - 1];
  return {
    alarms: page.map(toAlarmItem),
    counts: counts.map((c) => ({ severity: c.severity, count: c.n })),
    nextCursor:
      rows.length > req.limit && last !== undefined
        ? encodeCursor('active', [last.dma_id, last.element_id, last.root_alarm_id], activeListing(p, req))
        : null,
  };
}
