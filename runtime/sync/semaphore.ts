// Semaphores: Semaphore, BoundedSemaphore, CappedSemaphore.
import { getHub } from '../hub/hub';
import { checkTimeout, WaitList } from './waitlist';

const hub = getHub();

function checkCount(n: unknown, what: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
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
  private readonly waiters = new WaitList<boolean>();

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
    if (this.counter < 0 || !this.waiters.wakeOne(true)) this.counter++;
  }

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
    while (this.counter > 0 && this.waiters.wakeOne(true)) this.counter--;
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
 * release() waits while it is at `limit`.
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
   * Acquires possible before one would wait (counting releasers waiting at the
   * limit as slots on their way); negative: how many releases are needed.
   */
  get balance(): number {
    return this.lower.balance + this.upper.waiting();
  }

  locked(): boolean {
    return this.lower.locked();
  }

  async acquire(timeout?: number | null): Promise<boolean> {
    if (!(await this.lower.acquire(timeout))) return false;
    this.upper.release();
    return true;
  }

  tryAcquire(): boolean {
    if (!this.lower.tryAcquire()) return false;
    this.upper.release();
    return true;
  }

  /** Gives a slot back, waiting while the count is at its limit. */
  async release(timeout?: number | null): Promise<boolean> {
    if (!(await this.upper.acquire(timeout))) return false;
    this.lower.release();
    return true;
  }

  async run<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      await this.release();
    }
  }
}
