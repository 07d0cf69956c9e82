/**
 * What the simulated fleet consists of, in DataMiner's terms: DataMiner Systems (tenants) of
 * Agents (DMAs) hosting elements; each element has trended standalone parameters (numeric and
 * discrete), an interface table whose rows are trended per cell, and saved standalone
 * parameters. Pure description: the ids, names and value profiles every mode works from.
 *
 * Parameter ids: trended standalone parameters 1..P (P <= 999), the interface table 1000 with
 * columns 1001 (name, also the primary key), 1002 (bitrate in, trended), 1003 (oper status,
 * trended, discrete) and 1004 (description), saved standalone parameters 2001 and 2002.
 */

/** How big the fleet is. */
export interface FleetShape {
  /** DataMiner Systems; dmsId 1..tenants. */
  tenants: number;
  /** Agents per system; dmaId 1..agents. */
  agents: number;
  /** Elements per agent; elementId 1..elements. */
  elements: number;
  /** Trended standalone parameters per element (ids 1..parameters, at most 999). */
  parameters: number;
  /** Rows of each element's interface table (row keys eth0.. or Gi0/1..), trended per row. */
  tableRows: number;
}

export const MAX_PARAMETERS = 999;
export const INTERFACE_TABLE_ID = 1000;
export const COLUMN_NAME = 1001;
export const COLUMN_BITRATE_IN = 1002;
export const COLUMN_OPER_STATUS = 1003;
export const COLUMN_DESCRIPTION = 1004;
/** Saved standalone parameters (DataMiner elementdata with key ""): a location text and a polling interval in s. */
export const SAVED_LOCATION_ID = 2001;
export const SAVED_POLLING_ID = 2002;

/** How a numeric parameter moves: base ± a daily swing ± noise, rounded to `decimals`, kept in [floor, ceiling]. */
export interface NumericProfile {
  kind: 'numeric';
  unit: string;
  base: number;
  /** Amplitude of the daily sine (peak at a per-series phase). */
  swing: number;
  /** Uniform noise amplitude per change. */
  noise: number;
  decimals: number;
  floor: number;
  ceiling: number;
}

/** A discrete parameter: the first state is the normal one, the others are short excursions. */
export interface DiscreteProfile {
  kind: 'discrete';
  states: readonly string[];
}

export interface ParameterModel {
  id: number;
  name: string;
  profile: NumericProfile | DiscreteProfile;
}

export type ElementType = 'server' | 'switch';

export interface ElementModel {
  dmsId: number;
  dmaId: number;
  elementId: number;
  /** Unique within its system, e.g. "sw-2-0014". */
  name: string;
  type: ElementType;
  /** Primary keys of the interface table rows: eth0, eth1, … (servers) or Gi0/1, Gi0/2, … (switches). */
  interfaces: string[];
  /** Trended standalone parameters. */
  parameters: ParameterModel[];
}

/** One trended series: a standalone parameter (index '') or one row of a trended table column. */
export interface SeriesModel {
  element: ElementModel;
  parameter: ParameterModel;
  index: string;
}

const num = (
  unit: string,
  base: number,
  swing: number,
  noise: number,
  decimals: number,
  floor: number,
  ceiling: number,
): NumericProfile => ({
  kind: 'numeric',
  unit,
  base,
  swing,
  noise,
  decimals,
  floor,
  ceiling,
});

/** Standalone parameters, cycled for ids 1..P; two in ten are discrete. */
const CATALOGUE: readonly Omit<ParameterModel, 'id'>[] = [
  { name: 'CPU Load', profile: num('%', 35, 20, 8, 1, 0, 100) },
  { name: 'Memory Usage', profile: num('%', 60, 10, 3, 1, 0, 100) },
  { name: 'Temperature', profile: num('°C', 42, 6, 1.5, 1, -40, 125) },
  { name: 'Fan Speed', profile: num('rpm', 4200, 600, 150, 0, 0, 20_000) },
  { name: 'Link State', profile: { kind: 'discrete', states: ['up', 'degraded', 'down'] } },
  { name: 'RX Level', profile: num('dBm', -42, 3, 1, 2, -90, 0) },
  { name: 'TX Power', profile: num('dBm', 10, 1, 0.3, 2, -10, 30) },
  { name: 'Packet Loss', profile: num('%', 0.5, 0.4, 0.3, 2, 0, 100) },
  { name: 'Latency', profile: num('ms', 12, 5, 3, 1, 0, 10_000) },
  { name: 'Operational Mode', profile: { kind: 'discrete', states: ['normal', 'standby', 'maintenance'] } },
];

export const BITRATE_IN: ParameterModel = { id: COLUMN_BITRATE_IN, name: 'Bitrate In', profile: num('Mbps', 400, 250, 60, 2, 0, 10_000) };
export const OPER_STATUS: ParameterModel = {
  id: COLUMN_OPER_STATUS,
  name: 'Oper Status',
  profile: { kind: 'discrete', states: ['up', 'down', 'testing'] },
};

/** The trended standalone parameter with id `id` (1..999). */
export function standaloneParameter(id: number): ParameterModel {
  const entry = CATALOGUE[(id - 1) % CATALOGUE.length]!;
  const round = Math.floor((id - 1) / CATALOGUE.length);
  return { id, name: round === 0 ? entry.name : `${entry.name} ${round + 1}`, profile: entry.profile };
}

export function elementModel(shape: FleetShape, dmsId: number, dmaId: number, elementId: number): ElementModel {
  const type: ElementType = elementId % 2 === 1 ? 'server' : 'switch';
  const interfaces = Array.from({ length: shape.tableRows }, (_, i) => (type === 'server' ? `eth${i}` : `Gi0/${i + 1}`));
  const parameters = Array.from({ length: shape.parameters }, (_, i) => standaloneParameter(i + 1));
  const name = `${type === 'server' ? 'srv' : 'sw'}-${dmaId}-${String(elementId).padStart(4, '0')}`;
  return { dmsId, dmaId, elementId, name, type, interfaces, parameters };
}

/** Every element of the fleet, system by system, agent by agent. */
export function fleetElements(shape: FleetShape): ElementModel[] {
  const out: ElementModel[] = [];
  for (let s = 1; s <= shape.tenants; s++)
    for (let a = 1; a <= shape.agents; a++) for (let e = 1; e <= shape.elements; e++) out.push(elementModel(shape, s, a, e));
  return out;
}

/** The trended series of an element: its standalone parameters, then bitrate and status per interface row. */
export function elementSeries(element: ElementModel): SeriesModel[] {
  const out: SeriesModel[] = element.parameters.map((parameter) => ({ element, parameter, index: '' }));
  for (const row of element.interfaces) {
    out.push({ element, parameter: BITRATE_IN, index: row });
    out.push({ element, parameter: OPER_STATUS, index: row });
  }
  return out;
}
