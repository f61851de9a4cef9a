// listen / connect / serve: Evy's convenience layer over green sockets.
import { GreenPool } from '../green/greenpool';
import { getCurrent, type GreenThread } from '../green/greenthread';
import { reportError } from '../hub/hub';
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOL_SOCKET,
  GreenSocket,
  type Address,
  type AddressLike,
} from './socket';

/** Thrown by a serve() handler: serve() stops accepting and returns. */
export class StopServe extends Error {
  constructor(message = 'serve() stopped by a handler') {
    super(message);
    this.name = 'StopServe';
  }
}

export interface ListenOptions {
  /** AF_INET, AF_INET6 or AF_UNIX; default from the address */
  family?: number;
  /** pending connections the kernel queues before accept (default 511, as node:net; capped by net.core.somaxconn) */
  backlog?: number;
  /** default true (libuv sets SO_REUSEADDR on TCP binds anyway) */
  reuseAddr?: boolean;
  /**
   * SO_REUSEPORT. Default: on for an explicit port, off for port 0, as in
   * Evy. Asked for on port 0 it is set, with a ReuseRandomPortWarning; where
   * the kernel refuses the option, a ReusePortUnavailableWarning and no option.
   */
  reusePort?: boolean;
}

export interface ConnectOptions {
  family?: number;
  /** a local address to bind before connecting */
  bind?: Address;
}

function familyOf(addr: Address): number {
  if (typeof addr === 'string') return AF_UNIX;
  return addr[0].includes(':') ? AF_INET6 : AF_INET;
}

/** A listening green socket on `addr` (`['127.0.0.1', 0]` for any free port; a path for Unix). */
export function listen<A extends Address>(addr: A, opts: ListenOptions = {}): GreenSocket<AddressLike<A>> {
  const sock = new GreenSocket<AddressLike<A>>(opts.family ?? familyOf(addr));
  try {
    if (sock.family !== AF_UNIX) {
      if (opts.reuseAddr ?? true) sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
      let reusePort = opts.reusePort;
      if (typeof addr !== 'string' && addr[1] === 0) {
        if (reusePort) {
          process.emitWarning(
            'listen on a random port (0) with SO_REUSEPORT is dangerous: another process may bind the same port. Double check your intent.',
            'ReuseRandomPortWarning',
          );
        }
      } else reusePort ??= true;
      if (reusePort) setReusePort(sock);
    }
    sock.bind(addr);
    sock.listen(opts.backlog ?? 511);
  } catch (err) {
    sock.close();
    throw err;
  }
  return sock;
}

/** SO_REUSEPORT, or a warning where the kernel defines but refuses it (EINVAL, ENOPROTOOPT). */
function setReusePort(sock: GreenSocket): void {
  try {
    sock.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOPROTOOPT') throw err;
    process.emitWarning(`SO_REUSEPORT is defined but not supported here (${code}); listening without it`, 'ReusePortUnavailableWarning');
  }
}

/** A green socket connected to `addr`. */
export async function connect<A extends Address>(addr: A, opts: ConnectOptions = {}): Promise<GreenSocket<AddressLike<A>>> {
  const sock = new GreenSocket<AddressLike<A>>(opts.family ?? familyOf(addr));
  try {
    if (opts.bind !== undefined) sock.bind(opts.bind);
    await sock.connect(addr);
  } catch (err) {
    sock.close();
    throw err;
  }
  return sock;
}

export interface ServeOptions {
  /** most connections handled at once (a GreenPool of this size); default 1000 */
  concurrency?: number;
}

/**
 * Accepts connections on `sock` forever, running `handle(conn, addr)` in a green
 * thread each, at most `concurrency` at once. The connection is closed when the
 * handler returns. A handler that throws StopServe ends serve(); other errors
 * are printed and serving goes on. Closing `sock` ends serve() too, cleanly
 * (as wsgi's server()): it returns.
 */
export async function serve(
  sock: GreenSocket,
  handle: (conn: GreenSocket, addr: Address) => unknown,
  opts: ServeOptions = {},
): Promise<void> {
  if (!(sock instanceof GreenSocket)) throw new TypeError('serve needs a listening GreenSocket');
  if (typeof handle !== 'function') throw new TypeError('serve needs a handler function');
  const pool = new GreenPool(opts.concurrency ?? 1000);
  const server = getCurrent();
  const stop = (gt: GreenThread<unknown>, conn: GreenSocket): void => {
    conn.closeNow(); // files the handler made and dropped go with it
    const failed = gt.thrown();
    if (failed === null) return;
    if (failed.error instanceof StopServe) server.kill(failed.error);
    else reportError('a serve() handler', failed.error);
  };
  try {
    for (;;) {
      const [conn, addr] = await sock.accept();
      const gt = await pool.spawn(handle, conn, addr);
      gt.link(stop, conn);
    }
  } catch (err) {
    if (err instanceof StopServe || sock.closed) return;
    throw err;
  }
}
