// The hub: evy's scheduler on the libuv loop that Node itself runs.
//
// It owns the run queue (one thread at a time, until it parks, in generations
// ordered with the due timers), the timers, the
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

/**
 * What a parked thread waits for, for the introspection tools (`.threads`): a
 * constant label ('Queue.get', 'sleep'), or the object it waits on, which
 * describes the wait when asked (a socket names its fd and peer). Set at park,
 * read only when someone looks: nothing is formatted on the hot path.
 * @internal
 */
export type WaitLabel = string | { describeWait(w: Waiter<unknown>): string };

/**
 * The time a Waiter records as its park, in ms: read at each hub step and
 * callback rather than at each park, which would put a clock read (some tens of
 * ns) on every switch. A park is dated to within the macrotask it happens in.
 */
let parkClock = Date.now();

/** Marks "no pending throw" (undefined is a legal thing to throw). */
export const NO_THROW: unique symbol = Symbol('evy.noThrow');

const PARKED = 0;
/** handed a value; resumed when its run-queue entry comes up */
const WOKEN = 1;
const SETTLED = 2;
/** thrown into; the rejection is delivered when its run-queue entry comes up */
const THROWN = 3;

let capturedResolve: (v: unknown) => void;
function captureResolve(res: (v: unknown) => void): void {
  capturedResolve = res;
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
  /**
   * Its promise's resolve function. Not the reject one: a throw resolves it
   * with a rejected promise (two microtasks more, on the rare path), and a
   * parked thread is one closure smaller.
   */
  resolve!: (v: T | Promise<never>) => void;
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
  /** @internal its slot in the hub's timer heap while it sleeps there (sleep(seconds)), else -1 */
  index = -1;
  /** The list it is parked on: a throw takes it off (no undo closure needed). */
  list: { unlink(w: Waiter<unknown>): void } | null = null;
  /**
   * Woken, not yet resumed: gives the value back where it came from (the item
   * to its queue, the slot to its semaphore), so that a throw arriving in
   * between wins without losing it. Null: the value cannot go back, and such
   * a throw waits for the thread's next suspension point.
   */
  revoke: ((value: unknown) => void) | null = null;
  /** What it waits for (see WaitLabel); null: unnamed. */
  what: WaitLabel | null;
  /** When it parked, in ms of Date.now() (which, unlike `performance`, loads no module), as of the hub's last step or callback (see parkClock). */
  readonly since: number;
  readonly promise: Promise<T>;

  constructor(gt: Parkable, undo: (() => void) | null, what: WaitLabel | null = null) {
    this.gt = gt;
    this.undo = undo;
    this.what = what;
    this.since = parkClock;
    const prev = gt.waiter;
    this.prev = prev !== null && prev.state !== SETTLED ? prev : null;
    // One shared executor instead of a closure per waiter (a million parked
    // threads are a million waiters).
    this.promise = new Promise<T>(captureResolve as (res: (v: T) => void) => void);
    this.resolve = capturedResolve as (v: T | Promise<never>) => void;
    gt.waiter = this as Waiter<unknown>;
  }

  /** Still parked: nothing was handed over yet. */
  get parked(): boolean {
    return this.state === PARKED;
  }

  /** Where it parked, when hub.threadStacks is on (formatted only when read); kept aside, as it is rare. */
  get stack(): Error | null {
    return parkStacks.get(this) ?? null;
  }
  set stack(err: Error | null) {
    if (err === null) parkStacks.delete(this);
    else parkStacks.set(this, err);
  }
}

const parkStacks = new WeakMap<object, Error>();

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

/**
 * @internal The `revoke` of a wake-up whose value needs no giving back (an
 * event's result, a thread's exit): a throw arriving before the waiter
 * resumed simply wins.
 */
export function nothingToGiveBack(): void {}

/** Raised into green threads whose descriptor was removed while they waited on it. */
export class IOClosed extends Error {
  readonly code = 'EBADF';
  constructor(fd: number) {
    super(`fd ${fd} was closed while a green thread waited on it`);
    this.name = 'IOClosed';
  }
}

/** Which readiness an fd listener waits for. */
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

/**
 * Resumptions allowed in one macrotask: past them the hub lets the loop poll
 * I/O (and run Node's own callbacks) before it goes on.
 */
const TURN_BUDGET = 4096;

/** What the run queue holds: a thread to start, a waiter to resume, or a due timer. */
type Entry = Parkable | Waiter<unknown> | Timer;

/**
 * Where the current green thread is kept: what AsyncLocalStorage offers, and
 * no more (run, exit, getStore), so the hub can use either implementation.
 * @internal
 */
export interface ThreadStore {
  getStore(): Parkable | undefined;
  run<A extends unknown[], R>(store: Parkable, fn: (...args: A) => R, ...args: A): R;
  exit<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): R;
}

/**
 * On Node 20 the thread rides in V8's continuation-preserved embedder data
 * (src/context.cc), which every promise reaction carries and restores:
 * AsyncLocalStorage there is promise hooks, which give each promise an id pair
 * and a store (a parked thread has four promises) and run JS for every promise
 * made and every reaction run, about a third of a switch's CPU time. Node 22
 * and later may keep their own AsyncLocalStorage in that slot (Node 24 always
 * does, without hooks), so they use AsyncLocalStorage itself.
 *
 * Where it differs from AsyncLocalStorage: a callback that a green thread
 * hands to Node (a setTimeout, a nextTick, an fs callback) runs in the main
 * thread, as a callback runs in Evy's hub, not in the thread that registered
 * it; and a callback Node makes from native code while a thread's code runs
 * stays in that thread (AsyncLocalStorage gives it its resource's context),
 * so evy makes such calls through hub.outsideThreads() (a push into a
 * TLSSocket). A promise, an await or a `then` stays in its thread either way.
 * EVY_THREAD_SLOT=als keeps AsyncLocalStorage on Node 20 too.
 */
function threadStore(): ThreadStore {
  const get = binding.contextGet;
  const set = binding.contextSet;
  if (
    get === undefined ||
    set === undefined ||
    Number(process.versions.node.split('.')[0]) >= 22 ||
    process.env.EVY_THREAD_SLOT === 'als'
  ) {
    return new AsyncLocalStorage<Parkable>();
  }
  const run = <A extends unknown[], R>(store: Parkable | undefined, fn: (...args: A) => R, args: A): R => {
    const prior = get();
    set(store);
    try {
      return fn(...args);
    } finally {
      set(prior);
    }
  };
  return {
    getStore: get as () => Parkable | undefined,
    run: (store, fn, ...args) => run(store, fn, args),
    exit: (fn, ...args) => run(undefined, fn, args),
  };
}

const als: ThreadStore = threadStore();

/** For microtasks the hub queues itself (cheaper than queueMicrotask, which makes an AsyncResource each time). */
const RESOLVED = Promise.resolve();

/**
 * The hub: runs the green threads, timers and fd listeners of this OS thread
 * on Node's own libuv loop. One per thread: getHub().
 */
export class Hub {
  /** When true, timers and listeners record the stack that created them. */
  captureStacks = false;
  /** When true, green threads record where they were spawned and where they park (evy/tools). */
  threadStacks = false;
  /** When true, every error a green thread ends with is printed, even one somebody waits for (debug.hubExceptions). */
  debugExceptions = false;
  /** @internal Print errors thrown in evy/tpool tasks where they happen (evy/tpool's setTpoolExceptions, evy/tools/debug's tpoolExceptions). */
  debugTpoolExceptions = false;
  /** @internal Called at each switch into a green thread (debug.spew); null: off. */
  switchHook: ((gt: Parkable, w: Waiter<unknown> | null) => void) | null = null;
  /** @internal Slot 0 gets the id of the thread given the turn (the blocking watchdog reads it); null: off. */
  turnSlot: Int32Array | null = null;
  /** @internal Makes the error thrown into a thread that blocked the loop (slot 1 names it); null: none is thrown. */
  blockedError: (() => unknown) | null = null;
  /** @internal The last thread the watchdog caught blocking (for the name in its reports). */
  lastBlocked: Parkable | null = null;
  /** @internal */ readonly storage: ThreadStore = als;
  /** @internal the main green thread: what getCurrent() returns outside any green thread */
  main!: Parkable;
  /** @internal live spawned green threads */ threads = 0;

  // The run queue, in generations as in Evy's hub: what is scheduled while a
  // generation runs waits for the next one. Entries [head, genEnd) are the
  // current generation, [genEnd, tail) the next; each carries the sequence
  // number it was scheduled with, shared with the timers, so that due timers
  // interleave with it in (deadline, sequence) order. `urgent` is what a hub
  // callback (a timer, an fd listener, a kill) resumes: it runs next.
  private queue: (Entry | undefined)[] = [];
  private queueSeq: number[] = [];
  private head = 0;
  private genEnd = 0;
  private tail = 0;
  private urgent: (Entry | undefined)[] = [];
  private urgentHead = 0;
  private urgentTail = 0;
  /** An entry taken but not yet run (a park handed the turn on and it was not a waiter). */
  private held: Entry | null = null;
  private genNow = 0;
  private genSeq = 0;
  /** The thread whose turn it is: it runs until it parks or ends, then the next entry. */
  private turn: Parkable | null = null;
  private inStep = false;
  /** Hub callbacks (socket events, fd polls) under way: beginCallback() to endCallback(). */
  private callbacks = 0;
  /** A revoked value is being passed on (see throwInto). */
  private givingBack = false;
  private stepQueued = false;
  private stallCheck = false;
  private drainScheduled = false;
  /** A sleep(0) is in the next generation: it starts after the loop polled. */
  private yielded = false;
  private budget = TURN_BUDGET;
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

  /**
   * @internal Runs `fn(arg)` with no current green thread: for a thread's call
   * into a Node object whose native code calls back into JS at once (a push
   * into a TLSSocket runs its handshake and error callbacks), callbacks that
   * belong to the object, not to the thread that fed it. AsyncLocalStorage
   * gives them the object's context anyway; the embedder-data slot would
   * leave them in the calling thread, whose kill they could then order from
   * inside it.
   */
  outsideThreads<A, R>(fn: (arg: A) => R, arg: A): R {
    return als.exit(fn, arg);
  }

  /** How much the hub holds now: runnable threads, timers, listeners (for tests and debugging). */
  counts(): HubCounts {
    const runnable = this.tail - this.head + this.urgentTail - this.urgentHead + (this.held !== null ? 1 : 0);
    return { timers: this.timers.size, listeners: this.listenerCount, runnable, threads: this.threads };
  }

  // ---- the run queue -------------------------------------------------------
  //
  // One entry runs at a time: a thread resumed (or started) runs until it
  // parks on an evy operation or ends, and only then does the next entry run,
  // so operations that complete at once (a put into a queue with room, a free
  // semaphore) never hand the turn to anyone. A thread that awaits something
  // that is not an evy operation keeps the turn until the microtask queue is
  // empty (the stall check), then goes on by itself when its promise settles.

  /** @internal Schedules a green thread to start in the next generation. */
  schedule(gt: Parkable): void {
    this.enqueue(gt);
  }

  /** @internal Starts a green thread next, before the rest of the run queue (a timer that spawns). */
  startNext(gt: Parkable): void {
    this.runNext(gt);
  }

  private enqueue(e: Entry): void {
    const i = this.tail++;
    this.queue[i] = e;
    this.queueSeq[i] = this.timers.nextSeq();
    this.kick();
  }

  private runNext(e: Entry): void {
    if (this.turn !== null) {
      this.urgent[this.urgentTail++] = e;
      this.watchTurn();
      return;
    }
    if (this.inStep || this.stepQueued || this.aborted) {
      this.urgent[this.urgentTail++] = e;
      return;
    }
    if (this.callbacks > 0 && e instanceof Waiter && this.urgentHead === this.urgentTail) {
      // Woken by a hub callback with the hub idle: resolved now, it runs as
      // soon as the callback returns; what the callback wakes next queues
      // behind it.
      this.run(e);
      return;
    }
    // A foreign promise settling outside any turn: straight after this callback.
    this.urgent[this.urgentTail++] = e;
    this.stepQueued = true;
    process.nextTick(this.step);
  }

  /**
   * Something waits while a thread holds the turn: if that thread is waiting
   * on something foreign, the turn must not stay with it. Checked once the
   * microtask queue is empty (a tick queued from a microtask runs then).
   */
  private watchTurn(): void {
    if (this.stallCheck) return;
    this.stallCheck = true;
    RESOLVED.then(this.armStall);
  }

  /** Entries, or due timers, wait for the turn. */
  private waiting(): boolean {
    if (this.urgentHead < this.urgentTail || this.head < this.tail) return true;
    return this.timers.peekDeadline() <= this.genNow;
  }

  /**
   * @internal A hub callback begins (native socket events, an fd poll). It
   * is a new macrotask from the loop, so the microtask queue is empty: a
   * thread still holding the turn waits on something foreign and loses it.
   * What the callback wakes runs next, before the rest of the run queue.
   */
  beginCallback(): void {
    parkClock = Date.now();
    if (!this.inStep) this.turn = null;
    this.budget = TURN_BUDGET;
    this.callbacks++;
  }

  /** @internal The hub callback begun with beginCallback() is over. */
  endCallback(): void {
    this.callbacks--;
  }

  /**
   * Makes sure something will take the next entry. From outside the hub's
   * own steps (the program's top level, an I/O callback) that is once the
   * microtask queue is empty, before the loop goes on: a microtask that queues
   * a tick (a tick queued by a microtask waits for the others).
   */
  private kick(): void {
    if (this.turn !== null) {
      this.watchTurn();
      return;
    }
    if (this.inStep || this.stepQueued || this.aborted) return;
    this.stepQueued = true;
    RESOLVED.then(this.stepLater);
  }

  private readonly stepLater = (): void => {
    process.nextTick(this.step);
  };

  private scheduleDrain(): void {
    if (this.aborted || this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(this.drain);
  }

  /** A new macrotask from the loop: a fresh budget. */
  private readonly drain = (): void => {
    this.drainScheduled = false;
    this.yielded = false;
    this.budget = TURN_BUDGET;
    this.turn = null; // a new macrotask: a thread still holding the turn is stalled
    this.step();
  };

  /**
   * The turn's thread parked or ended: the next entry may run. A waiter to
   * resume is resolved here and now (its thread runs once the parking one has
   * suspended, which is what a resolved promise means); anything that runs
   * code at once (a thread to start, a timer) waits for a microtask.
   */
  private endTurn(gt: Parkable): void {
    if (gt !== this.turn) return;
    this.turn = null;
    if (this.inStep || this.stepQueued) return;
    const e = this.nextEntry();
    if (e === null) return;
    if (e instanceof Waiter) {
      this.run(e);
      if (this.turn !== null) {
        if (this.waiting()) this.watchTurn();
        return;
      }
    } else {
      this.held = e;
    }
    this.stepQueued = true;
    RESOLVED.then(this.step);
  }

  /** @internal A green thread finished. */
  threadEnded(gt: Parkable): void {
    this.endTurn(gt);
  }

  /** Runs entries while nobody holds the turn. */
  private readonly step = (): void => {
    parkClock = Date.now();
    this.stepQueued = false;
    if (this.inStep) return;
    this.inStep = true;
    try {
      while (this.turn === null) {
        const e = this.held ?? this.nextEntry();
        this.held = null;
        if (e === null) break;
        this.run(e);
      }
    } finally {
      this.inStep = false;
    }
    if (this.turn !== null && this.waiting()) this.watchTurn();
  };

  // A tick queued from a microtask runs once the microtask queue is empty:
  // then the thread holding the turn is waiting on something foreign.
  private readonly armStall = (): void => {
    process.nextTick(this.onStall);
  };

  private readonly onStall = (): void => {
    this.stallCheck = false;
    if (this.turn === null) return;
    this.turn = null;
    this.step();
  };

  private nextEntry(): Entry | null {
    for (;;) {
      if (this.urgentHead < this.urgentTail) {
        const e = this.urgent[this.urgentHead]!;
        this.urgent[this.urgentHead++] = undefined;
        if (this.urgentHead === this.urgentTail) this.urgentHead = this.urgentTail = 0;
        return e;
      }
      // A due timer, or a sleeper in the heap, whose turn it is by sequence.
      const timers = this.timers;
      const due = timers.peekDeadline();
      if (due <= this.genNow) {
        const seq = timers.peekSeq();
        if (seq < this.genSeq && (this.head >= this.genEnd || seq < this.queueSeq[this.head])) {
          const t = timers.peek() as Timer | Waiter<unknown>;
          timers.remove(t);
          // What fire() does after a timer: a setTimeout for the next one, if
          // none is armed (a step that is not fireTimers' may pop a sleeper).
          if (t instanceof Waiter && this.timerHandle === null) this.rearm();
          return t;
        }
      }
      if (this.head < this.genEnd) {
        const e = this.queue[this.head]!;
        this.queue[this.head++] = undefined;
        return e;
      }
      // The generation is over: start the next one, if there is anything to run.
      const now = due !== Infinity ? this.clock() : 0;
      if (this.head === this.tail) {
        this.head = this.genEnd = this.tail = 0;
        if (due > now) return null;
      }
      if (this.budget <= 0 || this.yielded) {
        // A sleep(0) waits for a turn of the loop; so does everyone past the budget.
        this.yielded = false;
        this.scheduleDrain();
        return null;
      }
      if (this.head >= 1024) this.compact();
      this.genEnd = this.tail;
      this.genNow = now;
      this.genSeq = this.timers.nextSeq();
    }
  }

  /** Moves the next generation to the front of the queue's arrays, so that a queue never empty does not grow. */
  private compact(): void {
    const n = this.tail - this.head;
    this.queue.copyWithin(0, this.head, this.tail);
    this.queueSeq.copyWithin(0, this.head, this.tail);
    this.queue.length = n;
    this.queueSeq.length = n;
    this.head = 0;
    this.tail = n;
  }

  private run(e: Entry): void {
    if (e instanceof Waiter) {
      this.budget--;
      this.turn = e.gt;
      if (this.turnSlot !== null) this.turnSlot[0] = e.gt.id;
      if (this.switchHook !== null && e.state !== SETTLED) this.switchHook(e.gt, e);
      if (e.state === WOKEN || e.state === PARKED) {
        // woken with a value, or a yield (sleep(0)) coming round
        const v = e.value;
        this.settle(e, v);
      } else if (e.state === THROWN) {
        const err = e.value;
        e.state = SETTLED;
        e.value = undefined;
        e.resolve(Promise.reject(err));
      } else {
        this.turn = null;
      }
    } else if (e instanceof Timer) {
      this.fire(e);
    } else if (!e.dead) {
      this.budget--;
      this.turn = e;
      if (this.turnSlot !== null) this.turnSlot[0] = e.id;
      if (this.switchHook !== null) this.switchHook(e, null);
      e.start();
      // start() ran the thread up to its first await: a park or an end there gave the turn back.
    }
  }

  // ---- the suspension primitive ---------------------------------------------

  /**
   * @internal Parks the current green thread. Throws at once (as a rejected
   * promise) when a deferred throw is waiting for this suspension point.
   */
  park<T>(undo: (() => void) | null = null, what: WaitLabel | null = null): Waiter<T> | Promise<never> {
    const gt = als.getStore() ?? this.main;
    if (gt.pendingThrow !== NO_THROW) return this.takePending(gt);
    if (this.turnSlot !== null && this.turnSlot[1] !== 0) {
      const err = this.takeBlocked(gt);
      if (err !== NO_THROW) return Promise.reject(err);
    }
    if (gt === this.turn) this.endTurn(gt);
    const w = new Waiter<T>(gt, undo, what);
    if (this.threadStacks) w.stack = new Error('parked');
    return w;
  }

  /** @internal The error for a thread the watchdog caught blocking the loop (once), or NO_THROW. */
  takeBlocked(gt: Parkable): unknown {
    const slot = this.turnSlot;
    if (slot === null) return NO_THROW;
    const id = slot[1];
    if (id === 0 || (id !== gt.id && !(id === -1 && gt === this.main))) return NO_THROW;
    slot[1] = 0;
    this.lastBlocked = gt;
    return this.blockedError === null ? NO_THROW : this.blockedError();
  }

  /** @internal The thread whose turn it is (null between turns), for the introspection tools. */
  turnHolder(): Parkable | null {
    return this.turn;
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

  /**
   * @internal Hands `value` to a parked waiter. False if it was no longer parked.
   * From a green thread (a hand-off: a queue item, a released slot) the waiter
   * resumes in the next generation, as in Evy; from a hub callback (a timer, an
   * fd listener, a foreign promise settling outside any thread's turn) it runs next.
   */
  wake<T>(w: Waiter<T>, value: T, revoke: ((value: T) => void) | null = null): boolean {
    if (w.state !== PARKED) return false;
    w.state = WOKEN;
    w.value = value;
    w.revoke = revoke as ((value: unknown) => void) | null;
    if (w.index >= 0) this.timers.remove(w);
    if (w.timer !== null) {
      // a deadline (socket timeout...) that no longer applies
      w.timer.cancel();
      w.timer = null;
    }
    if ((this.turn !== null && this.callbacks === 0) || this.givingBack) this.enqueue(w as Waiter<unknown>);
    else this.runNext(w as Waiter<unknown>);
    return true;
  }

  /**
   * @internal Resumes a parked waiter in the next generation (sleep(0): a
   * yield to everything else). That generation starts after a turn of the
   * loop, so I/O and Node's own callbacks get in too, as in Evy, where every
   * hub iteration polls.
   */
  yieldTo<T>(w: Waiter<T>): void {
    // Left parked: a Timeout or kill may still throw into it before its turn.
    this.yielded = true;
    this.enqueue(w as Waiter<unknown>);
  }

  private settle<T>(w: Waiter<T>, value: T): void {
    w.state = SETTLED;
    w.value = undefined;
    w.revoke = null;
    unchain(w as Waiter<unknown>);
    w.resolve(value);
  }

  /**
   * @internal Throws `err` into a parked waiter, undoing its registration.
   * Returns false when the waiter was already woken (the caller defers the throw).
   */
  throwInto(w: Waiter<unknown>, err: unknown): boolean {
    if (w.state === WOKEN && w.revoke !== null) {
      // Handed a value it has not picked up yet: the throw wins, as in Evy,
      // where the hand-off itself would only have happened later; the value goes back.
      const revoke = w.revoke;
      const value = w.value;
      w.revoke = null;
      w.value = undefined;
      w.state = PARKED;
      // Passed on to someone else, it is a hand-off again: next generation.
      const prev = this.givingBack;
      this.givingBack = true;
      try {
        revoke(value);
      } finally {
        this.givingBack = prev;
      }
    }
    if (w.state !== PARKED) return false;
    w.state = THROWN;
    w.value = err;
    unchain(w);
    if (w.list !== null) w.list.unlink(w);
    if (w.timer !== null) {
      w.timer.cancel();
      w.timer = null;
    }
    if (w.index >= 0) this.timers.remove(w);
    const undo = w.undo;
    w.undo = null;
    if (undo !== null) undo();
    // The thrown-into thread runs next, before the rest of the run queue (Evy
    // switches into it at once).
    this.runNext(w);
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
    if (seconds <= 0) this.kick(); // due now: the next generation fires it, no setTimeout needed
    else if (deadline < this.timerDeadline) this.armTimer(deadline);
    return t;
  }

  /**
   * @internal Parks `w` for `seconds` (> 0) in the timer heap itself: when they
   * are over it resumes as a sleep(0) coming round would, with no Timer made.
   * A throw into it takes it out (throwInto).
   */
  sleepFor(w: Waiter<unknown>, seconds: number): void {
    const deadline = this.clock() + seconds;
    this.timers.insert(w, deadline);
    if (deadline < this.timerDeadline) this.armTimer(deadline);
  }

  /** @internal When a parked waiter's sleep or timeout is due, in seconds of clock(); null: never. */
  waiterDeadline(w: Waiter<unknown>): number | null {
    if (w.index >= 0) return this.timers.deadlineOf(w);
    return w.timer !== null && w.timer.pending ? w.timer.deadline : null;
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

  // The setTimeout of the earliest deadline: a new macrotask, so a fresh
  // budget; the due timers fire in the generation it starts.
  private readonly fireTimers = (): void => {
    this.timerHandle = null;
    this.timerDeadline = Infinity;
    this.budget = TURN_BUDGET;
    if (!this.inStep) this.turn = null; // a new macrotask: a thread still holding the turn is stalled
    this.step();
    this.rearm();
  };

  /** Arms the setTimeout for the earliest timer not yet due (a due one is the run queue's). */
  private rearm(): void {
    const next = this.timers.peekDeadline();
    if (next < this.timerDeadline) {
      if (next <= this.clock()) this.kick();
      else this.armTimer(next);
    }
  }

  /** Runs one due timer's callback, as a hub callback (what it resumes runs next). */
  private fire(t: Timer): void {
    const cb = t.cb;
    const args = t.args;
    const arg = t.arg;
    const owner = t.owner;
    t.cb = null;
    t.args = null;
    t.arg = undefined;
    if (owner !== null) {
      owner.localTimers?.delete(t);
      if (owner.dead) return;
    }
    if (cb === null) return;
    // Outside any green thread, whatever context the step runs in: a timer
    // callback's getCurrent() is the main thread, as when it ran from setTimeout.
    als.exit(callTimer, cb, args, arg);
    if (this.timerHandle === null) this.rearm();
  }

  /** @internal Cancels the local timers of a green thread that finished. */
  dropLocalTimers(gt: Parkable): void {
    const set = gt.localTimers;
    if (set === null) return;
    gt.localTimers = null;
    for (const t of set) t.cancel();
  }

  /** Pending timers, for the debug tools. */
  pendingTimers(): readonly Timer[] {
    // A sleeper is its own entry: shown as the timer it would once have had.
    return this.timers.all().map((e) => (e instanceof Timer ? e : new Timer(null, this.timers.deadlineOf(e), wakeSleeper, null, e)));
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
    this.beginCallback();
    try {
      // On an error status every listener runs: its next I/O call reports the error.
      const r = entry.read;
      if (r !== null && (status < 0 || events & binding.READABLE)) this.callListener(r, fd);
      const w = entry.write;
      if (w !== null && entry.write === w && (status < 0 || events & binding.WRITABLE)) this.callListener(w, fd);
    } finally {
      this.endCallback();
    }
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
    this.queueSeq = [];
    this.head = this.genEnd = this.tail = 0;
    this.urgent = [];
    this.urgentHead = this.urgentTail = 0;
    this.held = null;
    this.turn = null;
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

/** trampoline()'s options: which readiness to wait for, for how long. */
export interface TrampolineOptions {
  read?: boolean;
  write?: boolean;
  /** seconds; null or absent: no limit */
  timeout?: number | null;
  /** what to throw when the timeout expires (default: a Timeout) */
  timeoutError?: unknown;
}

/** What a sleeping waiter's entry is listed as (pendingTimers). */
function wakeSleeper(): void {}

function callTimer(cb: TimerCallback, args: unknown[] | null, arg: unknown): void {
  try {
    if (args === null) cb(arg);
    else cb(...args);
  } catch (err) {
    reportError('a timer callback', err);
  }
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
