/**
 * Alarm routes against the real Writer → Kafka → Sink → ClickHouse path: active alarms (DMS and
 * element, filters, counts per severity, keyset paging over 12,000 active alarms of one element),
 * history (latest per tree and whole trees, information events, ranges, paging), whole trees,
 * tenancy (DMS B uses the same element ids), errors; identical answers after a re-read; pruning of
 * cleared trees from alarm_active, also by the sink's own timer and across redelivery; and the
 * migration of an alarm_active created by the previous schema.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { readSinkConfig } from '../../ingest/sink/config.ts';
import { Sink } from '../../ingest/sink/sink.ts';
import type { AlarmItem } from '../../query/alarms/item.ts';
import type { AlarmEvent } from '../../schemas/records.ts';
import { pruneClearedAlarmTrees } from '../../storage/alarm-active.ts';
import { ensureSchema } from '../../storage/schema.ts';
import { createClickHouse } from '../../storage/client.ts';
import { alarmEvent } from '../support/records.ts';
import { startQueryFixture, type QueryFixture } from '../support/query.ts';
import { committedToEnd, connections, queryRows, uniqueName, type Int64Json } from '../support/services.ts';
import { until } from '../support/wait.ts';

const A = 7;
const B = 8;
const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);
const BIG = { dmaId: 2, elementId: 9, alarms: 12_000 };
/** The big element's alarm i: three alarms share each time (ties for the history order). */
const bigTime = (i: number) => T0 + 20_000 + Math.floor(i / 3);

/** One alarm event of DMS A with everything stated (what the item must echo back). */
function ev(o: Partial<AlarmEvent> & Pick<AlarmEvent, 'alarmId' | 'rootAlarmId' | 'timestamp'>): AlarmEvent {
  return alarmEvent(0, {
    dmsId: A,
    dmaId: 1,
    elementId: 1,
    parameterId: 10,
    index: '',
    displayKey: '',
    previousAlarmId: o.alarmId === o.rootAlarmId ? 0 : o.alarmId - 1,
    severity: 3,
    severityRange: 6,
    alarmType: 10,
    status: 12,
    userStatus: 18,
    value: `v${o.alarmId}`,
    displayValue: `v${o.alarmId} dBm`,
    createdAt: o.timestamp,
    rootCreatedAt: o.timestamp,
    owner: null,
    comment: null,
    elementName: 'Router A',
    parameterName: 'RX level',
    ...o,
  });
}

/** DMS A's alarms (besides the big element). Times are offsets from T0 in ms. */
const EVENTS: AlarmEvent[] = [
  // Element 1/1, tree 100: new -> escalated -> acknowledged -> cleared.
  ev({ alarmId: 100, rootAlarmId: 100, timestamp: T0 + 1000, severity: 2 }),
  ev({ alarmId: 101, rootAlarmId: 100, timestamp: T0 + 2000, severity: 1, alarmType: 8, rootCreatedAt: T0 + 1000 }),
  ev({
    alarmId: 102,
    rootAlarmId: 100,
    timestamp: T0 + 3000,
    severity: 1,
    alarmType: 19,
    userStatus: 19,
    owner: 'alice',
    comment: 'on it',
    rootCreatedAt: T0 + 1000,
  }),
  ev({ alarmId: 103, rootAlarmId: 100, timestamp: T0 + 4000, severity: 5, alarmType: 11, status: 11, rootCreatedAt: T0 + 1000 }),
  // Tree 200: new -> escalated, open.
  ev({ alarmId: 200, rootAlarmId: 200, timestamp: T0 + 1500, severity: 3 }),
  ev({ alarmId: 201, rootAlarmId: 200, timestamp: T0 + 2500, severity: 2, alarmType: 8, rootCreatedAt: T0 + 1500 }),
  // Tree 300 on a table row: new -> acknowledged by bob, open.
  ev({ alarmId: 300, rootAlarmId: 300, timestamp: T0 + 5000, severity: 4, parameterId: 20, index: 'eth0', displayKey: 'Ethernet 0' }),
  ev({
    alarmId: 301,
    rootAlarmId: 300,
    timestamp: T0 + 6000,
    severity: 4,
    alarmType: 19,
    userStatus: 19,
    owner: 'bob',
    parameterId: 20,
    index: 'eth0',
    displayKey: 'Ethernet 0',
    rootCreatedAt: T0 + 5000,
  }),
  // An information event: born cleared.
  ev({ alarmId: 400, rootAlarmId: 400, timestamp: T0 + 7000, severity: 13, severityRange: 5, alarmType: 10, status: 11, parameterId: 30 }),
  // Tree 500: its latest event has status Cleared (11) without being of type Cleared.
  ev({ alarmId: 500, rootAlarmId: 500, timestamp: T0 + 8000, severity: 1, parameterId: 20, index: 'eth1' }),
  ev({
    alarmId: 501,
    rootAlarmId: 500,
    timestamp: T0 + 9000,
    severity: 5,
    alarmType: 41,
    status: 11,
    parameterId: 20,
    index: 'eth1',
    rootCreatedAt: T0 + 8000,
  }),
  // Element 1/2: the same root id 100 as element 1/1 (unique only within an element), and tree 600.
  ev({ alarmId: 100, rootAlarmId: 100, elementId: 2, timestamp: T0 + 1200, severity: 3, elementName: 'Router B' }),
  ev({ alarmId: 600, rootAlarmId: 600, elementId: 2, timestamp: T0 + 10_000, severity: 1, elementName: 'Router B' }),
  ev({
    alarmId: 601,
    rootAlarmId: 600,
    elementId: 2,
    timestamp: T0 + 11_000,
    severity: 1,
    alarmType: 19,
    userStatus: 19,
    owner: 'alice',
    elementName: 'Router B',
    rootCreatedAt: T0 + 10_000,
  }),
];

/** DMS B: the same element ids (and tree 100), plus element 1/3 that only B has. */
const B_EVENTS: AlarmEvent[] = [
  ev({ dmsId: B, alarmId: 100, rootAlarmId: 100, timestamp: T0 + 1000, severity: 1, value: 'B-SECRET', owner: 'alice' }),
  ev({ dmsId: B, alarmId: 700, rootAlarmId: 700, timestamp: T0 + 1100, severity: 2, value: 'B-SECRET' }),
  ev({ dmsId: B, alarmId: 701, rootAlarmId: 700, timestamp: T0 + 1300, severity: 5, alarmType: 11, status: 11, value: 'B-SECRET' }),
  ev({ dmsId: B, elementId: 3, alarmId: 800, rootAlarmId: 800, timestamp: T0 + 1400, severity: 4, value: 'B-SECRET' }),
];

const CLEARED_TREES = [
  [A, 1, 1, 100],
  [A, 1, 1, 400],
  [A, 1, 1, 500],
  [B, 1, 1, 700],
] as const;

function find(element: number, alarmId: number): AlarmEvent {
  const e = EVENTS.find((x) => x.elementId === element && x.alarmId === alarmId);
  assert.ok(e, `event ${element}/${alarmId}`);
  return e;
}

/** The item every route must answer for an event. */
function item(e: AlarmEvent): AlarmItem {
  return {
    dmaId: e.dmaId,
    elementId: e.elementId,
    parameterId: e.parameterId,
    index: e.index,
    displayKey: e.displayKey,
    alarmId: e.alarmId,
    rootAlarmId: e.rootAlarmId,
    previousAlarmId: e.previousAlarmId,
    severity: e.severity,
    severityRange: e.severityRange,
    alarmType: e.alarmType,
    status: e.status,
    userStatus: e.userStatus,
    value: e.value,
    displayValue: e.displayValue,
    time: e.timestamp,
    createdAt: e.createdAt,
    rootCreatedAt: e.rootCreatedAt,
    owner: e.owner,
    comment: e.comment,
    elementName: e.elementName,
    parameterName: e.parameterName,
  };
}

/** [element, alarmId] pairs of DMS A's small elements -> items. */
const items = (...ids: [number, number][]) => ids.map(([el, id]) => item(find(el, id)));

interface ActivePage {
  alarms: AlarmItem[];
  counts: { severity: number; count: number }[];
  nextCursor: string | null;
}
interface HistoryPage {
  alarms: AlarmItem[];
  nextCursor: string | null;
}

describe('Alarm routes (real Writer, Kafka, Sink, ClickHouse)', () => {
  let f: QueryFixture;
  let a: string;
  let b: string;
  /** The small elements' events (the big element's start at T0 + 20 s). */
  const range = `from=${T0}&to=${T0 + 20_000}`;

  const get = async <T>(url: string, token = a): Promise<T> => {
    const r = await f.get<T>(url, token);
    assert.equal(r.status, 200, `${url}: ${r.text}`);
    assert.ok(!r.text.includes('B-SECRET') || token === b, `${url} leaked DMS B's data`);
    return r.body;
  };

  /** Every page of a listing, following nextCursor. */
  const allPages = async <T extends { alarms: AlarmItem[]; nextCursor: string | null }>(
    url: string,
  ): Promise<{ alarms: AlarmItem[]; pages: number }> => {
    const out: AlarmItem[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: T = await get<T>(cursor === null ? url : `${url}${url.includes('?') ? '&' : '?'}cursor=${cursor}`);
      out.push(...page.alarms);
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null);
    return { alarms: out, pages };
  };

  /** Answers of every route and filter, to compare before and after a re-read or a prune. */
  const snapshot = async () => {
    const urls = [
      '/v1/alarms/active',
      '/v1/alarms/active?severity=1&severity=2',
      '/v1/elements/1/1/alarms/active?parameterId=20',
      `/v1/alarms/history?${range}`,
      `/v1/alarms/history?${range}&wholeTrees=true&includeInformationEvents=true`,
      '/v1/elements/1/1/alarms/trees/100',
      `/v1/elements/${BIG.dmaId}/${BIG.elementId}/alarms/active?limit=50`,
    ];
    return Promise.all(urls.map((u) => get(u)));
  };

  before(async () => {
    f = await startQueryFixture();
    for (const e of [...EVENTS, ...B_EVENTS]) await f.writer.alarm(e);
    for (let i = 1; i <= BIG.alarms; i++)
      await f.writer.alarm(
        ev({ dmaId: BIG.dmaId, elementId: BIG.elementId, alarmId: i, rootAlarmId: i, timestamp: bigTime(i), severity: 1 + (i % 4) }),
      );
    await f.stored();
    a = await f.token(A, ['alarms:read']);
    b = await f.token(B, ['alarms:read']);
  });

  after(async () => {
    await f?.stop();
  });

  it('lists the active alarms of the DMS: latest event per open tree, by tree, with counts per severity', async () => {
    const page = await get<ActivePage>(`/v1/elements/1/1/alarms/active`);
    assert.deepEqual(page, {
      alarms: items([1, 201], [1, 301]),
      counts: [
        { severity: 2, count: 1 },
        { severity: 4, count: 1 },
      ],
      nextCursor: null,
    });
    const dms = await allPages<ActivePage>('/v1/alarms/active?limit=1000');
    assert.equal(dms.alarms.length, 4 + BIG.alarms);
    assert.deepEqual(dms.alarms.slice(0, 4), items([1, 201], [1, 301], [2, 100], [2, 601]));
    const first = await get<ActivePage>('/v1/alarms/active?limit=2');
    assert.deepEqual(first.alarms, items([1, 201], [1, 301]));
    assert.deepEqual(first.counts, [
      { severity: 1, count: 1 + BIG.alarms / 4 },
      { severity: 2, count: 1 + BIG.alarms / 4 },
      { severity: 3, count: 1 + BIG.alarms / 4 },
      { severity: 4, count: 1 + BIG.alarms / 4 },
    ]);
    // DMS B sees only its own: tree 100 of element 1/1 and element 1/3; its cleared tree 700 is gone.
    const other = await get<ActivePage>('/v1/alarms/active', b);
    assert.deepEqual(
      other.alarms.map((x) => [x.elementId, x.rootAlarmId, x.value]),
      [
        [1, 100, 'B-SECRET'],
        [3, 800, 'B-SECRET'],
      ],
    );
  });

  it('filters active alarms by severity, alarm type, owner, parameter and table row', async () => {
    const cases: [string, AlarmItem[], [number, number][]][] = [
      ['/v1/alarms/active?severity=1&severity=2&limit=2', items([1, 201], [2, 601]), []],
      [
        '/v1/alarms/active?alarmType=19',
        items([1, 301], [2, 601]),
        [
          [1, 1],
          [4, 1],
        ],
      ],
      ['/v1/alarms/active?owner=alice', items([2, 601]), [[1, 1]]],
      ['/v1/alarms/active?owner=bob&severity=4', items([1, 301]), [[4, 1]]],
      ['/v1/alarms/active?owner=nobody', [], []],
      ['/v1/elements/1/1/alarms/active?parameterId=20', items([1, 301]), [[4, 1]]],
      ['/v1/elements/1/1/alarms/active?parameterId=20&index=eth0', items([1, 301]), [[4, 1]]],
      ['/v1/elements/1/1/alarms/active?parameterId=20&index=eth1', [], []],
      ['/v1/elements/1/1/alarms/active?parameterId=10', items([1, 201]), [[2, 1]]],
      [
        '/v1/elements/1/2/alarms/active',
        items([2, 100], [2, 601]),
        [
          [1, 1],
          [3, 1],
        ],
      ],
    ];
    for (const [url, alarms, counts] of cases) {
      const page = await get<ActivePage>(url);
      if (url.includes('limit=2')) {
        assert.deepEqual(page.alarms, alarms, url);
        assert.equal(page.nextCursor === null, false, url);
        const rest = await get<ActivePage>(`${url}&cursor=${page.nextCursor}`);
        assert.equal(rest.alarms.length, 2, 'the big element: 3000 each of severity 1 and 2, one page of 2 at a time');
        assert.deepEqual(page.counts, [
          { severity: 1, count: 1 + BIG.alarms / 4 },
          { severity: 2, count: 1 + BIG.alarms / 4 },
        ]);
        continue;
      }
      assert.deepEqual(page, { alarms, counts: counts.map(([severity, count]) => ({ severity, count })), nextCursor: null }, url);
    }
  });

  it('pages through 12,000 active alarms of one element without losing or repeating one', async () => {
    const url = `/v1/elements/${BIG.dmaId}/${BIG.elementId}/alarms/active`;
    const expected = Array.from({ length: BIG.alarms }, (_, i) => i + 1);
    for (const limit of [1000, 997, 150]) {
      const started = Date.now();
      const { alarms, pages } = await allPages<ActivePage>(`${url}?limit=${limit}`);
      assert.equal(pages, Math.ceil(BIG.alarms / limit));
      assert.deepEqual(
        alarms.map((x) => x.rootAlarmId),
        expected,
        `limit ${limit}`,
      );
      assert.ok(alarms.every((x) => x.severity === 1 + (x.rootAlarmId % 4) && x.alarmId === x.rootAlarmId));
      console.log(`active paging: ${BIG.alarms} alarms, limit ${limit}, ${pages} pages in ${Date.now() - started} ms`);
    }
    const severity3 = await allPages<ActivePage>(`${url}?limit=1000&severity=3`);
    assert.deepEqual(
      severity3.alarms.map((x) => x.rootAlarmId),
      expected.filter((i) => i % 4 === 2),
    );
    // The largest page (maxPageSize 10,000), then the rest.
    const most = await get<ActivePage>(`${url}?limit=10000`);
    assert.equal(most.alarms.length, 10_000);
    const rest = await get<ActivePage>(`${url}?limit=10000&cursor=${most.nextCursor}`);
    assert.deepEqual(
      [...most.alarms, ...rest.alarms].map((x) => x.rootAlarmId),
      expected,
    );
    assert.equal(rest.nextCursor, null);
  });

  it('answers history: latest event per tree by default, whole trees on request, newest first', async () => {
    const latest = await get<HistoryPage>(`/v1/alarms/history?${range}`);
    assert.deepEqual(latest, { alarms: items([2, 601], [1, 501], [1, 301], [1, 103], [1, 201], [2, 100]), nextCursor: null });
    const withInfo = await get<HistoryPage>(`/v1/alarms/history?${range}&includeInformationEvents=true`);
    assert.deepEqual(withInfo.alarms, items([2, 601], [1, 501], [1, 400], [1, 301], [1, 103], [1, 201], [2, 100]));
    const whole = await get<HistoryPage>(`/v1/alarms/history?${range}&wholeTrees=true`);
    assert.deepEqual(
      whole.alarms,
      items(
        [2, 601],
        [2, 600],
        [1, 501],
        [1, 500],
        [1, 301],
        [1, 300],
        [1, 103],
        [1, 102],
        [1, 201],
        [1, 101],
        [1, 200],
        [2, 100],
        [1, 100],
      ),
    );
    // A narrower range: the latest event of each tree within it.
    const part = await get<HistoryPage>(`/v1/alarms/history?from=${T0 + 2000}&to=${T0 + 6000}`);
    assert.deepEqual(part.alarms, items([1, 300], [1, 103], [1, 201]));
    // Filters pick events; the latest matching event per tree is listed.
    const critical = await get<HistoryPage>(`/v1/alarms/history?${range}&severity=1`);
    assert.deepEqual(critical.alarms, items([2, 601], [1, 500], [1, 102]));
    const clears = await get<HistoryPage>(`/v1/alarms/history?${range}&alarmType=11&wholeTrees=true`);
    assert.deepEqual(clears.alarms, items([1, 103]));
    const info = await get<HistoryPage>(`/v1/alarms/history?${range}&includeInformationEvents=true&severity=13`);
    assert.deepEqual(info.alarms, items([1, 400]));
    // Element, parameter and table row.
    const param = await get<HistoryPage>(`/v1/elements/1/1/alarms/history?${range}&parameterId=20&wholeTrees=true`);
    assert.deepEqual(param.alarms, items([1, 501], [1, 500], [1, 301], [1, 300]));
    const row = await get<HistoryPage>(`/v1/elements/1/1/alarms/history?${range}&parameterId=20&index=eth0`);
    assert.deepEqual(row.alarms, items([1, 301]));
    const el2 = await get<HistoryPage>(`/v1/elements/1/2/alarms/history?${range}&wholeTrees=true`);
    assert.deepEqual(el2.alarms, items([2, 601], [2, 600], [2, 100]));
    // DMS B's history is its own.
    const other = await get<HistoryPage>(`/v1/elements/1/1/alarms/history?${range}&wholeTrees=true`, b);
    assert.deepEqual(
      other.alarms.map((x) => [x.rootAlarmId, x.alarmId]),
      [
        [700, 701],
        [700, 700],
        [100, 100],
      ],
    );
  });

  it('pages history newest first with a unique tie-break: nothing lost or repeated, whatever the page size', async () => {
    const to = T0 + 20_000 + BIG.alarms / 3;
    const url = `/v1/alarms/history?from=${T0}&to=${to}&wholeTrees=true&includeInformationEvents=true`;
    const big = Array.from({ length: BIG.alarms - 1 }, (_, i) => i + 1).map((i) =>
      ev({ dmaId: BIG.dmaId, elementId: BIG.elementId, alarmId: i, rootAlarmId: i, timestamp: bigTime(i), severity: 1 + (i % 4) }),
    ); // alarm 12,000 is at `to`: outside the range
    const newestFirst = (x: AlarmEvent, y: AlarmEvent) =>
      y.timestamp - x.timestamp || y.dmaId - x.dmaId || y.elementId - x.elementId || y.rootAlarmId - x.rootAlarmId || y.alarmId - x.alarmId;
    const expected = [...EVENTS, ...big].sort(newestFirst).map(item);
    const full = await allPages<HistoryPage>(`${url}&limit=1000`);
    assert.equal(full.pages, Math.ceil(expected.length / 1000));
    assert.deepEqual(full.alarms, expected);
    const near = T0 + 20_000 + 100; // the small elements' events and 300 of the big one's, 3 per time
    const small = await allPages<HistoryPage>(
      `/v1/alarms/history?from=${T0}&to=${near}&wholeTrees=true&includeInformationEvents=true&limit=7`,
    );
    assert.deepEqual(
      small.alarms,
      expected.filter((x) => x.time < near),
    );
    // Latest per tree pages the same way (the big element's trees have one event each).
    const latest = await allPages<HistoryPage>(`/v1/alarms/history?from=${T0}&to=${near}&limit=4`);
    assert.deepEqual(
      latest.alarms,
      [
        ...items([2, 601], [1, 501], [1, 301], [1, 103], [1, 201], [2, 100]),
        ...expected.filter((x) => x.time < near && x.dmaId === BIG.dmaId),
      ].sort((x, y) => y.time - x.time || y.dmaId - x.dmaId || y.elementId - x.elementId || y.rootAlarmId - x.rootAlarmId),
    );
  });

  it('returns one whole alarm tree in event order, and 404 for a tree the DMS does not have', async () => {
    assert.deepEqual(await get('/v1/elements/1/1/alarms/trees/100'), { events: items([1, 100], [1, 101], [1, 102], [1, 103]) });
    assert.deepEqual(await get('/v1/elements/1/2/alarms/trees/100'), { events: items([2, 100]) });
    assert.deepEqual(await get('/v1/elements/1/1/alarms/trees/400'), { events: items([1, 400]) });
    for (const url of ['/v1/elements/1/1/alarms/trees/700', '/v1/elements/1/1/alarms/trees/999', '/v1/elements/1/3/alarms/trees/800']) {
      const r = await f.get<{ status: number }>(url, a);
      assert.equal(r.status, 404, url);
      assert.ok(!r.text.includes('B-SECRET'));
    }
    assert.equal((await f.get('/v1/elements/1/1/alarms/trees/700', b)).status, 200);
  });

  it('answers 404 for a foreign element and 400 naming the field for bad input', async () => {
    for (const url of ['/v1/elements/1/3/alarms/active', `/v1/elements/1/3/alarms/history?${range}`, '/v1/elements/99/1/alarms/active'])
      assert.equal((await f.get(url, a)).status, 404, url);
    const activeCursor = (await get<ActivePage>('/v1/alarms/active?limit=1')).nextCursor!;
    const historyCursor = (await get<HistoryPage>(`/v1/alarms/history?${range}&limit=1`)).nextCursor!;
    const bad: [string, string][] = [
      ['/v1/alarms/active?cursor=garbage!', 'querystring.cursor'],
      ['/v1/alarms/active?cursor=eyJjIjoiYWN0aXZlIiwiayI6WzEsMSwtMV19', 'querystring.cursor'], // {"c":"active","k":[1,1,-1]}
      [`/v1/alarms/active?cursor=${historyCursor}`, 'querystring.cursor'],
      [`/v1/alarms/history?${range}&cursor=${activeCursor}`, 'querystring.cursor'],
      [`/v1/alarms/history?${range}&cursor=${historyCursor.slice(0, -2)}`, 'querystring.cursor'],
      [`/v1/alarms/history?from=${T0 + 10}&to=${T0}`, 'querystring.from'],
      [`/v1/alarms/history?from=${T0}&to=${T0}`, 'querystring.from'],
      [`/v1/alarms/history?from=0&to=${T0}`, 'querystring.to'],
      [`/v1/alarms/history?to=${T0}`, 'querystring.from'],
      [`/v1/alarms/history?${range}&severity=13`, 'querystring.severity'],
      [`/v1/alarms/history?${range}&owner=alice`, 'querystring.owner'],
      ['/v1/alarms/active?unknown=1', 'querystring.unknown'],
      ['/v1/alarms/active?parameterId=20', 'querystring.parameterId'],
      ['/v1/elements/1/1/alarms/active?index=eth0', 'querystring.index'],
      ['/v1/alarms/active?severity=x', 'querystring.severity.0'],
      ['/v1/alarms/active?limit=0', 'querystring.limit'],
      ['/v1/alarms/active?limit=10001', 'querystring.limit'],
      ['/v1/elements/1/1/alarms/trees/-1', 'params.rootAlarmId'],
    ];
    for (const [url, field] of bad) {
      const r = await f.get<{ status: number; errors?: { field: string }[] }>(url, a);
      assert.equal(r.status, 400, `${url}: ${r.text}`);
      assert.ok(
        r.body.errors?.some((e) => e.field === field),
        `${url}: ${r.text}`,
      );
    }
    assert.equal((await f.get('/v1/alarms/active', await f.token(A, ['trends:read']))).status, 403);
  });

  describe('after a re-read, a prune and another redelivery', () => {
    let first: unknown[];

    before(async () => {
      first = await snapshot();
    });

    it('answers identically after every topic was read again', async () => {
      await f.rereadFromStart();
      assert.deepEqual(await snapshot(), first);
    });

    const rawRows = async (trees: readonly (readonly number[])[]) => {
      const list = trees.map((t) => `(${t.join(', ')})`).join(', ');
      const [r] = await queryRows<{ n: Int64Json }>(
        f.database.client,
        `SELECT count() AS n FROM ${f.database.db}.alarm_active WHERE (dms_id, dma_id, element_id, root_alarm_id) IN (${list}, ${list})`,
      );
      return Number(r!.n);
    };
    const activeTrees = async () => {
      const [r] = await queryRows<{ n: Int64Json }>(
        f.database.client,
        `SELECT count() AS n FROM (SELECT DISTINCT dms_id, dma_id, element_id, root_alarm_id FROM ${f.database.db}.alarm_active)`,
      );
      return Number(r!.n);
    };

    it('prunes every row of every cleared tree from alarm_active; active trees stay', async () => {
      assert.ok((await rawRows(CLEARED_TREES)) > 0, 'cleared trees are there before the prune');
      const result = await pruneClearedAlarmTrees(f.database.client, f.database.db, { treesPerMutation: 3 });
      assert.deepEqual(result, { trees: CLEARED_TREES.length, mutations: 2, mutationRunning: false });
      assert.equal(await rawRows(CLEARED_TREES), 0, 'no raw row (without FINAL) of a cleared tree is left');
      assert.equal(await activeTrees(), 4 + BIG.alarms + 2, 'every active tree of A and B is still there');
      assert.deepEqual(await pruneClearedAlarmTrees(f.database.client, f.database.db), { trees: 0, mutations: 0, mutationRunning: false });
      assert.deepEqual(await snapshot(), first);
    });

    it('does not resurrect pruned trees when everything is delivered again; the sink prunes them on its timer', async () => {
      // A sink of a new group with a 1 s retention timer: it stores every record once more (the
      // cleared trees' older events and, later in the same partitions, their clears), then prunes.
      const prefix = f.topics.trend.replace(/\.trend$/, '');
      const groupId = uniqueName('alarm-prune');
      const sink = await Sink.create(
        readSinkConfig(process.env, { retentionIntervalMs: 1000, topicPrefix: prefix, groupId, batchAgeMs: 100 }),
        { ...connections, clickhouse: { ...connections.clickhouse, database: f.database.db } },
        { registry: new Registry(), log: { info: () => undefined, warn: (m) => console.warn(m), error: (m) => console.error(m) } },
      );
      try {
        await sink.start();
        await until(
          'redelivered',
          () => committedToEnd(f.kafka, groupId, [f.topics.trend, f.topics.alarm, f.topics.element]),
          120_000,
          250,
        );
        assert.deepEqual(await snapshot(), first, 'the active routes never show a cleared tree once its clear is stored again');
        await until('the sink pruned the redelivered cleared trees', async () => (await rawRows(CLEARED_TREES)) === 0, 60_000, 250);
        assert.equal(await activeTrees(), 4 + BIG.alarms + 2);
        assert.deepEqual(await snapshot(), first);
      } finally {
        await sink.stop();
      }
    });
  });
});

describe('alarm_active migration from the first schema (real ClickHouse)', () => {
  const OLD_ACTIVE = (db: string) => `CREATE TABLE ${db}.alarm_active (
      dms_id Int32, dma_id Int32, element_id Int32, root_alarm_id Int64,
      alarm_id Int64, version UInt64, parameter_id Int32, idx String, display_key String,
      severity Int16, alarm_type Int16, status Int16, user_status Int16,
      value String, display_value String,
      ts UInt64, root_created_at UInt64,
      owner Nullable(String), comment Nullable(String),
      element_name String, parameter_name String,
      cleared UInt8
    ) ENGINE = ReplacingMergeTree(version)
    ORDER BY (dms_id, dma_id, element_id, root_alarm_id)`;
  const OLD_VIEW = (db: string) => `CREATE MATERIALIZED VIEW ${db}.alarm_active_mv TO ${db}.alarm_active AS
    SELECT dms_id, dma_id, element_id, root_alarm_id, alarm_id, toUInt64(alarm_id) AS version,
      parameter_id, idx, display_key, severity, alarm_type, status, user_status, value, display_value,
      ts, root_created_at, owner, comment, element_name, parameter_name,
      toUInt8(alarm_type = 11) AS cleared
    FROM ${db}.alarm_events`;

  it('recreates the view, adds the new columns and re-flags existing trees, idempotently', async () => {
    const client = createClickHouse(connections.clickhouse);
    const db = uniqueName('staas_test_migrate');
    try {
      await ensureSchema(client, db);
      await client.command({ query: `DROP TABLE ${db}.alarm_active_mv` });
      await client.command({ query: `DROP TABLE ${db}.alarm_active` });
      await client.command({ query: OLD_ACTIVE(db) });
      await client.command({ query: OLD_VIEW(db) });
      await client.insert({
        table: `${db}.alarm_events`,
        format: 'JSONEachRow',
        values: EVENTS.map((e) => ({
          dms_id: e.dmsId,
          dma_id: e.dmaId,
          element_id: e.elementId,
          parameter_id: e.parameterId,
          idx: e.index,
          display_key: e.displayKey,
          alarm_id: e.alarmId,
          root_alarm_id: e.rootAlarmId,
          previous_alarm_id: e.previousAlarmId,
          severity: e.severity,
          severity_range: e.severityRange,
          alarm_type: e.alarmType,
          status: e.status,
          user_status: e.userStatus,
          value: e.value,
          display_value: e.displayValue,
          ts: e.timestamp,
          created_at: e.createdAt,
          root_created_at: e.rootCreatedAt,
          owner: e.owner,
          comment: e.comment,
          element_name: e.elementName,
          parameter_name: e.parameterName,
        })),
      });
      const activeKeys = async () =>
        (
          await queryRows<{ e: number; r: string }>(
            client,
            `SELECT element_id AS e, toString(root_alarm_id) AS r FROM (SELECT * FROM ${db}.alarm_active FINAL) AS t WHERE cleared = 0 ORDER BY e, r`,
          )
        ).map((x) => `${x.e}/${x.r}`);
      // The old rule: the information event (400) and the status-cleared tree (500) count as active.
      assert.deepEqual(await activeKeys(), ['1/200', '1/300', '1/400', '1/500', '2/100', '2/600']);
      await ensureSchema(client, db);
      const expected = [
        { e: 1, r: '200', s: 6, p: '200', c: String(T0 + 2500) },
        { e: 1, r: '300', s: 6, p: '300', c: String(T0 + 6000) },
        { e: 2, r: '100', s: 6, p: '0', c: String(T0 + 1200) },
        { e: 2, r: '600', s: 6, p: '600', c: String(T0 + 11_000) },
      ];
      const migrated = await queryRows<{ e: number; r: string; s: number; p: string; c: string }>(
        client,
        `SELECT element_id AS e, toString(root_alarm_id) AS r, severity_range AS s, toString(previous_alarm_id) AS p, toString(created_at) AS c
         FROM (SELECT * FROM ${db}.alarm_active FINAL) AS t WHERE cleared = 0 ORDER BY e, r`,
      );
      assert.deepEqual(migrated, expected);
      const view = async () =>
        (
          await queryRows<{ q: string }>(
            client,
            `SELECT create_table_query AS q FROM system.tables WHERE database = '${db}' AND name = 'alarm_active_mv'`,
          )
        )[0]?.q;
      const definition = await view();
      const rows = async () => Number((await queryRows<{ n: Int64Json }>(client, `SELECT count() AS n FROM ${db}.alarm_active`))[0]!.n);
      const before = await rows();
      await ensureSchema(client, db);
      assert.equal(await view(), definition, 'a second run leaves the view alone');
      assert.equal(await rows(), before, 'and rewrites nothing');
      // New events go through the new view.
      await client.insert({
        table: `${db}.alarm_events`,
        format: 'JSONEachRow',
        values: [
          {
            dms_id: A,
            dma_id: 1,
            element_id: 2,
            alarm_id: 602,
            root_alarm_id: 600,
            severity: 5,
            alarm_type: 11,
            status: 11,
            ts: T0 + 12_000,
          },
        ],
      });
      assert.deepEqual(await activeKeys(), ['1/200', '1/300', '2/100']);
    } finally {
      await client.command({ query: `DROP DATABASE IF EXISTS ${db}` });
      await client.close();
    }
  });
});
