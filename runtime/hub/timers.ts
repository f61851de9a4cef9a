// The hub's timers: a 4-ary min-heap ordered by (deadline, sequence), with each
// timer remembering its slot so cancel() is O(log n) and leaves no garbage behind.
// Stays fast and compact with a million pending timers.

/** What a timer calls when it fires (TimerHeap.add's `cb`). */
export type TimerCallback = (...args: unknown[]) => void;

/** A scheduled call, from the hub's timer heap; cancel() stops it. */
export class Timer {
  /** Absolute deadline, in seconds of `performance.now()`. */
  deadline: number;
  /** @internal */ seq: number;
  /** @internal */ index = -1;
  /** @internal */ cb: TimerCallback | null;
  /** @internal */ args: unknown[] | null;
  /** @internal the single argument when args is null */ arg: unknown;
  /** @internal */ heap: TimerHeap | null;
  /** @internal the green thread a local timer belongs to */ owner: { dead: boolean; localTimers: Set<Timer> | null } | null = null;
  /** @internal set when hub.captureStacks is on */ stack: string | undefined = undefined;

  /** @internal */
  constructor(heap: TimerHeap, deadline: number, seq: number, cb: TimerCallback, args: unknown[] | null, arg: unknown) {
    this.heap = heap;
    this.deadline = deadline;
    this.seq = seq;
    this.cb = cb;
    this.args = args;
    this.arg = arg;
  }

  /** True until the timer fired or was cancelled. */
  get pending(): boolean {
    return this.index >= 0;
  }

  /** Cancels the timer; harmless when it already fired or was cancelled. */
  cancel(): void {
    if (this.index >= 0) this.heap!.remove(this);
    if (this.owner !== null) this.owner.localTimers?.delete(this);
    this.cb = null;
    this.args = null;
    this.arg = undefined;
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
}

export class TimerHeap {
  private items: Timer[] = [];
  private seq = 0;
  /** Called when the last timer leaves (fired or cancelled), so the hub can disarm. */
  onEmpty: (() => void) | null = null;

  get size(): number {
    return this.items.length;
  }

  /** Takes the next sequence number: the run queue's entries share the timers' order. */
  nextSeq(): number {
    return this.seq++;
  }

  peek(): Timer | undefined {
    return this.items[0];
  }

  add(deadline: number, cb: TimerCallback, args: unknown[] | null, arg?: unknown): Timer {
    const t = new Timer(this, deadline, this.seq++, cb, args, arg);
    t.index = this.items.length;
    this.items.push(t);
    this.up(t.index);
    return t;
  }

  /** Removes and returns the earliest timer if it is due at `now`. */
  popDue(now: number): Timer | undefined {
    const top = this.items[0];
    if (top === undefined || top.deadline > now) return undefined;
    this.remove(top);
    return top;
  }

  remove(t: Timer): void {
    const items = this.items;
    const i = t.index;
    const last = items.pop()!;
    t.index = -1;
    if (last !== t) {
      items[i] = last;
      last.index = i;
      if (i > 0 && before(last, items[(i - 1) >> 2])) this.up(i);
      else this.down(i);
    } else if (items.length === 0) {
      this.onEmpty?.();
    }
  }

  /** Every pending timer, in no particular order (for the debug listings). */
  all(): readonly Timer[] {
    return this.items;
  }

  clear(): void {
    for (const t of this.items) {
      t.index = -1;
      t.cb = null;
      t.args = null;
      t.arg = undefined;
    }
    this.items = [];
  }

  private up(i: number): void {
    const items = this.items;
    const t = items[i];
    while (i > 0) {
      const p = (i - 1) >> 2;
      const parent = items[p];
      if (!before(t, parent)) break;
      items[i] = parent;
      parent.index = i;
      i = p;
    }
    items[i] = t;
    t.index = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const t = items[i];
    for (;;) {
      const c = 4 * i + 1;
      if (c >= n) break;
      let m = c;
      const end = c + 4 < n ? c + 4 : n;
      for (let k = c + 1; k < end; k++) if (before(items[k], items[m])) m = k;
      if (!before(items[m], t)) break;
      items[i] = items[m];
      items[i].index = i;
      i = m;
    }
    items[i] = t;
    t.index = i;
  }
}
