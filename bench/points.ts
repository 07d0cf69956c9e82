/** The trend point every benchmark writes: 4 agents x 1000 elements x 20 parameters, 10% table rows. */
import type { TrendInput } from '../schemas/validate.ts';

const BASE = Date.UTC(2026, 0, 1);

export function benchPoint(i: number): TrendInput {
  return {
    dmsId: 1,
    dmaId: 1 + (i % 4),
    elementId: i % 1000,
    parameterId: 1 + (i % 20),
    index: i % 10 === 0 ? `row-${i % 64}` : '',
    timestamp: BASE + i,
    value: i * 0.5,
  };
}
