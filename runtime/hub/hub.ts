// The hub: evy's scheduler on the libuv loop that Node itself runs.
//
// It owns the run queue (drained in batches, once per loop turn), the timers, the
// fd listeners, and the one suspension primitive, the Waiter: every blocking evy
// operation parks the current green thread on a Waiter, and every way a green
// thread is resumed — a value, an error, a kill, a Timeout — goes through it.
import { AsyncLocalStorage } from 'node:async_hooks';
import { binding, type PollHandle } from './binding';
import { Timer, TimerHeap, type TimerCallback } from './timers';

export { Timer } from './timers';

/** What the hub needs from a green thread (GreenThread implements it). */
export interface Parkable {
  readonly id: number;
  readonly dead: boolean;
  /** @internal the Waiter it is parked on, while parked */
  waiter: Waiter<unknown> | null;
  /** @internal a throw that arrived while it could not be delivered */
  pendingThrow: unknown;
  /** @internal timers that die with it */
  localTimers: Set<Timer> | null;
  /** @internal started from the run queue */
  start(): void;
}

/** Marks "no pending throw" (undefined is a legal thing to throw). */
export const NO_THROW: unique symbol = Symbol('evy.noThrow');

const PARKED = 0;
const WOKEN = 1;
const SETTLED = 2;

let capturedResolve: (v: unknown) => void;
let capturedReject: (e: unknown) => void;
function captureResolvers(res: (v: unknown) => void, rej: (e: unknown) => void): void {
  capturedResolve = res;
  capturedReject = rej;
}

/**
 * A parked green thread. Woken with a value (`hub.wake`) or with an error
 * (`hub.throwInto`); a throw that arrives once the value was handed over is
 * deferred to the thread's next suspension point, so nothing handed over is lost.
 * @internal
 */
export class Waiter<T> {
  state = PARKED;
  value: T | undefined = undefined;
  resolve!: (v: T) => void;
  reject!: (e: unknown) => void;
  readonly gt: Parkable;
  /** Undoes the registration (leaves a getter list, clears a timer...) on a throw. */
  undo: (() => void) | null;
  /** Another waiter of the same thread still parked when this one was made (Promise.all inside a thread). */
  prev: Waiter<unknown> | null;
  /** Links, payload and timer for the WaitList this waiter is parked on. */
  lprev: Waiter<unknown> | null = null;
  lnext: Waiter<unknown> | null = null;
  data: unknown = undefined;
  timer: Timer | null = null;
  /** The list it is parked on: a throw takes it off (no undo closure needed). */
  list: { unlink(w: Waiter<unknown>): void } | null = null;
  readonly promise: Promise<T>;

  constructor(gt: Parkable, undo: (() => void) | null) {
    this.gt = gt;
    this.undo = undo;
    const prev = gt.waiter;
    this.prev = prev !== null && prev.state !== SETTLED ? prev : null;
    // One shared executor instead of a closure per waiter (a million parked
    // threads are a million waiters).
    this.promise = new Promise<T>(captureResolvers as (res: (v: T) => void, rej: (e: unknown) => void) => void);
    this.resolve = capturedResolve as (v: T) => void;
    this.reject = capturedReject;
    gt.waiter = this as Waiter<unknown>;
  }

  /** Still parked: nothing was handed over yet. */
  get parked(): boolean {
    return this.state === PARKED;
  }
}

/**
 * Takes a settled waiter out of its thread's chain of concurrent waits (the
 * `prev` links from `gt.waiter`), wherever it sits in it, so the waits parked
 * behind it stay reachable by interrupt().
 */
function unchain(w: Waiter<unknown>): void {
  const gt = w.gt;
  if (gt.waiter === w) {
    gt.waiter = w.prev;
  } else {
    for (let n = gt.waiter; n !== null; n = n.prev) {
      if (n.prev === w) {
        n.prev = w.prev;
        break;
      }
    }
  }
  w.prev = null;
}

/** Raised into green threads whose descriptor was removed while they waited on it. */
export class IOClosed extends Error {
  readonly code = 'EBADF';
  constructor(fd: number) {
    super(`fd ${fd} was closed while a green thread waited on it`);
    this.name = 'IOClosed';
  }
}

export type ListenerKind = 'read' | 'write';

/** An fd listener (addReader/addWriter): `cb(fd)` runs each time the fd is ready. */
export class Listener {
  /** @internal */ cb: ((fd: number) => void) | null;
  /** @internal called by removeDescriptor so a waiting trampoline is not left hanging */ onClose: ((err: Error) => void) | null = null;
  /** @internal */ stack: string | undefined = undefined;
  /** @internal */
  constructor(
    readonly kind: ListenerKind,
    readonly fd: number,
    cb: (fd: number) => void,
  ) {
    this.cb = cb;
  }
}

interface FdEntry {
  poll: PollHandle;
  events: number;
  read: Listener | null;
  write: Listener | null;
}

/** Counters for tests and the debug tools: what the hub holds right now. */
export interface HubCounts {
  /** pending timers */
  timers: number;
  /** fd listeners */
  listeners: number;
  /** entries in the run queue */
  runnable: number;
  /** green threads that were spawned and have not finished (the main one excluded) */
  threads: number;
}

/** The longest delay setTimeout honours. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Direct (microtask) wake-ups allowed between two loop turns before falling back to the run queue. */
const DIRECT_BUDGET = 4096;

const als = new AsyncLocalStorage<Parkable>();

export class Hub {
  /** When true, timers and listeners record the stack that created them. */
  captureStacks = false;
  /** @internal */ readonly storage = als;
  /** @internal the main green thread: what getCurrent() returns outside any green thread */
  main!: Parkable;
  /** @internal live spawned green threads */ threads = 0;

  private queue: Array<Parkable | Waiter<unknown>> = [];
  private drainScheduled = false;
  private budget = DIRECT_BUDGET;
  private readonly timers = new TimerHeap();
  private timerHandle: NodeJS.Timeout | null = null;
  private timerDeadline = Infinity;
  private readonly fds = new Map<number, FdEntry>();
  private listenerCount = 0;
  /** Threads with a deferred throw waiting for their next suspension point. */
  private pendingThrows = 0;
  private aborted = false;

  constructor() {
    // With no timer left, no setTimeout may hold the process: a cancelled
    // Timeout(30) would otherwise keep a finished script alive for 30 s.
    this.timers.onEmpty = () => {
      if (this.timerHandle !== null) clearTimeout(this.timerHandle);
      this.timerHandle = null;
      this.timerDeadline = Infinity;
    };
  }

  /** Seconds on the hub's monotonic clock. */
  clock(): number {
    return performance.now() / 1000;
  }

  /** The green thread running now (the main one outside any green thread). */
  current(): Parkable {
    return als.getStore() ?? this.main;
  }

  counts(): HubCounts {
    return { timers: this.timers.size, listeners: this.listenerCount, runnable: this.queue.length, threads: this.threads };
  }

  // ---- the run queue -------------------------------------------------------

  /** @internal Schedules a green thread to start at the next batch. */
  schedule(gt: Parkable): void {
    this.queue.push(gt);
    if (!this.drainScheduled) this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (this.aborted) return;
    this.drainScheduled = true;
    setImmediate(this.drain);
  }

  private readonly drain = (): void => {
    this.drainScheduled = false;
    this.budget = DIRECT_BUDGET;
    const batch = this.queue;
    this.queue = [];
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i];
      if (item instanceof Waiter) {
        if (item.state !== SETTLED) this.settle(item, item.value);
      } else if (!item.dead) {
        item.start();
      }
    }
  };

  // ---- the suspension primitive ---------------------------------------------

  /**
   * @internal Parks the current green thread. Throws at once (as a rejected
   * promise) when a deferred throw is waiting for this suspension point.
   */
  park<T>(undo: (() => void) | null = null): Waiter<T> | Promise<never> {
    const gt = als.getStore() ?? this.main;
    if (gt.pendingThrow !== NO_THROW) return this.takePending(gt);
    return new Waiter<T>(gt, undo);
  }

  /** @internal A suspension point that does not block: delivers a deferred throw, if any. */
  check(): Promise<never> | null {
    if (this.pendingThrows === 0) return null; // the common case: no lookup of the current thread
    const gt = als.getStore() ?? this.main;
    return gt.pendingThrow === NO_THROW ? null : this.takePending(gt);
  }

  private takePending(gt: Parkable): Promise<never> {
    const err = gt.pendingThrow;
    this.dropPending(gt);
    return Promise.reject(err);
  }

  /** @internal Clears a thread's deferred throw (delivered, or the thread ended). */
  dropPending(gt: Parkable): void {
    if (gt.pendingThrow !== NO_THROW) {
      gt.pendingThrow = NO_THROW;
      this.pendingThrows--;
    }
  }

  /** @internal Hands `value` to a parked waiter. False if it was no longer parked. */
  wake<T>(w: Waiter<T>, value: T): boolean {
    if (w.state !== PARKED) return false;
    w.state = WOKEN;
    if (w.timer !== null) {
      // a deadline (socket timeout...) that no longer applies
      w.timer.cancel();
      w.timer = null;
    }
    if (this.budget > 0) {
      this.budget--;
      this.settle(w, value);
    } else {
      w.value = value;
      this.queue.push(w as Waiter<unknown>);
      if (!this.drainScheduled) this.scheduleDrain();
    }
    return true;
  }

  /** @internal Resumes a parked waiter at the next batch (sleep(0): a yield to everything else). */
  yieldTo<T>(w: Waiter<T>): void {
    this.queue.push(w as Waiter<unknown>);
    if (!this.drainScheduled) this.scheduleDrain();
  }

  private settle<T>(w: Waiter<T>, value: T): void {
    w.state = SETTLED;
    w.value = undefined;
    unchain(w as Waiter<unknown>);
    w.resolve(value);
  }

  /**
   * @internal Throws `err` into a parked waiter, undoing its registration.
   * Returns false when the waiter was already woken (the caller defers the throw).
   */
  throwInto(w: Waiter<unknown>, err: unknown): boolean {
    if (w.state !== PARKED) return false;
    w.state = SETTLED;
    unchain(w);
    if (w.list !== null) w.list.unlink(w);
    if (w.timer !== null) {
      w.timer.cancel();
      w.timer = null;
    }
    const undo = w.undo;
    w.undo = null;
    if (undo !== null) undo();
    w.reject(err);
    return true;
  }

  /**
   * @internal Throws `err` into a green thread: into the waiter it is parked on,
   * or, when it is not parked (woken but not yet resumed, or awaiting a foreign
   * promise), at its next suspension point.
   */
  interrupt(gt: Parkable, err: unknown): void {
    let delivered = false;
    for (let w = gt.waiter; w !== null; ) {
      const prev = w.prev;
      if (this.throwInto(w, err)) delivered = true;
      w = prev;
    }
    gt.waiter = null;
    if (!delivered && gt.pendingThrow === NO_THROW) {
      gt.pendingThrow = err;
      this.pendingThrows++;
    }
  }

  // ---- timers --------------------------------------------------------------

  /** Calls `cb(...args)` after `seconds`, whatever green thread is running then. */
  scheduleCallGlobal<A extends unknown[]>(seconds: number, cb: (...args: A) => void, ...args: A): Timer {
    return this.addTimer(seconds, cb as TimerCallback, args.length ? args : null, null);
  }

  /** Like scheduleCallGlobal, but the timer dies with the green thread that scheduled it. */
  scheduleCallLocal<A extends unknown[]>(seconds: number, cb: (...args: A) => void, ...args: A): Timer {
    return this.addTimer(seconds, cb as TimerCallback, args.length ? args : null, this.current());
  }

  /**
   * @internal `args` null calls `cb(arg)` — one argument without an array,
   * which is what most internal timers need.
   */
  addTimer(seconds: number, cb: TimerCallback, args: unknown[] | null, owner: Parkable | null, arg?: unknown): Timer {
    if (typeof seconds !== 'number' || Number.isNaN(seconds)) {
      throw new TypeError(`seconds must be a number, got ${typeof seconds === 'number' ? 'NaN' : typeof seconds}`);
    }
    if (typeof cb !== 'function') throw new TypeError('the timer callback must be a function');
    const deadline = this.clock() + (seconds > 0 ? seconds : 0);
    const t = this.timers.add(deadline, cb, args, arg);
    if (this.captureStacks) t.stack = new Error('timer created').stack;
    if (owner !== null && owner !== this.main) {
      t.owner = owner;
      (owner.localTimers ??= new Set()).add(t);
    }
    if (deadline < this.timerDeadline) this.armTimer(deadline);
    return t;
  }

  private armTimer(deadline: number): void {
    if (this.aborted) return;
    if (this.timerHandle !== null) clearTimeout(this.timerHandle);
    this.timerHandle = null;
    this.timerDeadline = deadline;
    if (deadline === Infinity) return; // never due: nothing to wake up for
    // setTimeout turns a delay above 2^31-1 ms into 1 ms (with a warning): wake
    // up at the limit instead, and re-arm for the rest then.
    const ms = Math.min(MAX_DELAY_MS, Math.max(1, Math.ceil((deadline - this.clock()) * 1000)));
    this.timerHandle = setTimeout(this.fireTimers, ms);
  }

  private readonly fireTimers = (): void => {
    this.timerHandle = null;
    this.timerDeadline = Infinity;
    const now = this.clock();
    let t: Timer | undefined;
    while ((t = this.timers.popDue(now)) !== undefined) {
      const cb = t.cb!;
      const args = t.args;
      const arg = t.arg;
      const owner = t.owner;
      t.cb = null;
      t.args = null;
      t.arg = undefined;
      if (owner !== null) {
        owner.localTimers?.delete(t);
        if (owner.dead) continue;
      }
      try {
        if (args === null) cb(arg);
        else cb(...args);
      } catch (err) {
        reportError('a timer callback', err);
      }
    }
    const next = this.timers.peek();
    if (next !== undefined) this.armTimer(next.deadline);
  };

  /** @internal Cancels the local timers of a green thread that finished. */
  dropLocalTimers(gt: Parkable): void {
    const set = gt.localTimers;
    if (set === null) return;
    gt.localTimers = null;
    for (const t of set) t.cancel();
  }

  /** Pending timers, for the debug tools. */
  pendingTimers(): readonly Timer[] {
    return this.timers.all();
  }

  // ---- fd listeners ----------------------------------------------------------

  /** Calls `cb(fd)` each time `fd` is readable, until `remove(listener)`. One reader per fd. */
  addReader(fd: number, cb: (fd: number) => void): Listener {
    return this.addListener('read', fd, cb);
  }

  /** Calls `cb(fd)` each time `fd` is writable, until `remove(listener)`. One writer per fd. */
  addWriter(fd: number, cb: (fd: number) => void): Listener {
    return this.addListener('write', fd, cb);
  }

  /** @internal */
  addListener(kind: ListenerKind, fd: number, cb: (fd: number) => void): Listener {
    if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`fd must be a non-negative integer, got ${String(fd)}`);
    if (typeof cb !== 'function') throw new TypeError('the listener callback must be a function');
    let entry = this.fds.get(fd);
    if (entry !== undefined && entry[kind] !== null) {
      throw new Error(
        `a second simultaneous ${kind} on fd ${fd}: only one green thread may ${kind === 'read' ? 'read from' : 'write to'} a descriptor at a time`,
      );
    }
    const listener = new Listener(kind, fd, cb);
    if (this.captureStacks) listener.stack = new Error('listener created').stack;
    if (entry === undefined) {
      const poll = binding.pollOpen(fd, (events, status) => this.onPoll(fd, events, status));
      entry = { poll, events: 0, read: null, write: null };
      this.fds.set(fd, entry);
    }
    entry[kind] = listener;
    this.listenerCount++;
    this.updatePoll(fd, entry);
    return listener;
  }

  private updatePoll(fd: number, entry: FdEntry): void {
    const events = (entry.read ? binding.READABLE : 0) | (entry.write ? binding.WRITABLE : 0);
    if (events === 0) {
      this.fds.delete(fd);
      binding.pollClose(entry.poll);
      return;
    }
    if (events !== entry.events) {
      entry.events = events;
      binding.pollStart(entry.poll, events);
    }
  }

  private onPoll(fd: number, events: number, status: number): void {
    const entry = this.fds.get(fd);
    if (entry === undefined) return;
    // On an error status every listener runs: its next I/O call reports the error.
    const r = entry.read;
    if (r !== null && (status < 0 || events & binding.READABLE)) this.callListener(r, fd);
    const w = entry.write;
    if (w !== null && entry.write === w && (status < 0 || events & binding.WRITABLE)) this.callListener(w, fd);
  }

  /** A listener that throws is reported, like a timer callback: the hub and the other listener go on. */
  private callListener(l: Listener, fd: number): void {
    const cb = l.cb;
    if (cb === null) return;
    try {
      cb(fd);
    } catch (err) {
      reportError(`the ${l.kind} listener of fd ${fd}`, err);
    }
  }

  /** Stops and forgets a listener; harmless when it was already removed. */
  remove(listener: Listener): void {
    const entry = this.fds.get(listener.fd);
    if (entry === undefined || entry[listener.kind] !== listener) return;
    entry[listener.kind] = null;
    listener.cb = null;
    listener.onClose = null;
    this.listenerCount--;
    this.updatePoll(listener.fd, entry);
  }

  /**
   * Removes every listener of `fd`; trampolines waiting on it get an IOClosed.
   * Call it before closing a descriptor the hub watches: libuv forbids closing
   * a polled fd, and a poll closed after the fd number was reused would stop
   * the new fd's events.
   */
  removeDescriptor(fd: number): void {
    const entry = this.fds.get(fd);
    if (entry === undefined) return;
    for (const l of [entry.read, entry.write]) {
      if (l === null) continue;
      const onClose = l.onClose;
      this.remove(l);
      if (onClose !== null) onClose(new IOClosed(fd));
    }
  }

  /** The current fd listeners, for the debug tools. */
  listeners(): Listener[] {
    const out: Listener[] = [];
    for (const e of this.fds.values()) {
      if (e.read) out.push(e.read);
      if (e.write) out.push(e.write);
    }
    return out;
  }

  /**
   * Parks the current green thread until `fd` is readable (`read`) or writable
   * (`write`). With `timeout` seconds, throws `timeoutError` (default: a Timeout)
   * when it expires first.
   */
  trampoline(fd: number, opts: TrampolineOptions, makeTimeoutError: (seconds: number) => unknown): Promise<void> {
    const { read = false, write = false, timeout = null } = opts;
    if (read === write) throw new TypeError('trampoline needs exactly one of read or write');
    let timer: Timer | null = null;
    let listener: Listener | null = null;
    const w = this.park<void>(() => {
      if (listener !== null) this.remove(listener);
      if (timer !== null) timer.cancel();
    });
    if (!(w instanceof Waiter)) return w;
    try {
      listener = this.addListener(read ? 'read' : 'write', fd, () => {
        this.remove(listener!);
        if (timer !== null) timer.cancel();
        this.wake(w, undefined);
      });
    } catch (err) {
      this.throwInto(w as Waiter<unknown>, err);
      return w.promise;
    }
    listener.onClose = (err) => this.throwInto(w as Waiter<unknown>, err);
    if (timeout !== null) {
      timer = this.addTimer(timeout, () => {
        timer = null;
        this.throwInto(w as Waiter<unknown>, 'timeoutError' in opts ? opts.timeoutError : makeTimeoutError(timeout));
      }, null, null);
    }
    return w.promise;
  }

  // ---- lifetime ---------------------------------------------------------------

  /**
   * Stops the hub: drops the run queue, every timer and every fd listener.
   * Green threads parked on them stay parked; the process exits once Node has
   * nothing else to do.
   */
  abort(): void {
    this.aborted = true;
    this.queue = [];
    this.timers.clear();
    if (this.timerHandle !== null) clearTimeout(this.timerHandle);
    this.timerHandle = null;
    for (const l of this.listeners()) this.remove(l);
  }

  /** False after abort(). */
  get running(): boolean {
    return !this.aborted;
  }
}

export interface TrampolineOptions {
  read?: boolean;
  write?: boolean;
  /** seconds; null or absent: no limit */
  timeout?: number | null;
  /** what to throw when the timeout expires (default: a Timeout) */
  timeoutError?: unknown;
}

/** Prints an error that has nobody to receive it, the way Evy prints a traceback. */
export function reportError(where: string, err: unknown): void {
  const text = err instanceof Error ? (err.stack ?? String(err)) : String(err);
  process.stderr.write(`evy: error in ${where}:\n${text}\n`);
}

const theHub = new Hub();

/** The one hub of this thread. */
export function getHub(): Hub {
  return theHub;
}
