/**
 * The trend route against the real Writer → Kafka → Sink → ClickHouse path: tier choice (auto,
 * explicit), fallback past tiers without data, on-the-fly aggregation, status rows, discrete
 * values, wildcard table indices, order, limits, tenant isolation, and identical answers after
 * every topic is re-read from the start (at-least-once repeats).
 */
import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TrendInput } from '../../schemas/validate.ts';
import type { TrendPointOut } from '../../query/trends/points.ts';
import { startQueryFixture, type QueryFixture } from '../support/query.ts';

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const D = 24 * H;
const T0 = Date.UTC(2025, 5, 1);
const DMS = 7;
const FOREIGN = 8;
const DMA = 1;
const EL = 5;
const P_MAIN = 100; // real-time 2 days, 5-min 90 days, 1-hour and long 1 year
const P_RT_ONLY = 300; // real-time only, 30 days
const P_DISCRETE = 400;
const P_TABLE = 500;
const P_LATE = 600; // written during a test: its plan changes between two requests
const INDICES = ['eth0', 'eth1', 'eth10', 'wlan0', 'a_b', 'axb'];

type Point = TrendPointOut;
interface Series {
  parameterId: number;
  index: string;
  type: string;
  windowMinutes: number;
  aggregated: boolean;
  bucketMs: number | null;
  points: Point[];
}
interface TrendBody {
  dmaId: number;
  elementId: number;
  from: number;
  to: number;
  order: string;
  series: Series[];
  statusRows: { time: number; status: number }[];
}

/** Every record written for DMS 7, so expectations derive from the same data. */
const mine: TrendInput[] = [];
const foreign: TrendInput[] = [];

function realtime(
  parameterId: number,
  start: number,
  end: number,
  step: number,
  value: (k: number) => Partial<TrendInput>,
  index = '',
): TrendInput[] {
  const out: TrendInput[] = [];
  for (let t = start, k = 0; t < end; t += step, k++)
    out.push({ dmsId: DMS, dmaId: DMA, elementId: EL, parameterId, index, timestamp: t, ...value(k) });
  return out;
}

function averages(parameterId: number, windowMinutes: number, start: number, end: number, offset = 0): TrendInput[] {
  const out: TrendInput[] = [];
  for (let t = start, k = 0; t < end; t += windowMinutes * MIN, k++) {
    const value = (k % 50) + 0.25 + offset;
    out.push({
      dmsId: DMS,
      dmaId: DMA,
      elementId: EL,
      parameterId,
      timestamp: t,
      windowMinutes,
      value,
      min: value - 1,
      max: value + 1,
      samples: windowMinutes * 6,
      status: windowMinutes,
    });
  }
  return out;
}

const rtValue = (k: number) => ({ value: (k % 100) / 2 });

function buildData(): void {
  mine.push(...realtime(P_MAIN, T0, T0 + 2 * D, 10 * S, rtValue));
  mine.push(...averages(P_MAIN, 5, T0 - 88 * D, T0 + 2 * D));
  mine.push(...averages(P_MAIN, 60, T0 - 363 * D, T0 + 2 * D));
  mine.push(...averages(P_MAIN, 120, T0 - 363 * D, T0 + 2 * D));
  mine.push(...realtime(P_RT_ONLY, T0 - 28 * D, T0 + 2 * D, 120 * S, (k) => ({ value: (k % 7) * 1.5 })));
  mine.push({ dmsId: DMS, dmaId: DMA, elementId: EL, parameterId: P_RT_ONLY, timestamp: T0 - 10 * D + 30 * S, value: null, status: -11 });
  mine.push(
    ...realtime(P_DISCRETE, T0, T0 + D, 15 * MIN, (k) => ({ value: null, discreteValue: ['up', 'up', 'down', 'flapping'][k % 4]! })),
  );
  for (const [n, index] of INDICES.entries()) mine.push(...realtime(P_TABLE, T0, T0 + H, 10 * MIN, (k) => ({ value: n * 10 + k }), index));
  for (const [t, status] of [
    [T0 + H, -1],
    [T0 + 5 * H, -2],
    [T0 + 30 * H, -4],
  ] as const)
    mine.push({ dmsId: DMS, dmaId: DMA, elementId: EL, parameterId: -1, timestamp: t, value: null, status });

  // Another DMS with the same agent and element ids, different values: never in DMS 7's answers.
  const other = (r: TrendInput): TrendInput => ({ ...r, dmsId: FOREIGN, value: typeof r.value === 'number' ? r.value + 1000 : r.value });
  foreign.push(...realtime(P_MAIN, T0, T0 + 2 * D, 10 * S, rtValue).map(other));
  for (const w of [5, 60, 120]) foreign.push(...averages(P_MAIN, w, T0 - D, T0 + 2 * D, 1000).map((r) => ({ ...r, dmsId: FOREIGN })));
  foreign.push(...realtime(P_TABLE, T0, T0 + H, 10 * MIN, (k) => ({ value: k }), 'eth2').map(other));
  foreign.push({ dmsId: FOREIGN, dmaId: DMA, elementId: EL, parameterId: -1, timestamp: T0 + 2 * H, value: null, status: -3 });
  foreign.push(...realtime(P_MAIN, T0, T0 + H, MIN, rtValue).map((r) => ({ ...other(r), elementId: 6 })));
}

/** The raw points of one series and tier in [from, to), ascending. */
function rawPoints(parameterId: number, windowMinutes: number, from: number, to: number, index = ''): Point[] {
  return mine
    .filter(
      (r) =>
        r.parameterId === parameterId &&
        (r.windowMinutes ?? 0) === windowMinutes &&
        (r.index ?? '') === index &&
        r.timestamp >= from &&
        r.timestamp < to,
    )
    .sort((a, b) => a.timestamp - b.timestamp)
    .map((r) => ({
      time: r.timestamp,
      status: r.status ?? 0,
      value: r.value ?? null,
      min: windowMinutes > 0 ? (r.min ?? null) : null,
      max: windowMinutes > 0 ? (r.max ?? null) : null,
      samples: windowMinutes > 0 ? (r.samples ?? 0) : null,
      discreteValue: r.discreteValue ?? null,
      discreteMax: windowMinutes > 0 ? (r.discreteMax ?? null) : null,
    }));
}

/** Real-time points aggregated the way the API documents it (independent implementation). */
function bucketed(points: Point[], from: number, bucketMs: number): Point[] {
  const buckets = new Map<number, Point[]>();
  const out: Point[] = [];
  for (const p of points) {
    if (p.status < 0) {
      out.push(p);
      continue;
    }
    const start = from + Math.floor((p.time - from) / bucketMs) * bucketMs;
    buckets.set(start, [...(buckets.get(start) ?? []), p]);
  }
  for (const [time, ps] of buckets) {
    const values = ps.map((p) => p.value).filter((v): v is number => v !== null);
    const freq = new Map<string, number>();
    for (const p of ps) if (p.discreteValue !== null) freq.set(p.discreteValue, (freq.get(p.discreteValue) ?? 0) + 1);
    const mode = [...freq].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? null;
    out.push({
      time,
      status: 0,
      value: values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length,
      min: values.length === 0 ? null : Math.min(...values),
      max: values.length === 0 ? null : Math.max(...values),
      samples: ps.length,
      discreteValue: mode,
      discreteMax: null,
    });
  }
  return out.sort((a, b) => a.time - b.time || a.status - b.status);
}

const desc = <T>(xs: T[]): T[] => [...xs].reverse();

function url(params: Record<string, string | number | (string | number)[]>, element = `${DMA}/${EL}`): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const x of Array.isArray(v) ? v : [v]) q.append(k, String(x));
  return `/v1/elements/${element}/trends?${q.toString()}`;
}

describe('Query API trends (real Writer, Kafka, Sink, ClickHouse)', () => {
  let f: QueryFixture;
  let token: string;
  const answers = new Map<string, string>();

  const trends = async (params: Record<string, string | number | (string | number)[]>): Promise<TrendBody> => {
    const u = url(params);
    const r = await f.get<TrendBody>(u, token);
    assert.equal(r.status, 200, r.text);
    answers.set(u, r.text);
    return r.body;
  };

  before(async () => {
    buildData();
    f = await startQueryFixture();
    for (const r of [...mine, ...foreign]) await f.writer.trend(r);
    await f.stored();
    token = await f.token(DMS);
  });

  after(async () => {
    await f?.stop();
  });

  it('answers 24 h of real-time points, newest first, with the element status rows', async () => {
    const body = await trends({ parameter: P_MAIN, from: T0, to: T0 + D, type: 'realtime' });
    assert.deepEqual(body.series, [
      {
        parameterId: P_MAIN,
        index: '',
        type: 'realtime',
        windowMinutes: 0,
        aggregated: false,
        bucketMs: null,
        points: desc(rawPoints(P_MAIN, 0, T0, T0 + D)),
      },
    ]);
    assert.equal(body.series[0]!.points.length, 8640);
    assert.deepEqual(body.statusRows, [
      { time: T0 + 5 * H, status: -2 },
      { time: T0 + H, status: -1 },
    ]);
    assert.deepEqual([body.dmaId, body.elementId, body.from, body.to, body.order], [DMA, EL, T0, T0 + D, 'desc']);
  });

  it('order=asc answers the same points oldest first', async () => {
    const d = await trends({ parameter: P_MAIN, from: T0, to: T0 + D, type: 'realtime' });
    const a = await trends({ parameter: P_MAIN, from: T0, to: T0 + D, type: 'realtime', order: 'asc' });
    assert.equal(a.order, 'asc');
    assert.deepEqual(a.series[0]!.points, desc(d.series[0]!.points));
    assert.deepEqual(a.statusRows, desc(d.statusRows));
    assert.equal(a.series[0]!.points[0]!.time, T0);
  });

  it('auto over 2 days picks 5-minute averages when real-time does not fit', async () => {
    const body = await trends({ parameter: P_MAIN, from: T0, to: T0 + 2 * D });
    const s = body.series[0]!;
    assert.deepEqual([s.type, s.windowMinutes, s.aggregated, s.bucketMs], ['average', 5, false, null]);
    assert.deepEqual(s.points, desc(rawPoints(P_MAIN, 5, T0, T0 + 2 * D)));
    assert.equal(s.points.length, 576);
    assert.deepEqual(body.statusRows, [
      { time: T0 + 30 * H, status: -4 },
      { time: T0 + 5 * H, status: -2 },
      { time: T0 + H, status: -1 },
    ]);
  });

  it('auto over 30 days picks 5-minute averages (8,640 points)', async () => {
    const from = T0 - 28 * D;
    const s = (await trends({ parameter: P_MAIN, from, to: T0 + 2 * D })).series[0]!;
    assert.deepEqual([s.type, s.windowMinutes, s.aggregated], ['average', 5, false]);
    assert.equal(s.points.length, 8640);
    assert.deepEqual(s.points, desc(rawPoints(P_MAIN, 5, from, T0 + 2 * D)));
  });

  it('auto over a year picks 1-hour averages (8,760 points)', async () => {
    const from = T0 + 2 * D - 365 * D;
    const s = (await trends({ parameter: P_MAIN, from, to: T0 + 2 * D })).series[0]!;
    assert.deepEqual([s.type, s.windowMinutes, s.aggregated], ['average', 60, false]);
    assert.equal(s.points.length, 8760);
    assert.deepEqual(s.points, desc(rawPoints(P_MAIN, 60, from, T0 + 2 * D)));
  });

  it('auto beyond the 1-hour budget picks the long averages', async () => {
    const from = T0 + 2 * D - 365 * D;
    const s = (await trends({ parameter: P_MAIN, from, to: T0 + 2 * D, maxPoints: 5000 })).series[0]!;
    assert.deepEqual([s.type, s.windowMinutes, s.aggregated], ['average', 120, false]);
    assert.equal(s.points.length, 4380);
    assert.deepEqual(s.points, desc(rawPoints(P_MAIN, 120, from, T0 + 2 * D)));
  });

  it('falls back past tiers with no data in the range (no real-time, no 5-minute averages)', async () => {
    const [from, to] = [T0 - 200 * D, T0 - 100 * D];
    const s = (await trends({ parameter: P_MAIN, from, to, maxPoints: 100_000 })).series[0]!;
    assert.deepEqual([s.type, s.windowMinutes, s.aggregated], ['average', 60, false]);
    assert.deepEqual(s.points, desc(rawPoints(P_MAIN, 60, from, to)));
    assert.equal(s.points.length, 2400);
    // An explicit interval without data answers that tier, empty.
    const empty = (await trends({ parameter: P_MAIN, from, to, interval: '5m' })).series[0]!;
    assert.deepEqual(empty, {
      parameterId: P_MAIN,
      index: '',
      type: 'average',
      windowMinutes: 5,
      aggregated: false,
      bucketMs: null,
      points: [],
    });
  });

  it('explicit interval=1h and type=average use exactly that tier', async () => {
    const s = (await trends({ parameter: P_MAIN, from: T0, to: T0 + 2 * D, interval: '1h', order: 'asc' })).series[0]!;
    assert.deepEqual([s.type, s.windowMinutes, s.aggregated], ['average', 60, false]);
    assert.deepEqual(s.points, rawPoints(P_MAIN, 60, T0, T0 + 2 * D));
    const avg = (await trends({ parameter: P_MAIN, from: T0, to: T0 + D, type: 'average', order: 'asc' })).series[0]!;
    assert.deepEqual([avg.windowMinutes, avg.points.length], [5, 288]);
  });

  it('aggregates a real-time-only parameter over 30 days into buckets (exact avg/min/max), keeping its status rows', async () => {
    const [from, to] = [T0 - 28 * D, T0 + 2 * D];
    const s = (await trends({ parameter: P_RT_ONLY, from, to })).series[0]!;
    // ceil(30 d / 10,000) = 259,200 ms, rounded up to a whole second.
    assert.deepEqual([s.type, s.windowMinutes, s.aggregated, s.bucketMs], ['realtime', 0, true, 260_000]);
    const expected = desc(bucketed(rawPoints(P_RT_ONLY, 0, from, to), from, 260_000));
    assert.deepEqual(s.points, expected);
    assert.ok(s.points.length <= 10_000 + 1);
    assert.ok(s.points.some((p) => p.status === -11 && p.time === T0 - 10 * D + 30 * S && p.value === null));
  });

  it('aggregates an explicit real-time read that exceeds maxPoints', async () => {
    const s = (await trends({ parameter: P_MAIN, from: T0, to: T0 + 2 * D, type: 'realtime', order: 'asc' })).series[0]!;
    assert.deepEqual([s.aggregated, s.bucketMs], [true, 18_000]);
    assert.deepEqual(s.points, bucketed(rawPoints(P_MAIN, 0, T0, T0 + 2 * D), T0, 18_000));
    assert.equal(s.points.length, 9600);
  });

  it('aggregates a range with neither raw series nor status rows (a bucket is the first branch of the read)', async () => {
    // Status rows at T0 + 1 h, 5 h and 30 h: none in [T0 + 6 h, T0 + 12 h).
    const [from, to] = [T0 + 6 * H, T0 + 12 * H];
    const body = await trends({ parameter: P_MAIN, from, to, type: 'realtime', maxPoints: 100, order: 'asc' });
    assert.deepEqual(body.statusRows, []);
    const s = body.series[0]!;
    assert.deepEqual([s.aggregated, s.bucketMs], [true, 216_000]);
    assert.deepEqual(s.points, bucketed(rawPoints(P_MAIN, 0, from, to), from, 216_000));
  });

  it('answers discrete values as strings, and their most frequent value per bucket', async () => {
    const raw = (await trends({ parameter: P_DISCRETE, from: T0, to: T0 + D, order: 'asc' })).series[0]!;
    assert.equal(raw.points.length, 96);
    assert.deepEqual(raw.points.slice(0, 3), [
      { time: T0, status: 0, value: null, min: null, max: null, samples: null, discreteValue: 'up', discreteMax: null },
      { time: T0 + 15 * MIN, status: 0, value: null, min: null, max: null, samples: null, discreteValue: 'up', discreteMax: null },
      { time: T0 + 30 * MIN, status: 0, value: null, min: null, max: null, samples: null, discreteValue: 'down', discreteMax: null },
    ]);
    const agg = (await trends({ parameter: P_DISCRETE, from: T0, to: T0 + D, maxPoints: 10, order: 'asc' })).series[0]!;
    assert.deepEqual([agg.aggregated, agg.bucketMs], [true, 8_640_000]);
    assert.deepEqual(agg.points, bucketed(rawPoints(P_DISCRETE, 0, T0, T0 + D), T0, 8_640_000));
    assert.equal(agg.points[0]!.discreteValue, 'up');
  });

  it('expands wildcard table indices to the indices with data, only of this DMS', async () => {
    const series = async (parameter: string[]) =>
      (await trends({ parameter, from: T0, to: T0 + D, order: 'asc' })).series.map((s) => [s.index, s.points.length]);
    assert.deepEqual(await series([`${P_TABLE}:eth?`]), [
      ['eth0', 6],
      ['eth1', 6],
    ]);
    assert.deepEqual(await series([`${P_TABLE}:eth*`]), [
      ['eth0', 6],
      ['eth1', 6],
      ['eth10', 6],
    ]);
    // `_` is not a wildcard: a_b only; `?` matches both.
    assert.deepEqual(await series([`${P_TABLE}:a_b`]), [['a_b', 6]]);
    assert.deepEqual(await series([`${P_TABLE}:a?b`]), [
      ['a_b', 6],
      ['axb', 6],
    ]);
    // Explicit series keep request order; an explicit index without data is answered empty.
    assert.deepEqual(await series([`${P_TABLE}:wlan0`, `${P_TABLE}:nope`, `${P_TABLE}:eth1*`]), [
      ['wlan0', 6],
      ['nope', 0],
      ['eth1', 6],
      ['eth10', 6],
    ]);
    const eth1 = (await trends({ parameter: `${P_TABLE}:eth1`, from: T0, to: T0 + D, order: 'asc' })).series[0]!;
    assert.deepEqual(eth1.points, rawPoints(P_TABLE, 0, T0, T0 + D, 'eth1'));
    // Too many matches for the series limit.
    const small = await f.newApi({ maxSeries: 2 });
    const r = await f.get<{ errors: { field: string }[] }>(url({ parameter: `${P_TABLE}:*`, from: T0, to: T0 + D }), token, small);
    assert.equal(r.status, 400);
    assert.equal(r.body.errors[0]!.field, 'querystring.parameter');
  });

  it('answers several series from different tiers in one request', async () => {
    const [from, to] = [T0 - 28 * D, T0 + 2 * D];
    const body = await trends({ parameter: [P_MAIN, P_RT_ONLY, `${P_TABLE}:eth0`], from, to, order: 'asc' });
    assert.deepEqual(
      body.series.map((s) => [s.parameterId, s.index, s.windowMinutes, s.aggregated]),
      [
        [P_MAIN, '', 5, false],
        [P_RT_ONLY, '', 0, true],
        [P_TABLE, 'eth0', 0, false],
      ],
    );
    assert.deepEqual(body.series[0]!.points, rawPoints(P_MAIN, 5, from, to));
    assert.deepEqual(body.series[1]!.points, bucketed(rawPoints(P_RT_ONLY, 0, from, to), from, 260_000));
    assert.deepEqual(body.series[2]!.points, rawPoints(P_TABLE, 0, from, to, 'eth0'));
  });

  it('reads the data of a remembered plan beside the counts, and drops that read when new data changed the plan', async () => {
    // Early reads are the path of ranges the cache of sealed days does not answer: an API without it.
    const plain = await f.newApi({ trendCacheBytes: 0 });
    const earlyReads = async (): Promise<{ used: number; cancelled: number; none: number }> => {
      const text = (await f.get('/metrics', undefined, plain)).text;
      const value = (outcome: string) =>
        Number(new RegExp(`^staas_query_trend_early_reads_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
      return { used: value('used'), cancelled: value('cancelled'), none: value('none') };
    };
    const [from, to] = [T0 + 3 * D, T0 + 4 * D];
    const hourly = averages(P_LATE, 60, from, to);
    mine.push(...hourly);
    for (const r of hourly) await f.writer.trend(r);
    await f.stored();
    // A graph's shape is its range length, not its position: a refresh one minute later shares the plan.
    const u = url({ parameter: P_LATE, from, to });
    const moved = url({ parameter: P_LATE, from: from + MIN, to: to + MIN });
    const before = await earlyReads();
    const first = await f.get<TrendBody>(u, token, plain);
    const refreshed = await f.get<TrendBody>(moved, token, plain);
    const again = await f.get<TrendBody>(u, token, plain);
    assert.equal(again.text, first.text);
    assert.deepEqual(first.body.series[0]!.points, desc(rawPoints(P_LATE, 60, from, to)));
    assert.deepEqual(refreshed.body.series[0]!.points, desc(rawPoints(P_LATE, 60, from + MIN, to + MIN)));
    const remembered = await earlyReads();
    assert.equal(remembered.used - before.used, 2, 'the refresh and the repeat read early');

    // Real-time points arrive (144, within the budget): the counts now pick real-time; the early
    // read of the 1-hour plan must not answer.
    const rt = realtime(P_LATE, from, to, 10 * MIN, (k) => ({ value: k * 0.5 }));
    mine.push(...rt);
    for (const r of rt) await f.writer.trend(r);
    await f.stored();
    const changed = (await f.get<TrendBody>(u, token, plain)).body.series[0]!;
    assert.deepEqual([changed.type, changed.windowMinutes, changed.aggregated], ['realtime', 0, false]);
    assert.deepEqual(changed.points, desc(rawPoints(P_LATE, 0, from, to)));
    assert.equal((await earlyReads()).cancelled - remembered.cancelled, 1);
    const next = (await f.get<TrendBody>(u, token, plain)).body.series[0]!;
    assert.deepEqual(next, changed);
  });

  it('streams the same answer as NDJSON lines when the client asks for application/x-ndjson', async () => {
    const [from, to] = [T0 - 28 * D, T0 + 2 * D];
    const params = { parameter: [P_MAIN, P_RT_ONLY, `${P_TABLE}:eth0`, `${P_TABLE}:none`], from, to };
    const json = await trends(params);
    const res = await f.api.inject({
      method: 'GET',
      url: url(params),
      headers: { authorization: `Bearer ${token}`, accept: 'application/json;q=0.5, application/x-ndjson' },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /^application\/x-ndjson/);
    const lines = res.body
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const { series, statusRows, ...head } = json;
    assert.ok(statusRows.length > 0 && series.every((s) => s.points.length > 0 || s.index === 'none'));
    assert.deepEqual(lines, [
      { kind: 'trend', ...head },
      ...series.flatMap(({ points, ...s }) => [
        { kind: 'series', ...s },
        ...points.map((pt) => ({ kind: 'point', parameterId: s.parameterId, index: s.index, ...pt })),
      ]),
      ...statusRows.map((r) => ({ kind: 'status', ...r })),
    ]);
    // JSON stays the default, also for clients that accept anything.
    const any = await f.api.inject({ method: 'GET', url: url(params), headers: { authorization: `Bearer ${token}`, accept: '*/*' } });
    assert.match(String(any.headers['content-type']), /^application\/json/);
    assert.deepEqual(JSON.parse(any.body), json);
  });

  it('answers concurrent requests over real sockets byte for byte, slow and gzip readers included', async () => {
    // Answers are assembled in buffers reused across requests once a response has been sent:
    // a buffer reused too early would show up here as a corrupted body.
    const app = await f.newApi();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const paths = [
      url({ parameter: P_MAIN, from: T0 - 28 * D, to: T0 + 2 * D }),
      url({ parameter: [P_MAIN, P_RT_ONLY, `${P_TABLE}:eth0`], from: T0 - 28 * D, to: T0 + 2 * D, order: 'asc' }),
      url({ parameter: P_MAIN, from: T0, to: T0 + D, type: 'realtime' }),
    ];
    const expected = await Promise.all(paths.map(async (p) => (await f.get<unknown>(p, token)).text));
    const slowGet = (path: string, pauseMs: number) =>
      new Promise<string>((resolve, reject) => {
        const req = httpGet({ host: '127.0.0.1', port, path, headers: { authorization: `Bearer ${token}` } }, (res) => {
          const parts: Buffer[] = [];
          res.pause();
          setTimeout(() => {
            res.on('data', (c: Buffer) => parts.push(c));
            res.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
            res.resume();
          }, pauseMs);
        });
        req.on('error', reject);
      });
    const gzipGet = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' },
      });
      assert.equal(res.headers.get('content-encoding'), 'gzip');
      return res.text();
    };
    for (let round = 0; round < 3; round++) {
      const runs = paths.flatMap((p, n) => [
        { n, body: slowGet(p, 300) },
        { n, body: gzipGet(p) },
        { n, body: gzipGet(p) },
        { n, body: gzipGet(p) },
        { n, body: slowGet(p, 0) },
      ]);
      for (const r of runs) assert.equal(await r.body, expected[r.n]);
    }
  });

  it('answers 400 naming the field for bad requests', async () => {
    const cases: [Record<string, string | number>, string][] = [
      [{ parameter: P_MAIN, from: T0 + D, to: T0 }, 'querystring.from'],
      [{ parameter: P_MAIN, from: T0, to: T0 }, 'querystring.from'],
      [{ parameter: P_MAIN, from: T0 - 4000 * D, to: T0 }, 'querystring.to'],
      [{ parameter: P_MAIN, from: T0, to: T0 + D, maxPoints: 100_001 }, 'querystring.maxPoints'],
      [{ parameter: 'abc', from: T0, to: T0 + D }, 'querystring.parameter'],
      [{ parameter: '1x:eth0', from: T0, to: T0 + D }, 'querystring.parameter'],
      [{ parameter: '99999999999', from: T0, to: T0 + D }, 'querystring.parameter'],
      [{ parameter: P_MAIN, from: T0, to: T0 + D, colour: 'red' }, 'querystring.colour'],
      [{ parameter: P_MAIN, from: T0, to: T0 + D, type: 'realtime', interval: '1h' }, 'querystring.interval'],
      [{ parameter: P_MAIN, from: T0, to: T0 + D, type: 'fast' }, 'querystring.type'],
      [{ from: T0, to: T0 + D }, 'querystring.parameter'],
    ];
    for (const [params, field] of cases) {
      const r = await f.get<{ status: number; errors: { field: string }[] }>(url(params), token);
      assert.equal(r.status, 400, `${JSON.stringify(params)}: ${r.text}`);
      assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
      assert.ok(
        r.body.errors.some((e) => e.field === field),
        `${JSON.stringify(params)} → ${r.text}`,
      );
    }
  });

  it('answers 404 for an element of another DMS or none at all', async () => {
    for (const element of [`${DMA}/6`, `${DMA}/999`, `2/${EL}`]) {
      const r = await f.get(url({ parameter: P_MAIN, from: T0, to: T0 + D }, element), token);
      assert.equal(r.status, 404, element);
    }
    // DMS 8 sees its own element 1/6 (and its own values for 1/5).
    const other = await f.token(FOREIGN);
    const r = await f.get<TrendBody>(url({ parameter: P_MAIN, from: T0, to: T0 + 3 * H, type: 'realtime', order: 'asc' }), other);
    assert.equal(r.status, 200);
    assert.equal(r.body.series[0]!.points[1]!.value, 1000.5);
    assert.deepEqual(r.body.statusRows, [{ time: T0 + 2 * H, status: -3 }]);
  });

  it('answers identically after every topic is re-read from the start', async () => {
    assert.ok(answers.size >= 15);
    await f.rereadFromStart();
    for (const [u, text] of answers) {
      const r = await f.get(u, token);
      assert.equal(r.status, 200);
      assert.equal(r.text, text, u);
    }
  });
});
