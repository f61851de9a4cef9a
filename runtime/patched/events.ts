// Greens events.once in place (monkeyPatch; `EventEmitter.once` is the same
// property, `import { once } from 'node:events'` follows it): the wait is an
// evy operation, and a Timeout or kill removes the listeners the stock call
// added, at once. What the caller's own signal does is unchanged.
//
// Two ways to undo the stock call. On an EventEmitter, with no signal of the
// caller's, the listeners it added (synchronously, with emitter.once) are
// found and removed: that costs a few listener counts, where handing the
// stock once a signal of our own costs 40-50 µs a call on Node 20
// (bench/promises.ts). Otherwise (an EventTarget, a caller's signal), the
// stock call gets our own signal, which follows the caller's.
import type { EventEmitter } from 'node:events';
import { awaitAbortable, followSignal, ownSignal, type Undo } from './abortable';

type Once = typeof EventEmitter.once;
type StockOnce = (emitter: unknown, name: unknown, options?: unknown) => Promise<unknown[]>;

function nothing(): void {}

/**
 * Calls the stock once on an EventEmitter and returns how to take back what
 * it added: the last listener of `name` (and of 'error'), if the call added
 * exactly one. Null when that cannot be told for sure (a 'newListener'
 * listener could add others, an emitter without rawListeners).
 */
function onceOnEmitter(stock: StockOnce, emitter: unknown, name: unknown, options: unknown): { promise: Promise<unknown[]>; undo: Undo } | null {
  const ee = emitter as Partial<EventEmitter> | null;
  if (ee === null || typeof ee !== 'object' || typeof ee.rawListeners !== 'function' || typeof ee.listenerCount !== 'function') return null;
  if (typeof ee.removeListener !== 'function' || ee.listenerCount('newListener') > 0) return null;
  if (typeof name !== 'string' && typeof name !== 'symbol') return null;
  const emitterOf = ee as EventEmitter;
  const names = name === 'error' ? [name] : [name, 'error'];
  const before = names.map((n) => emitterOf.listenerCount(n));
  const promise = stock(emitter, name, options); // options without a signal: Node 24 still checks they are an object
  const added = names.map((n, i) => (emitterOf.listenerCount(n) === before[i] + 1 ? emitterOf.rawListeners(n).at(-1) : undefined));
  const abort = (): void => {
    names.forEach((n, i) => {
      const l = added[i];
      if (l !== undefined) emitterOf.removeListener(n, l as (...a: unknown[]) => void);
    });
  };
  return { promise, undo: { abort, release: nothing } };
}

const greened = new WeakSet<object>();

/**
 * Makes `eventsModule.once` (node:events, which is EventEmitter) an evy
 * operation, in place; once per object.
 * @internal
 */
export function greenEvents(eventsModule: { once: Once }): void {
  if (greened.has(eventsModule)) return;
  greened.add(eventsModule);
  const stock = eventsModule.once as StockOnce;
  // Same name and length as the stock one (`once(emitter, name, options = {})`).
  eventsModule.once = function once(emitter: unknown, name: unknown, options: unknown = undefined): Promise<unknown[]> {
    const user = options !== null && (typeof options === 'object' || typeof options === 'function') ? (options as { signal?: unknown }).signal : undefined;
    if (!ownSignal(user)) return awaitAbortable(stock(emitter, name, options), null); // refused, or a look-alike: as it is
    if (user === undefined) {
      const direct = onceOnEmitter(stock, emitter, name, options);
      if (direct !== null) return awaitAbortable(direct.promise, direct.undo);
    }
    const link = followSignal(user); // the stock once listens to the caller's signal: so does the link
    return awaitAbortable(stock(emitter, name, { ...(options as object | undefined), signal: link.signal }), link);
  } as Once;
}
