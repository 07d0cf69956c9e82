/**
 * The fleet simulator's pure logic: clock-aligned windows and DataMiner's averaging rules, alarm
 * tree sequences, element rows, a repeatable back-fill whose averages match its own real-time
 * points, and a live run on a virtual clock. Every record goes through the Writer's validation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NumericAverages, windowEnd } from '../../ingest/writer/simulator/average.ts';
import { ALARM_STATUS, ALARM_TYPE, AlarmProcess, SEVERITY } from '../../ingest/writer/simulator/alarms.ts';
import { DAY_MS, backfillRange, hourFloor, runBackfill, type BackfillOptions } from '../../ingest/writer/simulator/backfill.ts';
import { BACKFILL_CADENCE, LIVE_CADENCE, withRates, type Cadence } from '../../ingest/writer/simulator/cadence.ts';
import { DiscreteAverages } from '../../ingest/writer/simulator/discrete-average.ts';
import { RowProcess } from '../../ingest/writer/simulator/element-rows.ts';
import { ELEMENT_ACTIVATE, ELEMENT_PAUSE, ELEMENT_START, TIMEOUT_IN, TIMEOUT_OUT } from '../../ingest/writer/simulator/element-status.ts';
import { EventQueue } from '../../ingest/writer/simulator/event-queue.ts';
import {
  INTERFACE_TABLE_ID,
  SAVED_LOCATION_ID,
  SAVED_POLLING_ID,
  elementModel,
  elementSeries,
  fleetElements,
  type FleetShape,
} from '../../ingest/writer/simulator/fleet.ts';
import { runLive } from '../../ingest/writer/simulator/live.ts';
import { RecordOutput, Tally, type RecordSink } from '../../ingest/writer/simulator/output.ts';
import { Random } from '../../ingest/writer/simulator/random.ts';
import { toAlarmEvent, toElementRow, toTrendPoint, type TrendInput } from '../../schemas/validate.ts';
import type { AlarmEvent, ElementRow, TrendPoint } from '../../schemas/records.ts';

const at = (h: number, m: number, s = 0, ms = 0) => Date.UTC(2026, 5, 1, h, m, s, ms);
const MIN = 60_000;
const key = { dmsId: 1, dmaId: 2, elementId: 3, parameterId: 4, index: '' };

/** A sink that keeps every record as the Writer would store it: each one passes its validation. */
class Collector implements RecordSink {
  trends: TrendPoint[] = [];
  alarms: AlarmEvent[] = [];
  rows: ElementRow[] = [];
  trend(input: TrendInput): Promise<void> {
    this.trends.push(toTrendPoint(input));
    return Promise.resolve();
  }
  alarm(input: Parameters<typeof toAlarmEvent>[0]): Promise<void> {
    this.alarms.push(toAlarmEvent(input));
    return Promise.resolve();
  }
  elementRow(input: Parameters<typeof toElementRow>[0]): Promise<void> {
    this.rows.push(toElementRow(input));
    return Promise.resolve();
  }
}

function collect(): { sink: Collector; out: RecordOutput } {
  const sink = new Collector();
  return { sink, out: new RecordOutput(sink, new Tally()) };
}

function groupBy<T>(items: T[], keyOf: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const t of items) {
    const k = keyOf(t);
    const list = m.get(k);
    if (list) list.push(t);
    else m.set(k, [t]);
  }
  return m;
}

const seriesKey = (p: TrendPoint) => `${p.dmsId}/${p.dmaId}/${p.elementId}/${p.parameterId}/${p.index}`;

describe('clock-aligned windows', () => {
  it('ends a window on the UTC clock boundary after the time; a time on a boundary opens the next window', () => {
    assert.equal(windowEnd(at(9, 6, 14), 5), at(9, 10));
    assert.equal(windowEnd(at(9, 10), 5), at(9, 15));
    assert.equal(windowEnd(at(9, 9, 59, 999), 5), at(9, 10));
    assert.equal(windowEnd(at(9, 6, 14), 60), at(10, 0));
    assert.equal(windowEnd(at(9, 6, 14), 120), at(10, 0), '120-minute windows run from even hours');
    assert.equal(windowEnd(at(10, 30), 120), at(12, 0));
  });
});

describe('numeric averages (time-weighted, agent side)', () => {
  it("reproduces DataMiner's worked example: 10 from 09:06:14, 20 from 09:07:56 -> 15.4867 at 09:10:00", () => {
    const got: TrendInput[] = [];
    const avg = new NumericAverages(key, (p) => got.push(p));
    avg.change(at(9, 6, 14), 10);
    avg.change(at(9, 7, 56), 20);
    avg.flush(at(9, 9, 59, 999));
    assert.equal(got.length, 0, 'a window is emitted once it closes, not before');
    avg.flush(at(9, 10));
    assert.deepEqual(got, [{ ...key, timestamp: at(9, 10), windowMinutes: 5, value: 3500 / 226, min: 10, max: 20, samples: 2, status: 5 }]);
    assert.equal(got[0]!.value.toFixed(4), '15.4867');
  });

  it('carries the active value into later windows and closes the hour and the two-hour window on the hour', () => {
    const got: TrendInput[] = [];
    const avg = new NumericAverages(key, (p) => got.push(p));
    avg.change(at(9, 6, 14), 10);
    avg.change(at(9, 7, 56), 20);
    avg.flush(at(10, 0));
    const short = got.filter((p) => p.windowMinutes === 5);
    assert.equal(short.length, 11, '09:10 .. 10:00');
    for (const p of short.slice(1)) assert.deepEqual([p.value, p.min, p.max, p.samples], [20, 20, 20, 0]);
    // 10 for 102 s, 20 for 3124 s (09:07:56 .. 10:00): only the part of the hour with a value counts.
    const hour = { ...key, timestamp: at(10, 0), value: 63_500 / 3226, min: 10, max: 20, samples: 2 };
    assert.deepEqual(
      got.filter((p) => p.windowMinutes !== 5),
      [
        { ...hour, windowMinutes: 60, status: 60 },
        { ...hour, windowMinutes: 120, status: 120 },
      ],
    );
  });

  it('leaves gaps out: no value from a pause to the next change; a window entirely in a gap is not emitted', () => {
    const got: TrendInput[] = [];
    const avg = new NumericAverages(key, (p) => got.push(p));
    avg.change(at(9, 0), 10);
    avg.stop(at(9, 1));
    avg.change(at(9, 4), 30);
    avg.stop(at(9, 6));
    avg.change(at(9, 11), 40);
    avg.flush(at(9, 15));
    assert.deepEqual(
      got.map((p) => [new Date(p.timestamp).toISOString().slice(11, 16), p.value, p.min, p.max, p.samples]),
      [
        ['09:05', (10 * 60 + 30 * 60) / 120, 10, 30, 2],
        ['09:10', 30, 30, 30, 0],
        ['09:15', 40, 40, 40, 1],
      ],
    );
    avg.stop(at(9, 15));
    avg.flush(at(9, 25));
    assert.equal(got.filter((p) => p.windowMinutes === 5).length, 3, 'no window for 09:15 .. 09:25: no value then');
  });

  it('emits only windows ending after emitAfter (a back-fill keeps fewer 5-minute days)', () => {
    const got: TrendInput[] = [];
    const avg = new NumericAverages(key, (p) => got.push(p), { 5: at(9, 30) });
    avg.change(at(9, 0), 1);
    avg.flush(at(10, 0));
    assert.deepEqual(
      got.filter((p) => p.windowMinutes === 5).map((p) => p.timestamp),
      [35, 40, 45, 50, 55].map((m) => at(9, m)).concat(at(10, 0)),
    );
    assert.equal(got.filter((p) => p.windowMinutes === 60).length, 1);
  });
});

describe('discrete averages (DataMiner rule)', () => {
  it('value active longest, % of time it was active as min, most frequent value as discreteMax', () => {
    const got: TrendInput[] = [];
    const avg = new DiscreteAverages(key, (p) => got.push(p));
    avg.change(at(9, 3), 'up');
    avg.change(at(9, 5, 30), 'down'); // down 180 s
    avg.change(at(9, 8, 30), 'up'); //   up 30 s carried in + 10 s + 70 s = 110 s, 3 occurrences
    avg.change(at(9, 8, 40), 'degraded'); // 10 s
    avg.change(at(9, 8, 50), 'up');
    avg.flush(at(9, 10));
    assert.deepEqual(got, [
      {
        ...key,
        timestamp: at(9, 5),
        windowMinutes: 5,
        value: null,
        discreteValue: 'up',
        min: 100,
        max: null,
        discreteMax: 'up',
        samples: 1,
        status: 5,
      },
      {
        ...key,
        timestamp: at(9, 10),
        windowMinutes: 5,
        value: null,
        discreteValue: 'down',
        min: 60,
        max: null,
        discreteMax: 'up',
        samples: 4,
        status: 5,
      },
    ]);
  });

  it('breaks ties by first appearance and counts a carried-in value once per window', () => {
    const got: TrendInput[] = [];
    const avg = new DiscreteAverages(key, (p) => got.push(p));
    avg.change(at(9, 0), 'a');
    avg.change(at(9, 2, 30), 'b');
    avg.flush(at(10, 0));
    const [first, second] = got.filter((p) => p.windowMinutes === 5);
    assert.deepEqual([first!.discreteValue, first!.min, first!.discreteMax], ['a', 50, 'a']);
    assert.deepEqual([second!.discreteValue, second!.min, second!.discreteMax, second!.samples], ['b', 100, 'b', 0]);
    const hour = got.find((p) => p.windowMinutes === 60)!;
    assert.deepEqual([hour.discreteValue, hour.min, hour.discreteMax, hour.samples], ['b', (100 * 57.5) / 60, 'a', 2]);
  });
});

describe('alarm trees and information events', () => {
  const element = elementModel({ tenants: 1, agents: 1, elements: 1, parameters: 10, tableRows: 2 }, 1, 1, 1);
  const cadence: Cadence = withRates(BACKFILL_CADENCE, { alarmRate: 4 });
  const from = at(0, 0);

  async function simulate(seed: number): Promise<AlarmEvent[]> {
    const { sink, out } = collect();
    const queue = new EventQueue();
    new AlarmProcess(element, elementSeries(element), new Random(seed), cadence, queue, out).start(from);
    queue.runUntil(from + 10 * DAY_MS);
    await out.drain();
    return sink.alarms;
  }

  it('chains each tree from its root (New Alarm, Open) through growing ids to at most one clear, which ends it', async () => {
    const events = await simulate(7);
    const alarms = events.filter((a) => a.severity !== SEVERITY.information);
    const trees = groupBy(alarms, (a) => String(a.rootAlarmId));
    assert.ok(trees.size > 500, `${trees.size} trees in 10 days at 4 per hour`);
    let cleared = 0;
    const steps = new Set<number>();
    for (const [root, tree] of trees) {
      const [first, ...rest] = tree;
      assert.equal(String(first!.alarmId), root);
      assert.deepEqual([first!.alarmType, first!.status, first!.previousAlarmId, first!.userStatus], [10, 12, 0, 18]);
      assert.ok(first!.severity >= 1 && first!.severity <= 4);
      assert.equal(first!.rootCreatedAt, first!.createdAt);
      let previous = first!;
      for (const e of rest) {
        assert.ok(e.alarmId > previous.alarmId, 'ids grow within a tree');
        assert.equal(e.previousAlarmId, previous.alarmId);
        assert.equal(e.rootCreatedAt, first!.createdAt);
        assert.ok(e.createdAt > previous.createdAt && e.timestamp > e.createdAt);
        assert.equal(previous.alarmType === ALARM_TYPE.cleared, false, 'nothing follows a clear');
        assert.deepEqual([e.parameterId, e.index], [first!.parameterId, first!.index]);
        steps.add(e.alarmType);
        if (e.alarmType === ALARM_TYPE.escalated) assert.equal(e.severity, previous.severity - 1);
        if (e.alarmType === ALARM_TYPE.dropped) assert.equal(e.severity, previous.severity + 1);
        if (e.alarmType === ALARM_TYPE.acknowledged) assert.deepEqual([e.userStatus, e.owner === 'System'], [19, false]);
        if (e.alarmType === ALARM_TYPE.commentAdded) assert.ok(e.comment);
        if (e.alarmType !== ALARM_TYPE.cleared) assert.equal(e.status, ALARM_STATUS.open);
        previous = e;
      }
      if (previous.alarmType === ALARM_TYPE.cleared) {
        cleared++;
        assert.deepEqual([previous.status, previous.severity, previous.severityRange], [11, 5, 5]);
      }
    }
    assert.deepEqual(
      [...steps].sort((a, b) => a - b),
      [8, 9, 11, 19, 22],
    );
    assert.ok(cleared / trees.size > 0.75 && cleared < trees.size, `most trees cleared, some open: ${cleared} of ${trees.size}`);
  });

  it('keeps ids unique per element across trees and info events; info events stand alone, born cleared', async () => {
    const events = await simulate(8);
    assert.equal(new Set(events.map((e) => e.alarmId)).size, events.length);
    const info = events.filter((a) => a.severity === SEVERITY.information);
    assert.ok(info.length > 100);
    for (const e of info) {
      assert.deepEqual([e.alarmType, e.status, e.previousAlarmId, e.severityRange], [10, 11, 0, 5]);
      assert.equal(e.alarmId, e.rootAlarmId);
    }
    assert.deepEqual([info[0]!.parameterId, info[0]!.createdAt, info[0]!.value], [-1, from, 'Started']);
    assert.ok(events.every((e) => e.elementName === 'srv-1-0001' && e.parameterName !== ''));
  });

  it('is the same sequence for the same seed', async () => {
    assert.deepEqual(await simulate(9), await simulate(9));
    assert.notDeepEqual(await simulate(9), await simulate(10));
  });
});

describe('element rows', () => {
  it('writes the table and saved parameters at start, then updates, adds and deletes rows with growing versions', async () => {
    const element = elementModel({ tenants: 1, agents: 1, elements: 2, parameters: 1, tableRows: 3 }, 1, 1, 2);
    const { sink, out } = collect();
    const queue = new EventQueue();
    new RowProcess(element, new Random(3), withRates(BACKFILL_CADENCE, { rowRate: 20 }), queue, out).start(at(0, 0));
    queue.runUntil(at(0, 0) + 5 * DAY_MS);
    await out.drain();
    const rows = sink.rows;
    assert.deepEqual(
      rows.slice(0, 5).map((r) => [r.tableParameterId, r.primaryKey, r.displayKey]),
      [
        [INTERFACE_TABLE_ID, 'Gi0/1', 'GigabitEthernet0/1'],
        [INTERFACE_TABLE_ID, 'Gi0/2', 'GigabitEthernet0/2'],
        [INTERFACE_TABLE_ID, 'Gi0/3', 'GigabitEthernet0/3'],
        [SAVED_LOCATION_ID, '', ''],
        [SAVED_POLLING_ID, '', ''],
      ],
    );
    for (const saved of rows.filter((r) => r.primaryKey === '')) {
      assert.equal(saved.columns.length, 1);
      assert.equal(saved.columns[0]!.columnId, saved.tableParameterId);
    }
    const byKey = groupBy(rows, (r) => `${r.tableParameterId}/${r.primaryKey}`);
    let deleted = 0;
    for (const versions of byKey.values()) {
      for (let i = 1; i < versions.length; i++) assert.ok(versions[i]!.version > versions[i - 1]!.version);
      const last = versions.at(-1)!;
      if (last.deleted) {
        deleted++;
        assert.equal(versions.filter((r) => r.deleted).length, 1, 'a deleted row key is never reused');
        assert.ok(versions.length >= 2, 'a deleted row was added first');
      }
    }
    assert.ok(deleted > 50, `${deleted} sub-interface rows deleted`);
    assert.ok(byKey.get(`${INTERFACE_TABLE_ID}/Gi0/1`)!.length > 50, 'interface rows are updated');
  });
});

describe('back-fill', () => {
  const shape: FleetShape = { tenants: 1, agents: 1, elements: 2, parameters: 5, tableRows: 1 };
  const end = hourFloor(Date.UTC(2026, 2, 4, 17, 42));
  const options = (over: Partial<BackfillOptions> = {}): BackfillOptions => ({ days: 3, end, seed: 5, cadence: BACKFILL_CADENCE, ...over });

  async function backfill(opts: BackfillOptions, s: FleetShape = shape): Promise<{ sink: Collector; tally: Tally }> {
    const { sink, out } = collect();
    await runBackfill(fleetElements(s), opts, out);
    return { sink, tally: out.tally };
  }

  it('is repeatable: the same seed and end give identical records; another seed does not', async () => {
    const a = await backfill(options());
    const b = await backfill(options());
    assert.deepEqual(a.sink, b.sink);
    const c = await backfill(options({ seed: 6 }));
    assert.notDeepEqual(a.sink.trends, c.sink.trends);
  });

  it('writes each kind over its own span: long and hour averages for all days, 5-minute for 92, real-time for 2', async () => {
    const days = 100;
    const noGaps = withRates(BACKFILL_CADENCE, { gapRate: 0 });
    const { sink, tally } = await backfill(options({ days, cadence: noGaps }));
    const range = backfillRange(days, end);
    const series = fleetElements(shape).flatMap(elementSeries).length; // 2 x (5 + 2)
    assert.equal(series, 14);
    assert.equal(tally.avg120, series * days * 12);
    assert.equal(tally.avg60, series * days * 24);
    assert.equal(tally.avg5, series * 92 * 288);
    assert.equal(tally.status, 0, 'the element start is older than the real-time span; no gaps');
    const trends = groupBy(sink.trends, (p) => `${p.windowMinutes}`);
    for (const [w, from] of [
      ['5', range.fiveMinuteFrom],
      ['60', range.start],
      ['120', range.start],
    ] as const) {
      const ts = trends.get(w)!.map((p) => p.timestamp);
      assert.ok(
        ts.every((t) => t > from && t <= end),
        `window ${w}`,
      );
      assert.ok(
        ts.every((t) => t % (Number(w) * MIN) === 0),
        `window ${w} aligned`,
      );
    }
    const realtime = trends.get('0')!;
    assert.ok(realtime.every((p) => p.timestamp >= range.realtimeFrom && p.timestamp < end));
    assert.equal(realtime.filter((p) => p.discreteValue === null).length, tally.realtime);
    assert.equal(realtime.filter((p) => p.discreteValue !== null).length, tally.discrete);
    const perMinute = 10 * 2 * 1440; // 10 numeric series, one change a minute on average, two days
    assert.ok(Math.abs(tally.realtime - perMinute) < perMinute * 0.05, `about one change a minute for two days: ${tally.realtime}`);
    assert.ok(tally.alarm > 0 && tally.info > 0 && tally.row > 0 && tally.deleted > 0 && tally.saved > 0);
    assert.equal(tally.total, sink.trends.length + sink.alarms.length + sink.rows.length);
  });

  it('computes averages from its own real-time points: recomputed from the stored points they match', async () => {
    const { sink } = await backfill(options({ days: 2, cadence: withRates(BACKFILL_CADENCE, { gapRate: 2 }) }));
    const range = backfillRange(2, end);
    const status = sink.trends.filter((p) => p.parameterId === -1);
    assert.equal(status.filter((p) => p.status === ELEMENT_START).length, 2, 'element start, within the real-time span');
    assert.ok(status.some((p) => p.status === ELEMENT_PAUSE || p.status === TIMEOUT_IN));
    assert.ok(status.some((p) => p.status === ELEMENT_ACTIVATE || p.status === TIMEOUT_OUT));
    const bySeries = groupBy(
      sink.trends.filter((p) => p.parameterId !== -1),
      seriesKey,
    );
    let checked = 0;
    for (const points of bySeries.values()) {
      const realtime = points.filter((p) => p.windowMinutes === 0);
      if (realtime[0]!.discreteValue !== null) continue;
      const gapStarts = status
        .filter((s) => s.elementId === realtime[0]!.elementId && (s.status === ELEMENT_PAUSE || s.status === TIMEOUT_IN))
        .map((s) => s.timestamp);
      for (const avg of points.filter((p) => p.windowMinutes > 0)) {
        const expected = reference(realtime, gapStarts, avg.timestamp - avg.windowMinutes * MIN, avg.timestamp);
        assert.ok(expected, `window ${avg.windowMinutes} at ${avg.timestamp} has values`);
        assert.ok(
          Math.abs(avg.value! - expected.value) < 1e-9 * Math.max(1, Math.abs(expected.value)),
          `${avg.value} vs ${expected.value}`,
        );
        assert.deepEqual([avg.min, avg.max, avg.samples], [expected.min, expected.max, expected.samples]);
        checked++;
      }
    }
    // 10 numeric series x (2 x 288 + 48 + 24) windows, less the few that fall entirely in a gap.
    assert.ok(checked > 10 * 648 * 0.9, `${checked} windows checked`);
    assert.ok(range.start === range.realtimeFrom);
  });

  it('finishes a year for a small fleet quickly and counts what it wrote per kind', async () => {
    const started = Date.now();
    const { tally } = await backfill(options({ days: 365 }), { tenants: 1, agents: 1, elements: 1, parameters: 5, tableRows: 1 });
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds < 60, `${seconds} s`);
    assert.equal(tally.avg60 + tally.avg120, 7 * 365 * 36);
    assert.match(
      tally.describe(),
      /^\d+ real-time points, \d+ discrete points, \d+ status rows, averages 5 min \d+ \/ 60 min 61320 \/ 120 min 30660, \d+ alarm events, \d+ info events, \d+ element rows \(\d+ deleted, \d+ saved parameters\)$/,
    );
  });
});

describe('live mode (virtual clock)', () => {
  it('starts every element, writes at the rate, closes windows at the 5-minute boundary, all records valid', async () => {
    let clock = at(9, 4, 40);
    const now = () => (clock += 20);
    const shape: FleetShape = { tenants: 1, agents: 2, elements: 3, parameters: 5, tableRows: 2 };
    const { sink, out } = collect();
    const fleet = await runLive(
      fleetElements(shape),
      { rate: 2000, durationMs: 40_000, seed: 1, cadence: withRates(LIVE_CADENCE, { alarmRate: 600, gapRate: 60, rowRate: 600 }), now },
      out,
    );
    const tally = out.tally;
    assert.equal(fleet.numeric.length, 6 * (4 + 2));
    assert.equal(fleet.discrete.length, 6 * (1 + 2));
    assert.ok(tally.total > 60_000 && tally.total <= 81_000, `about 2000 a second for 40 s: ${tally.total}`);
    assert.ok(tally.realtime / tally.total > 0.9, 'most volume is numeric real-time points');
    const starts = sink.trends.filter((p) => p.status === ELEMENT_START);
    assert.equal(starts.length, 6);
    // Every series had a value before 09:05: one partial first window each, stored at 09:05:00.
    const short = sink.trends.filter((p) => p.windowMinutes === 5);
    assert.equal(short.length, fleet.numeric.length + fleet.discrete.length);
    assert.ok(short.every((p) => p.timestamp === at(9, 5) && p.samples > 0));
    assert.ok(sink.trends.some((p) => p.index === 'eth0') && sink.trends.some((p) => p.index === 'Gi0/2'));
    for (const points of groupBy(sink.trends, (p) => `${seriesKey(p)}/${p.windowMinutes}`).values()) {
      assert.equal(new Set(points.map((p) => p.timestamp)).size, points.length, 'a series never repeats a timestamp');
    }
    assert.ok(tally.status > 6 && tally.alarm > 0 && tally.info >= 6 && tally.row > 0 && tally.saved >= 12);
    assert.equal(tally.errors, 0);
  });
});

/** Time-weighted average over [from, to) recomputed from stored real-time points and gap starts. */
function reference(
  points: TrendPoint[],
  gapStarts: number[],
  from: number,
  to: number,
): { value: number; min: number; max: number; samples: number } | undefined {
  const events = [...points.map((p) => ({ t: p.timestamp, v: p.value })), ...gapStarts.map((t) => ({ t, v: null as number | null }))].sort(
    (a, b) => a.t - b.t,
  );
  let weighted = 0;
  let covered = 0;
  let min = Infinity;
  let max = -Infinity;
  let samples = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const next = events[i + 1]?.t ?? Infinity;
    if (e.t >= from && e.t < to && e.v !== null) samples++;
    const start = Math.max(e.t, from);
    const stop = Math.min(next, to);
    if (e.v === null || stop <= start) continue;
    weighted += e.v * (stop - start);
    covered += stop - start;
    min = Math.min(min, e.v);
    max = Math.max(max, e.v);
  }
  return covered > 0 ? { value: weighted / covered, min, max, samples } : undefined;
}
