// Pools of reusable items (connections, tokens): Evy's `pools` module.
import { wait } from './green/greenthread';
import { getHub } from './hub/hub';
import { checkTimeout, WaitList } from './sync/waitlist';

const hub = getHub();

/** Pool's and TokenPool's options. */
export interface PoolOptions<T> {
  /** items created up front (default 0) */
  minSize?: number;
  /** most items in existence at once (default 4) */
  maxSize?: number;
  /** hand out the most recently returned item first (default: oldest first) */
  orderAsStack?: boolean;
  /** makes a new item; or override create() in a subclass */
  create?: () => T | PromiseLike<T>;
}

function checkSize(n: unknown, what: string): number {
  if (typeof n !== 'number') throw new TypeError(`${what} must be a number, got ${n === null ? 'null' : typeof n}`);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative integer, got ${String(n)}`);
  return n;
}

/**
 * Items are made on demand by create(), up to maxSize; get() hands out a free
 * one or waits for a put(). Extra items returned after a shrink are dropped.
 */
export class Pool<T> {
  minSize: number;
  maxSize: number;
  readonly orderAsStack: boolean;
  /** items in existence: free, handed out, or being created */
  currentSize = 0;
  private readonly freeItems: Array<T | PromiseLike<T>> = [];
  private readonly waiters = new WaitList<T>('Pool.get');
  private readonly createFn: (() => T | PromiseLike<T>) | undefined;

  constructor(opts: PoolOptions<T> = {}) {
    this.minSize = checkSize(opts.minSize ?? 0, 'Pool minSize');
    this.maxSize = checkSize(opts.maxSize ?? 4, 'Pool maxSize');
    if (this.minSize > this.maxSize) throw new RangeError(`Pool minSize (${this.minSize}) is above maxSize (${this.maxSize})`);
    this.orderAsStack = opts.orderAsStack ?? false;
    this.createFn = opts.create;
    for (let i = 0; i < this.minSize; i++) {
      this.currentSize++;
      this.freeItems.push(this.create());
    }
  }

  /** Makes a new item. Pass `create` in the options or override this. */
  create(): T | PromiseLike<T> {
    if (this.createFn === undefined) throw new Error('Pool has no way to create items: pass `create` in its options or override create()');
    return this.createFn();
  }

  /** Items get() can hand out without waiting: free ones plus ones it may still create. */
  free(): number {
    return this.freeItems.length + Math.max(0, this.maxSize - this.currentSize);
  }

  /** Green threads waiting in get(). */
  waiting(): number {
    return this.waiters.length;
  }

  /**
   * A free item, a new one if the pool is below maxSize, or else the next one
   * put back. With `timeout` seconds, throws an Error if none came in time.
   */
  async get(timeout?: number | null): Promise<T> {
    const secs = checkTimeout(timeout, 'Pool.get');
    const pending = hub.check();
    if (pending !== null) return pending;
    if (this.freeItems.length > 0) {
      const item = this.orderAsStack ? this.freeItems.pop()! : this.freeItems.shift()!;
      return this.settle(item);
    }
    if (this.currentSize < this.maxSize) return this.settle(this.createCounted());
    return this.waiters.wait(secs, { error: () => new Error(`Pool.get() timed out after ${secs} seconds: all ${this.maxSize} items in use`) });
  }

  /** create(), counted in currentSize; a synchronous failure gives the place back. */
  private createCounted(): T | PromiseLike<T> {
    this.currentSize++;
    try {
      return this.create();
    } catch (err) {
      this.currentSize--;
      throw err;
    }
  }

  /** Waits for an item still being created; a failed creation frees its place. */
  private async settle(item: T | PromiseLike<T>): Promise<T> {
    if (item === null || typeof item !== 'object' || typeof (item as PromiseLike<T>).then !== 'function') return item as T;
    const p = Promise.resolve(item);
    let done = false;
    p.then(() => (done = true), () => (done = true));
    try {
      return await wait(p);
    } catch (err) {
      if (done) {
        this.currentSize--; // the creation itself failed
      } else {
        // Interrupted while it was being made: it joins the pool when ready.
        p.then((v) => this.put(v), () => this.currentSize--);
      }
      throw err;
    }
  }

  /** An item handed to a getter that a throw reached first: to the next getter, or the free list. */
  private readonly giveBack = (item: T): void => {
    if (!this.waiters.wakeOne(item, this.giveBack)) this.freeItems.push(item);
  };

  /** Returns an item: to the longest waiter, else to the free list. */
  put(item: T): void {
    if (this.currentSize > this.maxSize) {
      this.currentSize--;
      return;
    }
    if (!this.waiters.wakeOne(item, this.giveBack)) this.freeItems.push(item);
  }

  /** get(), run `fn(item)`, put() the item back — whatever `fn` does. */
  async item<R>(fn: (item: T) => R | PromiseLike<R>): Promise<R> {
    const it = await this.get();
    try {
      return await fn(it);
    } finally {
      this.put(it);
    }
  }

  /** Changes maxSize. A smaller pool shrinks as items come back; a bigger one serves waiters at once. */
  resize(maxSize: number): void {
    this.maxSize = checkSize(maxSize, 'Pool maxSize');
    while (this.waiters.length > 0 && this.currentSize < this.maxSize) {
      Promise.resolve(this.createCounted()).then((v) => this.put(v), () => this.currentSize--);
    }
  }
}

/** A token: the item of a TokenPool. */
export class Token {}

/** A Pool of tokens, to bound how many green threads do something at once. */
export class TokenPool extends Pool<Token> {
  override create(): Token {
    return new Token();
  }
}
