/**
 * Seeded randomness for the simulator: every value, gap, alarm and row change is a function of
 * the seed and the ids of what it belongs to, so two runs with the same seed produce the same
 * records (and tests can predict them).
 */

/** A fast 32-bit generator (mulberry32); one instance per series or per element process. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform in [min, max). */
  between(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** Exponentially distributed with the given mean: the gap between events of a Poisson process. */
  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }
}

/** A 32-bit seed from a run seed and the ids (numbers or names) of one series or process. */
export function seedOf(...parts: (number | string)[]): number {
  let h = 0x811c9dc5;
  const mix = (x: number) => {
    h = Math.imul(h ^ (x & 0xffff), 0x01000193);
    h = Math.imul(h ^ (x >>> 16), 0x01000193);
  };
  for (const part of parts) {
    if (typeof part === 'number') {
      mix(part | 0);
      mix(Math.floor(part / 4_294_967_296) | 0);
    } else for (let i = 0; i < part.length; i++) mix(part.charCodeAt(i));
    mix(0x9e3779b9);
  }
  // Final avalanche (murmur3 fmix32), so near seeds give unrelated streams.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
