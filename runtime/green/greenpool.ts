// GreenPool (a bounded set of green threads) and GreenPile (results in spawn order).
import { getHub } from '../hub/hub';
import { Semaphore } from '../sync/semaphore';
import { LightQueue, Queue } from '../sync/queue';
import { WaitList } from '../sync/waitlist';
import { getCurrent, GreenThread, spawn, spawnThread } from './greenthread';

const hub = getHub();

function checkSize(size: unknown, what: string): number {
  // Not a number at all is the caller's type error (Evy: TypeError); a number
  // that cannot be a size (negative, fractional, NaN) is a RangeError.
  if (typeof size !== 'number') throw new TypeError(`${what} must be a number, got ${size === null ? 'null' : typeof size}`);
  if (!Number.isInteger(size) || size < 0) {
    throw new RangeError(`${what} must be a non-negative integer, got ${String(size)}`);
  }
  return size;
}

type AnyIterable<T> = Iterable<T> | AsyncIterable<T>;

function isIterable(x: unknown): x is AnyIterable<unknown> {
  return x !== null && x !== undefined && (typeof (x as Iterable<unknown>)[Symbol.iterator] === 'function' ||
    typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function');
}

/** Zips iterables (sync or async) into argument lists, stopping at the shortest. */
async function* zip(iterables: AnyIterable<unknown>[]): AsyncGenerator<unknown[]> {
  // Not `Symbol.asyncIterator in it`: strings are iterable and `in` throws on them.
  const its = iterables.map((it) =>
    typeof (it as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function'
      ? (it as AsyncIterable<unknown>)[Symbol.asyncIterator]()
      : (it as Iterable<unknown>)[Symbol.iterator](),
  );
  try {
    for (;;) {
      const row: unknown[] = [];
      for (const it of its) {
        const r = await it.next();
        if (r.done) return;
        row.push(r.value);
      }
      yield row;
    }
  } finally {
    for (const it of its) await it.return?.();
  }
}

const FEED_DONE: unique symbol = Symbol('evy.feedDone');
class FeedError {
  constructor(readonly error: unknown) {}
}

/**
 * A pool of green threads: at most `size` run at once; spawn() waits for a free
 * slot. Bounds the concurrency of crawlers, servers and workers.
 */
export class GreenPool {
  private limit: number;
  private readonly sem: Semaphore;
  /** Threads holding a slot; each knows its pool (GreenThread.pool): no per-thread set entry. */
  private members = 0;
  private readonly idleWaiters = new WaitList<void>('GreenPool.waitall');

  /**
   * @param size most green threads running at once. 0 is allowed, as in Evy: a
   *   closed pool, whose spawn() calls wait until resize() gives it room.
   * @throws TypeError when `size` is not a number; RangeError when it is
   *   negative or fractional.
   */
  constructor(size = 1000) {
    this.limit = checkSize(size, 'GreenPool size');
    this.sem = new Semaphore(this.limit);
  }

  get size(): number {
    return this.limit;
  }

  /** Green threads running in the pool now. */
  running(): number {
    return this.members;
  }

  /** Slots free now: how many spawn() calls would not wait. */
  free(): number {
    return Math.max(0, this.sem.balance + this.sem.waiting());
  }

  /** Green threads waiting in spawn() for a slot. */
  waiting(): number {
    return this.sem.waiting();
  }

  /** Changes the size. Shrinking kills nothing: the pool drains down to the new size. */
  resize(size: number): void {
    checkSize(size, 'GreenPool size');
    this.sem.adjust(size - this.limit);
    this.limit = size;
  }

  /**
   * No thread runs in the pool and no slot is taken. A slot released to a
   * waiting spawn() passes straight to it, before its thread exists: the pool
   * is not idle until that thread is done too.
   */
  private idle(): boolean {
    return this.members === 0 && this.sem.balance >= this.limit;
  }

  /** @internal a member thread ended: its slot is free */
  threadExited(): void {
    this.members--;
    this.sem.release();
    if (this.idle()) this.idleWaiters.wakeAll(undefined);
  }

  private isMember(gt: unknown): boolean {
    return gt instanceof GreenThread && gt.pool === this;
  }

  /**
   * Waits for a free slot, then spawns `fn(...args)` in it. Called from one of
   * this pool's own threads while the pool is full, it runs `fn` inline instead
   * (waiting for a slot there would deadlock a pool whose threads all spawn).
   */
  async spawn<A extends unknown[], T>(fn: (...args: A) => T | PromiseLike<T>, ...args: A): Promise<GreenThread<Awaited<T>>> {
    if (typeof fn !== 'function') throw new TypeError('GreenPool.spawn needs a function');
    const cur = getCurrent();
    if (this.sem.locked() && this.isMember(cur)) {
      const gt = new GreenThread<Awaited<T>>(fn as unknown as (...a: never[]) => Awaited<T>, args);
      await gt.runInline();
      return gt;
    }
    await this.sem.acquire();
    const gt = spawn(fn, ...args);
    this.admit(gt as GreenThread<unknown>);
    return gt;
  }

  /** Like spawn(), without a result: errors are printed to stderr. */
  async spawnN<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): Promise<void> {
    if (typeof fn !== 'function') throw new TypeError('GreenPool.spawnN needs a function');
    const cur = getCurrent();
    if (this.sem.locked() && this.isMember(cur)) {
      const gt = new GreenThread<unknown>(fn as unknown as (...a: never[]) => unknown, args);
      gt.printErrors = true;
      await gt.runInline();
      return;
    }
    await this.sem.acquire();
    this.admit(spawnThread(fn as unknown as (...a: never[]) => unknown, args, true));
  }

  /**
   * @internal Makes `gt` (the current green thread) a member of the pool,
   * waiting for a free slot first (no wait when one is free); `leave(gt)`
   * gives it back. For evy/web/wsgi, whose connections hold a slot only while
   * they handle a request, so that idle and slow clients do not use up the pool.
   */
  enter(gt: GreenThread<unknown>): Promise<void> | undefined {
    if (gt.pool === this) return undefined;
    if (this.sem.tryAcquire()) {
      this.admit(gt);
      return undefined;
    }
    return this.sem.acquire().then(() => this.admit(gt));
  }

  /** @internal Gives back the slot `gt` took with enter(); harmless when it holds none. */
  leave(gt: GreenThread<unknown>): void {
    if (gt.pool !== this) return;
    gt.pool = null;
    this.threadExited();
  }

  private admit(gt: GreenThread<unknown>): void {
    this.members++;
    gt.pool = this;
  }

  /** Waits until no green thread runs in the pool. */
  waitall(): Promise<void> {
    if (this.isMember(getCurrent())) {
      return Promise.reject(new Error('GreenPool.waitall() called from one of the pool\'s own green threads would never return'));
    }
    if (this.idle()) return hub.check() ?? Promise.resolve();
    return this.idleWaiters.wait(null, null);
  }

  /**
   * `fn` over the zipped iterables (sync or async), concurrently in this pool;
   * results come out in input order. At most `size` calls are running or
   * finished-but-not-consumed at any time, so an endless input is fine.
   * Breaking out of the loop kills the calls still running.
   *
   * The types of `fn`'s arguments come from the iterables, one each:
   * `pool.imap((n, s) => s.repeat(n), [1, 2], ['a', 'b'])` needs no annotations.
   *
   * @throws TypeError when `fn` is not a function, or an argument after it is not iterable.
   * @example
   * ```ts
   * for await (const sq of new GreenPool(4).imap(async (n) => n * n, [1, 2, 3])) console.log(sq);
   * ```
   */
  imap<A extends unknown[], R>(
    fn: (...args: A) => R | PromiseLike<R>,
    ...iterables: { [K in keyof A]: AnyIterable<A[K]> }
  ): AsyncIterableIterator<Awaited<R>> {
    if (typeof fn !== 'function') throw new TypeError('GreenPool.imap needs a function');
    const its = iterables as AnyIterable<unknown>[];
    for (const it of its) if (!isIterable(it)) throw new TypeError('GreenPool.imap needs iterables after the function');
    if (its.length === 0) throw new TypeError('GreenPool.imap needs at least one iterable');
    return this.mapper(fn as (...args: unknown[]) => R | PromiseLike<R>, zip(its));
  }

  /** Like imap, with each element of `argLists` spread as the arguments of one call. */
  starmap<R, A extends unknown[] = unknown[]>(fn: (...args: A) => R | PromiseLike<R>, argLists: AnyIterable<A>): AsyncIterableIterator<Awaited<R>> {
    if (typeof fn !== 'function') throw new TypeError('GreenPool.starmap needs a function');
    if (!isIterable(argLists)) throw new TypeError('GreenPool.starmap needs an iterable of argument lists');
    return this.mapper(fn as (...args: unknown[]) => R | PromiseLike<R>, argLists as AnyIterable<unknown[]>);
  }

  private mapper<R>(fn: (...args: unknown[]) => R | PromiseLike<R>, argLists: AnyIterable<unknown[]>): AsyncIterableIterator<Awaited<R>> {
    return new MapIterator<Awaited<R>>(this, fn as (...args: unknown[]) => Awaited<R> | PromiseLike<Awaited<R>>, argLists);
  }
}

type MapItem<R> = GreenThread<R> | FeedError | typeof FEED_DONE;

/** What the feeder shares with its MapIterator, and what a collected iterator's finalizer cleans up. */
interface MapState<R> {
  readonly ready: LightQueue<MapItem<R>>;
  readonly feeder: GreenThread<void>;
  /** the consumer went away: the feeder stops, calls still queued are killed */
  closed: boolean;
}

/**
 * Pulls the input and spawns the calls, one window permit per input (see
 * MapIterator). Holds no reference to the iterator itself, so an iterator
 * dropped before its end can be collected, and its feeder killed then.
 */
async function feed<R>(
  pool: GreenPool,
  fn: (...args: unknown[]) => R | PromiseLike<R>,
  argLists: AnyIterable<unknown[]>,
  ready: LightQueue<MapItem<Awaited<R>>>,
  window: Semaphore,
  shared: { closed: boolean },
): Promise<void> {
  try {
    await window.acquire();
    for await (const args of argLists) {
      if (!Array.isArray(args)) throw new TypeError('starmap: each element must be an array of arguments');
      const gt = (await pool.spawn(fn, ...args)) as GreenThread<Awaited<R>>;
      gt.markObserved(); // the consumer rethrows its error at its turn
      if (shared.closed) {
        // The consumer went away while this call was being spawned.
        gt.kill();
        break;
      }
      ready.putNowait(gt);
      await window.acquire();
    }
    ready.putNowait(FEED_DONE);
  } catch (err) {
    ready.putNowait(new FeedError(err));
  }
}

function closeMap<R>(st: MapState<R>): void {
  st.closed = true;
  st.feeder.kill();
  while (!st.ready.empty()) {
    const rest = st.ready.getNowait();
    if (rest instanceof GreenThread) rest.kill();
  }
}

/** An imap iterator that nobody will finish: its feeder and queued calls are killed when it is collected. */
const abandoned = new FinalizationRegistry<MapState<unknown>>(closeMap);

/**
 * The iterator of imap and starmap. An error thrown by one call rethrows from
 * the next() that reaches its turn, and the iteration goes on with the
 * following results (Evy's rule: the caller catches it and iterates on).
 * return() (a `break` out of a for await) kills what is still running.
 */
class MapIterator<R> implements AsyncIterableIterator<R> {
  private readonly st: MapState<R>;
  // One permit per input pulled and not yet consumed: the feeder takes one
  // before it pulls the next input, the consumer gives one back when it comes
  // back for the next result. So at most `size` calls are running or
  // finished-but-unconsumed, and the input is never pulled further ahead.
  private readonly window: Semaphore;
  /** results (or errors) handed out whose permit the consumer has not given back yet */
  private owed = 0;
  /** a call whose wait() was interrupted (a Timeout around next()): its result comes next */
  private head: GreenThread<R> | null = null;
  private finished = false;

  constructor(pool: GreenPool, fn: (...args: unknown[]) => R | PromiseLike<R>, argLists: AnyIterable<unknown[]>) {
    const ready = new LightQueue<MapItem<R>>();
    const window = new Semaphore(Math.max(1, pool.size));
    const shared = { closed: false };
    const feeder = spawn(feed<R>, pool, fn, argLists, ready as LightQueue<MapItem<Awaited<R>>>, window, shared);
    this.window = window;
    // `shared` is the state object itself: the feeder sees `closed` change.
    this.st = Object.assign(shared, { ready, feeder });
    abandoned.register(this, this.st as MapState<unknown>, this);
  }

  async next(): Promise<IteratorResult<R>> {
    if (this.finished) return { done: true, value: undefined };
    if (this.owed > 0) {
      this.owed--;
      this.window.release();
    }
    let gt = this.head;
    if (gt === null) {
      const item = await this.st.ready.get();
      if (item === FEED_DONE) {
        this.end();
        return { done: true, value: undefined };
      }
      if (item instanceof FeedError) {
        this.end();
        throw item.error;
      }
      gt = item;
      this.head = gt;
    }
    let value: R;
    try {
      value = await gt.wait();
    } catch (err) {
      const own = gt.thrown();
      // Interrupted (a Timeout, a kill) while the call runs on: keep its turn.
      if (own === null || own.error !== err) throw err;
      this.head = null;
      this.owed++;
      throw err;
    }
    this.head = null;
    this.owed++;
    return { done: false, value };
  }

  /** Ends the iteration early: kills the calls still running and the feeder. */
  async return(): Promise<IteratorResult<R>> {
    this.end();
    return { done: true, value: undefined };
  }

  private end(): void {
    if (this.finished) return;
    this.finished = true;
    abandoned.unregister(this);
    closeMap(this.st);
    if (this.head !== null) {
      this.head.kill();
      this.head = null;
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

const PILE_END: unique symbol = Symbol('evy.pileEnd');

/**
 * Spawn into it, then iterate: results come out in spawn order, each waiting for
 * its green thread; an error is rethrown at its turn.
 */
export class GreenPile<T> implements AsyncIterableIterator<T> {
  /** The pool its threads run in (a new GreenPool(1000) unless one was given). */
  readonly pool: GreenPool;
  private readonly results = new Queue<GreenThread<T> | typeof PILE_END>();
  private _used = false;
  private _counter = 0;

  constructor(sizeOrPool: number | GreenPool = 1000) {
    this.pool = sizeOrPool instanceof GreenPool ? sizeOrPool : new GreenPool(sizeOrPool);
  }

  /** next() has been called. */
  get used(): boolean {
    return this._used;
  }

  /** Spawned results not yet taken. */
  get counter(): number {
    return this._counter;
  }

  /** Waits for a slot in the pool, then spawns `fn(...args)`. */
  async spawn<A extends unknown[]>(fn: (...args: A) => T | PromiseLike<T>, ...args: A): Promise<void> {
    this._counter++;
    let gt: GreenThread<Awaited<T>>;
    try {
      gt = await this.pool.spawn(fn, ...args);
    } catch (err) {
      // Killed (or failed) before it had a slot: one result fewer. A next()
      // waiting for it must not wait forever.
      this._counter--;
      if (this._counter === 0) for (let n = this.results.getting(); n > 0; n--) this.results.putNowait(PILE_END);
      throw err;
    }
    gt.markObserved(); // its error is rethrown by next(), at its turn
    this.results.putNowait(gt as GreenThread<T>);
  }

  /** The next result in spawn order; done once every spawned result was taken. */
  async next(): Promise<IteratorResult<T>> {
    this._used = true;
    if (this._counter === 0) return { done: true, value: undefined };
    const gt = await this.results.get();
    if (gt === PILE_END) return { done: true, value: undefined };
    this._counter--;
    return { done: false, value: await gt.wait() };
  }

  /** The pile itself: `for await (const r of pile)` takes the results in spawn order. */
  [Symbol.asyncIterator](): this {
    return this;
  }
}
