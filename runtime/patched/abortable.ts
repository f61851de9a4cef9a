// The piece that green fetch, fs/promises, events.once and stream/promises
// share: a stock promise awaited as an evy operation that owns an
// AbortController. A Timeout or kill of the waiting green thread aborts the
// controller at once (inside the throw, as the waiter's undo), so the stock
// operation stops and frees what it holds (a connection, listeners, streams);
// its result, should it come anyway, is dropped, or handed to `late` to close.
//
// The caller's own signal keeps working: our controller follows it, either
// through a listener on it for the time of the call (where the stock call
// listens to it too, so it sees the same listeners, in the same order), or
// through AbortSignal.any, which adds none (where the stock call only polls
// it, or where the call has no end we see: fetch's body).
//
// `wait(promise)` (green/greenthread.ts) is the same wait without the
// controller and without `late`: its late result is dropped as it is.
import { addAbortListener } from 'node:events';
import { getHub, Waiter } from '../hub/hub';

const hub = getHub();

/** How an interrupted stock call is undone. */
export interface Undo {
  /** The waiting thread was interrupted with `err`: stop the call. */
  abort(err: unknown): void;
  /** The call is over (settled or aborted): let go of what follows it; idempotent. */
  release(): void;
}

/** Our controller for one stock call, following the caller's signal. */
export interface Link extends Undo {
  readonly controller: AbortController;
  /** What to hand the stock call. */
  readonly signal: AbortSignal;
}

function link(controller: AbortController, signal: AbortSignal, release: () => void): Link {
  return { controller, signal, release, abort: (err) => controller.abort(err) };
}

function nothing(): void {}

/**
 * A controller whose signal the caller's `user` signal aborts too (with its
 * reason), through a listener on `user` that `release()` removes.
 */
export function followSignal(user: AbortSignal | null | undefined): Link {
  const controller = new AbortController();
  let release = nothing;
  if (user !== null && user !== undefined) {
    if (user.aborted) {
      controller.abort(user.reason);
    } else {
      const listener = addAbortListener(user, () => controller.abort(user.reason));
      release = () => listener[Symbol.dispose]();
    }
  }
  return link(controller, controller.signal, release);
}

/** The same through AbortSignal.any: nothing is added to `user`, nothing to release. */
export function combineSignal(user: AbortSignal | null | undefined): Link {
  const controller = new AbortController();
  const signal = user === null || user === undefined ? controller.signal : AbortSignal.any([user, controller.signal]);
  return link(controller, signal, nothing);
}

/** Whether a stock call would take `signal` as it comes: none, or a real AbortSignal (not a look-alike, not null). */
export function ownSignal(signal: unknown): signal is AbortSignal | undefined {
  return signal === undefined || signal instanceof AbortSignal;
}

/**
 * Awaits `promise` as an evy operation. A Timeout or kill of the waiting
 * thread undoes the call (`undo.abort` with the thrown error, a Link's
 * controller aborted; null: nothing to undo), and a value the promise
 * delivers after that goes to `late` (a file handle to close...) instead of
 * being lost without a trace.
 * @internal
 */
export function awaitAbortable<T>(promise: PromiseLike<T>, undo: Undo | null, late: ((value: T) => void) | null = null): Promise<T> {
  const abort = (err: unknown): void => {
    undo?.abort(err);
    undo?.release();
  };
  let w: Waiter<T> | Promise<never> | null = null;
  // throwInto has put the error in the waiter's value when it calls the undo.
  w = hub.park<T>(undo === null ? null : () => abort((w as Waiter<T>).value));
  if (!(w instanceof Waiter)) {
    // A throw deferred to this suspension point: the operation is abandoned
    // before it is awaited.
    w.catch(abort);
    Promise.resolve(promise).then(late ?? undefined, nothing);
    return w;
  }
  const waiter = w;
  Promise.resolve(promise).then(
    (v) => {
      undo?.release();
      if (!hub.wake(waiter, v) && late !== null) late(v);
    },
    (e: unknown) => {
      undo?.release();
      hub.throwInto(waiter as Waiter<unknown>, e);
    },
  );
  return waiter.promise;
}
