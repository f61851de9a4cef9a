// evy/patched/threading: Python's threading module, green. Locks, conditions,
// semaphores and events park the current green thread; a Thread is a green
// thread. Every blocking call is an evy operation (Timeout and kill interrupt it).
//
// Python's `with lock:` is `await lock.run(async () => ...)`, or
// `using _ = await lock.hold();` for the rest of the block.
import { GreenletExit, GreenThread, getCurrent, spawn } from '../green/greenthread';
import { getHub, type Parkable } from '../hub/hub';
import { Semaphore as EvySemaphore } from '../sync/semaphore';
import { WaitList } from '../sync/waitlist';

export { local } from '../green/corolocal';

const hub = getHub();

/** Python's RuntimeError: a lock used the wrong way (released unlocked, not owned...). */
export class RuntimeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeError';
  }
}

/**
 * Python's (blocking, timeout) pair as evy seconds: null waits forever, 0 never
 * waits. `timeout` -1 (or null/absent) means no limit.
 */
function lockTimeout(blocking: boolean, timeout: number | null | undefined, what: string): number | null {
  if (typeof blocking !== 'boolean') throw new TypeError(`${what}: blocking must be a boolean, got ${typeof blocking}`);
  if (timeout === undefined || timeout === null || timeout === -1) return blocking ? null : 0;
  if (typeof timeout !== 'number' || Number.isNaN(timeout)) {
    throw new TypeError(`${what}: timeout must be a number of seconds, got ${Number.isNaN(timeout) ? 'NaN' : typeof timeout}`);
  }
  if (!blocking) throw new RangeError(`${what}: a non-blocking call cannot have a timeout`);
  if (timeout < 0) throw new RangeError(`${what}: timeout must be a non-negative number or -1, got ${timeout}`);
  return timeout;
}

/** Python's `timeout=None` or seconds, for wait()s: null forever; ≤ 0: do not wait. */
function waitTimeout(timeout: number | null | undefined, what: string): number | null {
  if (timeout === undefined || timeout === null) return null;
  if (typeof timeout !== 'number' || Number.isNaN(timeout)) {
    throw new TypeError(`${what}: timeout must be a number of seconds or null, got ${Number.isNaN(timeout) ? 'NaN' : typeof timeout}`);
  }
  return Math.max(0, timeout);
}

/** What hold() resolves: releases on dispose (`using _ = await lock.hold()`). */
export interface Held extends Disposable {
  /** releases now; the dispose afterwards does nothing */
  release(): void;
}

function held(release: () => void): Held {
  let done = false;
  const once = (): void => {
    if (done) return;
    done = true;
    release();
  };
  return { release: once, [Symbol.dispose]: once };
}

/** The parts of a lock that Condition and the helpers need. */
interface Acquirable {
  acquire(blocking?: boolean, timeout?: number | null): Promise<boolean>;
  release(): void;
}

async function runLocked<T>(lock: Acquirable, fn: () => T | PromiseLike<T>): Promise<T> {
  await lock.acquire();
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

async function hold(lock: Acquirable): Promise<Held> {
  await lock.acquire();
  return held(() => lock.release());
}

/** A primitive lock: not owned, so any green thread may release it. Waiters get it in FIFO order. */
export class Lock {
  private readonly sem = new EvySemaphore(1);

  /**
   * Takes the lock, waiting for it (`blocking` false: never waits; `timeout`
   * seconds, -1: forever). Resolves true if it was taken.
   */
  acquire(blocking = true, timeout: number | null = -1): Promise<boolean> {
    return this.sem.acquire(lockTimeout(blocking, timeout, 'Lock.acquire'));
  }

  /** Releases the lock; releasing an unlocked lock throws RuntimeError. */
  release(): void {
    if (!this.sem.locked()) throw new RuntimeError('release unlocked lock');
    this.sem.release();
  }

  /** Held by some green thread. */
  locked(): boolean {
    return this.sem.locked();
  }

  /** Python's `with lock:` — acquire, run `fn`, release whatever it does. */
  run<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    return runLocked(this, fn);
  }

  /** Acquires; the result releases when disposed: `using _ = await lock.hold()`. */
  hold(): Promise<Held> {
    return hold(this);
  }
}

/** What RLock gives up in Condition.wait and takes back after it. */
interface RLockState {
  owner: Parkable;
  count: number;
}

/**
 * A re-entrant lock, owned by the green thread that acquired it: the owner may
 * acquire it again, and must release it as many times. Only the owner may release.
 */
export class RLock {
  private readonly lock = new Lock();
  private owner: Parkable | null = null;
  private count = 0;

  /** Takes the lock, or takes it again when this thread owns it (`blocking`, `timeout` as Lock's). */
  acquire(blocking = true, timeout: number | null = -1): Promise<boolean> {
    lockTimeout(blocking, timeout, 'RLock.acquire'); // refuses bad arguments before anything
    const me = hub.current();
    if (this.owner === me) {
      const pending = hub.check();
      if (pending !== null) return pending;
      this.count++;
      return Promise.resolve(true);
    }
    return this.lock.acquire(blocking, timeout).then((ok) => {
      if (ok) {
        this.owner = me;
        this.count = 1;
      }
      return ok;
    });
  }

  /** Releases one level; the last one frees the lock. Throws RuntimeError unless the current thread owns it. */
  release(): void {
    if (this.owner !== hub.current()) throw new RuntimeError('cannot release un-acquired lock');
    if (--this.count === 0) {
      this.owner = null;
      this.lock.release();
    }
  }

  /** Held by some green thread. */
  locked(): boolean {
    return this.lock.locked();
  }

  /** @internal held by the current green thread */
  isOwned(): boolean {
    return this.owner === hub.current();
  }

  /** @internal releases every level (Condition.wait) */
  releaseSave(): RLockState {
    if (this.owner !== hub.current()) throw new RuntimeError('cannot release un-acquired lock');
    const state = { owner: this.owner, count: this.count };
    this.owner = null;
    this.count = 0;
    this.lock.release();
    return state;
  }

  /** @internal takes the lock back at the saved level */
  async acquireRestore(state: RLockState): Promise<void> {
    await this.lock.acquire();
    this.owner = state.owner;
    this.count = state.count;
  }

  /** Python's `with rlock:` — acquire, run `fn`, release whatever it does. */
  run<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    return runLocked(this, fn);
  }

  /** Acquires; the result releases when disposed: `using _ = await rlock.hold()`. */
  hold(): Promise<Held> {
    return hold(this);
  }
}

const NONE: unique symbol = Symbol('evy.none');

/**
 * A condition variable over `lock` (default: a new RLock). wait() releases the
 * lock while it waits and always takes it back before returning or throwing;
 * notify() wakes waiters in the order they began to wait.
 */
export class Condition {
  readonly lock: Lock | RLock;
  private readonly waiters: EvySemaphore[] = [];

  constructor(lock: Lock | RLock = new RLock()) {
    if (!(lock instanceof Lock) && !(lock instanceof RLock)) throw new TypeError('Condition needs a Lock or an RLock');
    this.lock = lock;
  }

  /** Acquires the condition's lock. */
  acquire(blocking = true, timeout: number | null = -1): Promise<boolean> {
    return this.lock.acquire(blocking, timeout);
  }

  /** Releases the condition's lock. */
  release(): void {
    this.lock.release();
  }

  /** Python's `with cond:` — the lock held while `fn` runs. */
  run<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    return runLocked(this.lock, fn);
  }

  /** Acquires the lock; the result releases it when disposed. */
  hold(): Promise<Held> {
    return hold(this.lock);
  }

  /** Green threads waiting now. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Python's rule: an RLock must be held by this thread; a Lock, by someone. */
  private isOwned(): boolean {
    return this.lock instanceof RLock ? this.lock.isOwned() : this.lock.locked();
  }

  /**
   * Releases the lock, waits for notify() (at most `timeout` seconds), takes
   * the lock back. Resolves false on timeout. A Timeout or kill still takes
   * the lock back (an RLock at its recursion level) before the error goes on.
   */
  async wait(timeout?: number | null): Promise<boolean> {
    const secs = waitTimeout(timeout, 'Condition.wait');
    if (!this.isOwned()) throw new RuntimeError('cannot wait on un-acquired lock');
    const waiter = new EvySemaphore(0);
    this.waiters.push(waiter);
    const lock = this.lock;
    const saved = lock instanceof RLock ? lock.releaseSave() : (lock.release(), null);
    let got = false;
    let error: unknown = NONE;
    try {
      got = await waiter.acquire(secs);
    } catch (err) {
      error = err;
    }
    if (!got) {
      const i = this.waiters.indexOf(waiter);
      if (i >= 0) this.waiters.splice(i, 1);
    }
    // Take the lock back whatever happened: a throw arriving meanwhile is kept
    // for after (the first one wins), so the caller's finally finds the lock held.
    for (;;) {
      try {
        if (saved !== null) await (lock as RLock).acquireRestore(saved);
        else await lock.acquire();
        break;
      } catch (err) {
        if (error === NONE) error = err;
      }
    }
    if (error !== NONE) throw error;
    return got;
  }

  /**
   * Waits until `predicate()` is truthy (checked first, then after each
   * wakeup), for at most `timeout` seconds in all; resolves its last value.
   */
  async waitFor<T>(predicate: () => T | PromiseLike<T>, timeout?: number | null): Promise<T> {
    if (typeof predicate !== 'function') throw new TypeError('Condition.waitFor needs a predicate function');
    let waittime = waitTimeout(timeout, 'Condition.waitFor');
    const end = waittime === null ? null : hub.clock() + waittime;
    let result = await predicate();
    while (!result) {
      if (end !== null) {
        waittime = end - hub.clock();
        if (waittime <= 0) break;
      }
      await this.wait(waittime);
      result = await predicate();
    }
    return result;
  }

  /** Wakes up to `n` waiters, longest waiting first. The lock must be held. */
  notify(n = 1): void {
    if (!this.isOwned()) throw new RuntimeError('cannot notify on un-acquired lock');
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`Condition.notify: n must be a non-negative integer, got ${String(n)}`);
    for (const w of this.waiters.splice(0, n)) w.release();
  }

  /** Wakes every waiter. The lock must be held. */
  notifyAll(): void {
    this.notify(this.waiters.length);
  }
}

/** Python's Semaphore: acquire(blocking, timeout) → boolean, release(n). FIFO. */
export class Semaphore {
  protected readonly sem: EvySemaphore;

  constructor(value = 1) {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`Semaphore initial value must be an integer >= 0, got ${String(value)}`);
    this.sem = new EvySemaphore(value);
  }

  /** Free slots now. */
  get value(): number {
    return Math.max(0, this.sem.balance);
  }

  /** Takes a slot (`blocking` false: never waits; `timeout` seconds, null: forever). */
  acquire(blocking = true, timeout: number | null = null): Promise<boolean> {
    return this.sem.acquire(lockTimeout(blocking, timeout, 'Semaphore.acquire'));
  }

  /** Gives `n` slots back, to the longest waiters first. */
  release(n = 1): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`Semaphore.release: n must be an integer >= 1, got ${String(n)}`);
    for (let i = 0; i < n; i++) this.sem.release();
  }

  /** Python's `with sem:` — a slot held while `fn` runs. */
  run<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    return runLocked(this, fn);
  }

  /** Takes a slot; the result gives it back when disposed. */
  hold(): Promise<Held> {
    return hold(this);
  }
}

/** A Semaphore that refuses (RangeError) to be released above its initial value. */
export class BoundedSemaphore extends Semaphore {
  private readonly initial: number;

  constructor(value = 1) {
    super(value);
    this.initial = value;
  }

  override release(n = 1): void {
    if (this.value + n > this.initial) throw new RangeError(`Semaphore released too many times (its initial value is ${this.initial})`);
    super.release(n);
  }
}

/** Python's Event: a flag; wait() blocks until it is set. */
export class Event {
  private flag = false;
  private readonly waiters = new WaitList<boolean>('threading.Event.wait');

  /** The flag is set. */
  isSet(): boolean {
    return this.flag;
  }

  /** Sets the flag and wakes every waiter. */
  set(): void {
    this.flag = true;
    this.waiters.wakeAll(true);
  }

  /** Clears the flag: wait() waits again. */
  clear(): void {
    this.flag = false;
  }

  /** Waits until the flag is set (at most `timeout` seconds); resolves whether it was. */
  wait(timeout?: number | null): Promise<boolean> {
    const secs = waitTimeout(timeout, 'Event.wait');
    if (this.flag || secs === 0) {
      const pending = hub.check();
      if (pending !== null) return pending;
      return Promise.resolve(this.flag);
    }
    return this.waiters.wait(secs, { value: false });
  }
}

/** Thread's options, as threading.Thread's keyword arguments. */
export interface ThreadOptions<A extends unknown[] = unknown[]> {
  /** what run() calls */
  target?: ((...args: A) => unknown) | null;
  args?: A;
  /** default: Thread-N, with the target's name */
  name?: string;
  /** recorded for Python compatibility: every green thread keeps the process alive only while it waits on something */
  daemon?: boolean;
}

let threadCounter = 0;
let dummyCounter = 0;
const threadOf = new WeakMap<GreenThread<unknown>, Thread>();

/**
 * Python's Thread, as a green thread: `new Thread({ target, args }).start()`,
 * or a subclass overriding run(). An error escaping run() is printed
 * ("Exception in thread NAME:"), as Python's excepthook does; join() does not rethrow it.
 */
export class Thread<A extends unknown[] = unknown[]> {
  name: string;
  daemon: boolean;
  private readonly target: ((...args: unknown[]) => unknown) | null;
  private readonly args: unknown[];
  private gt: GreenThread<unknown> | null = null;
  private readonly done = new Event();

  constructor(opts: ThreadOptions<A> = {}) {
    const { target = null, args = [], name, daemon = false } = opts;
    if (target !== null && typeof target !== 'function') throw new TypeError('Thread: target must be a function');
    if (!Array.isArray(args)) throw new TypeError('Thread: args must be an array');
    // Stored without A: a Thread<[number]> is still a Thread.
    this.target = target as ((...args: unknown[]) => unknown) | null;
    this.args = args;
    if (name === undefined) {
      const n = ++threadCounter;
      this.name = target !== null && target.name ? `Thread-${n} (${target.name})` : `Thread-${n}`;
    } else {
      this.name = name;
    }
    this.daemon = daemon;
  }

  /** @internal a Thread for a green thread that was not started as one (the main one, spawn()ed ones) */
  static adopt(gt: GreenThread<unknown>, name: string): Thread {
    const t = new Thread({ name });
    t.daemon = gt !== hub.main;
    t.attach(gt);
    return t;
  }

  private attach(gt: GreenThread<unknown>): void {
    this.gt = gt;
    threadOf.set(gt, this as Thread<unknown[]>);
    // Not link(): that would count as observing the thread's error.
    gt.addLink({ fn: () => this.done.set(), args: [] });
  }

  /** The green thread's id once started, else null. */
  get ident(): number | null {
    return this.gt === null ? null : this.gt.id;
  }

  /** The green thread running it, once started. */
  get greenThread(): GreenThread<unknown> | null {
    return this.gt;
  }

  /** Starts run() in a new green thread. A thread starts once only. */
  start(): void {
    if (this.gt !== null) throw new RuntimeError('threads can only be started once');
    this.attach(spawn(bootstrap, this as Thread<unknown[]>) as GreenThread<unknown>);
  }

  /** What the thread does: calls the target with its args. Override it in a subclass. */
  run(): unknown {
    if (this.target !== null) return this.target(...this.args);
    return undefined;
  }

  /** Waits until the thread ends, or at most `timeout` seconds: then check isAlive(). */
  async join(timeout?: number | null): Promise<void> {
    if (this.gt === null) throw new RuntimeError('cannot join thread before it is started');
    if (this.gt === hub.current()) throw new RuntimeError('cannot join current thread');
    await this.done.wait(timeout);
  }

  /** Started and not yet finished. */
  isAlive(): boolean {
    return this.gt !== null && !this.gt.dead;
  }

  /** `<Thread(name, started ident)>`, as Python's repr. */
  toString(): string {
    return `<Thread(${this.name}, ${this.gt === null ? 'initial' : this.gt.dead ? 'stopped' : 'started'}${this.daemon ? ' daemon' : ''} ${this.ident ?? ''})>`;
  }
}

async function bootstrap(t: Thread<unknown[]>): Promise<void> {
  try {
    await t.run();
  } catch (err) {
    if (err instanceof GreenletExit) return;
    const text = err instanceof Error ? (err.stack ?? String(err)) : String(err);
    process.stderr.write(`Exception in thread ${t.name}:\n${text}\n`);
  }
}

/** The Thread of the current green thread (green threads not started as Threads get one too). */
export function currentThread(): Thread {
  const gt = getCurrent();
  let t = threadOf.get(gt);
  if (t === undefined) t = Thread.adopt(gt, gt === hub.main ? 'MainThread' : `Dummy-${++dummyCounter}`);
  return t;
}

/** The Thread of the main green thread. */
export function mainThread(): Thread {
  const main = hub.main as GreenThread<unknown>;
  return threadOf.get(main) ?? Thread.adopt(main, 'MainThread');
}

/** The current green thread's id. */
export function getIdent(): number {
  return getCurrent().id;
}
