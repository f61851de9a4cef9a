// evy/patched/net: node:net, plus Evy's blocking-style green calls.
//
// Socket is node's net.Socket with recv, recvInto, send, sendall, makefile,
// settimeout/gettimeout and connected() (see ../io/streamsock for the rules:
// recv switches a socket to paused mode; the first green call makes its errors
// go to green calls). Server is net.Server with accept(). Everything stock
// (events, callbacks, errors) is untouched on sockets nobody calls a green
// method on.
//
// __evyPatch(net) (used by monkeyPatch) puts the green calls on the stock
// net.Socket and net.Server prototypes, so every socket gains them (http's,
// and TLSSocket, a net.Socket). The stock classes stay on the builtin: Node's
// own modules call them as functions (net.Socket.call(this)), which a class
// cannot be.
import * as net from 'node:net';
import {
  installServerMethods,
  isGreenInstance,
  installSocketMethods,
  serverGreen,
  type GreenServerMethods,
  type GreenSocketMethods,
} from '../io/streamsock';
import type { Address } from '../io/socket';

export * from 'node:net';
export type { GreenServerMethods, GreenSocketMethods } from '../io/streamsock';
export type { Address } from '../io/socket';

// The stock classes and functions, taken before any patch replaces them.
const StockSocket = net.Socket;
const StockServer = net.Server;

/** Once __evyPatch ran: every stock socket and server has the green calls. */
let patched = false;

export interface Socket extends GreenSocketMethods {}

/** node:net's Socket with Evy's green calls. */
export class Socket extends StockSocket {
  /**
   * After __evyPatch, every stock net.Socket is an evy Socket (it has the green
   * calls), so `x instanceof Socket` holds for sockets node made itself.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isGreenInstance(value, this, Socket, StockSocket, patched);
  }
}
installSocketMethods(Socket.prototype);

export interface Server extends GreenServerMethods {
  accept(): Promise<[Socket, Address]>;
}

/**
 * node:net's Server with accept(). Its connections are evy Sockets; made
 * without a connection listener, it queues them for accept() from the start.
 */
export class Server extends StockServer {
  /** Green servers and, after __evyPatch, stock ones too. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isGreenInstance(value, this, Server, StockServer, patched);
  }

  constructor(connectionListener?: (socket: Socket) => void);
  constructor(options?: net.ServerOpts, connectionListener?: (socket: Socket) => void);
  constructor(
    options?: net.ServerOpts | ((socket: Socket) => void),
    connectionListener?: (socket: Socket) => void,
  ) {
    if (typeof options === 'function') super(options as (socket: net.Socket) => void);
    else super(options, connectionListener as ((socket: net.Socket) => void) | undefined);
    if (this.listenerCount('connection') === 0) serverGreen(this);
  }

  /** Accepted sockets become evy Sockets before any listener sees them. */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'connection') {
      const sock = args[0];
      if (sock !== null && typeof sock === 'object' && Object.getPrototypeOf(sock) === StockSocket.prototype) {
        Object.setPrototypeOf(sock, Socket.prototype);
      }
    }
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

/** Like net.Socket, for `new Stream(...)` users. */
export const Stream = Socket;

type ConnectArgs =
  | [options: net.NetConnectOpts, connectionListener?: () => void]
  | [port: number, host?: string, connectionListener?: () => void]
  | [path: string, connectionListener?: () => void];

/** net.connect, returning an evy Socket. `await sock.connected()` waits for the connection, green. */
export function connect(options: net.NetConnectOpts, connectionListener?: () => void): Socket;
export function connect(port: number, host?: string, connectionListener?: () => void): Socket;
export function connect(path: string, connectionListener?: () => void): Socket;
export function connect(...args: ConnectArgs): Socket {
  // What node's net.connect does, with the evy class.
  const first = args[0];
  const options = typeof first === 'object' && first !== null ? first : undefined;
  const sock = new Socket(options);
  if (options?.timeout) sock.setTimeout(options.timeout);
  return (sock.connect as (...a: ConnectArgs) => Socket)(...args);
}

/** The same as connect. */
export const createConnection = connect;

/** net.createServer, returning an evy Server. */
export function createServer(connectionListener?: (socket: Socket) => void): Server;
export function createServer(options?: net.ServerOpts, connectionListener?: (socket: Socket) => void): Server;
export function createServer(
  options?: net.ServerOpts | ((socket: Socket) => void),
  connectionListener?: (socket: Socket) => void,
): Server {
  return typeof options === 'function' ? new Server(options) : new Server(options, connectionListener);
}

/**
 * For monkeyPatch: installs the green calls on the stock net.Socket and
 * net.Server prototypes, so sockets made anywhere gain them (http's,
 * TLSSocket). The builtin keeps its classes and functions (see above).
 */
export function __evyPatch(_builtin: typeof import('node:net')): void {
  installSocketMethods(StockSocket.prototype);
  installServerMethods(StockServer.prototype);
  patched = true;
}
