// The piece that green fetch, fs/promises, events.once and stream/promises
// share: a stock promise awaited as an evy operation that owns an
// AbortController. A Timeout or kill of the waiting green thread aborts the
// controller at once (inside the throw, as the waiter's undo), so the stock
// operation stops and frees what it holds (a connection, listeners, streams);
// its result, should it come anyway, is dropped, or handed to `late` to close.
//
// `wait(promise)` (green/greenthread.ts) is the same wait without the
// controller and without `late`: its late result is dropped as it is.
import { getHub, Waiter } from '../hub/hub';

const hub = getHub();

/**
 * The signal to hand a stock call: the caller's own, if any, combined with
 * `controller`'s (`AbortSignal.any`, which adds no listener to the caller's
 * signal), so either aborts the call and the caller's abort keeps its reason.
 */
export function combinedSignal(controller: AbortController, userSignal: AbortSignal | null | undefined): AbortSignal {
  return userSignal === null || userSignal === undefined ? controller.signal : AbortSignal.any([userSignal, controller.signal]);
}

/** Whether a stock call would take `signal` as it comes: none, or a real AbortSignal (not a look-alike, not null). */
export function ownSignal(signal: unknown): signal is AbortSignal | undefined {
  return signal === undefined || signal instanceof AbortSignal;
}

/**
 * Awaits `promise` as an evy operation. A Timeout or kill of the waiting
 * thread aborts `controller` with the thrown error (null: nothing to abort),
 * and a value the promise delivers after that goes to `late` (a file handle
 * to close...) instead of being lost without a trace.
 * @internal
 */
export function awaitAbortable<T>(promise: PromiseLike<T>, controller: AbortController | null, late: ((value: T) => void) | null = null): Promise<T> {
  let w: Waiter<T> | Promise<never> | null = null;
  w = hub.park<T>(controller === null ? null : () => controller.abort((w as Waiter<T>).value));
  if (!(w instanceof Waiter)) {
    // A throw deferred to this suspension point: the operation is abandoned
    // before it is awaited.
    w.catch((err: unknown) => controller?.abort(err));
    Promise.resolve(promise).then(late ?? undefined, () => {});
    return w;
  }
  const waiter = w;
  Promise.resolve(promise).then(
    (v) => {
      if (!hub.wake(waiter, v) && late !== null) late(v);
    },
    (e: unknown) => hub.throwInto(waiter as Waiter<unknown>, e),
  );
  return waiter.promise;
}
