// Queues between green threads: LightQueue, Queue (with taskDone/join),
// PriorityQueue and LifoQueue. An item is handed straight to a waiting getter,
// so it is never lost to a getter that times out or is killed at that moment.
import { getHub } from '../hub/hub';
import { checkTimeout, WaitList } from './waitlist';

const hub = getHub();
const RESOLVED = Promise.resolve();

/** Thrown by get() after its timeout, and by getNowait() on an empty queue. */
export class Empty extends Error {
  constructor(message = 'the queue is empty') {
    super(message);
    this.name = 'Empty';
  }
}

/** Thrown by put() after its timeout, and by putNowait() on a full queue. */
export class Full extends Error {
  constructor(message = 'the queue is full') {
    super(message);
    this.name = 'Full';
  }
}

function checkMaxsize(maxsize: number | null | undefined): number {
  if (maxsize === null || maxsize === undefined || maxsize === 0) return Infinity;
  if (typeof maxsize !== 'number' || maxsize < 0 || (!Number.isInteger(maxsize) && maxsize !== Infinity)) {
    throw new RangeError(`maxsize must be a non-negative integer or null, got ${String(maxsize)}`);
  }
  return maxsize;
}

const newEmpty = (): Empty => new Empty('get() timed out: the queue stayed empty');
const newFull = (): Full => new Full('put() timed out: the queue stayed full');

/** A FIFO queue without task tracking. maxsize null/0/absent: unbounded. */
export class LightQueue<T> {
  private max: number;
  private readonly getters = new WaitList<T>('Queue.get');
  private readonly putters = new WaitList<void>('Queue.put');
  // FIFO storage: an array with a moving head, compacted as it drains.
  private items: T[] = [];
  private head = 0;

  constructor(maxsize?: number | null) {
    this.max = checkMaxsize(maxsize);
  }

  /** The bound (Infinity when unbounded). */
  get maxsize(): number {
    return this.max;
  }

  // Storage hooks for the other orders.
  protected store(item: T): void {
    this.items.push(item);
  }
  /** Puts back an item take() gave out, where it was: first in line. */
  protected restore(item: T): void {
    if (this.head > 0) this.items[--this.head] = item;
    else this.items.unshift(item);
  }
  protected take(): T {
    const item = this.items[this.head];
    this.items[this.head++] = undefined as T;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
  /** Items in the queue. */
  qsize(): number {
    return this.items.length - this.head;
  }
  /** Called for every item that enters the queue (Queue counts tasks). */
  protected onPut(): void {}

  /** No item in the queue. */
  empty(): boolean {
    return this.qsize() === 0;
  }

  /** As many items as maxsize (never for an unbounded queue). */
  full(): boolean {
    return this.qsize() >= this.max;
  }

  /** Green threads waiting in get(). */
  getting(): number {
    return this.getters.length;
  }

  /** Green threads waiting in put(). */
  putting(): number {
    return this.putters.length;
  }

  /** Changes maxsize (null/0: unbounded); waiting putters whose items now fit go in. */
  resize(maxsize: number | null): void {
    this.max = checkMaxsize(maxsize);
    this.admitPutters();
  }

  /**
   * Puts `item` in, waiting while the queue is full. With `timeout` seconds
   * (0: do not wait), throws Full if no room came in time.
   */
  put(item: T, timeout?: number | null): Promise<void> {
    const secs = checkTimeout(timeout, 'Queue.put');
    const pending = hub.check();
    if (pending !== null) return pending;
    if (this.offer(item)) return RESOLVED;
    if (secs === 0) return Promise.reject(new Full());
    return this.putters.wait(secs, { error: newFull }, item);
  }

  /** Puts `item` in now, or throws Full. */
  putNowait(item: T): void {
    if (!this.offer(item)) throw new Full();
  }

  /**
   * Takes the next item, waiting while the queue is empty. With `timeout`
   * seconds (0: do not wait), throws Empty if no item came in time.
   */
  get(timeout?: number | null): Promise<T> {
    const secs = checkTimeout(timeout, 'Queue.get');
    if (this.qsize() > 0 || secs === 0) {
      const pending = hub.check();
      if (pending !== null) return pending;
      return this.qsize() > 0 ? Promise.resolve(this.takeAndAdmit()) : Promise.reject(new Empty());
    }
    // Parking delivers a deferred throw itself.
    return this.getters.wait(secs, { error: newEmpty });
  }

  /** Takes the next item now, or throws Empty. */
  getNowait(): T {
    if (this.qsize() > 0) return this.takeAndAdmit();
    throw new Empty();
  }

  private offer(item: T): boolean {
    if (this.getters.length > 0) {
      // Getters only wait on an empty queue: the item goes straight to the first.
      this.onPut();
      this.getters.wakeOne(item, this.giveBack);
      return true;
    }
    if (this.qsize() >= this.max) return false;
    this.onPut();
    this.store(item);
    return true;
  }

  /** An item handed to a getter that a throw reached first: to the next getter, or back into the queue. */
  private readonly giveBack = (item: T): void => {
    if (!this.getters.wakeOne(item, this.giveBack)) this.restore(item);
  };

  private takeAndAdmit(): T {
    const item = this.take();
    this.admitPutters();
    return item;
  }

  private admitPutters(): void {
    let p;
    while (this.qsize() < this.max && (p = this.putters.peek()) !== null) {
      this.putters.unlink(p);
      this.onPut();
      this.store(p.data as T);
      hub.wake(p, undefined);
    }
    // Getters may wait on items that admitted putters just brought.
    while (this.getters.length > 0 && this.qsize() > 0) this.getters.wakeOne(this.take(), this.giveBack);
  }

  /** Lets `for await (const item of queue)` consume items forever. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) yield await this.get();
  }
}

/** A FIFO queue that counts unfinished tasks: taskDone() and join(). */
export class Queue<T> extends LightQueue<T> {
  private unfinished = 0;
  private readonly joiners = new WaitList<void>('Queue.join');

  protected override onPut(): void {
    this.unfinished++;
  }

  /** Items put and not yet marked done. */
  get unfinishedTasks(): number {
    return this.unfinished;
  }

  /** Marks one item as processed; join() returns once every item is. */
  taskDone(): void {
    if (this.unfinished <= 0) throw new RangeError('taskDone() called more times than there were items put');
    if (--this.unfinished === 0) this.joiners.wakeAll(undefined);
  }

  /** Waits until every item put has been marked done. */
  join(timeout?: number | null): Promise<void> {
    const secs = checkTimeout(timeout, 'Queue.join');
    if (this.unfinished === 0) return hub.check() ?? RESOLVED;
    return this.joiners.wait(secs, { error: () => new Error(`join() timed out with ${this.unfinished} unfinished tasks`) });
  }
}

/** PriorityQueue's order: negative when `a` comes out first. */
export type Compare<T> = (a: T, b: T) => number;

/**
 * Python-like ordering: numbers, strings and bigints by value, arrays
 * lexicographically (so `[priority, data]` pairs work as in Evy).
 */
export function defaultCompare(a: unknown, b: unknown): number {
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const c = defaultCompare(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  const ta = typeof a;
  if (ta !== typeof b || (ta !== 'number' && ta !== 'string' && ta !== 'bigint')) {
    throw new TypeError(`PriorityQueue cannot order a ${ta} against a ${typeof b}: give it a compare function`);
  }
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

/** Lowest item first (by `compare`); equal items come out in the order they went in. */
export class PriorityQueue<T> extends Queue<T> {
  private heap: { item: T; seq: number }[] = [];
  private seq = 0;
  private readonly compare: Compare<T>;

  constructor(maxsize?: number | null, compare: Compare<T> = defaultCompare) {
    super(maxsize);
    this.compare = compare;
  }

  private less(a: { item: T; seq: number }, b: { item: T; seq: number }): boolean {
    const c = this.compare(a.item, b.item);
    return c < 0 || (c === 0 && a.seq < b.seq);
  }

  protected override store(item: T): void {
    const h = this.heap;
    const e = { item, seq: this.seq++ };
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(e, h[p])) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = e;
  }

  protected override take(): T {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const m = l + 1 < h.length && this.less(h[l + 1], h[l]) ? l + 1 : l;
        if (!this.less(h[m], last)) break;
        h[i] = h[m];
        i = m;
      }
      h[i] = last;
    }
    return top.item;
  }

  protected override restore(item: T): void {
    this.store(item);
  }

  override qsize(): number {
    return this.heap.length;
  }
}

/** Last in, first out. */
export class LifoQueue<T> extends Queue<T> {
  private stack: T[] = [];

  protected override store(item: T): void {
    this.stack.push(item);
  }

  protected override take(): T {
    return this.stack.pop()!;
  }

  protected override restore(item: T): void {
    this.stack.push(item);
  }

  override qsize(): number {
    return this.stack.length;
  }
}
