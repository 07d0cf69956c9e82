/** Reading prom-client metrics in tests. */
import assert from 'node:assert/strict';
import type { Registry } from 'prom-client';

/** The sum of every labelled value of metric `name` in `registry`; fails the test when it is not registered. */
export async function metricTotal(registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  assert.ok(metric, `metric ${name} is registered`);
  return (await metric.get()).values.reduce((n, v) => n + v.value, 0);
}
