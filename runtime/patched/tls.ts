// evy/patched/tls: node:tls, plus Evy's green calls.
//
// A drop-in superset of node:tls (see ./dropin): every stock name, read and
// written through to the builtin (`tls.DEFAULT_MAX_VERSION = ...` reaches
// node:tls, as stock).
// - wrapSocket(sock, opts): Evy's wrap_socket, the TLS handshake over a
//   connected evy GreenSocket (io/ssl's wrapSsl).
// - TLSSocket is node's own, and connect is node's: importing this module
//   gives every TLSSocket of the process the green calls of evy/patched/net's
//   Socket (recv, recvInto, send, sendall, makefile, settimeout/gettimeout,
//   connected(): for a client, resolved once the handshake is done), so the
//   TLS sockets Node makes (a server's, those in pskCallback) are instances
//   of this TLSSocket too.
// - Server / createServer: over tls.Server (same prototype, callable without
//   new), with accept(), which resolves the next connection once its
//   handshake is done ('secureConnection'); the ones nobody claims queue for
//   accept() from the start, without a listener of evy's.
//
// __evyPatch(tls) (used by monkeyPatch) has nothing left to do: the builtin
// keeps its classes (https and Node's own code call them as functions).
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { installServerMethods, installSocketMethods, type GreenServerMethods, type GreenSocketMethods } from '../io/streamsock';
import type { Address } from '../io/socket';
import { dropIn, greenServer } from './dropin';

export * from 'node:tls';
export { wrapSsl as wrapSocket, GreenSSLSocket, type WrapSslOptions as WrapSocketOptions } from '../io/ssl';
export type { GreenServerMethods, GreenSocketMethods } from '../io/streamsock';

installSocketMethods(tls.TLSSocket.prototype);
installServerMethods(tls.Server.prototype);

/** node:tls's TLSSocket, with Evy's green calls. */
export interface TLSSocket extends tls.TLSSocket, GreenSocketMethods {}

/** node:tls's TLSSocket constructor, typed with the green calls. */
export interface TLSSocketConstructor {
  new (socket: Duplex, options?: tls.TLSSocketOptions): TLSSocket;
  readonly prototype: TLSSocket;
}

/** node:tls's TLSSocket itself: every TLS socket of the process has the green calls. */
export const TLSSocket: TLSSocketConstructor = tls.TLSSocket as unknown as TLSSocketConstructor;

/** node:tls's connect, typed with the green calls: `await sock.connected()` waits for the handshake. */
export interface Connect {
  (options: tls.ConnectionOptions, secureConnectListener?: () => void): TLSSocket;
  (port: number, host?: string, options?: tls.ConnectionOptions, secureConnectListener?: () => void): TLSSocket;
  (port: number, options?: tls.ConnectionOptions, secureConnectListener?: () => void): TLSSocket;
}

/** node:tls's connect itself (its socket has the green calls). */
export const connect: Connect = tls.connect as Connect;

/** node:tls's Server, with accept(): the next connection whose handshake is done. */
export interface Server extends tls.Server, GreenServerMethods {
  accept(): Promise<[TLSSocket, Address]>;
}

/** Server's constructor: callable without new, as stock. */
export interface ServerConstructor {
  new (secureConnectionListener?: (socket: TLSSocket) => void): Server;
  new (options: tls.TlsOptions, secureConnectionListener?: (socket: TLSSocket) => void): Server;
  (secureConnectionListener?: (socket: TLSSocket) => void): Server;
  (options: tls.TlsOptions, secureConnectionListener?: (socket: TLSSocket) => void): Server;
  readonly prototype: Server;
}

/**
 * node:tls's Server whose secure connections nobody claims (no
 * 'secureConnection' listener took them) wait for accept(), at most a listen
 * backlog of them; close() makes threads waiting in accept() fail with EBADF
 * at once.
 */
export const Server: ServerConstructor = greenServer(tls.Server, 'secureConnection');

/** tls.createServer, returning an evy tls Server. */
export function createServer(secureConnectionListener?: (socket: TLSSocket) => void): Server;
export function createServer(options: tls.TlsOptions, secureConnectionListener?: (socket: TLSSocket) => void): Server;
export function createServer(
  options?: tls.TlsOptions | ((socket: TLSSocket) => void),
  secureConnectionListener?: (socket: TLSSocket) => void,
): Server {
  return new Server(options as tls.TlsOptions, secureConnectionListener);
}

/** For monkeyPatch: the stock classes got the green calls when this module loaded; the builtin keeps its own names. */
export function __evyPatch(_builtin: typeof import('node:tls')): void {}

module.exports = dropIn('tls', module.exports as object);
