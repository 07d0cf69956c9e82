/**
 * Pure SQL building of the alarm routes and of alarm_active's upkeep: filters, keyset conditions
 * (checked against an in-memory order with fast-check), the history statement's shape, the prune
 * mutation, and recognising the current materialized view.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { alarmConditions, keysetAfter, treeScope } from '../../query/alarms/filters.ts';
import { historyStatement } from '../../query/alarms/history.ts';
import type { Principal } from '../../query/auth/access.ts';
import { deleteTreesStatement } from '../../storage/alarm-active.ts';
import { ddl, isCurrentAlarmActiveView } from '../../storage/schema.ts';
import { ident } from '../../storage/sql.ts';

const api: Principal = { tokenId: 't', kind: 'api', dmsId: 7, scopes: new Set(['alarms:read']), elements: null };
const share: Principal = { ...api, kind: 'share', elements: new Set(['1/2']) };
const flat = (s: { text: string }) => s.text.replace(/\s+/g, ' ').trim();

/** Evaluates the SQL subset keysetAfter writes (names, integers, = < >, AND, OR, parentheses) on one row. */
function evalCondition(cond: string, row: Record<string, number>): boolean {
  const tokens = cond.match(/\(|\)|[A-Za-z_]\w*|\d+|[=<>]/g) ?? [];
  let i = 0;
  const or = (): boolean => {
    let v = and();
    while (tokens[i] === 'OR') {
      i++;
      v = and() || v;
    }
    return v;
  };
  const and = (): boolean => {
    let v = atom();
    while (tokens[i] === 'AND') {
      i++;
      v = atom() && v;
    }
    return v;
  };
  const atom = (): boolean => {
    if (tokens[i] === '(') {
      i++;
      const v = or();
      i++; // ')'
      return v;
    }
    const left = row[tokens[i++]!]!;
    const op = tokens[i++];
    const right = Number(tokens[i++]);
    return op === '=' ? left === right : op === '<' ? left < right : left > right;
  };
  return or();
}

describe('alarm filters', () => {
  it('scopes to the DMS, the shared elements and the element: key columns only', () => {
    assert.equal(flat(treeScope(api)), 'dms_id = 7');
    assert.equal(flat(treeScope(api, { dmaId: 1, elementId: 2 })), 'dms_id = 7 AND dma_id = 1 AND element_id = 2');
    assert.equal(flat(treeScope(share)), 'dms_id = 7 AND ((dma_id = 1 AND element_id = 2))');
  });

  it('builds each filter as an escaped condition, `1` for none', () => {
    assert.equal(flat(alarmConditions({})), '1');
    assert.equal(flat(alarmConditions({ severity: [], alarmType: [] })), '1');
    assert.equal(
      flat(
        alarmConditions({
          parameterId: 20,
          index: "eth0' OR 1=1 --",
          severity: [1, 2],
          alarmType: [19],
          owner: 'bob\\',
          excludeInformationEvents: true,
        }),
      ),
      "parameter_id = 20 AND idx = 'eth0\\' OR 1=1 --' AND severity IN (1, 2) AND alarm_type IN (19) AND owner = 'bob\\\\' AND severity != 13",
    );
  });

  it('writes a keyset condition out as ORs and ANDs', () => {
    assert.equal(
      flat(keysetAfter(['dma_id', 'element_id', 'root_alarm_id'], [1, 2, 3], 'asc')),
      '(dma_id > 1 OR (dma_id = 1 AND (element_id > 2 OR (element_id = 2 AND root_alarm_id > 3))))',
    );
    assert.equal(flat(keysetAfter(['ts'], [5], 'desc')), 'ts < 5');
    assert.throws(() => keysetAfter(['a', 'b'], [1], 'asc'));
    assert.throws(() => keysetAfter(['a; DROP'], [1], 'asc'));
  });

  it('keyset pages visit every key once, in order (checked against a JS evaluation)', () => {
    const evaluate = (cond: string, row: Record<string, number>) => evalCondition(cond, row);
    const small = fc.integer({ min: 0, max: 3 });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(small, small, small), { minLength: 1, maxLength: 30, selector: (t) => t.join('/') }),
        fc.integer({ min: 1, max: 5 }),
        (keys, limit) => {
          const cols = ['a', 'b', 'c'];
          const sorted = [...keys].sort((x, y) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2]);
          const seen: number[][] = [];
          let after: number[] | undefined;
          for (;;) {
            const cond = after === undefined ? undefined : flat(keysetAfter(cols, after, 'asc'));
            const page = sorted.filter((k) => cond === undefined || evaluate(cond, { a: k[0], b: k[1], c: k[2] })).slice(0, limit);
            seen.push(...page);
            if (page.length < limit) break;
            after = page[page.length - 1];
          }
          assert.deepEqual(seen, sorted);
        },
      ),
    );
  });
});

describe('history statement', () => {
  const base = { filter: { excludeInformationEvents: true }, from: 1000, to: 2000, limit: 10 };
  it('latest per tree: picks the latest event per tree in the range, then pages newest first', () => {
    const s = flat(historyStatement(ident('db'), api, { ...base, wholeTrees: false }, [1500, 1, 2, 3, 4]));
    assert.match(
      s,
      /FROM db\.alarm_events WHERE dms_id = 7 AND ts >= 1000 AND ts < 2000 AND severity != 13 ORDER BY alarm_id DESC LIMIT 1 BY dma_id, element_id, root_alarm_id \) AS latest WHERE \(ts < 1500 OR/,
    );
    assert.match(s, /ORDER BY ts DESC, dma_id DESC, element_id DESC, root_alarm_id DESC, alarm_id DESC LIMIT 11$/);
    assert.doesNotMatch(s, /FINAL/);
  });
  it('whole trees: every event once (repeats dropped by event key)', () => {
    const s = flat(historyStatement(ident('db'), api, { ...base, wholeTrees: true, element: { dmaId: 1, elementId: 2 } }, undefined));
    assert.match(
      s,
      /WHERE dms_id = 7 AND dma_id = 1 AND element_id = 2 AND ts >= 1000 AND ts < 2000 AND severity != 13 AND 1 ORDER BY ts DESC/,
    );
    assert.match(s, /LIMIT 1 BY dma_id, element_id, root_alarm_id, alarm_id LIMIT 11$/);
  });
});

describe('alarm_active upkeep', () => {
  it('deletes whole trees by key, a single tree too', () => {
    assert.equal(
      deleteTreesStatement('db', [{ dmsId: 7, dmaId: 1, elementId: 2, rootAlarmId: 9_007_199_254_740_993n }]).text,
      'ALTER TABLE db.alarm_active DELETE WHERE (dms_id, dma_id, element_id, root_alarm_id) IN ((7, 1, 2, 9007199254740993), (7, 1, 2, 9007199254740993))',
    );
    assert.throws(() => deleteTreesStatement('db', []));
    assert.throws(() => deleteTreesStatement('db; DROP', [{ dmsId: 1, dmaId: 1, elementId: 1, rootAlarmId: 1n }]));
  });

  it('stays within the server defaults for stored mutations at 4,000 trees of the largest ids', () => {
    const max = 2_147_483_647;
    const keys = Array.from({ length: 4000 }, () => ({
      dmsId: max,
      dmaId: max,
      elementId: max,
      rootAlarmId: BigInt(Number.MAX_SAFE_INTEGER),
    }));
    assert.ok(deleteTreesStatement('staas', keys).text.length < 256 * 1024);
  });

  it('recognises the current view definition as the server shows it, and not the first one', () => {
    const shown = (q: string) =>
      q
        .replace(/\s+/g, ' ')
        .replace(/\((alarm_type|status|severity) = (\d+)/g, '(($1 = $2)')
        .replace(/ OR (status|severity) = (\d+)/g, ' OR ($1 = $2)');
    assert.equal(isCurrentAlarmActiveView(shown(ddl('db').alarm_active_mv)), true);
    assert.equal(
      isCurrentAlarmActiveView(
        'CREATE MATERIALIZED VIEW db.alarm_active_mv TO db.alarm_active (dms_id Int32) AS SELECT dms_id, toUInt64(alarm_id) AS version, toUInt8(alarm_type = 11) AS cleared FROM db.alarm_events',
      ),
      false,
    );
  });
});
