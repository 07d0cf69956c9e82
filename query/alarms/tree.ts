/**
 * One whole alarm tree (DataMiner's AlarmTreeID dmaId/elementId/rootAlarmId): every stored event
 * of it, in event order (alarm id ascending), from alarm_events FINAL with key conditions only.
 * Events past the alarm retention (1 year) are gone, so an old tree may come back partial.
 */
import { sql } from '../../storage/sql.ts';
import type { Principal } from '../auth/access.ts';
import type { QueryContext } from '../context.ts';
import { notFound } from '../http/problem.ts';
import { treeScope, type ElementScope } from './filters.ts';
import { ALARM_COLUMNS, toAlarmItem, type AlarmItem, type AlarmRow } from './item.ts';

/** The events of a tree; throws a 404 HttpProblem when the caller's DMS has no event of it. */
export async function readAlarmTree(ctx: QueryContext, p: Principal, element: ElementScope, rootAlarmId: number): Promise<AlarmItem[]> {
  const rows = await ctx.reader.rows<AlarmRow>(
    sql`SELECT ${ALARM_COLUMNS} FROM ${ctx.db}.alarm_events FINAL
      WHERE ${treeScope(p, element)} AND root_alarm_id = ${rootAlarmId}
      ORDER BY alarm_id`,
    { label: 'alarms.tree' },
  );
  if (rows.length === 0) throw notFound(`alarm tree ${element.dmaId}/${element.elementId}/${rootAlarmId} not found`);
  return rows.map(toAlarmItem);
}
