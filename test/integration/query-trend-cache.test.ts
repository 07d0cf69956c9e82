/**
 * The Query API's cache of sealed trend days (query/trends/day-cache.ts) against the real Writer →
 * Kafka → Sink → ClickHouse path: every answer equals the answer of an API without the cache
 * (ranges across the live day and cut days, both orders, both formats, every type and interval,
 * small and large budgets, status rows, discrete values), the cache is really used, and a late
 * write into a cached day (the Sink's late-write marker) is in the next answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gunzipSync, inflateSync } from 'node:zlib';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import type { TrendInput } from '../../schemas/validate.ts';
import { SEAL_AFTER_MS } from '../../query/trends/sealed-days.ts';
import { startQueryFixture, type QueryFixture } from '../support/query.ts';

const MIN = 60_000;
const H = 60 * MIN;
const D = 24 * H;
const DMS = 21;
const DMA = 3;
const EL = 9;
const P_AVG = 100; // 5-min averages 40 days, 1-hour averages 120 days, real-time 3 days
const P_TABLE = 200; // real-time every 30 min, 20 days, table index eth0
const P_DISCRETE = 300; // discrete real-time values every hour, 10 days

/** Now, aligned to a minute: the newest points are in today's (live) day, the rest sealed. */
const NOW = Math.floor(Date.now() / MIN) * MIN;
const records: TrendInput[] = [];

function build(): void {
  const base = { dmsId: DMS, dmaId: DMA, elementId: EL };
  const step = (from: number, to: number, ms: number) => {
    const out: number[] = [];
    for (let t = Math.ceil(from / ms) * ms; t < to; t += ms) out.push(t);
    return out;
  };
  for (const [w, days] of [
    [5, 40],
    [60, 120],
  ] as const)
    for (const [k, t] of step(NOW - days * D, NOW, w * MIN).entries()) {
      const value = ((k * 7) % 90) + 0.5;
      records.push({
        ...base,
        parameterId: P_AVG,
        timestamp: t,
        windowMinutes: w,
        value,
        min: value - 2,
        max: value + 2,
        samples: w * 6,
        status: w,
      });
    }
  for (const [k, t] of step(NOW - 3 * D, NOW, 10 * MIN).entries())
    records.push({ ...base, parameterId: P_AVG, timestamp: t, value: k % 13 });
  for (const [k, t] of step(NOW - 20 * D, NOW, 30 * MIN).entries())
    records.push({ ...base, parameterId: P_TABLE, index: 'eth0', timestamp: t, value: k / 4 });
  for (const [k, t] of step(NOW - 10 * D, NOW, H).entries())
    records.push({ ...base, parameterId: P_DISCRETE, timestamp: t, value: null, discreteValue: ['up', 'down', 'flap "x"'][k % 3]! });
  for (const days of [15, 6, 2, 0.5, 0.01])
    records.push({ ...base, parameterId: -1, timestamp: NOW - Math.round(days * D), value: null, status: -1 - Math.round(days) });
  // A status row with a table index: status rows are read per time, whatever their index.
  records.push({ ...base, parameterId: -1, index: 'slot-1', timestamp: NOW - 9 * D + 5 * MIN, value: null, status: -7 });
}

describe('the cache of sealed trend days', () => {
  let f: QueryFixture;
  let plain: FastifyInstance;
  let token: string;

  before(async () => {
    build();
    f = await startQueryFixture();
    plain = await f.newApi({ trendCacheBytes: 0 });
    token = await f.token(DMS);
    for (const r of records) await f.writer.trend(r);
    await f.stored();
  });
  after(async () => f?.stop());

  const url = (q: Record<string, string | number | (string | number)[]>) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) for (const x of Array.isArray(v) ? v : [v]) params.append(k, String(x));
    return `/v1/elements/${DMA}/${EL}/trends?${params.toString()}`;
  };
  const metric = async (app: FastifyInstance, pattern: RegExp) =>
    Number(pattern.exec((await f.get('/metrics', undefined, app)).text)?.[1] ?? 0);

  it('answers every request exactly as an API without it, and serves sealed days from memory', async () => {
    const spliced = /^staas_query_trend_sealed_reads_total\{outcome="spliced"\} (\d+)$/m;
    const before = await metric(f.api, spliced);
    let compared = 0;
    let gzipSpliced = 0;
    const decoded = (res: { headers: Record<string, unknown>; rawPayload: Buffer }) =>
      res.headers['content-encoding'] === 'gzip'
        ? gunzipSync(res.rawPayload)
        : res.headers['content-encoding'] === 'deflate'
          ? inflateSync(res.rawPayload)
          : res.rawPayload;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          fromAgo: fc.integer({ min: 0, max: 130 * D }),
          length: fc.integer({ min: MIN, max: 130 * D }),
          parameter: fc.subarray([String(P_AVG), `${P_TABLE}:eth0`, String(P_DISCRETE), `${P_TABLE}:none`], { minLength: 1 }),
          type: fc.constantFrom('auto', 'realtime', 'average'),
          interval: fc.constantFrom('auto', '5m', '1h', 'long'),
          maxPoints: fc.constantFrom(undefined, 20, 500, 3000, 100_000),
          order: fc.constantFrom('desc', 'asc'),
          ndjson: fc.boolean(),
          gzip: fc.constantFrom(undefined, 'gzip', 'gzip, deflate, br', 'deflate'),
        }),
        async (c) => {
          const from = NOW - c.fromAgo;
          const q: Record<string, string | number | string[]> = {
            parameter: c.parameter,
            from,
            to: from + c.length,
            type: c.type,
            interval: c.type === 'realtime' ? 'auto' : c.interval,
            order: c.order,
          };
          if (c.maxPoints !== undefined) q.maxPoints = c.maxPoints;
          const headers = {
            authorization: `Bearer ${token}`,
            ...(c.ndjson ? { accept: 'application/x-ndjson' } : {}),
            ...(c.gzip !== undefined ? { 'accept-encoding': c.gzip } : {}),
          };
          const [cached, direct] = await Promise.all([f.api, plain].map((app) => app.inject({ method: 'GET', url: url(q), headers })));
          assert.equal(direct!.statusCode, 200, direct!.body);
          assert.equal(cached!.statusCode, 200, cached!.body);
          // Spliced gzip answers (query/http/gzip-splice.ts) name no OS in their header (255);
          // zlib's, from @fastify/compress, name Unix (3).
          if (cached!.headers['content-encoding'] === 'gzip' && cached!.rawPayload[9] === 255) gzipSpliced++;
          assert.equal(decoded(cached!).toString(), decoded(direct!).toString(), JSON.stringify(q));
          compared++;
        },
      ),
      { numRuns: 120, seed: 20261130 },
    );
    assert.equal(compared, 120);
    assert.ok(gzipSpliced > 10, `gzip-spliced answers: ${gzipSpliced}`);
    assert.ok((await metric(f.api, spliced)) - before > 40, 'most requests were answered with sealed days from the cache');
  });

  it('answers ranges of days still being written only through the live reads, exactly as an API without the cache', async () => {
    const live = /^staas_query_trend_sealed_reads_total\{outcome="live"\} (\d+)$/m;
    const before = await metric(f.api, live);
    const parameters = [[String(P_AVG)], [`${P_TABLE}:eth0`, String(P_DISCRETE)], [String(P_AVG), `${P_TABLE}:none`]];
    let n = 0;
    for (const [ago, length] of [
      [3 * H, 3 * H],
      [30 * MIN, 30 * MIN],
      [50 * MIN, 20 * MIN],
      [H, 2 * H],
    ] as const)
      for (const parameter of parameters)
        for (const extra of [
          {} as Record<string, string | number>,
          { order: 'asc' },
          { maxPoints: 3 },
          { type: 'average' },
          { type: 'realtime', order: 'asc', maxPoints: 500 },
        ]) {
          const q = { parameter, from: NOW - ago, to: NOW - ago + length, ...extra };
          for (const accept of ['application/json', 'application/x-ndjson']) {
            const headers = { authorization: `Bearer ${token}`, accept, 'accept-encoding': 'gzip' };
            const [cached, direct] = await Promise.all([f.api, plain].map((app) => app.inject({ method: 'GET', url: url(q), headers })));
            assert.equal(direct!.statusCode, 200, `${JSON.stringify(q)} ${accept}: ${direct!.body}`);
            assert.equal(cached!.statusCode, 200, `${JSON.stringify(q)} ${accept}: ${cached!.body}`);
            const body = (r: typeof cached) =>
              (r!.headers['content-encoding'] === 'gzip' ? gunzipSync(r!.rawPayload) : r!.rawPayload).toString();
            assert.equal(body(cached), body(direct), JSON.stringify(q));
            n++;
          }
        }
    assert.ok((await metric(f.api, live)) - before >= n / 2, 'the ranges without a sealed day took the live reads');
  });

  it('serves a repeated request from memory: no read of sealed days from ClickHouse the second time', async () => {
    const q = { parameter: [String(P_AVG), `${P_TABLE}:eth0`], from: NOW - 30 * D - 7 * H, to: NOW };
    const reads = (label: string) => new RegExp(`^staas_query_clickhouse_query_duration_seconds_count\\{query="${label}"\\} (\\d+)$`, 'm');
    const first = await f.get(url(q), token);
    const dayData = await metric(f.api, reads('trend.day-data'));
    const dayCounts = await metric(f.api, reads('trend.day-counts'));
    const live = await metric(f.api, reads('trend.live'));
    const liveAverages = await metric(f.api, reads('trend.live-averages'));
    const second = await f.get(url(q), token);
    assert.equal(second.text, first.text);
    assert.equal(await metric(f.api, reads('trend.day-data')), dayData);
    assert.equal(await metric(f.api, reads('trend.day-counts')), dayCounts);
    assert.equal(await metric(f.api, reads('trend.live')), live + 1, 'only the days not sealed are read');
    assert.equal(await metric(f.api, reads('trend.live-averages')), liveAverages + 1);
    assert.equal(await metric(f.api, /^staas_query_trend_cache_serving (\d+)$/m), 1);
    assert.ok((await metric(f.api, /^staas_query_trend_cache_bytes (\d+)$/m)) > 100_000);
    assert.equal(await metric(plain, /^staas_query_trend_cache_serving (\d+)$/m), 0, 'an API without the cache says so');
  });

  it('ends the ClickHouse read of an answer replaced by a 401 (a token revoked between two requests)', async () => {
    const issued = await f.tokens.create({ kind: 'api', dmsId: DMS, name: 'revoked mid-dashboard', scopes: ['trends:read'] });
    // A wildcard index reads the whole range from ClickHouse, streamed into the answer.
    const q = { parameter: `${P_TABLE}:eth*`, from: NOW - 10 * D, to: NOW };
    assert.equal((await f.get(url(q), issued.token)).status, 200);
    await f.tokens.revoke(issued.info.tokenId);
    // A gzip-spliced answer replaced by the 401: the problem comes without the answer's coding.
    const sealedDays = { parameter: String(P_AVG), from: NOW - 10 * D, to: NOW };
    const refused = await f.api.inject({
      method: 'GET',
      url: url(sealedDays),
      headers: { authorization: `Bearer ${issued.token}`, 'accept-encoding': 'gzip' },
    });
    assert.equal(refused.statusCode, 401);
    assert.equal(refused.headers['content-encoding'], undefined);
    assert.equal((JSON.parse(refused.body) as { status: number }).status, 401);
    // More held answers than the ClickHouse client has sockets (10): a read left open would keep
    // its socket until the client's timeout, and the next reads would queue behind them.
    for (let i = 0; i < 14; i++) assert.equal((await f.get(url(q), issued.token)).status, 401);
    const started = Date.now();
    assert.equal((await f.get(url(q), token)).status, 200);
    assert.ok(Date.now() - started < 5000, `a read after the 401s took ${Date.now() - started} ms`);
  });

  it('answers the newest copy of a point of a day being written whole, NULL values included', async () => {
    // A point sent again with a NULL value (a correction): the newer row wins whole, as once its
    // day is sealed and as an API without the cache answers (argMax of a Nullable column alone
    // skips NULL and would answer the older value beside the newer status).
    const P_FIXED = 400;
    const t = NOW - 20 * MIN;
    const key = { dmsId: DMS, dmaId: DMA, elementId: EL, parameterId: P_FIXED, timestamp: t };
    await f.writer.trend({ ...key, value: 5.5, status: 0 });
    await f.writer.trend({ ...key, windowMinutes: 5, value: 4.5, min: 4, max: 5, samples: 30, status: 5 });
    await f.stored();
    await f.writer.trend({ ...key, value: null, status: -3 });
    await f.writer.trend({ ...key, windowMinutes: 5, value: null, min: null, max: null, samples: 0, status: 5 });
    await f.stored();
    for (const type of ['realtime', 'average']) {
      const q = { parameter: String(P_FIXED), from: NOW - H, to: NOW, type };
      const cached = await f.get<{ series: { points: { time: number; status: number; value: number | null; min: number | null }[] }[] }>(
        url(q),
        token,
      );
      const point = cached.body.series[0]!.points.find((p) => p.time === t)!;
      assert.deepEqual([point.status, point.value, point.min], type === 'realtime' ? [-3, null, null] : [5, null, null]);
      assert.equal(cached.text, (await f.get(url(q), token, plain)).text);
    }
  });

  it('answers a late write into a cached day with the next request (the Sink marks it, the API drops the day)', async () => {
    const day = NOW - 12 * D;
    const q = { parameter: String(P_AVG), from: day - D, to: day + D, type: 'average', interval: '5m', order: 'asc' };
    const before = (await f.get<{ series: { points: { time: number; value: number }[] }[] }>(url(q), token)).body;
    const point = before.series[0]!.points[100]!;
    assert.ok(point.time < NOW - D - SEAL_AFTER_MS, 'the point is in a sealed day');
    // The agent sends that window's average again, corrected (same key: the newer row wins).
    await f.writer.trend({
      dmsId: DMS,
      dmaId: DMA,
      elementId: EL,
      parameterId: P_AVG,
      timestamp: point.time,
      windowMinutes: 5,
      value: 4242.5,
      min: 4000,
      max: 4500,
      samples: 30,
      status: 5,
    });
    await f.stored();
    const after = await f.get<{ series: { points: { time: number; value: number }[] }[] }>(url(q), token);
    const changed = after.body.series[0]!.points.find((p) => p.time === point.time)!;
    assert.equal(changed.value, 4242.5);
    assert.equal(after.text, (await f.get(url(q), token, plain)).text);
  });
});
