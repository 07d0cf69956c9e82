/**
 * Alarm trees and information events of one simulated element (domain.md §3).
 *
 * A tree starts with a root event (alarmType 10 New Alarm, status 12 Open, user status 18 Not
 * Assigned, owner System, alarmId == rootAlarmId, previousAlarmId 0) on one trended parameter,
 * then takes up to three steps, each a new event chained to the one before: 8 Escalated or
 * 9 Dropped (one severity level up or down, with a new value), 19 Acknowledged (owner = the
 * operator, user status 19) or 22 Comment added (comment set). Most trees end with a clear
 * (alarmType 11, status 11, severity 5 Normal, range 5); the rest stay open. A re-occurring alarm
 * starts a new tree. Severities: 1 Critical, 2 Major, 3 Minor, 4 Warning.
 *
 * Information events (severity 13, alarmType 10, status 11: born cleared, range 5) stand alone:
 * alarmId == rootAlarmId, previousAlarmId 0. They say the element started, or that an operator
 * set a saved parameter.
 *
 * Ids: the element's events share one id sequence: an event's id is its creation time in epoch ms,
 * bumped past the previous id when two events fall in one millisecond. Ids therefore grow within
 * a tree, roots are unique per element, and a live run never reuses an id of an earlier run or
 * back-fill. `timestamp` (time of arrival) is creation plus a few milliseconds.
 */
import type { Cadence } from './cadence.ts';
import type { EventQueue } from './event-queue.ts';
import { SAVED_POLLING_ID, type ElementModel, type NumericProfile, type SeriesModel } from './fleet.ts';
import type { RecordOutput } from './output.ts';
import type { Random } from './random.ts';

export const SEVERITY = { critical: 1, major: 2, minor: 3, warning: 4, normal: 5, information: 13 } as const;
export const SEVERITY_RANGE = { normal: 5, high: 6, low: 7 } as const;
export const ALARM_TYPE = { escalated: 8, dropped: 9, newAlarm: 10, cleared: 11, acknowledged: 19, commentAdded: 22 } as const;
export const ALARM_STATUS = { cleared: 11, open: 12 } as const;
export const USER_STATUS = { notAssigned: 18, acknowledged: 19 } as const;

/** Share of trees that end with a clear; the others stay open. */
export const CLEARED_SHARE = 0.85;
const MAX_STEPS = 3;
const OPERATORS = ['jdoe', 'asmith', 'noc-operator', 'mvermeulen'] as const;
const COMMENTS = [
  'Field engineer dispatched',
  'Known issue, ticket INC-4711',
  'Upstream provider notified',
  'Monitoring, no customer impact yet',
] as const;
const POLLING_SECONDS = [10, 15, 30, 60] as const;
/** Initial severity: Critical 10 %, Major 20 %, Minor 35 %, Warning 35 %. */
const SEVERITY_WEIGHTS: readonly [number, number][] = [
  [SEVERITY.critical, 0.1],
  [SEVERITY.major, 0.3],
  [SEVERITY.minor, 0.65],
  [SEVERITY.warning, 1],
];

/** The element's alarm id sequence (see the module doc). */
export class AlarmIds {
  private last = 0;

  next(createdAt: number): number {
    this.last = Math.max(createdAt, this.last + 1);
    return this.last;
  }
}

/** The state of one open tree: what its next event copies and changes. */
interface Tree {
  target: SeriesModel;
  rootAlarmId: number;
  rootCreatedAt: number;
  lastAlarmId: number;
  severity: number;
  severityRange: number;
  userStatus: number;
  owner: string;
  comment: string | null;
  value: string;
  displayValue: string;
  /** Steps still to take before the clear (or before the tree is left open). */
  stepsLeft: number;
  clears: boolean;
}

export class AlarmProcess {
  private readonly ids = new AlarmIds();

  /**
   * @param targets the element's trended series, any of which can raise an alarm
   * @param queue where the process schedules its events; the records go to `out`
   */
  constructor(
    private readonly element: ElementModel,
    private readonly targets: readonly SeriesModel[],
    private readonly random: Random,
    private readonly cadence: Cadence,
    private readonly queue: EventQueue,
    private readonly out: RecordOutput,
  ) {}

  /** The element starts at `ts`: an information event then, alarm trees and info events after. */
  start(ts: number): void {
    this.info(ts, -1, 'Element state', 'Started', 'Element started', null);
    this.scheduleTree(ts);
    this.scheduleInfo(ts);
  }

  private scheduleTree(after: number): void {
    if (this.cadence.alarmTreesPerHour <= 0 || this.targets.length === 0) return;
    this.queue.at(after + this.delay(3_600_000 / this.cadence.alarmTreesPerHour), (t) => {
      this.openTree(t);
      this.scheduleTree(t);
    });
  }

  private scheduleInfo(after: number): void {
    if (this.cadence.infoEventsPerHour <= 0) return;
    this.queue.at(after + this.delay(3_600_000 / this.cadence.infoEventsPerHour), (t) => {
      const seconds = this.random.pick(POLLING_SECONDS);
      this.info(t, SAVED_POLLING_ID, 'Polling Interval', String(seconds), `${seconds} s`, this.random.pick(OPERATORS));
      this.scheduleInfo(t);
    });
  }

  private openTree(t: number): void {
    const target = this.random.pick(this.targets);
    const u = this.random.next();
    const severity = SEVERITY_WEIGHTS.find(([, upTo]) => u < upTo)![0];
    const high = this.random.next() < 0.7;
    const id = this.ids.next(t);
    const tree: Tree = {
      target,
      rootAlarmId: id,
      rootCreatedAt: t,
      lastAlarmId: 0,
      severity,
      severityRange:
        target.parameter.profile.kind === 'numeric' ? (high ? SEVERITY_RANGE.high : SEVERITY_RANGE.low) : SEVERITY_RANGE.normal,
      userStatus: USER_STATUS.notAssigned,
      owner: 'System',
      comment: null,
      value: '',
      displayValue: '',
      stepsLeft: this.random.int(MAX_STEPS + 1),
      clears: this.random.next() < CLEARED_SHARE,
    };
    this.setValue(tree);
    this.emit(tree, id, t, ALARM_TYPE.newAlarm, ALARM_STATUS.open);
    this.scheduleStep(tree, t);
  }

  private scheduleStep(tree: Tree, after: number): void {
    if (tree.stepsLeft === 0 && !tree.clears) return;
    this.queue.at(after + this.delay(this.cadence.alarmStepSeconds * 1000), (t) => this.step(tree, t));
  }

  private step(tree: Tree, t: number): void {
    const id = this.ids.next(t);
    if (tree.stepsLeft === 0) {
      tree.severity = SEVERITY.normal;
      tree.severityRange = SEVERITY_RANGE.normal;
      this.setValue(tree);
      this.emit(tree, id, t, ALARM_TYPE.cleared, ALARM_STATUS.cleared);
      return;
    }
    tree.stepsLeft--;
    const steps: number[] = [ALARM_TYPE.commentAdded];
    if (tree.severity > SEVERITY.critical) steps.push(ALARM_TYPE.escalated);
    if (tree.severity < SEVERITY.warning) steps.push(ALARM_TYPE.dropped);
    if (tree.userStatus !== USER_STATUS.acknowledged) steps.push(ALARM_TYPE.acknowledged, ALARM_TYPE.acknowledged);
    const type = this.random.pick(steps);
    if (type === ALARM_TYPE.escalated || type === ALARM_TYPE.dropped) {
      tree.severity += type === ALARM_TYPE.escalated ? -1 : 1;
      this.setValue(tree);
    } else if (type === ALARM_TYPE.acknowledged) {
      tree.userStatus = USER_STATUS.acknowledged;
      tree.owner = this.random.pick(OPERATORS);
    } else {
      tree.comment = this.random.pick(COMMENTS);
    }
    this.emit(tree, id, t, type, ALARM_STATUS.open);
    this.scheduleStep(tree, t);
  }

  /** The value that matches the tree's severity: further from normal for a worse severity. */
  private setValue(tree: Tree): void {
    const profile = tree.target.parameter.profile;
    if (profile.kind === 'discrete') {
      const [normal, ...bad] = profile.states;
      tree.value = tree.severity === SEVERITY.normal ? normal! : bad[tree.severity <= SEVERITY.major ? bad.length - 1 : 0]!;
      tree.displayValue = tree.value;
      return;
    }
    const v = numericValue(profile, tree.severity, tree.severityRange === SEVERITY_RANGE.low);
    tree.value = String(v);
    tree.displayValue = `${v} ${profile.unit}`;
  }

  private emit(tree: Tree, id: number, t: number, alarmType: number, status: number): void {
    this.out.alarm('alarm', {
      dmsId: this.element.dmsId,
      dmaId: this.element.dmaId,
      elementId: this.element.elementId,
      parameterId: tree.target.parameter.id,
      index: tree.target.index,
      displayKey: tree.target.index,
      alarmId: id,
      rootAlarmId: tree.rootAlarmId,
      previousAlarmId: tree.lastAlarmId,
      severity: tree.severity,
      severityRange: tree.severityRange,
      alarmType,
      status,
      userStatus: tree.userStatus,
      value: tree.value,
      displayValue: tree.displayValue,
      timestamp: t + this.arrival(),
      createdAt: t,
      rootCreatedAt: tree.rootCreatedAt,
      owner: tree.owner,
      comment: tree.comment,
      elementName: this.element.name,
      parameterName: tree.target.index === '' ? tree.target.parameter.name : `${tree.target.parameter.name} [${tree.target.index}]`,
    });
    tree.lastAlarmId = id;
  }

  private info(t: number, parameterId: number, parameterName: string, value: string, displayValue: string, owner: string | null): void {
    const id = this.ids.next(t);
    this.out.alarm('info', {
      dmsId: this.element.dmsId,
      dmaId: this.element.dmaId,
      elementId: this.element.elementId,
      parameterId,
      alarmId: id,
      rootAlarmId: id,
      previousAlarmId: 0,
      severity: SEVERITY.information,
      severityRange: SEVERITY_RANGE.normal,
      alarmType: ALARM_TYPE.newAlarm,
      status: ALARM_STATUS.cleared,
      value,
      displayValue,
      timestamp: t + this.arrival(),
      createdAt: t,
      rootCreatedAt: t,
      owner,
      elementName: this.element.name,
      parameterName,
    });
  }

  /** At least a second, exponentially distributed around `meanMs`. */
  private delay(meanMs: number): number {
    return Math.max(1000, Math.round(this.random.exponential(meanMs)));
  }

  /** Milliseconds between an event's creation and its arrival. */
  private arrival(): number {
    return 1 + this.random.int(200);
  }
}

/** A numeric value in alarm: beyond normal by 1.5 to 3 swings (worse severity: further), rounded. */
export function numericValue(profile: NumericProfile, severity: number, low: boolean): number {
  const scale = 10 ** profile.decimals;
  if (severity === SEVERITY.normal) return Math.round(profile.base * scale) / scale;
  const distance = (profile.swing + profile.noise) * (1.5 + (SEVERITY.warning - severity) * 0.5);
  const v = Math.min(profile.ceiling, Math.max(profile.floor, profile.base + (low ? -distance : distance)));
  return Math.round(v * scale) / scale;
}
