// Green threads: async functions run by the hub (DESIGN §2).
import { getHub, NO_THROW, nothingToGiveBack, reportError, Waiter, type Parkable, type Timer } from '../hub/hub';

const hub = getHub();

/** Killing a green thread with this (the default) is a clean exit: wait() returns undefined. */
export class GreenletExit extends Error {
  constructor(message = 'green thread killed') {
    super(message);
    this.name = 'GreenletExit';
  }
}

type LinkFn<T> = (gt: GreenThread<T>, ...curried: never[]) => void;
type Link<T> = { fn: LinkFn<T>; args: unknown[] };

let nextId = 1;

// The flag bits of GreenThread.flags: one small integer instead of a field each.
const DEAD = 1;
const STARTED = 2;
/** dead, and it threw (or was killed with an error): `slot` is the error */
const THREW = 4;
const OBSERVED = 8;
const PRINT_ERRORS = 16;

/**
 * What most green threads never need, made on first use: a parked thread is
 * a million times this class's fields, so each one it can do without counts.
 */
class Extra {
  pendingThrow: unknown = NO_THROW;
  localTimers: Set<Timer> | null = null;
  exitWaiters: Waiter<unknown>[] | null = null;
  pool: { threadExited(): void } | null = null;
  killError: unknown = NO_THROW;
  startTimer: Timer | null = null;
  name: string | null = null;
  spawnStack: Error | null = null;
  /** One link as is, several in an array: most threads have none or one. */
  links: Link<unknown> | Link<unknown>[] | null = null;
}

/**
 * A green thread: made by spawn(), its result (or error) kept for wait(); link()
 * calls back when it ends, kill() throws GreenletExit into it.
 */
export class GreenThread<T = unknown> implements Parkable {
  /** A number unique in this process, in spawn order. */
  readonly id: number = nextId++;
  /** DEAD, STARTED, THREW, OBSERVED, PRINT_ERRORS */
  private flags = 0;
  /** @internal */ waiter: Waiter<unknown> | null = null;
  /** @internal the function it runs (kept for its name), null for the main thread */
  readonly entry: ((...args: never[]) => unknown) | null;
  /** The arguments until it starts; its result, or its error (THREW), once it is dead. */
  private slot: unknown;
  /** @internal links of the live-thread list (liveThreads()) */
  livePrev: GreenThread<unknown> | null = null;
  /** @internal */ liveNext: GreenThread<unknown> | null = null;
  private extra: Extra | null = null;

  /** @internal use spawn() */
  constructor(fn: ((...args: never[]) => T | PromiseLike<T>) | null, args: unknown[]) {
    this.entry = fn;
    this.slot = args;
  }

  private more(): Extra {
    return (this.extra ??= new Extra());
  }

  /** One link as is, several in an array: most threads have none or one. */
  private get links(): Link<T> | Link<T>[] | null {
    return this.extra === null ? null : (this.extra.links as Link<T> | Link<T>[] | null);
  }
  private set links(v: Link<T> | Link<T>[] | null) {
    if (this.extra !== null || v !== null) this.more().links = v as Link<unknown> | Link<unknown>[] | null;
  }

  /** The function returned or threw, or the thread was killed. */
  get dead(): boolean {
    return (this.flags & DEAD) !== 0;
  }

  /** The function began to run. */
  get started(): boolean {
    return (this.flags & STARTED) !== 0;
  }
  set started(v: boolean) {
    this.flags = v ? this.flags | STARTED : this.flags & ~STARTED;
  }

  /** @internal spawnN: errors are printed rather than kept for wait() */
  get printErrors(): boolean {
    return (this.flags & PRINT_ERRORS) !== 0;
  }
  set printErrors(v: boolean) {
    this.flags = v ? this.flags | PRINT_ERRORS : this.flags & ~PRINT_ERRORS;
  }

  /** @internal a throw that arrived while it could not be delivered */
  get pendingThrow(): unknown {
    return this.extra === null ? NO_THROW : this.extra.pendingThrow;
  }
  set pendingThrow(v: unknown) {
    if (this.extra !== null || v !== NO_THROW) this.more().pendingThrow = v;
  }

  /** @internal timers that die with it */
  get localTimers(): Set<Timer> | null {
    return this.extra === null ? null : this.extra.localTimers;
  }
  set localTimers(v: Set<Timer> | null) {
    if (this.extra !== null || v !== null) this.more().localTimers = v;
  }

  /** @internal the GreenPool whose slot it holds, told when it ends */
  get pool(): { threadExited(): void } | null {
    return this.extra === null ? null : this.extra.pool;
  }
  set pool(v: { threadExited(): void } | null) {
    if (this.extra !== null || v !== null) this.more().pool = v;
  }

  /** @internal the spawnAfter timer that will start it */
  get startTimer(): Timer | null {
    return this.extra === null ? null : this.extra.startTimer;
  }
  set startTimer(v: Timer | null) {
    if (this.extra !== null || v !== null) this.more().startTimer = v;
  }

  /** A name for the introspection tools (`.threads`); null: the function's name is shown. */
  get name(): string | null {
    return this.extra === null ? null : this.extra.name;
  }
  set name(v: string | null) {
    if (this.extra !== null || v !== null) this.more().name = v;
  }

  /** @internal where it was spawned, when hub.threadStacks is on */
  get spawnStack(): Error | null {
    return this.extra === null ? null : this.extra.spawnStack;
  }
  set spawnStack(v: Error | null) {
    if (this.extra !== null || v !== null) this.more().spawnStack = v;
  }

  /** Names the thread for the introspection tools; returns it, for `spawn(fn).named('x')`. */
  named(name: string): this {
    if (typeof name !== 'string') throw new TypeError(`a green thread's name must be a string, got ${typeof name}`);
    this.name = name;
    return this;
  }

  /** @internal what a thread waiting for this one shows in `.threads` */
  describeWait(): string {
    return `GreenThread.wait (thread ${this.id}${this.name !== null ? ` '${this.name}'` : ''})`;
  }

  /** @internal Runs the function, with this thread as the current one. */
  start(): void {
    if ((this.flags & (DEAD | STARTED)) !== 0) return;
    this.flags |= STARTED;
    const args = this.slot as unknown[];
    this.slot = undefined;
    hub.storage.run(this, runInContext, this as GreenThread<unknown>, this.entry as (...args: unknown[]) => unknown, args);
  }

  /** @internal The function returned `value` or, `failed`, threw it. */
  settled(failed: boolean, value: unknown): void {
    this.finish(failed, value);
  }

  private finish(threw: boolean, value: unknown): void {
    if ((this.flags & DEAD) !== 0) return;
    // A throw that never found a suspension point still ends the thread:
    // a kill wins over a result it raced with.
    const extra = this.extra;
    if (extra !== null && extra.pendingThrow !== NO_THROW) {
      threw = true;
      value = extra.pendingThrow;
      hub.dropPending(this);
    }
    if (hub.turnSlot !== null && hub.turnSlot[1] !== 0) {
      const blocked = hub.takeBlocked(this);
      if (blocked !== NO_THROW) {
        threw = true;
        value = blocked;
      }
    }
    const err = threw ? value : undefined;
    if (threw && err instanceof GreenletExit) {
      threw = false;
      value = undefined;
    }
    this.flags |= threw ? DEAD | THREW : DEAD;
    this.slot = value;
    this.waiter = null;
    hub.threads--;
    unlinkLive(this as GreenThread<unknown>);
    if (extra !== null) {
      if (extra.startTimer !== null) {
        extra.startTimer.cancel();
        extra.startTimer = null;
      }
      hub.dropLocalTimers(this);
      const waiters = extra.exitWaiters;
      extra.exitWaiters = null;
      if (waiters !== null) for (const w of waiters) hub.wake(w, undefined, nothingToGiveBack); // a Timeout or kill reaching it first wins
      const pool = extra.pool;
      if (pool !== null) {
        extra.pool = null;
        pool.threadExited();
      }
    }
    const links = this.links;
    this.links = null;
    if (Array.isArray(links)) for (const l of links) this.callLink(l);
    else if (links !== null) this.callLink(links);
    // Last: what it woke above (its waiters, a pool's next caller) was a
    // hand-off from this thread, which runs in the next generation.
    hub.threadEnded(this);
    if (threw && err !== (extra === null ? NO_THROW : extra.killError)) {
      if ((this.flags & PRINT_ERRORS) !== 0 || hub.debugExceptions) reportError(`green thread ${this.id}`, err);
      else if ((this.flags & OBSERVED) === 0) setImmediate(() => {
        if ((this.flags & OBSERVED) === 0) reportError(`green thread ${this.id} (its error was never waited for)`, err);
      });
    }
  }

  private callLink(l: Link<T>): void {
    try {
      (l.fn as (gt: GreenThread<T>, ...a: unknown[]) => void)(this, ...l.args);
    } catch (err) {
      reportError(`a link of green thread ${this.id}`, err);
    }
  }

  /** The function's result, or rethrows what it threw. Waits for it to finish. */
  wait(): Promise<T> {
    this.flags |= OBSERVED;
    const cur = hub.current();
    if (this.dead) {
      const pending = hub.check();
      if (pending !== null) return pending;
      return (this.flags & THREW) !== 0 ? Promise.reject(this.slot) : Promise.resolve(this.slot as T);
    }
    if (cur === this) return Promise.reject(new Error(`green thread ${this.id} cannot wait for itself`));
    const list = (this.more().exitWaiters ??= []);
    const w = hub.park<unknown>(() => {
      const i = list.indexOf(w as Waiter<unknown>);
      if (i >= 0) list.splice(i, 1);
    }, this);
    if (!(w instanceof Waiter)) return w;
    list.push(w);
    return w.promise.then(() => {
      if ((this.flags & THREW) !== 0) throw this.slot;
      return this.slot as T;
    });
  }

  /**
   * Throws `error` (default: a GreenletExit) into the thread. A thread that has
   * not started never runs; a dead one is left alone; killing the current
   * thread throws here and now.
   */
  kill(error: unknown = new GreenletExit()): void {
    if (this.dead) return;
    this.more().killError = error;
    if (!this.started) {
      this.finish(true, error);
      return;
    }
    if (hub.current() === this) throw error;
    hub.interrupt(this, error);
  }

  /** Kills the thread only if it has not started yet. */
  cancel(error: unknown = new GreenletExit()): void {
    if (!this.started) this.kill(error);
  }

  /** Calls `fn(gt, ...curried)` when the thread exits; at once if it already has. */
  link<C extends unknown[]>(fn: (gt: GreenThread<T>, ...curried: C) => void, ...curried: C): void {
    if (typeof fn !== 'function') throw new TypeError('link needs a function');
    this.flags |= OBSERVED;
    this.addLink({ fn: fn as unknown as LinkFn<T>, args: curried });
  }

  /** @internal a link that does not count as observing the thread's error */
  addLink(l: Link<T>): void {
    const links = this.links;
    if (this.dead) this.callLink(l);
    else if (links === null) this.links = l;
    else if (Array.isArray(links)) links.push(l);
    else this.links = [links, l];
  }

  /** @internal What a dead thread threw (`{ error }`), or null if it returned or is alive. */
  thrown(): { error: unknown } | null {
    return (this.flags & THREW) !== 0 ? { error: this.slot } : null;
  }

  /** @internal removes a link added with addLink, by identity */
  removeLink(l: Link<T>): void {
    this.dropLink((k) => k === l);
  }

  /** Removes the first link that `match` picks; true if there was one. */
  private dropLink(match: (l: Link<T>) => boolean): boolean {
    const links = this.links;
    if (links === null) return false;
    if (!Array.isArray(links)) {
      if (!match(links)) return false;
      this.links = null;
      return true;
    }
    const i = links.findIndex(match);
    if (i < 0) return false;
    links.splice(i, 1);
    return true;
  }

  /** @internal someone will wait() for it later (GreenPile, imap): an error is not unobserved */
  markObserved(): void {
    this.flags |= OBSERVED;
  }

  /** Removes a link added with the same function and curried arguments. */
  unlink<C extends unknown[]>(fn: (gt: GreenThread<T>, ...curried: C) => void, ...curried: C): boolean {
    return this.dropLink(
      (l) => l.fn === (fn as unknown) && l.args.length === curried.length && l.args.every((a, k) => a === curried[k]),
    );
  }

  /** @internal Runs `fn` inline in the current thread on this object's behalf (GreenPool's full-pool rule). */
  async runInline(): Promise<void> {
    const fn = this.entry as (...args: unknown[]) => T | PromiseLike<T>;
    const args = this.slot as unknown[];
    this.slot = undefined;
    this.flags |= STARTED;
    hub.threads++;
    linkLive(this as GreenThread<unknown>);
    try {
      this.finish(false, await fn(...args));
    } catch (err) {
      this.finish(true, err);
    }
  }
}

/**
 * Runs a thread's function inside its AsyncLocalStorage context. The `then`
 * handlers registered here run in that context too, so they find their thread
 * with getStore(): no closures per thread (a million threads are cheaper so).
 */
function runInContext(gt: GreenThread<unknown>, fn: (...args: unknown[]) => unknown, args: unknown[]): void {
  let r: unknown;
  try {
    r = fn(...args);
  } catch (err) {
    gt.settled(true, err);
    return;
  }
  if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
    (r as PromiseLike<unknown>).then(threadReturned, threadThrew);
  } else {
    gt.settled(false, r);
  }
}

function threadReturned(value: unknown): void {
  (hub.storage.getStore() as GreenThread<unknown>).settled(false, value);
}

function threadThrew(err: unknown): void {
  (hub.storage.getStore() as GreenThread<unknown>).settled(true, err);
}

// ---- the live threads (for evy/tools) ----
// An intrusive list: linking and unlinking are a few stores, no hashing.

let liveHead: GreenThread<unknown> | null = null;

function linkLive(gt: GreenThread<unknown>): void {
  gt.liveNext = liveHead;
  if (liveHead !== null) liveHead.livePrev = gt;
  liveHead = gt;
  if (hub.threadStacks) gt.spawnStack = new Error('spawned');
}

function unlinkLive(gt: GreenThread<unknown>): void {
  const { livePrev, liveNext } = gt;
  if (livePrev !== null) livePrev.liveNext = liveNext;
  else if (liveHead === gt) liveHead = liveNext;
  else return; // not in the list (the main thread)
  if (liveNext !== null) liveNext.livePrev = livePrev;
  gt.livePrev = gt.liveNext = null;
}

/** @internal Every spawned green thread that has not finished, oldest first. */
export function liveThreads(): GreenThread<unknown>[] {
  const out: GreenThread<unknown>[] = [];
  for (let gt = liveHead; gt !== null; gt = gt.liveNext) out.push(gt);
  return out.reverse();
}

// The main green thread: everything that runs outside a spawned one.
const main = new GreenThread<void>(null, []);
main.started = true;
hub.main = main;

function checkFn(fn: unknown, what: string): void {
  if (typeof fn !== 'function') throw new TypeError(`${what} needs a function, got ${fn === null ? 'null' : typeof fn}`);
}

function checkSeconds(seconds: unknown, what: string): number {
  if (typeof seconds !== 'number' || Number.isNaN(seconds)) {
    throw new TypeError(`${what}: seconds must be a number, got ${Number.isNaN(seconds) ? 'NaN' : typeof seconds}`);
  }
  return seconds;
}

/** @internal Creates and schedules a green thread; `printErrors`: spawnN's reporting. */
export function spawnThread<T>(fn: (...a: never[]) => T | PromiseLike<T>, args: unknown[], printErrors: boolean): GreenThread<Awaited<T>> {
  const gt = new GreenThread<Awaited<T>>(fn as unknown as (...a: never[]) => Awaited<T>, args);
  gt.printErrors = printErrors;
  hub.threads++;
  linkLive(gt as GreenThread<unknown>);
  hub.schedule(gt);
  return gt;
}

/** Creates a green thread that starts running `fn(...args)` when the caller next yields. */
export function spawn<A extends unknown[], T>(fn: (...args: A) => T | PromiseLike<T>, ...args: A): GreenThread<Awaited<T>> {
  checkFn(fn, 'spawn');
  return spawnThread(fn as unknown as (...a: never[]) => T | PromiseLike<T>, args, false);
}

/** Like spawn, without a result: an error it throws is printed to stderr. */
export function spawnN<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): void {
  checkFn(fn, 'spawnN');
  spawnThread(fn as unknown as (...a: never[]) => unknown, args, true);
}

function spawnLater<A extends unknown[], T>(
  local: boolean,
  seconds: number,
  fn: (...args: A) => T | PromiseLike<T>,
  args: A,
): GreenThread<Awaited<T>> {
  checkSeconds(seconds, local ? 'spawnAfterLocal' : 'spawnAfter');
  checkFn(fn, local ? 'spawnAfterLocal' : 'spawnAfter');
  const gt = new GreenThread<Awaited<T>>(fn as unknown as (...a: never[]) => Awaited<T>, args);
  hub.threads++;
  linkLive(gt as GreenThread<unknown>);
  const owner = local ? hub.current() : null;
  gt.startTimer = hub.addTimer(seconds, () => {
    gt.startTimer = null;
    hub.startNext(gt);
  }, null, owner);
  if (local && owner !== main) {
    // Cancelled with its spawner: a thread that will never run is dead, cleanly.
    const spawner = owner as GreenThread<unknown>;
    const cancelWithSpawner: Link<unknown> = { fn: () => gt.cancel(), args: [] };
    spawner.addLink(cancelWithSpawner);
    // Once it has run or been cancelled, the spawner need not remember it.
    gt.addLink({ fn: () => spawner.removeLink(cancelWithSpawner), args: [] });
  }
  return gt;
}

/** Spawns `fn(...args)` after `seconds`. kill() or cancel() before then: it never runs. */
export function spawnAfter<A extends unknown[], T>(
  seconds: number,
  fn: (...args: A) => T | PromiseLike<T>,
  ...args: A
): GreenThread<Awaited<T>> {
  return spawnLater(false, seconds, fn, args);
}

/** Like spawnAfter, but cancelled if the spawning green thread dies first. */
export function spawnAfterLocal<A extends unknown[], T>(
  seconds: number,
  fn: (...args: A) => T | PromiseLike<T>,
  ...args: A
): GreenThread<Awaited<T>> {
  return spawnLater(true, seconds, fn, args);
}

/** The current green thread (the main one outside any spawned thread). */
export function getCurrent(): GreenThread<unknown> {
  return hub.current() as GreenThread<unknown>;
}

/** Kills `gt` with `error` (default: a GreenletExit). See GreenThread.kill. */
export function kill(gt: GreenThread<unknown>, error?: unknown): void {
  if (!(gt instanceof GreenThread)) throw new TypeError('kill needs a GreenThread');
  gt.kill(...(arguments.length > 1 ? [error] : []));
}

/**
 * Yields to the hub for `seconds`. The default, 0, lets every other runnable
 * green thread run up to its next blocking point, and fires the timers that
 * are due, before this one goes on.
 *
 * @throws TypeError when `seconds` is not a number (or NaN); RangeError when
 * it is negative, as a negative timeout is for `Queue.get` (Evy sleeps 0 there;
 * a negative duration is more likely a bug than a yield).
 */
export function sleep(seconds = 0): Promise<void> {
  checkSeconds(seconds, 'sleep');
  if (seconds < 0) throw new RangeError(`sleep: seconds must not be negative, got ${seconds}`);
  const w = hub.park<void>(null, 'sleep');
  if (!(w instanceof Waiter)) return w;
  // A throw into the waiter cancels w.timer: no undo closure needed.
  if (seconds === 0) hub.yieldTo(w);
  else hub.sleepFor(w as Waiter<unknown>, seconds);
  return w.promise;
}

/** sleep(0): lets every other runnable green thread run. */
export function cede(): Promise<void> {
  return sleep(0);
}

/** Waits for each green thread and returns their results in order; rethrows the first error. */
export async function waitall<T extends readonly GreenThread<unknown>[]>(
  ...gts: T
): Promise<{ [K in keyof T]: T[K] extends GreenThread<infer R> ? R : never }> {
  const out: unknown[] = [];
  for (const gt of gts) out.push(await gt.wait());
  return out as { [K in keyof T]: T[K] extends GreenThread<infer R> ? R : never };
}

/**
 * Awaits any promise as an evy operation: Timeout and kill interrupt the wait
 * (the promise itself runs on; its eventual result is dropped).
 */
export function wait<T>(promise: PromiseLike<T> | T): Promise<T> {
  const w = hub.park<T>(null, 'wait(promise)');
  if (!(w instanceof Waiter)) {
    // A pending kill or Timeout throws here at once: the promise is left to
    // itself, so its rejection must not become an unhandled one (which ends
    // the process).
    Promise.resolve(promise).catch(() => {});
    return w;
  }
  Promise.resolve(promise).then(
    (v) => hub.wake(w, v),
    (e: unknown) => hub.throwInto(w as Waiter<unknown>, e),
  );
  return w.promise;
}
