import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dropMarkers, endOf, expiredPartitions, partitionDays, type Partition } from '../../storage/retention.ts';

const NOW = Date.UTC(2026, 10, 24, 12, 0); // 2026-11-24 12:00 UTC
const p = (table: string, partition: string): Partition => ({ table, partition, partitionId: partition });
const names = (parts: Partition[]) => parts.map((x) => `${x.table}:${x.partition}`);

describe('retention: which partitions expire', () => {
  it('drops real-time days only once the whole day is older than 7 days', () => {
    const parts = ['20261116', '20261117', '20261118', '20261124'].map((d) => p('trend_realtime', d));
    // 7 days before 11-24 12:00 is 11-17 12:00: 11-16 ended before that, 11-17 still has younger rows.
    assert.deepEqual(names(expiredPartitions(parts, NOW)), ['trend_realtime:20261116']);
  });

  it('keeps each average window for its own time', () => {
    const parts = [
      p('trend_average', '(5,202607)'), // ends 08-01: 115 days ago > 92
      p('trend_average', '(5,202608)'), // ends 09-01: 84 days ago
      p('trend_average', '(60,202410)'), // ends 2024-11-01: 753 days > 731
      p('trend_average', '(60,202411)'),
      p('trend_average', '(120,201610)'), // ends 2016-11-01: 10 years 23 days > 3653 days
      p('trend_average', '(120,201612)'),
    ];
    assert.deepEqual(names(expiredPartitions(parts, NOW)), [
      'trend_average:(5,202607)',
      'trend_average:(60,202410)',
      'trend_average:(120,201610)',
    ]);
  });

  it('keeps alarm events a year, and never drops what it does not recognise', () => {
    const parts = [p('alarm_events', '202510'), p('alarm_events', '202511'), p('element_rows', 'tuple()'), p('trend_realtime', '(1,2)')];
    assert.deepEqual(names(expiredPartitions(parts, NOW)), ['alarm_events:202510']);
  });
});

describe('retention: partitions cut in a time zone other than UTC', () => {
  it('finds the end of a local day or month in UTC, across daylight saving time', () => {
    assert.equal(endOf('20261124', 'America/Chicago'), Date.UTC(2026, 10, 25, 6)); // CST, UTC-6
    assert.equal(endOf('20260701', 'America/Chicago'), Date.UTC(2026, 6, 2, 5)); // CDT, UTC-5
    assert.equal(endOf('20260307', 'America/Chicago'), Date.UTC(2026, 2, 8, 6)); // midnight before the 2 am switch
    assert.equal(endOf('20260308', 'America/Chicago'), Date.UTC(2026, 2, 9, 5)); // the 23-hour day
    assert.equal(endOf('202611', 'Asia/Kolkata'), Date.UTC(2026, 10, 30, 18, 30)); // UTC+5:30
    assert.equal(endOf('20261124', 'Etc/UTC'), Date.UTC(2026, 10, 25));
    assert.equal(endOf('20261124'), Date.UTC(2026, 10, 25));
  });

  it('keeps a 166-hour-old row of a Chicago day under 7-day retention', () => {
    // Local 2026-11-17 23:00 in Chicago is 11-18 05:00 UTC; its partition 20261117 ends 11-18 06:00 UTC.
    const row = Date.UTC(2026, 10, 18, 5);
    const now = row + 166 * 3_600_000;
    const parts = [p('trend_realtime', '20261117')];
    assert.deepEqual(names(expiredPartitions(parts, now, undefined, { trend_realtime: 'America/Chicago' })), []);
    // Read as a UTC day (what retention did), it would have been dropped.
    assert.deepEqual(names(expiredPartitions(parts, now)), ['trend_realtime:20261117']);
    // Once the local day is wholly older than 7 days, it goes.
    assert.deepEqual(names(expiredPartitions(parts, Date.UTC(2026, 10, 25, 6), undefined, { trend_realtime: 'America/Chicago' })), [
      'trend_realtime:20261117',
    ]);
  });
});

describe('retention: late-write markers', () => {
  const DAY = 86_400_000;
  const dayOf = (ms: number) => Math.floor(ms / DAY);

  it('keeps markers 2 days by the date of written_at in the given zone, however system.parts prints it', () => {
    const parts = ["'2026-11-21'", '2026-11-22', "'2026-11-23'"].map((d) => p('trend_late_writes', d));
    // 2 days before 11-24 12:00 is 11-22 12:00: 11-21 ended before, 11-22 has younger markers.
    assert.deepEqual(names(expiredPartitions(parts, NOW)), ["trend_late_writes:'2026-11-21'"]);
    // In Chicago 11-21 ends 11-22 06:00 UTC, still before 11-22 12:00; 11-22 ends 11-23 06:00.
    assert.deepEqual(names(expiredPartitions(parts, NOW, undefined, { trend_late_writes: 'America/Chicago' })), [
      "trend_late_writes:'2026-11-21'",
    ]);
    assert.deepEqual(names(expiredPartitions(parts, NOW + 19 * 3_600_000, undefined, { trend_late_writes: 'America/Chicago' })), [
      "trend_late_writes:'2026-11-21'",
      'trend_late_writes:2026-11-22',
    ]);
  });

  it('covers every UTC day a dropped trend partition can hold, a day wider on each side', () => {
    const day = dayOf(Date.UTC(2026, 10, 16));
    assert.deepEqual(partitionDays({ table: 'trend_realtime', partition: '20261116' }), { firstDay: day - 1, lastDay: day + 1 });
    // A month of averages: from the day before its first to the day after its last.
    assert.deepEqual(partitionDays({ table: 'trend_average', partition: '(5,202602)' }), {
      firstDay: dayOf(Date.UTC(2026, 1, 1)) - 1,
      lastDay: dayOf(Date.UTC(2026, 1, 28)) + 1,
    });
    assert.deepEqual(partitionDays({ table: 'trend_average', partition: '(60, 202612)' }), {
      firstDay: dayOf(Date.UTC(2026, 11, 1)) - 1,
      lastDay: dayOf(Date.UTC(2027, 0, 1)),
    });
    for (const other of [p('alarm_events', '202610'), p('trend_late_writes', '2026-11-21'), p('trend_realtime', '(1,2)')])
      assert.equal(partitionDays(other), undefined);
  });

  it('covers the UTC days of every row a partition cut in any zone holds (every DMS)', () => {
    // A day cut in a zone from UTC-12 to UTC+14 holds instants from 14 hours before its UTC
    // midnight to 12 hours after its UTC end.
    for (const partition of ['20260308', '20261231', '20240229']) {
      const start = Date.UTC(Number(partition.slice(0, 4)), Number(partition.slice(4, 6)) - 1, Number(partition.slice(6)));
      const [m] = dropMarkers([{ table: 'trend_realtime', partition }]);
      assert.equal(m!.dmsId, -1);
      for (const t of [start - 14 * 3_600_000, start + DAY + 12 * 3_600_000 - 1])
        assert.ok(m!.firstDay <= dayOf(t) && dayOf(t) <= m!.lastDay, `${partition}: ${new Date(t).toISOString()}`);
    }
    assert.deepEqual(dropMarkers([p('alarm_events', '202510'), p('trend_average', '(5,202607)')]), [
      { dmsId: -1, firstDay: dayOf(Date.UTC(2026, 6, 1)) - 1, lastDay: dayOf(Date.UTC(2026, 7, 1)) },
    ]);
  });
});
