/** Trend tier choice, bucket arithmetic, series specs and point shaping (pure logic). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planSeries } from '../../query/trends/plan.ts';
import { bucketPoint, mostFrequent } from '../../query/trends/points.ts';
import { RowBinaryWriter } from '../../storage/rowbinary-writer.ts';
import { RowBinaryError } from '../../query/rowbinary.ts';
import { rawOf } from '../../query/http/gzip-splice.ts';
import { TrendBodyWriter, trendBody, type TrendFormat } from '../../query/trends/response.ts';
import { matchesWildcard, parseSeriesSpecs } from '../../query/trends/series.ts';
import type { BucketStats, SeriesRead, TrendDataRow } from '../../query/trends/sql.ts';
import { bucketMsFor, bucketStart, chooseTier, coversRange, intervalClassOf } from '../../query/trends/tiers.ts';
import { HttpProblem } from '../../query/http/problem.ts';

const D = 86_400_000;

describe('chooseTier', () => {
  // A parameter trended in every tier at DataMiner's densities: one real-time point per 10 s.
  const counts = (days: number) => [
    { windowMinutes: 0, points: days * 8640 },
    { windowMinutes: 5, points: days * 288 },
    { windowMinutes: 60, points: days * 24 },
    { windowMinutes: 120, points: days * 12 },
  ];

  it("falls into DataMiner's guideline with the default budget of 10,000", () => {
    assert.deepEqual(chooseTier(counts(1), 'auto', 'auto', 10_000), { windowMinutes: 0, aggregated: false });
    assert.deepEqual(chooseTier(counts(2), 'auto', 'auto', 10_000), { windowMinutes: 5, aggregated: false });
    assert.deepEqual(chooseTier(counts(30), 'auto', 'auto', 10_000), { windowMinutes: 5, aggregated: false });
    assert.deepEqual(chooseTier(counts(365), 'auto', 'auto', 10_000), { windowMinutes: 60, aggregated: false });
    assert.deepEqual(chooseTier(counts(800), 'auto', 'auto', 10_000), { windowMinutes: 120, aggregated: false });
    assert.deepEqual(chooseTier(counts(3000), 'auto', 'auto', 10_000), { windowMinutes: 0, aggregated: true });
  });

  it('takes a count equal to the budget', () => {
    assert.deepEqual(chooseTier([{ windowMinutes: 0, points: 100 }], 'auto', 'auto', 100), { windowMinutes: 0, aggregated: false });
    assert.deepEqual(chooseTier([{ windowMinutes: 0, points: 101 }], 'auto', 'auto', 100), { windowMinutes: 0, aggregated: true });
  });

  it('skips tiers without data and aggregates the most precise tier with data when none fits', () => {
    const gappy = [
      { windowMinutes: 0, points: 0 },
      { windowMinutes: 60, points: 500 },
      { windowMinutes: 120, points: 250 },
    ];
    assert.deepEqual(chooseTier(gappy, 'auto', 'auto', 1000), { windowMinutes: 60, aggregated: false });
    assert.deepEqual(chooseTier(gappy, 'auto', 'auto', 300), { windowMinutes: 120, aggregated: false });
    assert.deepEqual(chooseTier(gappy, 'auto', 'auto', 100), { windowMinutes: 60, aggregated: true });
    assert.deepEqual(chooseTier([{ windowMinutes: 0, points: 43_200 }], 'auto', 'auto', 10_000), { windowMinutes: 0, aggregated: true });
    assert.deepEqual(chooseTier([], 'auto', 'auto', 10), { windowMinutes: 0, aggregated: false });
  });

  it('type=average considers averages only', () => {
    assert.deepEqual(chooseTier(counts(1), 'average', 'auto', 10_000), { windowMinutes: 5, aggregated: false });
    assert.deepEqual(chooseTier([{ windowMinutes: 0, points: 5 }], 'average', 'auto', 10), { windowMinutes: 5, aggregated: false });
  });

  it('explicit type or interval uses exactly that tier, aggregated over the budget', () => {
    assert.deepEqual(chooseTier(counts(30), 'realtime', 'auto', 10_000), { windowMinutes: 0, aggregated: true });
    assert.deepEqual(chooseTier(counts(1), 'realtime', 'auto', 10_000), { windowMinutes: 0, aggregated: false });
    assert.deepEqual(chooseTier(counts(365), 'auto', '5m', 10_000), { windowMinutes: 5, aggregated: true });
    assert.deepEqual(chooseTier(counts(365), 'average', '1h', 10_000), { windowMinutes: 60, aggregated: false });
    assert.deepEqual(chooseTier(counts(365), 'auto', 'long', 10_000), { windowMinutes: 120, aggregated: false });
    // No data in the class: its nominal window, empty.
    assert.deepEqual(chooseTier([{ windowMinutes: 0, points: 9 }], 'auto', '1h', 10), { windowMinutes: 60, aggregated: false });
    // The most precise window of a class with data (a DMA configured with a 10-minute short window).
    assert.deepEqual(
      chooseTier(
        [
          { windowMinutes: 10, points: 4 },
          { windowMinutes: 15, points: 3 },
        ],
        'auto',
        '5m',
        10,
      ),
      { windowMinutes: 10, aggregated: false },
    );
  });

  it('classifies windows: 5m < 60 ≤ 1h < 120 ≤ long', () => {
    assert.deepEqual([1, 5, 59, 60, 119, 120, 1440].map(intervalClassOf), ['5m', '5m', '5m', '1h', '1h', 'long', 'long']);
  });
});

describe('bucket arithmetic', () => {
  it('bucket = ceil(range / maxPoints) rounded up to a whole second', () => {
    assert.equal(bucketMsFor(0, 30 * D, 10_000), 260_000); // 259,200 → 260,000
    assert.equal(bucketMsFor(0, 2 * D, 10_000), 18_000); // 17,280 → 18,000
    assert.equal(bucketMsFor(0, D, 10), 8_640_000);
    assert.equal(bucketMsFor(0, 10, 10_000), 1000);
    assert.equal(bucketMsFor(5, 5 + 1_000_001, 1000), 2000);
  });

  it('never yields more than maxPoints buckets for [from, to)', () => {
    for (const [from, to, maxPoints] of [
      [0, 30 * D, 10_000],
      [1234, 1234 + 365 * D + 17, 8760],
      [7, 7 + 999_999, 3],
      [0, D, 86_400_000],
    ] as const) {
      const b = bucketMsFor(from, to, maxPoints);
      const last = bucketStart(to - 1, from, b);
      assert.ok((last - from) / b + 1 <= maxPoints, `${from} ${to} ${maxPoints}`);
      assert.equal(bucketStart(from, from, b), from);
      assert.equal(b % 1000, 0);
    }
  });

  it('bucket starts are aligned to from', () => {
    assert.equal(bucketStart(1_000_000 + 259_999, 1_000_000, 260_000), 1_000_000);
    assert.equal(bucketStart(1_000_000 + 260_000, 1_000_000, 260_000), 1_260_000);
  });
});

describe('series specs', () => {
  it('parses standalone and table parameters; everything after the first colon is the index', () => {
    assert.deepEqual(parseSeriesSpecs(['100', '200:eth0', '300:a:b:c', '400:', '500:eth*', '100']), [
      { parameterId: 100, index: '', wildcard: false },
      { parameterId: 200, index: 'eth0', wildcard: false },
      { parameterId: 300, index: 'a:b:c', wildcard: false },
      { parameterId: 400, index: '', wildcard: false },
      { parameterId: 500, index: 'eth*', wildcard: true },
    ]);
  });

  it('refuses malformed specs naming querystring.parameter', () => {
    for (const bad of ['abc', '-1', '1.5', ':eth0', '2147483648', ' 1', '0x10']) {
      assert.throws(
        () => parseSeriesSpecs([bad]),
        (e: unknown) => e instanceof HttpProblem && e.status === 400 && e.errors?.[0]?.field === 'querystring.parameter',
        bad,
      );
    }
    assert.deepEqual(parseSeriesSpecs(['2147483647']), [{ parameterId: 2147483647, index: '', wildcard: false }]);
  });

  it('matches DataMiner wildcards: * any run, ? one character, the rest literally', () => {
    assert.ok(matchesWildcard('eth0', 'eth?'));
    assert.ok(!matchesWildcard('eth10', 'eth?'));
    assert.ok(matchesWildcard('eth10', 'eth*'));
    assert.ok(matchesWildcard('', '*'));
    assert.ok(matchesWildcard('a.b', 'a.b'));
    assert.ok(!matchesWildcard('axb', 'a.b'));
    assert.ok(matchesWildcard('a_b', 'a?b'));
    assert.ok(matchesWildcard('x(1)', 'x(*)'));
    assert.ok(matchesWildcard('slot/é', 'slot/?'));
  });

  it('plans series in request order, wildcards expanded in place by index, over the limit refused', () => {
    const specs = parseSeriesSpecs(['7:b', '8:eth*', '7:a']);
    const counts = [
      { parameter_id: 8, idx: 'eth1', window_minutes: 0, points: 50, first: 0 },
      { parameter_id: 8, idx: 'eth0', window_minutes: 0, points: 500, first: 0 },
      { parameter_id: 8, idx: 'eth0', window_minutes: 5, points: 20, first: 0 },
      { parameter_id: 7, idx: 'a', window_minutes: 60, points: 3, first: 0 },
    ];
    assert.deepEqual(planSeries(specs, counts, { type: 'auto', interval: 'auto', maxPoints: 100, maxSeries: 4 }), [
      { parameterId: 7, index: 'b', windowMinutes: 0, aggregated: false },
      { parameterId: 8, index: 'eth0', windowMinutes: 5, aggregated: false },
      { parameterId: 8, index: 'eth1', windowMinutes: 0, aggregated: false },
      { parameterId: 7, index: 'a', windowMinutes: 60, aggregated: false },
    ]);
    assert.throws(
      () => planSeries(specs, counts, { type: 'auto', interval: 'auto', maxPoints: 100, maxSeries: 3 }),
      (e: unknown) => e instanceof HttpProblem && e.errors?.[0]?.field === 'querystring.parameter',
    );
  });
});

describe('points', () => {
  const row = (over: Partial<TrendDataRow>): TrendDataRow => ({ ord: 0, agg: 0, json: '', value_discrete: '', max_discrete: '', ...over });
  /** A bucket group row as ClickHouse writes it (sql.ts bucketJson). */
  const bucket = (stats: Partial<BucketStats> & { time: number }, over: Partial<TrendDataRow> = {}): TrendDataRow =>
    row({ agg: 1, json: JSON.stringify({ status: 0, sum: null, min: null, max: null, samples: 0, n: 1, nv: 0, ...stats }), ...over });
  const group = (stats: Partial<BucketStats> & { time: number }, valueDiscrete = '') => ({
    stats: { status: 0, sum: null, min: null, max: null, samples: 0, n: 1, nv: 0, ...stats },
    valueDiscrete,
    maxDiscrete: '',
  });

  it('merges the groups of a bucket: mean, extremes, samples, most frequent discrete value', () => {
    const p = bucketPoint(
      [
        group({ time: 10, sum: 6, nv: 3, n: 3, samples: 3, min: 1, max: 3 }),
        group({ time: 10, nv: 0, n: 2, samples: 2 }, 'down'),
        group({ time: 10, nv: 0, n: 2, samples: 2 }, 'up'),
      ],
      false,
    );
    assert.deepEqual(p, { time: 10, status: 0, value: 2, min: 1, max: 3, samples: 7, discreteValue: 'down', discreteMax: null });
  });

  it('most frequent: ties go to the smallest string, empty strings never win', () => {
    assert.equal(
      mostFrequent(
        new Map([
          ['', 10],
          ['b', 2],
          ['a', 2],
        ]),
      ),
      'a',
    );
    assert.equal(mostFrequent(new Map([['', 3]])), null);
  });

  const head = { dmaId: 9, elementId: 8, from: 0, to: 100, order: 'desc' as const };
  const reads: SeriesRead[] = [
    { parameterId: 1, index: '', windowMinutes: 0, aggregated: true },
    { parameterId: 2, index: 'a"b', windowMinutes: 5, aggregated: false },
    { parameterId: 3, index: '', windowMinutes: 0, aggregated: false },
  ];
  /** Rows in answer order (series by ord, newest first, status rows last), as RowBinary cut into chunks at every place. */
  const rows = [
    bucket({ time: 10, sum: 5, nv: 1, n: 1, samples: 1, min: 5, max: 5 }),
    row({ json: '"time":5,"status":-11,"value":null,"min":null,"max":null,"samples":null' }),
    bucket({ time: 0, sum: 4, nv: 2, n: 2, samples: 2, min: 1, max: 3 }),
    bucket({ time: 0, nv: 0, n: 3, samples: 3 }, { value_discrete: 'up' }),
    // Raw and status rows as ClickHouse writes them (sql.ts): their text in `json`.
    row({
      ord: 1,
      json: '"time":1,"status":5,"value":1.5,"min":1,"max":2,"samples":30',
      value_discrete: 'é "x"\n',
      max_discrete: '\u2028',
    }),
    row({ ord: 3, json: '"time":7,"status":-1' }),
    row({ ord: 3, json: '"time":2,"status":-5' }),
  ];
  /** The rows as the data query's RowBinary answer (TREND_DATA_SHAPE). */
  const encode = (list: readonly TrendDataRow[]): Buffer => {
    const w = new RowBinaryWriter(16);
    for (const r of list) {
      w.uint32(r.ord);
      w.uint8(r.agg);
      w.string(r.json);
      w.string(r.value_discrete);
      w.string(r.max_discrete);
    }
    return w.result();
  };
  const bytes = encode(rows);
  /** The answer written from `chunks`, as text. */
  const body = async (format: TrendFormat, chunks: readonly Buffer[], list = reads): Promise<string> => {
    const out: Buffer[] = [];
    for await (const b of trendBody(new TrendBodyWriter(head, list, 10, format), chunks)) out.push(rawOf(b));
    return Buffer.concat(out).toString('utf8');
  };
  const cutAt = (buf: Buffer, cuts: readonly number[]): Buffer[] => [0, ...cuts].map((c, i) => buf.subarray(c, [...cuts, buf.length][i]));
  const expected = {
    ...head,
    series: [
      {
        parameterId: 1,
        index: '',
        type: 'realtime',
        windowMinutes: 0,
        aggregated: true,
        bucketMs: 10,
        points: [
          { time: 10, status: 0, value: 5, min: 5, max: 5, samples: 1, discreteValue: null, discreteMax: null },
          { time: 5, status: -11, value: null, min: null, max: null, samples: null, discreteValue: null, discreteMax: null },
          { time: 0, status: 0, value: 2, min: 1, max: 3, samples: 5, discreteValue: 'up', discreteMax: null },
        ],
      },
      {
        parameterId: 2,
        index: 'a"b',
        type: 'average',
        windowMinutes: 5,
        aggregated: false,
        bucketMs: null,
        points: [{ time: 1, status: 5, value: 1.5, min: 1, max: 2, samples: 30, discreteValue: 'é "x"\n', discreteMax: '\u2028' }],
      },
      { parameterId: 3, index: '', type: 'realtime', windowMinutes: 0, aggregated: false, bucketMs: null, points: [] },
    ],
    statusRows: [
      { time: 7, status: -1 },
      { time: 2, status: -5 },
    ],
  };

  it('writes the JSON answer: raw rows as points, bucket groups merged (also across chunks), empty series kept', async () => {
    for (let a = 0; a <= bytes.length; a++) assert.deepEqual(JSON.parse(await body('json', cutAt(bytes, [a]))), expected, `cut at ${a}`);
    // Cut at every pair of row boundaries: a bucket's groups arrive in different chunks.
    const ends = rows.map((_, i) => encode(rows.slice(0, i + 1)).length);
    for (const a of ends)
      for (const b of ends.filter((e) => e >= a))
        assert.deepEqual(JSON.parse(await body('json', cutAt(bytes, [a, b]))), expected, `cut at ${a}, ${b}`);
  });

  it('refuses an answer that ends inside a row', async () => {
    await assert.rejects(body('json', [bytes.subarray(0, bytes.length - 1)]), RowBinaryError);
  });

  it('writes the same answer as NDJSON: one self-contained object per line', async () => {
    const lines = (await body('ndjson', cutAt(bytes, [40])))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const { series, statusRows, ...h } = expected;
    assert.deepEqual(lines, [
      { kind: 'trend', ...h },
      ...series.flatMap(({ points, ...s }) => [
        { kind: 'series', ...s },
        ...points.map((p) => ({ kind: 'point', parameterId: s.parameterId, index: s.index, ...p })),
      ]),
      ...statusRows.map((r) => ({ kind: 'status', ...r })),
    ]);
  });

  it('writes an answer without rows (every series empty, no status rows)', async () => {
    const empty = JSON.parse(await body('json', [], reads.slice(0, 1))) as typeof expected;
    assert.deepEqual(empty.series[0]!.points, []);
    assert.deepEqual(empty.statusRows, []);
    assert.deepEqual(JSON.parse(await body('json', [Buffer.alloc(0)], [])), { ...head, series: [], statusRows: [] });
  });

  it('prefers tiers that cover the range over a real-time tier that holds only its last days', () => {
    const DAY = 86_400_000;
    const range = { from: 0, to: 30 * DAY };
    // Real-time kept 7 days: 4,000 points from day 23 on, under the budget but not a 30-day graph.
    const counts = [
      { windowMinutes: 0, points: 4000, first: 23 * DAY },
      { windowMinutes: 5, points: 8640, first: 5 * 60_000 },
      { windowMinutes: 60, points: 720, first: 60 * 60_000 },
    ];
    assert.deepEqual(chooseTier(counts, 'auto', 'auto', 10_000, range), { windowMinutes: 5, aggregated: false });
    // A tier that starts within a tenth of the range (or two windows) still covers it.
    assert.ok(coversRange({ windowMinutes: 0, points: 1, first: 3 * DAY }, range));
    assert.ok(!coversRange({ windowMinutes: 0, points: 1, first: 3 * DAY + 1 }, range));
    // Over one day a tenth is 2.4 h: a 2-hour window's first point may come two windows (4 h) late.
    assert.ok(coversRange({ windowMinutes: 120, points: 1, first: 4 * 60 * 60_000 }, { from: 0, to: DAY }));
    assert.ok(!coversRange({ windowMinutes: 120, points: 1, first: 4 * 60 * 60_000 + 1 }, { from: 0, to: DAY }));
    // Covering tiers all over the budget: the most precise covering one, aggregated (not the partial real-time).
    assert.deepEqual(chooseTier(counts.slice(0, 2), 'auto', 'auto', 5000, range), { windowMinutes: 5, aggregated: true });
    // A writer that started recently: its only tier covers what exists.
    assert.deepEqual(chooseTier([{ windowMinutes: 0, points: 4000, first: 23 * DAY }], 'auto', 'auto', 10_000, range), {
      windowMinutes: 0,
      aggregated: false,
    });
    // 500 days asked, a year of 1-hour averages and 2 days of real-time: coverage counts from where
    // the data starts (the 1-hour tier), not from `from` (seen: real-time chosen, 2 days shown).
    const long = { from: 0, to: 500 * DAY };
    const tiers = [
      { windowMinutes: 0, points: 2869, first: 498 * DAY },
      { windowMinutes: 60, points: 8760, first: 135 * DAY + 3_600_000 },
      { windowMinutes: 120, points: 4380, first: 135 * DAY + 7_200_000 },
    ];
    assert.deepEqual(chooseTier(tiers, 'auto', 'auto', 10_000, long), { windowMinutes: 60, aggregated: false });
    // Explicit tiers are taken as asked, covering or not.
    assert.deepEqual(chooseTier(counts, 'realtime', 'auto', 10_000, range), { windowMinutes: 0, aggregated: false });
  });
});
