/**
 * How often things happen on a simulated element, per mode. A live run lasts seconds to minutes
 * and should show every kind of record, so its events are dense; a back-fill spans days to years
 * at rates a real element might have. Rates are per element per hour of simulated time.
 */
export interface Cadence {
  /** Mean seconds between real-time changes of a numeric parameter (back-fill; live runs follow --rate). */
  numericChangeSeconds: number;
  /** Mean seconds a discrete parameter stays in its normal state (excursions last a tenth of it). */
  discreteHoldSeconds: number;
  /** Element gaps (pause/activate or timeout in/out) per element per hour. */
  gapsPerHour: number;
  /** Shortest and longest gap, seconds. */
  gapSeconds: readonly [number, number];
  /** New alarm trees per element per hour. */
  alarmTreesPerHour: number;
  /** Information events per element per hour. */
  infoEventsPerHour: number;
  /** Mean seconds between the events of one alarm tree. */
  alarmStepSeconds: number;
  /** Table row changes (updates, added and deleted rows, saved parameter sets) per element per hour. */
  rowChangesPerHour: number;
}

export const LIVE_CADENCE: Cadence = Object.freeze({
  numericChangeSeconds: 1,
  discreteHoldSeconds: 60,
  gapsPerHour: 6,
  gapSeconds: [5, 30] as const,
  alarmTreesPerHour: 30,
  infoEventsPerHour: 15,
  alarmStepSeconds: 3,
  rowChangesPerHour: 60,
});

export const BACKFILL_CADENCE: Cadence = Object.freeze({
  numericChangeSeconds: 60,
  discreteHoldSeconds: 4 * 3600,
  gapsPerHour: 0.25,
  gapSeconds: [60, 600] as const,
  alarmTreesPerHour: 0.25,
  infoEventsPerHour: 0.125,
  alarmStepSeconds: 600,
  rowChangesPerHour: 1,
});

/** A cadence with the rates given on the command line. */
export function withRates(base: Cadence, rates: { alarmRate?: number; gapRate?: number; rowRate?: number }): Cadence {
  return Object.freeze({
    ...base,
    ...(rates.alarmRate === undefined ? {} : { alarmTreesPerHour: rates.alarmRate, infoEventsPerHour: rates.alarmRate / 2 }),
    ...(rates.gapRate === undefined ? {} : { gapsPerHour: rates.gapRate }),
    ...(rates.rowRate === undefined ? {} : { rowChangesPerHour: rates.rowRate }),
  });
}
