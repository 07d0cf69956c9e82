import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endOf, expiredPartitions, type Partition } from '../../storage/retention.ts';

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
