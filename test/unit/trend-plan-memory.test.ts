/** The remembered trend plans (early data reads): shape keys, plan equality, least-recently-used bound. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlanMemory, samePlan, shapeKey, type TrendPlan, type TrendShape } from '../../query/trends/plan-memory.ts';

const D = 86_400_000;
const shape: TrendShape = {
  tenant: 'dms_id = 7',
  dmaId: 1,
  elementId: 5,
  parameters: ['100', '500:eth*'],
  type: 'auto',
  interval: 'auto',
  maxPoints: 10_000,
  rangeMs: 30 * D,
};
const plan = (windowMinutes: number, withStatusRows = false): TrendPlan => ({
  reads: [{ parameterId: 100, index: '', windowMinutes, aggregated: false }],
  withStatusRows,
});

describe('shapeKey', () => {
  it('is the same for ranges within a few ms or minutes of each other, and differs past 1 %', () => {
    assert.equal(shapeKey({ ...shape, rangeMs: 30 * D + 3 }), shapeKey(shape));
    assert.equal(shapeKey({ ...shape, rangeMs: 30 * D + 60_000 }), shapeKey(shape));
    assert.notEqual(shapeKey({ ...shape, rangeMs: 31 * D }), shapeKey(shape));
    assert.notEqual(shapeKey({ ...shape, rangeMs: 1 }), shapeKey({ ...shape, rangeMs: 1000 }));
  });

  it('differs for another tenant, element, series list or option', () => {
    const others: Partial<TrendShape>[] = [
      { tenant: 'dms_id = 8' },
      { dmaId: 2 },
      { elementId: 6 },
      { parameters: ['500:eth*', '100'] },
      { parameters: ['100'] },
      { type: 'average' },
      { interval: '1h' },
      { maxPoints: 9_999 },
    ];
    for (const o of others) assert.notEqual(shapeKey({ ...shape, ...o }), shapeKey(shape), JSON.stringify(o));
  });
});

describe('samePlan', () => {
  it('compares every read and the status rows branch', () => {
    assert.ok(samePlan(plan(5), plan(5)));
    assert.ok(!samePlan(plan(5), plan(60)));
    assert.ok(!samePlan(plan(5), plan(5, true)));
    assert.ok(!samePlan(plan(5), { ...plan(5), reads: [{ ...plan(5).reads[0]!, aggregated: true }] }));
    assert.ok(!samePlan(plan(5), { ...plan(5), reads: [{ ...plan(5).reads[0]!, index: 'x' }] }));
    assert.ok(!samePlan(plan(5), { ...plan(5), reads: [...plan(5).reads, ...plan(60).reads] }));
  });
});

describe('PlanMemory', () => {
  it('forgets the least recently used shape past its capacity', () => {
    const m = new PlanMemory(2);
    m.set('a', plan(5));
    m.set('b', plan(60));
    assert.deepEqual(m.get('a'), plan(5)); // a is now the most recently used
    m.set('c', plan(120));
    assert.equal(m.size, 2);
    assert.equal(m.get('b'), undefined);
    assert.deepEqual(m.get('a'), plan(5));
    assert.deepEqual(m.get('c'), plan(120));
    m.set('a', plan(0));
    assert.deepEqual(m.get('a'), plan(0));
  });

  it('remembers nothing with capacity 0', () => {
    const m = new PlanMemory(0);
    m.set('a', plan(5));
    assert.equal(m.get('a'), undefined);
    assert.equal(m.size, 0);
  });
});
