/**
 * Element data of one simulated element (domain.md §4): the persisted rows of its interface
 * table (parameter 1000) and its saved standalone parameters, as `ElementRow` records.
 *
 * At element start every interface row and both saved parameters are written. Then, at the
 * cadence's row change rate: an interface row is updated (new bitrate / status, higher version),
 * a VLAN sub-interface row (`eth0.101`, `Gi0/2.104`, …) is added, the oldest sub-interface is
 * deleted (`deleted: true`, a later version, no cells), or an operator sets a saved parameter.
 * A sub-interface key is never reused, so a deleted row stays deleted.
 *
 * Saved standalone parameters follow the record contract: primaryKey '' and exactly one cell
 * whose columnId is the parameter id (= tableParameterId). Versions are the change time in ms.
 */
import type { ElementRowInput } from '../../../schemas/validate.ts';
import type { Cadence } from './cadence.ts';
import type { EventQueue } from './event-queue.ts';
import {
  COLUMN_BITRATE_IN,
  COLUMN_DESCRIPTION,
  COLUMN_NAME,
  COLUMN_OPER_STATUS,
  INTERFACE_TABLE_ID,
  SAVED_LOCATION_ID,
  SAVED_POLLING_ID,
  type ElementModel,
} from './fleet.ts';
import type { RecordOutput } from './output.ts';
import type { Random } from './random.ts';

const LOCATIONS = ['Rack A3, Brussels DC1', 'Rack B7, Ghent POP', 'Rack C1, Antwerp DC2', 'Cabinet 4, Leuven CO'] as const;
const POLLING_SECONDS = [10, 15, 30, 60] as const;
const OPER_STATES = ['up', 'up', 'up', 'down', 'testing'] as const;

export class RowProcess {
  /** Sub-interface rows that exist now, oldest first. */
  private readonly subInterfaces: string[] = [];
  private nextVlan = 101;

  constructor(
    private readonly element: ElementModel,
    private readonly random: Random,
    private readonly cadence: Cadence,
    private readonly queue: EventQueue,
    private readonly out: RecordOutput,
  ) {}

  /** The element starts at `ts`: its whole table and saved parameters, then changes. */
  start(ts: number): void {
    for (const key of this.element.interfaces) this.interfaceRow(ts, key, this.displayKey(key), this.description(key));
    this.saved(ts, SAVED_LOCATION_ID, this.random.pick(LOCATIONS));
    this.saved(ts, SAVED_POLLING_ID, this.random.pick(POLLING_SECONDS));
    this.schedule(ts);
  }

  private schedule(after: number): void {
    if (this.cadence.rowChangesPerHour <= 0) return;
    const wait = Math.max(1000, Math.round(this.random.exponential(3_600_000 / this.cadence.rowChangesPerHour)));
    this.queue.at(after + wait, (t) => {
      this.change(t);
      this.schedule(t);
    });
  }

  private change(t: number): void {
    const u = this.random.next();
    const interfaces = this.element.interfaces;
    if (interfaces.length > 0 && u < 0.6) {
      const key = this.random.pick(interfaces);
      this.interfaceRow(t, key, this.displayKey(key), this.description(key));
    } else if (interfaces.length > 0 && u < 0.75) {
      const parent = this.random.pick(interfaces);
      const vlan = this.nextVlan++;
      const key = `${parent}.${vlan}`;
      this.subInterfaces.push(key);
      this.interfaceRow(t, key, `${this.displayKey(parent)}.${vlan}`, `VLAN ${vlan}`);
    } else if (this.subInterfaces.length > 0 && u < 0.9) {
      const key = this.subInterfaces.shift()!;
      const [parent, vlan] = key.split('.');
      this.out.row('deleted', {
        ...this.ids(),
        tableParameterId: INTERFACE_TABLE_ID,
        primaryKey: key,
        displayKey: `${this.displayKey(parent!)}.${vlan}`,
        columns: [],
        timestamp: t,
        version: t,
        deleted: true,
      });
    } else if (u < 0.95) {
      this.saved(t, SAVED_LOCATION_ID, this.random.pick(LOCATIONS));
    } else {
      this.saved(t, SAVED_POLLING_ID, this.random.pick(POLLING_SECONDS));
    }
  }

  private interfaceRow(t: number, key: string, displayKey: string, description: string): void {
    this.out.row('row', {
      ...this.ids(),
      tableParameterId: INTERFACE_TABLE_ID,
      primaryKey: key,
      displayKey,
      columns: [
        { columnId: COLUMN_NAME, value: key },
        { columnId: COLUMN_BITRATE_IN, value: Math.round(this.random.between(0, 1000) * 100) / 100 },
        { columnId: COLUMN_OPER_STATUS, value: this.random.pick(OPER_STATES) },
        { columnId: COLUMN_DESCRIPTION, value: description },
      ],
      timestamp: t,
      version: t,
    });
  }

  /** A standalone saved parameter: no primary key, one cell named by the parameter id. */
  private saved(t: number, parameterId: number, value: string | number): void {
    this.out.row('saved', {
      ...this.ids(),
      tableParameterId: parameterId,
      primaryKey: '',
      columns: [{ columnId: parameterId, value }],
      timestamp: t,
      version: t,
    });
  }

  private ids(): Pick<ElementRowInput, 'dmsId' | 'dmaId' | 'elementId'> {
    return { dmsId: this.element.dmsId, dmaId: this.element.dmaId, elementId: this.element.elementId };
  }

  private displayKey(key: string): string {
    return this.element.type === 'switch' ? key.replace(/^Gi/, 'GigabitEthernet') : key;
  }

  private description(key: string): string {
    return this.element.type === 'switch' ? `access port ${key}` : `server NIC ${key}`;
  }
}
