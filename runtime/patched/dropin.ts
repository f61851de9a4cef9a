// What makes an evy/patched/<name> module a drop-in superset of node:<name>:
// its module.exports is a view of the builtin module object with evy's names
// over it (dropIn below), rather than a copy of the builtin's exports.
//
// A copy (TypeScript's `export *`) gives getter-only properties, so
// `tls.DEFAULT_MAX_VERSION = 'TLSv1.2'` throws, and would not reach node:tls
// if it did. The view reads every stock name from the builtin, reports the
// builtin's own property descriptors (data or accessor, writable, enumerable,
// configurable, as stock), and sends every write, definition and deletion of
// a stock name to the builtin, where Node's own code sees it.
import type { Server as NetServer, Socket as NetSocket } from 'node:net';
import { fedServerGreen } from '../io/streamsock';

/**
 * The module object of a green module: the builtin node:<name> with the
 * module's own exports over it. Evy's names are the exports the builtin lacks
 * or holds another value for (evy's createServer over net's). A write to a
 * stock name goes to the builtin, and a green value that shadowed it steps
 * aside, so the written value is what both modules hold, as with stock. A
 * write to a name only evy has stays on evy's module.
 * @internal
 */
export function dropIn<T extends object>(name: string, own: T): T {
  // The builtin object itself (TypeScript's `import * as` gives a copy).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const builtin = require(`node:${name}`) as Record<PropertyKey, unknown>;
  const mine = own as Record<PropertyKey, unknown>;
  const green = new Set<string | symbol>();
  for (const key of Reflect.ownKeys(mine)) {
    const d = Reflect.getOwnPropertyDescriptor(builtin, key);
    // The builtin's fixed properties (tls.rootCertificates, os.constants) stay the builtin's.
    if (d === undefined || (d.configurable === true && mine[key] !== builtin[key])) green.add(key);
  }
  /** A stock name evy shadowed is the builtin's again once the builtin took a change (evy's own code keeps its value). */
  const stepAside = (key: string | symbol, done: boolean): boolean => {
    if (done) green.delete(key);
    return done;
  };
  const evyOnly = (key: string | symbol): boolean => green.has(key) && !Reflect.has(builtin, key);
  /** Stable getters for evy's values shown in the shape of a stock accessor (timers.promises). */
  const getters = new Map<string | symbol, () => unknown>();
  const getter = (key: string | symbol): (() => unknown) => {
    let g = getters.get(key);
    if (g === undefined) getters.set(key, (g = () => mine[key]));
    return g;
  };
  return new Proxy(builtin, {
    get: (target, key) => (green.has(key) ? mine[key] : Reflect.get(target, key)),
    has: (target, key) => green.has(key) || Reflect.has(target, key),
    ownKeys: (target) => [...Reflect.ownKeys(target), ...[...green].filter((k) => !Reflect.has(target, k))],
    getOwnPropertyDescriptor: (target, key) => {
      const stock = Reflect.getOwnPropertyDescriptor(target, key);
      if (!green.has(key)) return stock;
      // Evy's value over a stock name, in the stock descriptor's shape.
      if (stock !== undefined) {
        const { enumerable, configurable } = stock;
        if ('value' in stock) return { value: mine[key], writable: stock.writable, enumerable, configurable };
        return { get: getter(key), set: stock.set, enumerable, configurable };
      }
      // A name only evy has is configurable on the view whatever TypeScript
      // made it (its re-exports are fixed getters): the builtin lacks it.
      const d = Reflect.getOwnPropertyDescriptor(mine, key);
      return d === undefined ? undefined : { ...d, configurable: true };
    },
    set: (target, key, value) => {
      if (evyOnly(key)) return Reflect.set(mine, key, value);
      return stepAside(key, Reflect.set(target, key, value));
    },
    defineProperty: (target, key, desc) => {
      if (evyOnly(key) && desc.configurable !== false) return Reflect.defineProperty(mine, key, desc);
      return stepAside(key, Reflect.defineProperty(target, key, desc));
    },
    deleteProperty: (target, key) => {
      if (evyOnly(key)) return green.delete(key);
      return stepAside(key, Reflect.deleteProperty(target, key));
    },
  }) as unknown as T;
}

/** A non-enumerable own method: `server.emit`, `server.close`. */
function ownMethod(target: object, name: string, value: Function): void {
  Object.defineProperty(target, name, { value, writable: true, configurable: true, enumerable: false });
}

/**
 * Makes `server` (an evy net or tls Server, just constructed) queue the
 * connections nobody claims for accept(), with no listener of its own: its
 * listener counts stay stock. Two own, non-enumerable methods see the events
 * instead: `emit` hands each `event` connection to a thread waiting in
 * accept() or, when no listener took it (emit returned false), to the accept
 * queue (bounded, see ServerGreen.offer); `close` also makes the threads
 * waiting in accept() fail with EBADF at once, where Node's 'close' waits for
 * every connection to end. Both then run the prototype's method, so
 * subclasses and patches of the prototype still apply.
 */
export function feedAccepts(server: NetServer, event: string): void {
  const g = fedServerGreen(server, event);
  ownMethod(server, 'emit', function emit(this: NetServer, name: string | symbol, ...args: unknown[]): boolean {
    if (name === 'listening') g.onListening();
    const claimed = Reflect.apply(Object.getPrototypeOf(server).emit as Function, this, [name, ...args]) as boolean;
    if (name === event) return g.offer(args[0] as NetSocket, claimed) || claimed;
    if (name === 'close') g.markClosed();
    return claimed;
  });
  ownMethod(server, 'close', function close(this: NetServer, ...args: unknown[]): NetServer {
    const r = Reflect.apply(Object.getPrototypeOf(server).close as Function, this, args) as NetServer;
    g.markClosed();
    return r;
  });
}

/**
 * A Server constructor over `Stock` (node's net or tls Server): the same
 * prototype (so instanceof, subclasses and prototype patches work both ways)
 * and callable without new like Node's; each server it makes feeds its
 * `event` connections to accept() (feedAccepts).
 */
export function greenServer<C>(Stock: Function, event: string): C {
  // Node's rule: called on anything but one of its instances (without new,
  // or as a method), it makes one; `Server.call(this)` in an old-style
  // subclass sets up `this`.
  const Server = function Server(this: unknown, ...args: unknown[]): NetServer {
    if (!(this instanceof Server)) return Reflect.construct(Server, args) as NetServer;
    Reflect.apply(Stock, this, args);
    feedAccepts(this as NetServer, event);
    return this as NetServer;
  };
  Object.defineProperty(Server, 'length', { value: Stock.length });
  Server.prototype = Stock.prototype;
  Object.setPrototypeOf(Server, Stock);
  return Server as unknown as C;
}
