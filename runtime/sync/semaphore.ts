// Semaphores: Semaphore, BoundedSemaphore, CappedSemaphore.
import { getHub } from '../hub/hub';
import { checkTimeout, WaitList } from './waitlist';

const hub = getHub();

/** Not a number: TypeError (Evy's int() failing); a negative or fractional one: RangeError (ValueError). */
function checkCount(n: unknown, what: string): number {
  if (typeof n !== 'number' || Number.isNaN(n)) {
    throw new TypeError(`${what} must be a non-negative integer, got ${typeof n === 'number' ? 'NaN' : typeof n}`);
  }
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`${what} must be a non-negative integer, got ${String(n)}`);
  }
  return n;
}

/**
 * A counter of free slots. acquire() takes one, waiting while there are none;
 * release() gives one back — straight to the longest waiter, so a released slot
 * is never lost to a waiter that is killed or times out at the same moment.
 */
export class Semaphore {
  protected counter: number;
  private readonly waiters = new WaitList<boolean>('Semaphore.acquire');

  constructor(value = 1) {
    this.counter = checkCount(value, 'Semaphore value');
  }

  /** Free slots minus waiting green threads: negative when threads wait. */
  get balance(): number {
    return this.counter - this.waiters.length;
  }

  /** True when acquire() would wait. */
  locked(): boolean {
    return this.counter <= 0;
  }

  /**
   * Takes a slot, waiting for one if needed. With `timeout` seconds (0: do not
   * wait), resolves false if no slot came in time; true otherwise.
   */
  acquire(timeout?: number | null): Promise<boolean> {
    const secs = checkTimeout(timeout, 'Semaphore.acquire');
    const pending = hub.check();
    if (pending !== null) return pending;
    if (this.counter > 0 && this.waiters.length === 0) {
      this.counter--;
      return Promise.resolve(true);
    }
    if (secs === 0) return Promise.resolve(false);
    return this.waiters.wait(secs, { value: false });
  }

  /** Takes a slot if one is free now; never waits. */
  tryAcquire(): boolean {
    if (this.counter > 0 && this.waiters.length === 0) {
      this.counter--;
      return true;
    }
    return false;
  }

  /** Gives a slot back: to the longest waiter if there is one. */
  release(): void {
    // Below zero (adjust() shrank it) the slot pays back the debt first.
    if (this.counter < 0 || !this.waiters.wakeOne(true, this.giveBack)) this.counter++;
  }

  /** A slot handed to a waiter that a throw reached first comes back. */
  private readonly giveBack = (): void => this.release();

  /** acquire(), run `fn`, release() — whatever `fn` does. */
  async run<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /** Green threads waiting in acquire(). */
  waiting(): number {
    return this.waiters.length;
  }

  /** @internal Grows or shrinks the counter (GreenPool.resize), waking waiters that now fit. */
  adjust(delta: number): void {
    this.counter += delta;
    while (this.counter > 0 && this.waiters.wakeOne(true, this.giveBack)) this.counter--;
  }
}

/** A Semaphore that refuses to be released above its initial value. */
export class BoundedSemaphore extends Semaphore {
  private readonly limit: number;

  constructor(value = 1) {
    super(value);
    this.limit = value;
  }

  override release(): void {
    if (this.counter >= this.limit && this.waiting() === 0) {
      throw new RangeError(`BoundedSemaphore released too many times (its limit is ${this.limit})`);
    }
    super.release();
  }
}

/**
 * A semaphore bounded on both sides: acquire() waits while the count is 0 and
 * release() waits while it is at `limit`. Two semaphores, as in Evy: `lower`
 * counts what acquire() may take, `upper` what release() may give back. Each
 * side first gives its slot to the other semaphore, then waits on its own, so
 * an acquire and a release that meet always let each other through (with
 * CappedSemaphore(0, 0) too).
 */
export class CappedSemaphore {
  private readonly lower: Semaphore;
  private readonly upper: Semaphore;
  readonly limit: number;

  constructor(count: number, limit: number) {
    checkCount(count, 'CappedSemaphore count');
    checkCount(limit, 'CappedSemaphore limit');
    if (count > limit) throw new RangeError(`CappedSemaphore count (${count}) is above its limit (${limit})`);
    this.limit = limit;
    this.lower = new Semaphore(count);
    this.upper = new Semaphore(limit - count);
  }

  /**
   * Evy's balance: the lower semaphore's balance minus the upper one's (each
   * counting the green threads waiting on it). Negative while acquirers wait
   * or after acquires that releases have not matched.
   */
  get balance(): number {
    return this.lower.balance - this.upper.balance;
  }

  /** True when acquire() would wait. */
  locked(): boolean {
    return this.lower.locked();
  }

  /** True when release() would wait. */
  bounded(): boolean {
    return this.upper.locked();
  }

  /** Takes a slot, waiting while none is free (`timeout` seconds; false if it ran out). */
  async acquire(timeout?: number | null): Promise<boolean> {
    this.upper.release();
    let ok = false;
    try {
      ok = await this.lower.acquire(timeout);
    } finally {
      // Timed out or interrupted: take back the slot given to the releasers
      // (below zero if a waiting releaser got it already: the next acquire pays it).
      if (!ok) this.upper.adjust(-1);
    }
    return ok;
  }

  /** Takes a slot if one is free now, without waiting. */
  tryAcquire(): boolean {
    if (!this.lower.tryAcquire()) return false;
    this.upper.release();
    return true;
  }

  /** Gives a slot back, waiting while the count is at its limit. */
  async release(timeout?: number | null): Promise<boolean> {
    this.lower.release();
    let ok = false;
    try {
      ok = await this.upper.acquire(timeout);
    } finally {
      if (!ok) this.lower.adjust(-1);
    }
    return ok;
  }

  /** acquire(), run `fn`, release: Python's `with sem:`. */
  async run<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      await this.release();
    }
  }
}
