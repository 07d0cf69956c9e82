/**
 * Typed reading of environment variables. Every process parses its configuration once at
 * start-up through these readers; all problems are collected and reported together, so an
 * operator fixes a bad deployment in one pass instead of one restart per variable.
 */

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

export interface IntOptions {
  min?: number;
  max?: number;
  /** Said after "above the maximum": where the maximum comes from. */
  maxReason?: string;
}

/**
 * The longest delay Node's timers accept: a larger one (or a non-integer) is silently replaced
 * by 1 ms, with only a TimeoutOverflowWarning (Node docs, `setTimeout`: TIMEOUT_MAX = 2^31 - 1).
 */
export const MAX_TIMER_MS = 2_147_483_647;
const TIMER_REASON = "(Node's timers hold at most 2^31-1 ms, about 24.8 days)";

/** Collects problems while reading; call `done()` to throw them all at once. */
export class EnvReader {
  private readonly problems: string[] = [];

  constructor(private readonly env: Env = process.env) {}

  string(name: string, fallback: string): string {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    return raw;
  }

  optionalString(name: string): string | undefined {
    const raw = this.env[name];
    return raw === undefined || raw === '' ? undefined : raw;
  }

  int(name: string, fallback: number, opts: IntOptions = {}): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    if (!/^-?\d+$/.test(raw.trim())) {
      this.problems.push(`${name}=${JSON.stringify(raw)} is not an integer`);
      return fallback;
    }
    const value = Number(raw.trim());
    if (!Number.isSafeInteger(value)) {
      this.problems.push(`${name}=${raw.trim()} is too large to be exact (at most ${Number.MAX_SAFE_INTEGER})`);
    } else if (opts.min !== undefined && value < opts.min) {
      this.problems.push(`${name}=${value} is below the minimum ${opts.min}`);
    } else if (opts.max !== undefined && value > opts.max) {
      this.problems.push(`${name}=${value} is above the maximum ${opts.max}${opts.maxReason === undefined ? '' : ` ${opts.maxReason}`}`);
    }
    return value;
  }

  /** A duration in milliseconds that a timer will wait for: at most MAX_TIMER_MS. */
  ms(name: string, fallback: number, opts: IntOptions = {}): number {
    const max = Math.min(opts.max ?? MAX_TIMER_MS, MAX_TIMER_MS);
    return this.int(name, fallback, { ...opts, max, maxReason: opts.maxReason ?? (max === MAX_TIMER_MS ? TIMER_REASON : undefined) });
  }

  /** A duration given in seconds that a timer will wait for, returned in milliseconds. */
  secondsAsMs(name: string, fallbackS: number, opts: IntOptions = {}): number {
    const maxS = Math.min(opts.max ?? Infinity, Math.floor(MAX_TIMER_MS / 1000));
    return (
      this.int(name, fallbackS, {
        ...opts,
        max: maxS,
        maxReason: opts.maxReason ?? (maxS === Math.floor(MAX_TIMER_MS / 1000) ? TIMER_REASON : undefined),
      }) * 1000
    );
  }

  port(name: string, fallback: number): number {
    return this.int(name, fallback, { min: 1, max: 65535 });
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    this.problems.push(`${name}=${JSON.stringify(raw)} is not a boolean (use true/false)`);
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.problems.push(`${name}=${JSON.stringify(raw)} must be one of ${allowed.join(', ')}`);
    return fallback;
  }

  /** A comma-separated list of host:port pairs. */
  hostPorts(name: string, fallback: string[]): string[] {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const items = raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    for (const item of items) {
      const m = /^(.+):(\d+)$/.exec(item);
      if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) {
        this.problems.push(`${name}: ${JSON.stringify(item)} is not host:port`);
      }
    }
    if (items.length === 0) this.problems.push(`${name} is empty`);
    return items;
  }

  url(name: string, fallback: string): string {
    const raw = this.string(name, fallback);
    try {
      const u = new URL(raw);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') {
        this.problems.push(`${name}=${JSON.stringify(raw)} must be an http(s) URL`);
      }
    } catch {
      this.problems.push(`${name}=${JSON.stringify(raw)} is not a URL`);
    }
    return raw;
  }

  /** Records a cross-field problem found by the caller. */
  problem(message: string): void {
    this.problems.push(message);
  }

  done(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}
