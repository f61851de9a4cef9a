// evy/patched/select: Python's select.select() for green threads, over file
// descriptors (through the hub's fd listeners) and green sockets (through
// their own readiness: a socket's fd belongs to libuv, which polls it already).
import { getHub, Waiter, type Listener } from '../hub/hub';
import { GreenSocket, watchSocket } from '../io/socket';

const hub = getHub();

/** What select() takes: an fd, a green socket, or an object with fileno(). */
export type Selectable = number | GreenSocket | { fileno(): number };

/** Thrown for a bad argument, as Python's select.error / ValueError. */
/** A wrong kind of item is a TypeError; a negative or fractional number (Python's ValueError) a RangeError. */
function badItem(list: string, item: unknown): Error {
  if (typeof item === 'number') {
    return new RangeError(`select: ${list} items must be non-negative integer file descriptors, got ${item}`);
  }
  return new TypeError(`select: ${list} items must be file descriptors (non-negative integers), green sockets or objects with fileno(), got ${item === null ? 'null' : typeof item}`);
}

function fdOf(item: Selectable, list: string): number {
  const fd = typeof item === 'number' ? item : (item as { fileno(): number }).fileno();
  if (!Number.isInteger(fd) || fd < 0) throw badItem(list, fd);
  return fd;
}

function check(items: unknown, list: string): Selectable[] {
  if (!Array.isArray(items)) throw new TypeError(`select: ${list} must be an array`);
  for (const item of items) {
    if (typeof item === 'number') {
      if (!Number.isInteger(item) || item < 0) throw badItem(list, item);
    } else if (!(item instanceof GreenSocket) && (item === null || typeof item !== 'object' || typeof (item as { fileno?: unknown }).fileno !== 'function')) {
      throw badItem(list, item);
    }
  }
  return items as Selectable[];
}

function byFd<T>(pairs: ReadonlyArray<readonly [T, number]>): Map<number, T[]> {
  const m = new Map<number, T[]>();
  for (const [item, fd] of pairs) {
    const list = m.get(fd);
    if (list === undefined) m.set(fd, [item]);
    else list.push(item);
  }
  return m;
}

/**
 * Waits until some of `rlist` can be read, some of `wlist` written, or
 * `timeout` seconds pass (null: no limit; 0: just look), and returns the
 * ready ones: `[readable, writable, exceptional]`. A timeout gives three empty
 * lists. Closed green sockets count as ready (their next call fails at once).
 * `xlist` (urgent data) is checked for its items but never reported: libuv
 * does not poll for it. An evy operation: Timeout and kill interrupt it and
 * leave no listener behind.
 */
export async function select<R extends Selectable, W extends Selectable, X extends Selectable>(
  rlist: R[],
  wlist: W[],
  xlist: X[] = [],
  timeout: number | null = null,
): Promise<[R[], W[], X[]]> {
  check(rlist, 'rlist');
  check(wlist, 'wlist');
  check(xlist, 'xlist');
  if (timeout !== null && (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0)) {
    throw new RangeError(`select: timeout must be null or a non-negative number of seconds, got ${String(timeout)}`);
  }
  const readyR = new Set<R>();
  const readyW = new Set<W>();
  // Green sockets know their state now; fds only the poller can tell.
  const sockR = rlist.filter((i): i is R & GreenSocket => i instanceof GreenSocket);
  const sockW = wlist.filter((i): i is W & GreenSocket => i instanceof GreenSocket);
  const scan = (): void => {
    for (const s of sockR) if (s.readyToRead()) readyR.add(s);
    for (const s of sockW) if (s.readyToWrite()) readyW.add(s);
  };
  const fdR = rlist.filter((i) => !(i instanceof GreenSocket)).map((i) => [i, fdOf(i, 'rlist')] as const);
  const fdW = wlist.filter((i) => !(i instanceof GreenSocket)).map((i) => [i, fdOf(i, 'wlist')] as const);
  for (const x of xlist) if (!(x instanceof GreenSocket)) fdOf(x, 'xlist');

  const listeners: Listener[] = [];
  const unwatch: Array<() => void> = [];
  let timer: ReturnType<typeof hub.addTimer> | null = null;
  let resume: ReturnType<typeof setImmediate> | null = null;
  const cleanup = (): void => {
    for (const l of listeners) hub.remove(l);
    listeners.length = 0;
    for (const u of unwatch) u();
    unwatch.length = 0;
    if (timer !== null) timer.cancel();
    timer = null;
    if (resume !== null) clearImmediate(resume);
    resume = null;
  };
  const w = hub.park<void>(cleanup);
  if (!(w instanceof Waiter)) return w as Promise<never>;
  // Everything that becomes ready in one loop turn is reported together: the
  // thread resumes in the check phase, after the turn's poll callbacks.
  const soon = (): void => {
    if (resume === null && w.parked) resume = setImmediate(() => hub.wake(w, undefined));
  };
  // A look at fds needs a poll phase between registering their listeners and
  // resuming. One setImmediate is not enough: a thread that an I/O callback
  // resumed runs in the poll phase, and its immediate runs in the same turn's
  // check phase, before the new listeners were ever polled (a writable pipe
  // end came back not ready). Two hops always span a poll phase.
  const hasFds = fdR.length > 0 || fdW.length > 0;
  const look = (): void => {
    if (!hasFds) return soon();
    if (resume === null && w.parked) {
      resume = setImmediate(() => {
        resume = w.parked ? setImmediate(() => hub.wake(w, undefined)) : null;
      });
    }
  };
  try {
    // One listener per fd and direction, however often the fd is listed.
    for (const [fd, items] of byFd(fdR)) {
      listeners.push(hub.addReader(fd, () => {
        for (const i of items) readyR.add(i);
        soon();
      }));
    }
    for (const [fd, items] of byFd(fdW)) {
      listeners.push(hub.addWriter(fd, () => {
        for (const i of items) readyW.add(i);
        soon();
      }));
    }
    for (const s of new Set<GreenSocket>([...sockR, ...sockW])) {
      unwatch.push(
        watchSocket(s, () => {
          scan();
          if (readyR.size > 0 || readyW.size > 0) soon();
        }),
      );
    }
  } catch (err) {
    hub.throwInto(w as Waiter<unknown>, err); // runs cleanup
    return w.promise as unknown as Promise<never>;
  }
  scan();
  if (readyR.size > 0 || readyW.size > 0 || timeout === 0) look(); // 0: one look through the poller
  else if (timeout !== null) timer = hub.addTimer(timeout, () => hub.wake(w, undefined), null, null);
  try {
    await w.promise;
  } finally {
    cleanup();
  }
  return [rlist.filter((i) => readyR.has(i)), wlist.filter((i) => readyW.has(i)), []];
}
