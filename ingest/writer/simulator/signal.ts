/**
 * The values a simulated parameter takes, change by change: numeric parameters follow a daily
 * swing with noise, rounded as a device would report them; discrete parameters sit in their
 * normal state and make short excursions. Each call returns a value different from the previous
 * one: DataMiner trends real-time values on change only.
 */
import type { DiscreteProfile, NumericProfile } from './fleet.ts';
import type { Random } from './random.ts';

const MINUTES_PER_DAY = 1440;
/** sin over one day, per minute: the daily swing without a Math.sin per change. */
const DAILY = Float64Array.from({ length: MINUTES_PER_DAY }, (_, m) => Math.sin((2 * Math.PI * m) / MINUTES_PER_DAY));

export class NumericSignal {
  private last = Number.NaN;
  private readonly scale: number;
  private readonly step: number;
  /** Phase of the daily swing, minutes. */
  private readonly phase: number;

  constructor(
    private readonly profile: NumericProfile,
    private readonly random: Random,
  ) {
    this.scale = 10 ** profile.decimals;
    this.step = 1 / this.scale;
    this.phase = random.int(MINUTES_PER_DAY);
  }

  /** The value the parameter changes to at `ts` (epoch ms). */
  next(ts: number): number {
    const p = this.profile;
    const minute = (Math.floor(ts / 60_000) + this.phase) % MINUTES_PER_DAY;
    let v = p.base + p.swing * DAILY[minute]! + p.noise * (2 * this.random.next() - 1);
    if (v < p.floor) v = p.floor;
    else if (v > p.ceiling) v = p.ceiling;
    v = Math.round(v * this.scale) / this.scale;
    if (v === this.last) v = Math.round((v + this.step <= p.ceiling ? v + this.step : v - this.step) * this.scale) / this.scale;
    this.last = v;
    return v;
  }
}

/** Time in an excursion state, relative to the mean time in the normal state. */
const EXCURSION_SHARE = 0.1;

export class DiscreteSignal {
  private current: string;

  constructor(
    private readonly profile: DiscreteProfile,
    private readonly random: Random,
  ) {
    this.current = profile.states[0]!;
  }

  get value(): string {
    return this.current;
  }

  /** Moves to another state and returns it: from normal to an excursion, mostly back to normal after one. */
  next(): string {
    const [normal, ...excursions] = this.profile.states;
    if (this.current === normal) this.current = this.random.pick(excursions);
    else if (this.random.next() < 0.8) this.current = normal!;
    else this.current = this.random.pick(this.profile.states.filter((s) => s !== this.current));
    return this.current;
  }

  /** How long the current state lasts (ms), given the mean time in the normal state. */
  holdMs(meanNormalMs: number): number {
    const mean = this.current === this.profile.states[0] ? meanNormalMs : meanNormalMs * EXCURSION_SHARE;
    return Math.max(1000, Math.round(this.random.exponential(mean)));
  }
}
