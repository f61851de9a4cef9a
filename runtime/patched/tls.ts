// evy/patched/tls: node:tls, plus Evy's green calls.
//
// - wrapSocket(sock, opts): Evy's wrap_socket, the TLS handshake over a
//   connected evy GreenSocket (io/ssl's wrapSsl).
// - TLSSocket: node's TLSSocket with the green calls of evy/patched/net's
//   Socket (recv, recvInto, send, sendall, makefile, settimeout/gettimeout,
//   connected(): for a client, resolved once the handshake is done).
//   connect() returns one.
// - Server / createServer: tls.Server with accept(), which resolves the next
//   connection once its handshake is done ('secureConnection'), as a TLSSocket.
//
// __evyPatch(tls) (used by monkeyPatch) puts the green calls on the stock
// TLSSocket and tls.Server prototypes (already there when net was patched:
// both inherit from net's). The builtin keeps its classes: https and Node's
// own code call them as functions.
import * as tls from 'node:tls';
import {
  installServerMethods,
  isGreenInstance,
  installSocketMethods,
  serverGreen,
  type GreenServerMethods,
  type GreenSocketMethods,
} from '../io/streamsock';
import type { Address } from '../io/socket';

export * from 'node:tls';
export { wrapSsl as wrapSocket, GreenSSLSocket, type WrapSslOptions as WrapSocketOptions } from '../io/ssl';
export type { GreenServerMethods, GreenSocketMethods } from '../io/streamsock';

const StockTLSSocket = tls.TLSSocket;
const StockServer = tls.Server;
const stockConnect = tls.connect;

let patched = false;

export interface TLSSocket extends GreenSocketMethods {}

/** node:tls's TLSSocket with Evy's green calls. */
export class TLSSocket extends StockTLSSocket {
  /** Green TLS sockets and, after __evyPatch, stock ones too. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isGreenInstance(value, this, TLSSocket, StockTLSSocket, patched);
  }
}
installSocketMethods(TLSSocket.prototype);

function toGreen(sock: tls.TLSSocket): TLSSocket {
  if (Object.getPrototypeOf(sock) === StockTLSSocket.prototype) Object.setPrototypeOf(sock, TLSSocket.prototype);
  return sock as TLSSocket;
}

/** tls.connect, returning a TLSSocket with the green calls: `await sock.connected()` waits for the handshake. */
export function connect(options: tls.ConnectionOptions, secureConnectListener?: () => void): TLSSocket;
export function connect(port: number, host?: string, options?: tls.ConnectionOptions, secureConnectListener?: () => void): TLSSocket;
export function connect(port: number, options?: tls.ConnectionOptions, secureConnectListener?: () => void): TLSSocket;
export function connect(...args: unknown[]): TLSSocket {
  return toGreen((stockConnect as (...a: unknown[]) => tls.TLSSocket)(...args));
}

export interface Server extends GreenServerMethods {
  accept(): Promise<[TLSSocket, Address]>;
}

/**
 * node:tls's Server with accept(): the next connection whose handshake is
 * done. Its TLS sockets have the green calls; made without a
 * secureConnection listener, it queues them for accept() from the start.
 */
export class Server extends StockServer {
  /** Green servers and, after __evyPatch, stock ones too. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isGreenInstance(value, this, Server, StockServer, patched);
  }

  constructor(secureConnectionListener?: (socket: TLSSocket) => void);
  constructor(options: tls.TlsOptions, secureConnectionListener?: (socket: TLSSocket) => void);
  constructor(
    options?: tls.TlsOptions | ((socket: TLSSocket) => void),
    secureConnectionListener?: (socket: TLSSocket) => void,
  ) {
    if (typeof options === 'function') super(options as (socket: tls.TLSSocket) => void);
    else super(options ?? {}, secureConnectionListener as ((socket: tls.TLSSocket) => void) | undefined);
    if (this.listenerCount('secureConnection') === 0) serverGreen(this);
  }

  /** Secure connections become green TLSSockets before any listener sees them. */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'secureConnection' && args[0] instanceof StockTLSSocket) toGreen(args[0]);
    return super.emit(event, ...args);
  }

  /** Stops listening (node's close); threads waiting in accept() get EBADF at once. */
  override close(callback?: (err?: Error) => void): this {
    super.close(callback);
    serverGreen(this).markClosed();
    return this;
  }
}
installServerMethods(Server.prototype);

/** tls.createServer, returning an evy tls Server. */
export function createServer(secureConnectionListener?: (socket: TLSSocket) => void): Server;
export function createServer(options: tls.TlsOptions, secureConnectionListener?: (socket: TLSSocket) => void): Server;
export function createServer(
  options?: tls.TlsOptions | ((socket: TLSSocket) => void),
  secureConnectionListener?: (socket: TLSSocket) => void,
): Server {
  return typeof options === 'function' ? new Server(options) : new Server(options ?? {}, secureConnectionListener);
}

/**
 * For monkeyPatch: installs the green calls on the stock TLSSocket and
 * tls.Server prototypes. The builtin keeps its classes and functions.
 */
export function __evyPatch(_builtin: typeof import('node:tls')): void {
  installSocketMethods(StockTLSSocket.prototype);
  installServerMethods(StockServer.prototype);
  patched = true;
}
