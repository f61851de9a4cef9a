// The hub's timers: a 4-ary min-heap ordered by (deadline, sequence), with each
// entry remembering its slot so cancel() is O(log n) and leaves no garbage behind.
// Stays fast and compact with a million pending timers: the keys live in two
// Float64Arrays beside the entries, so comparing reads no objects, and an entry
// can be any object with an `index` — a Timer, or a sleeping green thread's
// Waiter itself, which then needs no Timer (nor a boxed deadline) at all.

/** What a timer calls when it fires (TimerHeap.add's `cb`). */
export type TimerCallback = (...args: unknown[]) => void;

/** What the heap holds: anything that keeps its slot (-1 when not in the heap). */
export interface TimedEntry {
  index: number;
}

/** A scheduled call, from the hub's timer heap; cancel() stops it. */
export class Timer {
  /** Absolute deadline, in seconds of `performance.now()`. */
  deadline: number;
  /** @internal */ index = -1;
  /** @internal */ cb: TimerCallback | null;
  /** @internal */ args: unknown[] | null;
  /** @internal the single argument when args is null */ arg: unknown;
  /** @internal */ heap: TimerHeap | null;
  /** @internal the green thread a local timer belongs to */ owner: { dead: boolean; localTimers: Set<Timer> | null } | null = null;
  /** @internal set when hub.captureStacks is on */ stack: string | undefined = undefined;

  /** @internal */
  constructor(heap: TimerHeap | null, deadline: number, cb: TimerCallback, args: unknown[] | null, arg: unknown) {
    this.heap = heap;
    this.deadline = deadline;
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

export class TimerHeap {
  private items: TimedEntry[] = [];
  private deadlines = new Float64Array(64);
  private seqs = new Float64Array(64);
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

  /** The earliest entry, or undefined. */
  peek(): TimedEntry | undefined {
    return this.items[0];
  }

  /** The earliest deadline (Infinity when empty). */
  peekDeadline(): number {
    return this.items.length > 0 ? this.deadlines[0] : Infinity;
  }

  /** The earliest entry's sequence number (Infinity when empty). */
  peekSeq(): number {
    return this.items.length > 0 ? this.seqs[0] : Infinity;
  }

  /** The deadline of an entry in the heap. */
  deadlineOf(e: TimedEntry): number {
    return this.deadlines[e.index];
  }

  add(deadline: number, cb: TimerCallback, args: unknown[] | null, arg?: unknown): Timer {
    const t = new Timer(this, deadline, cb, args, arg);
    this.insert(t, deadline);
    return t;
  }

  /** Puts `e` in at `deadline`, after every entry with the same deadline. */
  insert(e: TimedEntry, deadline: number): void {
    const i = this.items.length;
    if (i === this.deadlines.length) this.grow();
    this.items.push(e);
    this.deadlines[i] = deadline;
    this.seqs[i] = this.seq++;
    this.up(i);
  }

  private grow(): void {
    const d = new Float64Array(this.deadlines.length * 2);
    d.set(this.deadlines);
    this.deadlines = d;
    const s = new Float64Array(this.seqs.length * 2);
    s.set(this.seqs);
    this.seqs = s;
  }

  /** Removes and returns the earliest entry if it is due at `now`. */
  popDue(now: number): TimedEntry | undefined {
    const top = this.items[0];
    if (top === undefined || this.deadlines[0] > now) return undefined;
    this.remove(top);
    return top;
  }

  remove(e: TimedEntry): void {
    const items = this.items;
    const i = e.index;
    const n = items.length - 1;
    const last = items.pop()!;
    e.index = -1;
    if (last !== e) {
      items[i] = last;
      last.index = i;
      this.deadlines[i] = this.deadlines[n];
      this.seqs[i] = this.seqs[n];
      if (i > 0 && this.before(i, (i - 1) >> 2)) this.up(i);
      else this.down(i);
    } else if (items.length === 0) {
      this.onEmpty?.();
    }
  }

  /** Every pending entry, in no particular order (for the debug listings). */
  all(): readonly TimedEntry[] {
    return this.items;
  }

  clear(): void {
    for (const e of this.items) {
      e.index = -1;
      if (e instanceof Timer) {
        e.cb = null;
        e.args = null;
        e.arg = undefined;
      }
    }
    this.items = [];
  }

  /** Slot i's key is before slot j's. */
  private before(i: number, j: number): boolean {
    const a = this.deadlines[i];
    const b = this.deadlines[j];
    return a < b || (a === b && this.seqs[i] < this.seqs[j]);
  }

  // Both move a hole: the moving entry's keys are held aside and written once.
  private up(i: number): void {
    const items = this.items;
    const ds = this.deadlines;
    const ss = this.seqs;
    const e = items[i];
    const d = ds[i];
    const s = ss[i];
    while (i > 0) {
      const p = (i - 1) >> 2;
      const pd = ds[p];
      if (!(d < pd || (d === pd && s < ss[p]))) break;
      const parent = items[p];
      items[i] = parent;
      parent.index = i;
      ds[i] = pd;
      ss[i] = ss[p];
      i = p;
    }
    items[i] = e;
    e.index = i;
    ds[i] = d;
    ss[i] = s;
  }

  private down(i: number): void {
    const items = this.items;
    const ds = this.deadlines;
    const ss = this.seqs;
    const n = items.length;
    const e = items[i];
    const d = ds[i];
    const s = ss[i];
    for (;;) {
      const c = 4 * i + 1;
      if (c >= n) break;
      let m = c;
      const end = c + 4 < n ? c + 4 : n;
      for (let k = c + 1; k < end; k++) if (ds[k] < ds[m] || (ds[k] === ds[m] && ss[k] < ss[m])) m = k;
      if (!(ds[m] < d || (ds[m] === d && ss[m] < s))) break;
      const child = items[m];
      items[i] = child;
      child.index = i;
      ds[i] = ds[m];
      ss[i] = ss[m];
      i = m;
    }
    items[i] = e;
    e.index = i;
    ds[i] = d;
    ss[i] = s;
  }
}
