// evy/patched/timers: node:timers, evy's sleep(), and `promises`:
// node:timers/promises whose waits are evy operations. A Timeout or a kill of
// the waiting green thread interrupts them and cancels the underlying Node
// timer (through an AbortController), so nothing is left holding the loop.
//
// A drop-in superset of node:timers (see ./dropin). Its setTimeout and
// setImmediate call node's (the same Timeout and Immediate objects, the same
// errors), and differ only in what util.promisify makes of them: evy's
// promises.setTimeout and promises.setImmediate, as node's give
// node:timers/promises' (util.promisify.custom).
import * as timers from 'node:timers';
import * as timersPromises from 'node:timers/promises';
import type { TimerOptions } from 'node:timers';
import { promisify } from 'node:util';
import { sleep, wait } from '../green/greenthread';
import { dropIn } from './dropin';

// The stock functions, taken at load: monkeyPatch() later puts the green ones
// on the same builtin object, and the green ones call these.
const stockPromises = {
  setTimeout: timersPromises.setTimeout,
  setImmediate: timersPromises.setImmediate,
  setInterval: timersPromises.setInterval,
  scheduler: timersPromises.scheduler,
};

export * from 'node:timers';
export { sleep };

/**
 * An AbortController for one stock call, aborted by the caller's own signal
 * too. `release()` stops listening to the caller's signal.
 */
function linkedController(userSignal: AbortSignal | undefined): { ac: AbortController; release: () => void } {
  const ac = new AbortController();
  if (userSignal === undefined) return { ac, release: () => {} };
  if (userSignal.aborted) {
    ac.abort(userSignal.reason);
    return { ac, release: () => {} };
  }
  const forward = (): void => ac.abort(userSignal.reason);
  userSignal.addEventListener('abort', forward, { once: true });
  return { ac, release: () => userSignal.removeEventListener('abort', forward) };
}

/** Options the stock function would refuse (not an object, a foreign signal): let it refuse them, with its own error. */
function foreignSignal(options: TimerOptions | undefined): boolean {
  if (options === undefined) return false;
  if (options === null || typeof options !== 'object') return true;
  return options.signal !== undefined && !(options.signal instanceof AbortSignal);
}

/** Runs `start(signal)` as an evy operation; an interruption aborts it. */
async function interruptible<T>(options: TimerOptions | undefined, start: (opts: TimerOptions) => Promise<T>): Promise<T> {
  const { ac, release } = linkedController(options?.signal);
  try {
    return await wait(start({ ...options, signal: ac.signal }));
  } catch (err) {
    ac.abort(err); // cancels the Node timer (a no-op when it already failed)
    throw err;
  } finally {
    release();
  }
}

/** node:timers/promises setTimeout, interruptible by Timeout and kill. */
function promiseTimeout<T = void>(delay?: number, value?: T, options?: TimerOptions): Promise<T> {
  if (foreignSignal(options)) return stockPromises.setTimeout(delay, value, options);
  return interruptible(options, (opts) => stockPromises.setTimeout(delay, value, opts));
}

/** node:timers/promises setImmediate, interruptible by Timeout and kill. */
function promiseImmediate<T = void>(value?: T, options?: TimerOptions): Promise<T> {
  if (foreignSignal(options)) return stockPromises.setImmediate(value, options);
  return interruptible(options, (opts) => stockPromises.setImmediate(value, opts));
}

/**
 * node:timers/promises setInterval: each next() is interruptible; an
 * interruption ends the iteration and clears the interval.
 */
function promiseInterval<T = void>(delay?: number, value?: T, options?: TimerOptions): NodeJS.AsyncIterator<T> {
  if (foreignSignal(options)) return stockPromises.setInterval(delay, value, options);
  const { ac, release } = linkedController(options?.signal);
  const it = stockPromises.setInterval(delay, value, { ...options, signal: ac.signal });
  const wrapped: NodeJS.AsyncIterator<T> = {
    async next(): Promise<IteratorResult<T>> {
      try {
        const r = await wait(it.next());
        if (r.done === true) release();
        return r;
      } catch (err) {
        // A pending next() of the stock generator only ends through its signal.
        ac.abort(err);
        release();
        throw err;
      }
    },
    async return(v?: unknown): Promise<IteratorResult<T>> {
      release();
      ac.abort(); // clears the interval, and fails a next() still pending
      try {
        await it.return!(undefined); // runs the generator's cleanup if it sits at a yield
      } catch {
        // it ended with the AbortError: nothing left to clean up
      }
      return { done: true, value: v as T };
    },
    [Symbol.asyncIterator](): NodeJS.AsyncIterator<T> {
      return wrapped;
    },
    async [Symbol.asyncDispose](): Promise<void> {
      await wrapped.return!();
    },
  };
  return wrapped;
}

const scheduler: timersPromises.Scheduler = {
  wait(delay: number, options?: { signal?: AbortSignal }): Promise<void> {
    return promiseTimeout<void>(delay, undefined, options);
  },
  yield(): Promise<void> {
    return promiseImmediate<void>();
  },
};

/** node:timers/promises, made of evy operations (Timeout and kill interrupt them). */
export const promises: typeof timersPromises = {
  setTimeout: promiseTimeout,
  setImmediate: promiseImmediate,
  setInterval: promiseInterval,
  scheduler,
};
for (const [k, f] of Object.entries(promises)) if (typeof f === 'function') Object.defineProperty(f, 'name', { value: k });

/**
 * `stock` itself in all but util.promisify, which gives `promises[name]`
 * (read when asked, as Node reads node:timers/promises').
 */
function promisifiesGreen<F extends Function>(stock: F, name: 'setTimeout' | 'setImmediate'): F {
  const f = {
    [name](this: unknown, ...args: unknown[]): unknown {
      return Reflect.apply(stock, this, args);
    },
  }[name];
  Object.defineProperty(f, 'length', { value: stock.length });
  Object.defineProperty(f, promisify.custom, { enumerable: true, get: () => promises[name] });
  return f as unknown as F;
}

/** node:timers setTimeout; util.promisify(setTimeout) is promises.setTimeout. */
export const setTimeout: typeof timers.setTimeout = promisifiesGreen(timers.setTimeout, 'setTimeout');
/** node:timers setImmediate; util.promisify(setImmediate) is promises.setImmediate. */
export const setImmediate: typeof timers.setImmediate = promisifiesGreen(timers.setImmediate, 'setImmediate');

/** Monkey-patching hook: adds sleep to the `node:timers` module object. */
export function __evyPatch(builtin: object): void {
  Object.assign(builtin, { sleep });
}

module.exports = dropIn('timers', module.exports as object);
