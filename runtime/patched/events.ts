// Greens events.once in place (monkeyPatch; `EventEmitter.once` is the same
// property, `import { once } from 'node:events'` follows it): the wait is an
// evy operation whose own signal (which follows the caller's) a Timeout or
// kill aborts, so the listeners it added to the emitter and to the signals are
// removed at once. What the caller's own signal does is unchanged.
import type * as events from 'node:events';
import { awaitAbortable, followSignal, ownSignal } from './abortable';

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
    const link = followSignal(user); // the stock once listens to the caller's signal: so does the link
    return awaitAbortable(stock(emitter, name, { ...(options as object | undefined), signal: link.signal }), link);
  } as Once;
}
