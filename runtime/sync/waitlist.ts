// A FIFO of parked green threads, with the optional timeout that Evy's blocking
// calls take (`get(timeout)`, `acquire(timeout)`, `wait(timeout)`). The links
// live on the Waiter itself, so parking allocates nothing more and a waiter
// that times out or is killed leaves the list in O(1).
import { getHub, nothingToGiveBack, Waiter } from '../hub/hub';

const hub = getHub();

/** Validates an Evy-style timeout: null/undefined (forever) or seconds ≥ 0. */
export function checkTimeout(timeout: number | null | undefined, what: string): number | null {
  if (timeout === null || timeout === undefined) return null;
  if (typeof timeout !== 'number' || Number.isNaN(timeout)) {
    throw new TypeError(`${what}: timeout must be a number of seconds or null, got ${Number.isNaN(timeout) ? 'NaN' : typeof timeout}`);
  }
  if (timeout < 0) throw new RangeError(`${what}: timeout must not be negative, got ${timeout}`);
  return timeout;
}

/** What a timed-out wait does: resolve with `value`, or throw `error()`. */
export type OnTimeout<V> = { value: V } | { error: () => unknown };

export class WaitList<V> {
  private head: Waiter<unknown> | null = null;
  private tail: Waiter<unknown> | null = null;
  length = 0;

  /** @param label what a thread parked here waits for, as `.threads` shows it ('Queue.get'). */
  constructor(readonly label = 'wait') {}

  /**
   * Parks the current green thread at the end of the list. `data` rides along
   * (a putter's item). After `timeout` seconds it leaves the list and `onTimeout`
   * decides the outcome.
   */
  wait(timeout: number | null, onTimeout: OnTimeout<V> | null, data?: unknown): Promise<V> {
    const w = hub.park<V>(null, this.label);
    if (!(w instanceof Waiter)) return w;
    const u = w as Waiter<unknown>;
    u.list = this;
    u.data = data;
    this.append(u);
    if (timeout !== null && onTimeout !== null) {
      u.timer = hub.addTimer(timeout, () => {
        u.timer = null;
        this.unlink(u);
        if ('value' in onTimeout) hub.wake(u, onTimeout.value);
        else hub.throwInto(u, onTimeout.error());
      }, null, null);
    }
    return w.promise;
  }

  /** @internal The first parked waiter, still in the list. */
  peek(): Waiter<unknown> | null {
    return this.head;
  }

  /**
   * Takes the first waiter off the list and hands it `value`. False if the
   * list is empty. `revoke` gives the value back if a throw (a Timeout, a
   * kill) reaches the waiter before it resumed.
   */
  wakeOne(value: V, revoke: ((value: V) => void) | null = null): boolean {
    const w = this.head;
    if (w === null) return false;
    this.unlink(w);
    hub.wake(w, value, revoke as ((value: unknown) => void) | null);
    return true;
  }

  /** Takes every waiter off the list and hands each `value` (nothing to give back: a throw wins). */
  wakeAll(value: V): void {
    while (this.wakeOne(value, nothingToGiveBack));
  }

  /** Takes every waiter off the list and throws `err` into each. */
  throwAll(err: unknown): void {
    let w: Waiter<unknown> | null;
    while ((w = this.head) !== null) {
      this.unlink(w);
      hub.throwInto(w, err);
    }
  }

  private append(w: Waiter<unknown>): void {
    w.lprev = this.tail;
    w.lnext = null;
    if (this.tail !== null) this.tail.lnext = w;
    else this.head = w;
    this.tail = w;
    this.length++;
  }

  /** @internal Removes `w` (and its timer); harmless if it is no longer in the list. */
  unlink(w: Waiter<unknown>): void {
    if (w.timer !== null) {
      w.timer.cancel();
      w.timer = null;
    }
    w.list = null;
    if (w.lprev === null && this.head !== w) return;
    if (w.lprev !== null) w.lprev.lnext = w.lnext;
    else this.head = w.lnext;
    if (w.lnext !== null) w.lnext.lprev = w.lprev;
    else this.tail = w.lprev;
    w.lprev = w.lnext = null;
    this.length--;
  }
}
