// evy/patched/net: node:net, plus Evy's blocking-style green calls.
//
// A drop-in superset of node:net (see ./dropin): every stock name, read and
// written through to the builtin. Its Socket (and Stream) is node's
// net.Socket itself, and its connect and createConnection are node's:
// importing this module gives every net.Socket of the process the green
// calls, recv, recvInto, send, sendall, makefile, settimeout/gettimeout and
// connected() (see ../io/streamsock for the rules: recv switches a socket to
// paused mode; the first green call makes its errors go to green calls), and
// every net.Server accept(). So the sockets Node makes (http's, those
// received over IPC, TLSSocket) are instances of this Socket, and a patch of
// Socket.prototype reaches them. A socket nobody calls a green method on is
// exactly stock.
//
// Server is the one name that differs: a function over node's net.Server
// (same prototype, callable without new like stock) whose servers queue the
// connections nobody claims for accept(), from the start, without adding a
// listener (./dropin's feedAccepts). createServer makes one.
//
// __evyPatch(net) (used by monkeyPatch) has nothing left to do: the builtin
// keeps its own classes and functions (Node's modules call net.Socket as a
// function) and they already have the green calls.
import * as net from 'node:net';
import { installServerMethods, installSocketMethods, type GreenServerMethods, type GreenSocketMethods } from '../io/streamsock';
import type { Address } from '../io/socket';
import { dropIn, greenServer } from './dropin';

export * from 'node:net';
export type { GreenServerMethods, GreenSocketMethods } from '../io/streamsock';
export type { Address } from '../io/socket';

installSocketMethods(net.Socket.prototype);
installServerMethods(net.Server.prototype);

/** node:net's Socket, with Evy's green calls. */
export interface Socket extends net.Socket, GreenSocketMethods {}

/** node:net's Socket constructor (callable without new, as stock), typed with the green calls. */
export interface SocketConstructor {
  new (options?: net.SocketConstructorOpts): Socket;
  (options?: net.SocketConstructorOpts): Socket;
  readonly prototype: Socket;
}

/** node:net's Socket itself: every socket of the process has the green calls. */
export const Socket: SocketConstructor = net.Socket as unknown as SocketConstructor;

/** node:net's Stream, the same as Socket. */
export const Stream: SocketConstructor = Socket;

/** node:net's Server, with accept(); its connections are Sockets with the green calls. */
export interface Server extends net.Server, GreenServerMethods {
  accept(): Promise<[Socket, Address]>;
}

/** Server's constructor: callable without new, as stock. */
export interface ServerConstructor {
  new (connectionListener?: (socket: Socket) => void): Server;
  new (options?: net.ServerOpts, connectionListener?: (socket: Socket) => void): Server;
  (connectionListener?: (socket: Socket) => void): Server;
  (options?: net.ServerOpts, connectionListener?: (socket: Socket) => void): Server;
  readonly prototype: Server;
}

/**
 * node:net's Server whose connections nobody claims (no 'connection'
 * listener took them) wait for accept(), at most a listen backlog (511) of
 * them; past that a new unclaimed one is closed. close() makes threads
 * waiting in accept() fail with EBADF at once.
 * @example
 * const server = net.Server().listen(8000);   // or new net.Server(), net.createServer()
 * const [conn, [host, port]] = await server.accept();
 */
export const Server: ServerConstructor = greenServer(net.Server, 'connection');

/** node:net's connect, typed with the green calls. `await sock.connected()` waits for the connection, green. */
export interface Connect {
  (options: net.NetConnectOpts, connectionListener?: () => void): Socket;
  (port: number, host?: string, connectionListener?: () => void): Socket;
  (path: string, connectionListener?: () => void): Socket;
}

/** node:net's connect itself (its socket has the green calls). */
export const connect: Connect = net.connect as Connect;

/** node:net's createConnection itself, the same as connect. */
export const createConnection: Connect = net.createConnection as Connect;

/** net.createServer, returning an evy Server. */
export function createServer(connectionListener?: (socket: Socket) => void): Server;
export function createServer(options?: net.ServerOpts, connectionListener?: (socket: Socket) => void): Server;
export function createServer(
  options?: net.ServerOpts | ((socket: Socket) => void),
  connectionListener?: (socket: Socket) => void,
): Server {
  return new Server(options as net.ServerOpts, connectionListener);
}

/** For monkeyPatch: the stock classes got the green calls when this module loaded; the builtin keeps its own names. */
export function __evyPatch(_builtin: typeof import('node:net')): void {}

module.exports = dropIn('net', module.exports as object);
