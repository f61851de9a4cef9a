// evy/tpool: Evy's tpool on worker_threads. What cannot be green (CPU work, a
// synchronous driver) runs on a worker thread while only the calling green
// thread waits. execute() goes through a Piscina pool; proxy() objects live in
// proxy hosts, workers of our own, because an object must stay on the worker
// that made it and Piscina has no affinity.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import './green/greenthread'; // the hub's main green thread, which park() needs outside spawned threads
import { getHub, nothingToGiveBack, Waiter } from './hub/hub';
import type { HostReply, HostRequest, RefMarker } from './tpool_host';
import { specifier, type TaskMessage, type ThrownMessage } from './tpool_worker';

const hub = getHub();

/** A task for execute(): `[module, exportName]` (a path, a file URL or a package name), or a self-contained function. */
export type Task<A extends unknown[], R> = readonly [module: string | URL, exportName: string] | ((...args: A) => R | PromiseLike<R>);

/** Thrown into calls that were pending when killall() ended the workers, and by calls on proxies it ended. */
export class TpoolKilled extends Error {
  constructor(what: string) {
    super(`${what}: tpool.killall() terminated the worker threads while this call was pending`);
    this.name = 'TpoolKilled';
  }
}

/**
 * An error thrown in a worker, thrown again in the caller. `name`, `message`
 * and `code` are the worker's; `stack` is the worker's stack followed by the
 * caller's, and `workerStack` the worker's alone.
 */
export class TpoolError extends Error {
  /** the worker's own stack, as it was thrown there */
  readonly workerStack: string | undefined;
  /** the worker error's `code`, if it had one */
  readonly code: unknown;

  /** @internal */
  constructor(t: ThrownMessage, callerStack: string | undefined) {
    super(t.message);
    this.name = t.name;
    this.code = t.code;
    this.workerStack = t.stack;
    const here = (callerStack ?? '').split('\n').slice(1).join('\n');
    this.stack = `${t.stack ?? `${t.name}: ${t.message}`}\n    --- in the worker thread; called from ---\n${here}`;
  }
}

// ---- settings ------------------------------------------------------------------

/**
 * Also print every error a worker throws (with its stack) to stderr, as Evy's
 * `tpool_exceptions` does; the error is thrown in the caller either way.
 * `evy/tools/debug`'s `tpoolExceptions` sets the same flag.
 */
export function setTpoolExceptions(on: boolean): void {
  getHub().debugTpoolExceptions = Boolean(on);
}

/** Whether worker errors are printed (see setTpoolExceptions). */
export function tpoolExceptions(): boolean {
  return getHub().debugTpoolExceptions;
}

let numThreads: number | null = null;

function threads(): number {
  if (numThreads === null) {
    const env = process.env.EVY_THREADPOOL_SIZE;
    if (env === undefined || env === '') numThreads = 20;
    else {
      const n = Number(env);
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`EVY_THREADPOOL_SIZE must be a positive integer, got ${JSON.stringify(env)}`);
      numThreads = n;
    }
  }
  return numThreads;
}

/** The pool size: EVY_THREADPOOL_SIZE (default 20, read at first use), or what setNumThreads() set. */
export function getNumThreads(): number {
  return threads();
}

/**
 * Sets the number of worker threads. Calls already running finish on the old
 * workers, which then end; later calls use the new size. Proxies keep their workers.
 * @throws RangeError unless `n` is a positive integer.
 */
export function setNumThreads(n: number): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new RangeError(`setNumThreads: n must be a positive integer, got ${String(n)}`);
  numThreads = n;
  if (pool !== null) {
    const old = pool;
    pool = null;
    void old.close().catch(() => {});
  }
}

// ---- execute ---------------------------------------------------------------------

const WORKER = join(__dirname, 'tpool_worker.js');
const HOST = join(__dirname, 'tpool_host.js');

let pool: Piscina | null = null;
/** Pools that killall() destroyed: their rejections become TpoolKilled. */
const killed = new WeakSet<Piscina>();

function getPool(): Piscina {
  if (pool === null) {
    const n = threads();
    // Lazy, as Evy's: no worker before the first call, then all of them. A pool
    // above minThreads would arm and clear an idle timer around every task.
    // Idle workers do not keep the process alive.
    pool = new Piscina({ filename: WORKER, minThreads: n, maxThreads: n, maxQueue: Infinity });
  }
  return pool;
}

function moduleOf(m: string | URL): string {
  if (m instanceof URL) return m.protocol === 'file:' ? specifier(fileURLToPath(m)) : m.href;
  if (typeof m !== 'string' || m === '') throw new TypeError('tpool: the task module must be a non-empty path, URL or package name');
  if (m.startsWith('file:')) return m;
  // Relative paths are relative to the working directory.
  if (m.startsWith('./') || m.startsWith('../') || m === '.' || m === '..') return specifier(join(process.cwd(), m));
  return specifier(m);
}

function describe(task: unknown): TaskMessage {
  if (typeof task === 'function') {
    const src = Function.prototype.toString.call(task);
    if (src.endsWith('{ [native code] }')) throw new TypeError('tpool.execute: a native or bound function has no source to send; use [module, exportName]');
    return { mod: null, name: task.name, src, args: [] };
  }
  if (Array.isArray(task) && task.length === 2 && typeof task[1] === 'string') {
    return { mod: moduleOf(task[0] as string | URL), name: task[1], src: null, args: [] };
  }
  throw new TypeError('tpool.execute: task must be [module, exportName] or a self-contained function');
}

/**
 * Parks the current green thread until `p` settles. A Timeout or kill throws
 * into it at once and runs `interrupt` (which cancels the work); what `p`
 * brings after that is dropped.
 */
function green<T>(p: Promise<T>, interrupt: () => void): Promise<T> {
  const w = hub.park<T>(interrupt);
  if (!(w instanceof Waiter)) {
    interrupt();
    p.catch(() => {});
    return w;
  }
  p.then(
    // A throw arriving between the result and the resumption wins: the result is dropped.
    (v) => hub.wake(w, v, nothingToGiveBack),
    (e: unknown) => hub.throwInto(w as Waiter<unknown>, e),
  );
  return w.promise;
}

function report(err: TpoolError, what: string): void {
  if (getHub().debugTpoolExceptions) process.stderr.write(`evy.tpool: ${what} raised:\n${err.workerStack ?? err.message}\n`);
}

/**
 * Runs `task(...args)` on a worker thread; only the calling green thread
 * waits, and its wait is an evy operation: a Timeout or kill interrupts it,
 * ends the work (a running task's worker is terminated and replaced, a queued
 * one never starts), and the result is dropped, never delivered to anyone.
 *
 * A function task is sent by its source and compiled in the worker: it cannot
 * close over variables (only its arguments, the worker's globals and `require`
 * reach it). Arguments and results are structured-cloned.
 *
 * @param task `[module, exportName]` (relative paths are relative to the working directory) or a function
 * @throws TpoolError with the worker's stack when the task throws; TpoolKilled when killall() ends it
 * @example
 * ```ts
 * import { execute } from 'evy/tpool';
 * const key = await execute(['./hash.js', 'pbkdf2'], password, salt);
 * const n = await execute((a: number, b: number) => a * b, 6, 7);   // 42
 * ```
 */
export function execute<A extends unknown[], R>(task: Task<A, R>, ...args: A): Promise<Awaited<R>> {
  let msg: TaskMessage;
  try {
    msg = describe(task);
  } catch (err) {
    return Promise.reject(err);
  }
  msg.args = args;
  const what = msg.mod === null ? `function ${msg.name || '(anonymous)'}` : `${msg.name} of ${msg.mod}`;
  // The caller's frames, formatted only if the task throws.
  const caller = new Error();
  const p = getPool();
  const signal = new Abort();
  const run = (p.run(msg, { signal }) as Promise<{ ok: Awaited<R> } | { err: ThrownMessage }>).then(
    (r) => {
      if ('err' in r) {
        const e = new TpoolError(r.err, caller.stack);
        report(e, what);
        throw e;
      }
      return r.ok;
    },
    (e: unknown) => {
      if (killed.has(p)) throw new TpoolKilled(`tpool.execute(${what})`);
      throw e;
    },
  );
  return green(run, () => signal.abort());
}

/**
 * The least a signal must be for Piscina (`aborted` and one 'abort' listener):
 * an AbortController per call costs more than the rest of execute() together.
 */
class Abort {
  aborted = false;
  reason: unknown = undefined;
  private listener: (() => void) | null = null;
  addEventListener(_type: 'abort', l: () => void): void {
    this.listener = l;
  }
  removeEventListener(): void {
    this.listener = null;
  }
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = new Error('interrupted by a Timeout or kill');
    const l = this.listener;
    this.listener = null;
    if (l !== null) l();
  }
}

// ---- proxies -----------------------------------------------------------------------

type Fn = (...args: never[]) => unknown;
type Primitive = string | number | bigint | boolean | symbol | null | undefined;
type Cloned = Primitive | readonly unknown[] | Date | RegExp | Map<unknown, unknown> | Set<unknown> | ArrayBuffer | ArrayBufferView | Error;
type HasMethods<T> = { [K in keyof T]-?: T[K] extends Fn ? K : never }[keyof T] extends never ? false : true;

/** What a proxied method's result becomes in the caller: plain data as is, an object with methods as a further proxy. */
export type RemoteValue<R> = R extends Cloned ? R : R extends Fn ? Remote<R> : R extends object ? (HasMethods<R> extends true ? Remote<R> : R) : R;

/** The controls every proxy has, besides its object's methods. */
export interface RemoteControls<T> {
  /** Reads a property of the object in its worker. */
  $get<K extends keyof T & string>(prop: K): Promise<RemoteValue<T[K]>>;
  /** Sets a property of the object in its worker. */
  $set<K extends keyof T & string>(prop: K, value: T[K]): Promise<void>;
  /** Lets the worker drop the object; the proxy is unusable afterwards. */
  $release(): void;
}

/**
 * A proxy of an object living in one worker thread: each method call runs
 * there, as a green call (a Timeout or kill ends the wait; the call itself
 * runs to its end in the worker and its result is dropped).
 */
export type Remote<T> = {
  readonly [K in keyof T as T[K] extends Fn ? (K extends `$${string}` ? never : K) : never]: T[K] extends (...args: infer A) => infer R
    ? (...args: { [I in keyof A]: A[I] | Remote<A[I]> }) => Promise<RemoteValue<Awaited<R>>>
    : never;
} & RemoteControls<T>;

interface Pending {
  w: Waiter<unknown> | null;
  caller: Error;
  what: string;
}

const REF = Symbol('evy.tpool.ref');

/** A worker owning proxied objects. */
class Host {
  readonly worker: Worker;
  readonly pending = new Map<number, Pending>();
  /** live proxied objects made here (not counting autowrapped ones) */
  roots = 0;
  /** @internal the references of those objects */
  readonly rootRefs = new Set<number>();
  dead: Error | null = null;
  private nextId = 1;
  private readonly released = new FinalizationRegistry<number>((ref) => this.release(ref));

  constructor() {
    this.worker = new Worker(HOST);
    this.worker.unref();
    this.worker.on('message', (m: HostReply) => this.reply(m));
    const fail = (err: Error): void => {
      if (this.dead !== null) return;
      this.dead = err;
      hosts.delete(this);
      for (const [, p] of this.pending) if (p.w !== null) hub.throwInto(p.w, err);
      this.pending.clear();
    };
    this.worker.on('error', (err) => fail(err));
    this.worker.on('exit', (code) => fail(this.killed ? new TpoolKilled('a tpool proxy') : new Error(`tpool proxy: its worker thread exited (code ${code})`)));
  }

  killed = false;

  request(req: HostRequest, what: string): Promise<unknown> {
    if (this.dead !== null) return Promise.reject(this.dead);
    const w = hub.park<unknown>(() => {
      // Interrupted: the worker still runs the call; its answer is dropped on arrival.
      const p = this.pending.get(req.id);
      if (p !== undefined) p.w = null;
    });
    if (!(w instanceof Waiter)) return w;
    req.id = this.nextId++;
    this.pending.set(req.id, { w, caller: new Error(), what });
    if (this.pending.size === 1) this.worker.ref();
    this.worker.postMessage(req);
    return w.promise;
  }

  private reply(m: HostReply): void {
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.worker.unref();
    if (p.w === null) {
      // The caller was interrupted: nobody gets this; an object made for it is let go.
      if ('ref' in m) this.release(m.ref);
      return;
    }
    if ('err' in m) {
      const e = new TpoolError(m.err, p.caller.stack);
      report(e, p.what);
      hub.throwInto(p.w, e);
    } else if ('ref' in m) {
      hub.wake(p.w, this.wrap(m.ref), nothingToGiveBack); // a throw that wins drops the proxy; the registry releases it
    } else {
      hub.wake(p.w, m.value, nothingToGiveBack);
    }
  }

  release(ref: number): void {
    if (this.rootRefs.delete(ref)) this.roots--;
    if (this.dead === null) this.worker.postMessage({ id: 0, op: 'release', ref } satisfies HostRequest);
  }

  wrap(ref: number): object {
    const host = this;
    let gone = false;
    const methods = new Map<string | symbol, unknown>();
    const marker: RefMarker = { evyTpoolRef: ref };
    const check = (what: string): void => {
      if (gone) throw new ReferenceError(`tpool proxy: ${what} on a proxy after its $release()`);
    };
    const proxy: object = new Proxy(Object.create(null) as object, {
      get(_t, prop) {
        if (prop === REF) return { host, marker };
        // Not a thenable (await proxy must give the proxy), not iterable, no primitive conversion.
        if (typeof prop === 'symbol' || prop === 'then') return undefined;
        let f = methods.get(prop);
        if (f !== undefined) return f;
        if (prop === '$get') {
          f = (name: string) => (check('$get'), host.request({ id: 0, op: 'get', ref, prop: name }, `$get(${name})`));
        } else if (prop === '$set') {
          f = (name: string, value: unknown) => (check('$set'), host.request({ id: 0, op: 'set', ref, prop: name, value: mark(host, value) }, `$set(${name})`));
        } else if (prop === '$release') {
          f = () => {
            if (gone) return;
            gone = true;
            host.released.unregister(marker);
            host.release(ref);
          };
        } else {
          f = (...args: unknown[]) => {
            try {
              check(`${prop}()`);
              return host.request({ id: 0, op: 'call', ref, method: prop, args: args.map((a) => mark(host, a)) }, `${prop}()`);
            } catch (err) {
              return Promise.reject(err);
            }
          };
        }
        methods.set(prop, f);
        return f;
      },
      set() {
        throw new TypeError('tpool proxy: set properties with await proxy.$set(name, value)');
      },
    });
    this.released.register(proxy, ref, marker);
    return proxy;
  }
}

function mark(host: Host, v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  const r = (v as { [REF]?: { host: Host; marker: RefMarker } })[REF];
  if (r === undefined) return v;
  if (r.host !== host) throw new TypeError('tpool proxy: a proxy passed as an argument must live in the same worker as the object called');
  return r.marker;
}

const hosts = new Set<Host>();

function pickHost(): Host {
  let best: Host | null = null;
  for (const h of hosts) if (best === null || h.roots < best.roots) best = h;
  if (best === null || (best.roots > 0 && hosts.size < threads())) {
    best = new Host();
    hosts.add(best);
  }
  return best;
}

/**
 * Evy's `tpool.Proxy`: makes an object inside one worker thread, pinned
 * there, and returns a typed proxy of it. Each method call runs in that
 * worker as a green call; results are structured-cloned, except objects that
 * are not plain data (class instances, functions, iterators), which come back
 * as further proxies in the same worker (Evy's autowrap). Properties: `$get`,
 * `$set`; `$release()` lets the worker drop the object (a proxy that is
 * garbage-collected does so too).
 *
 * `exportName` names a class (constructed with `new`), a function with a
 * prototype (constructed too), or an arrow function (called as a factory);
 * `'default'` is a CommonJS module's `module.exports`.
 *
 * @throws TpoolError when the constructor throws in the worker
 * @example
 * ```ts
 * import { proxy } from 'evy/tpool';
 * import type { Database } from 'better-sqlite3';
 * const db = await proxy<Database>('better-sqlite3', 'default', 'app.db');
 * const row = await (await db.prepare('SELECT 1 AS one')).get();   // { one: 1 }
 * ```
 */
export async function proxy<T extends object>(module: string | URL, exportName: string, ...ctorArgs: unknown[]): Promise<Remote<T>> {
  if (typeof exportName !== 'string' || exportName === '') throw new TypeError('tpool.proxy: exportName must be a non-empty string');
  const mod = moduleOf(module);
  const host = pickHost();
  host.roots++;
  try {
    const made = (await host.request({ id: 0, op: 'new', mod, name: exportName, args: ctorArgs.map((a) => mark(host, a)) }, `new ${exportName}()`)) as Remote<T>;
    host.rootRefs.add((made as unknown as { [REF]: { marker: RefMarker } })[REF].marker.evyTpoolRef);
    return made;
  } catch (err) {
    host.roots--;
    throw err;
  }
}

// ---- killall -------------------------------------------------------------------------

/**
 * Terminates every worker thread: execute()'s pool and the proxy hosts.
 * Pending calls fail with TpoolKilled, and so do later calls on the proxies;
 * later execute() and proxy() calls start new workers. Resolves once every
 * worker has ended.
 */
export async function killall(): Promise<void> {
  const ends: Promise<unknown>[] = [];
  if (pool !== null) {
    killed.add(pool);
    ends.push(pool.destroy());
    pool = null;
  }
  for (const h of hosts) {
    h.killed = true;
    ends.push(h.worker.terminate());
  }
  hosts.clear();
  await Promise.allSettled(ends);
}
