// Greens events.once in place (monkeyPatch; `EventEmitter.once` is the same
// property, `import { once } from 'node:events'` follows it): the wait is an
// evy operation whose signal, combined with the caller's, a Timeout or kill
// aborts, so the listeners it added to the emitter and to the signal are
// removed at once. What the caller's own signal does is unchanged.
import type * as events from 'node:events';
import { awaitAbortable, combinedSignal, ownSignal } from './abortable';

type Once = typeof events.EventEmitter.once;

const greened = new WeakSet<object>();

/**
 * Makes `eventsModule.once` (node:events, which is EventEmitter) an evy
 * operation, in place; once per object.
 * @internal
 */
export function greenEvents(eventsModule: { once: Once }): void {
  if (greened.has(eventsModule)) return;
  greened.add(eventsModule);
  const stock = eventsModule.once as (emitter: unknown, name: unknown, options?: unknown) => Promise<unknown[]>;
  // Same name and length as the stock one (`once(emitter, name, options = {})`).
  eventsModule.once = function once(emitter: unknown, name: unknown, options: unknown = undefined): Promise<unknown[]> {
    const user = options !== null && (typeof options === 'object' || typeof options === 'function') ? (options as { signal?: unknown }).signal : undefined;
    if (!ownSignal(user)) return awaitAbortable(stock(emitter, name, options), null); // refused, or a look-alike: as it is
    const controller = new AbortController();
    const opts = { ...(options as object | undefined), signal: combinedSignal(controller, user) };
    return awaitAbortable(stock(emitter, name, opts), controller);
  } as Once;
}
