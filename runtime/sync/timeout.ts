// Timeout: an exception raised into the current green thread after a delay.
import { getHub, type Parkable, type Timer } from '../hub/hub';

const hub = getHub();

/**
 * Raises itself (or `exception`) into the green thread that created it, after
 * `seconds`, wherever that thread is parked. Starts at once.
 *
 * - `seconds` null: never fires (a placeholder that code can cancel uniformly).
 * - `exception` absent, null or true: fires as itself.
 * - `exception` false: fires as itself, and `run()` turns that into `undefined`
 *   (Evy's silent `with Timeout(s, False)`).
 * - `exception` an Error instance or class: that is what is raised.
 * - `using t = new Timeout(5)` cancels it when the block ends.
 */
export class Timeout extends Error {
  readonly seconds: number | null;
  readonly exception: unknown;
  private timer: Timer | null = null;
  private owner: Parkable | null = null;

  constructor(seconds: number | null = null, exception?: unknown) {
    super(seconds === null ? 'timeout (never fires)' : `timed out after ${seconds} second${seconds === 1 ? '' : 's'}`);
    this.name = 'Timeout';
    if (seconds !== null && (typeof seconds !== 'number' || Number.isNaN(seconds))) {
      throw new TypeError(`Timeout: seconds must be a number or null, got ${Number.isNaN(seconds) ? 'NaN' : typeof seconds}`);
    }
    this.seconds = seconds;
    this.exception = exception;
    this.start();
  }

  /** @internal A Timeout for `seconds` that is not started (trampoline's default error). */
  static unstarted(seconds: number | null): Timeout {
    const t = new Timeout(null);
    (t as { seconds: number | null }).seconds = seconds;
    t.message = `timed out after ${seconds} seconds`;
    return t;
  }

  /** Scheduled and not yet fired or cancelled. */
  get pending(): boolean {
    return this.timer !== null && this.timer.pending;
  }

  /** Schedules the timeout (the constructor already did). Starting a pending one is an error. */
  start(): this {
    if (this.pending) throw new Error('this Timeout is already started; cancel it before starting it again');
    if (this.seconds === null) return this;
    this.owner = hub.current();
    this.timer = hub.addTimer(this.seconds, fireTimeout, [this], this.owner);
    return this;
  }

  /** @internal */
  fire(): void {
    this.timer = null;
    const owner = this.owner!;
    let err = this.exception;
    // Evy raises the Timeout itself for exception None, True or False.
    if (err === undefined || err === null || typeof err === 'boolean') err = this;
    else if (typeof err === 'function') err = new (err as new () => unknown)();
    hub.interrupt(owner, err);
  }

  /** Stops the timer; harmless when it fired or was cancelled already. */
  cancel(): void {
    if (this.timer !== null) {
      this.timer.cancel();
      this.timer = null;
    }
  }

  /** cancel(): what `using t = new Timeout(...)` calls when its block ends. */
  [Symbol.dispose](): void {
    this.cancel();
  }

  /**
   * Runs `fn` under this timeout, then cancels it: Evy's `with Timeout(...)`.
   * If this timeout fires and was made with `exception` false, resolves undefined.
   */
  async run<T>(fn: () => T | PromiseLike<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      if (err === this && this.exception === false) return undefined;
      throw err;
    } finally {
      this.cancel();
    }
  }

  override toString(): string {
    return `Timeout(${this.seconds === null ? 'null' : this.seconds}${this.pending ? ', pending' : ''})`;
  }
}

function fireTimeout(t: unknown): void {
  (t as Timeout).fire();
}

/** withTimeout()'s options. */
export interface WithTimeoutOptions<V> {
  /** returned instead of throwing the Timeout when it fires */
  timeoutValue?: V;
}

/**
 * Runs `fn()` in the current green thread with a Timeout of `seconds` around it.
 * When it fires: resolves `opts.timeoutValue` if given, else throws the Timeout.
 */
export async function withTimeout<T, V = never>(
  seconds: number | null,
  fn: () => T | PromiseLike<T>,
  opts: WithTimeoutOptions<V> = {},
): Promise<T | V> {
  if (typeof fn !== 'function') throw new TypeError('withTimeout needs a function');
  const t = new Timeout(seconds);
  try {
    return await fn();
  } catch (err) {
    if (err === t && 'timeoutValue' in opts) return opts.timeoutValue as V;
    throw err;
  } finally {
    t.cancel();
  }
}
