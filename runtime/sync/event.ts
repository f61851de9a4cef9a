// Event: one value (or exception) delivered to every green thread waiting for it.
import { getHub } from '../hub/hub';
import { checkTimeout, WaitList } from './waitlist';

const hub = getHub();
const NOT_SENT: unique symbol = Symbol('evy.notSent');

/** What waiters are woken with by sendException (a later reset() must not change it). */
class Thrown {
  constructor(readonly error: unknown) {}
}

/**
 * Evy's event: one send() wakes every waiter with its value (or
 * sendException() with an error); wait() after that returns at once until reset().
 */
export class Event<T = unknown> {
  private result: T | typeof NOT_SENT = NOT_SENT;
  private exception: unknown = NOT_SENT;
  private readonly waiters = new WaitList<T | Thrown | undefined>('Event.wait');

  /** True once send() or sendException() was called (and not reset since). */
  ready(): boolean {
    return this.result !== NOT_SENT || this.exception !== NOT_SENT;
  }

  /** sendException() was called (and not reset since). */
  hasException(): boolean {
    return this.exception !== NOT_SENT;
  }

  /** send() was called (and not reset since). */
  hasResult(): boolean {
    return this.result !== NOT_SENT;
  }

  /** The result if ready (rethrowing a sent exception), else `notready`. Never blocks. */
  poll<N = undefined>(notready?: N): T | N {
    if (this.exception !== NOT_SENT) throw this.exception;
    return this.result !== NOT_SENT ? this.result : (notready as N);
  }

  /**
   * Waits for send(); returns its value, or throws what sendException() sent.
   * With `timeout` seconds, resolves undefined if nothing was sent by then.
   */
  wait(): Promise<T>;
  wait(timeout: number | null | undefined): Promise<T | undefined>;
  wait(timeout?: number | null): Promise<T | undefined> {
    const secs = checkTimeout(timeout, 'Event.wait');
    if (this.ready()) {
      const pending = hub.check();
      if (pending !== null) return pending;
      return this.exception !== NOT_SENT ? Promise.reject(this.exception) : Promise.resolve(this.result as T);
    }
    return this.waiters.wait(secs, { value: undefined }).then(unbox);
  }

  /** Wakes every waiter with `result`. Sending twice without reset() is an error. */
  send(result?: T): void {
    if (this.ready()) throw new Error('this Event was already sent; call reset() before sending it again');
    this.result = result as T;
    this.waiters.wakeAll(result);
  }

  /** Wakes every waiter by throwing `error` into it (at its wait()). */
  sendException(error: unknown): void {
    if (this.ready()) throw new Error('this Event was already sent; call reset() before sending it again');
    this.exception = error;
    this.waiters.wakeAll(new Thrown(error));
  }

  /** Makes the event unsent again, so it can be sent anew. */
  reset(): void {
    if (!this.ready()) throw new Error('reset() of an Event that was not sent');
    this.result = NOT_SENT;
    this.exception = NOT_SENT;
  }

  /** Green threads waiting now. */
  get waiting(): number {
    return this.waiters.length;
  }
}

function unbox<T>(v: T | Thrown | undefined): T | undefined {
  if (v instanceof Thrown) throw v.error;
  return v;
}
