import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expiredPartitions, type Partition } from '../../storage/retention.ts';

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
