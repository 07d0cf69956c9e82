/**
 * Alarm history, after DataMiner's GetHistoryAlarmsFor{Element,Parameter}: the events of a time
 * range [from, to) (epoch ms, the events' own time), newest first, filtered by severity, alarm
 * type and whether to include information events. With `wholeTrees` every matching event of the
 * range is listed; without, only the latest matching event (highest alarm id) of each tree.
 *
 * Read from alarm_events without FINAL: rows with one key (tree, alarm id) are copies of one
 * immutable event, so any condition keeps all copies or none, and `LIMIT 1 BY` the event key
 * drops the repeats at-least-once delivery stored. That lets the time range reach the table's
 * month partitions and primary key index. Pages go on strictly after the last event's sort key
 * (time, dmaId, elementId, rootAlarmId, alarmId), all descending: unique, so nothing is skipped
 * or repeated across pages.
 */
import { sql, type Sql } from '../../storage/sql.ts';
import { readableScope, type Principal } from '../auth/access.ts';
import type { QueryContext } from '../context.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { alarmConditions, keysetAfter, treeScope, type AlarmFilter, type ElementScope } from './filters.ts';
import { ALARM_COLUMNS, toAlarmItem, type AlarmItem, type AlarmRow } from './item.ts';

const SORT_KEY = ['ts', 'dma_id', 'element_id', 'root_alarm_id', 'alarm_id'] as const;
const NEWEST_FIRST = sql`ORDER BY ts DESC, dma_id DESC, element_id DESC, root_alarm_id DESC, alarm_id DESC`;

export interface AlarmHistoryRequest {
  element?: ElementScope;
  filter: AlarmFilter;
  /** Range start, inclusive (epoch ms). */
  from: number;
  /** Range end, exclusive (epoch ms). */
  to: number;
  wholeTrees: boolean;
  limit: number;
  cursor?: string;
}

export interface AlarmHistoryPage {
  alarms: AlarmItem[];
  nextCursor: string | null;
}

/** The statement of one history page (pure: the shape is unit-tested). */
export function historyStatement(db: Sql, p: Principal, req: AlarmHistoryRequest, after: readonly number[] | undefined): Sql {
  const inRange = sql`${treeScope(p, req.element)} AND ts >= ${req.from} AND ts < ${req.to} AND ${alarmConditions(req.filter)}`;
  const afterCursor = after === undefined ? sql`1` : keysetAfter(SORT_KEY, after, 'desc');
  if (req.wholeTrees)
    return sql`SELECT ${ALARM_COLUMNS} FROM ${db}.alarm_events
      WHERE ${inRange} AND ${afterCursor}
      ${NEWEST_FIRST}
      LIMIT 1 BY dma_id, element_id, root_alarm_id, alarm_id
      LIMIT ${req.limit + 1}`;
  // The latest matching event per tree is chosen over the whole range, then paged.
  return sql`SELECT ${ALARM_COLUMNS} FROM (
      SELECT ${ALARM_COLUMNS} FROM ${db}.alarm_events
      WHERE ${inRange}
      ORDER BY alarm_id DESC
      LIMIT 1 BY dma_id, element_id, root_alarm_id
    ) AS latest
    WHERE ${afterCursor}
    ${NEWEST_FIRST}
    LIMIT ${req.limit + 1}`;
}

/** What defines a history listing, for binding its cursors (all but cursor and limit). */
function historyListing(p: Principal, req: AlarmHistoryRequest): unknown {
  const { cursor: _cursor, limit: _limit, ...listing } = req;
  return ['history', readableScope(p), listing];
}

/** One page of alarm history. Throws a 400 HttpProblem for a cursor this listing did not make. */
export async function readAlarmHistory(ctx: QueryContext, p: Principal, req: AlarmHistoryRequest): Promise<AlarmHistoryPage> {
  const after = req.cursor === undefined ? undefined : decodeCursor('history', req.cursor, historyListing(p, req));
  const rows = await ctx.reader.rows<AlarmRow>(historyStatement(ctx.db, p, req, after), { label: 'alarms.history' });
  const page = rows.slice(0, req.limit);
  const last = page[page.length - 1];
  return {
    alarms: page.map(toAlarmItem),
    nextCursor:
      rows.length > req.limit && last !== undefined
        ? encodeCursor('history', [last.ts, last.dma_id, last.element_id, last.root_alarm_id, last.alarm_id], historyListing(p, req))
        : null,
  };
}
