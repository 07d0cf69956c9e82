/**
 * Time-ordered events of the simulated elements (gaps, discrete changes, alarm steps, row
 * changes): a binary min-heap by time; events due at the same millisecond run in the order they
 * were scheduled, so a run is deterministic.
 */

/** Runs one scheduled event; `time` is its due time (epoch ms). */
export type EventHandler = (time: number) => void;

export interface Scheduler {
  /** Runs `handler` when simulated time reaches `time` (epoch ms). */
  at(time: number, handler: EventHandler): void;
}

interface Entry {
  time: number;
  seq: number;
  handler: EventHandler;
}

export class EventQueue implements Scheduler {
  private readonly heap: Entry[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Due time of the next event; Infinity when none is scheduled. */
  get nextTime(): number {
    return this.heap[0]?.time ?? Infinity;
  }

  at(time: number, handler: EventHandler): void {
    const heap = this.heap;
    heap.push({ time, seq: this.seq++, handler });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  /** Runs every event due before `until` (exclusive), in time order, including ones they schedule. */
  runUntil(until: number): number {
    let ran = 0;
    while (this.heap.length > 0 && this.heap[0]!.time < until) {
      const e = this.pop();
      e.handler(e.time);
      ran++;
    }
    return ran;
  }

  /** Runs the next event, if any is due before `until`; returns whether one ran. */
  runNext(until: number): boolean {
    if (this.heap.length === 0 || this.heap[0]!.time >= until) return false;
    const e = this.pop();
    e.handler(e.time);
    return true;
  }

  private pop(): Entry {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
