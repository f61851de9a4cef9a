// Green blocking-style calls over Node streams: recv, recvInto, send, sendall
// and makefile on any byte Readable/Duplex (net.Socket, TLSSocket, an HTTP
// response), and accept on a net.Server. Each wait parks the current green
// thread on a hub Waiter, so Timeout and kill interrupt it; an interrupted
// wait leaves no listener behind.
//
// The rules, per stream (state kept in a WeakMap: nothing is added to the
// stream object itself):
// - Reading (recv/recvInto) switches the stream to paused ("readable") mode
//   for good: one 'readable' listener is added on the first read, and
//   readable.read() takes the bytes. Node's read() also emits them as 'data',
//   so 'data' listeners still see every byte once, in order. A stream nobody
//   reads with recv keeps its stock behaviour.
// - The first green call adds one listener each for 'end', 'close', 'drain'
//   and 'error'. From then on the stream's errors are kept for green calls
//   (the next recv/sendall throws it), so an 'error' nobody else listens to no
//   longer crashes the process: the socket belongs to green code now.
// - A Timeout or kill in recv/send/sendall leaves the stream usable; written
//   data stays queued and still goes out.
import type { Readable, Writable } from 'node:stream';
import type { Server as NetServer, Socket as NetSocket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import { getHub, Waiter } from '../hub/hub';
import { GreenFile, type GreenFileOptions } from './file';
import { armSocketTimeout, checkSeconds, closedError, systemError, toBuffer, type Address } from './socket';

const hub = getHub();
const EMPTY = Buffer.alloc(0);

/** The green side of one stream. */
export class StreamGreen {
  readonly stream: Readable;
  /** Seconds each wait may take before SocketTimeout (null: forever, 0: never wait: EAGAIN). */
  timeoutSecs: number | null = null;
  /** Called when a wait on this stream is interrupted (kill, Timeout, SocketTimeout). */
  onInterrupt: (() => void) | null = null;
  private attached = false;
  private readingMode = false;
  private reader: Waiter<unknown> | null = null;
  /** recvInto's target, or null for recv */
  private readInto: Buffer | null = null;
  private readWant = 0;
  /** sendall waits (woken by their write callback) and send waits (woken by 'drain') */
  private writers: Waiter<unknown>[] = [];
  private drainers: Waiter<unknown>[] = [];
  private error: Error | null = null;
  private eof = false;
  private isClosed = false;

  constructor(stream: Readable) {
    if (stream.readableObjectMode) throw new TypeError('green stream calls need a byte stream, not an object-mode one');
    this.stream = stream;
  }

  // ---- listeners (added once, on the first green call) -------------------------

  /** Adds the stream's green listeners now (the first green call does it otherwise). */
  attach(): void {
    if (this.attached) return;
    this.attached = true;
    const s = this.stream;
    s.on('end', () => {
      this.eof = true;
      this.wakeReader();
    });
    s.on('error', (err: Error) => {
      this.error ??= err;
      this.failAll(err);
    });
    s.on('close', () => {
      this.wakeReader();
      if (this.writers.length > 0 || this.drainers.length > 0) this.failAll(this.error ?? closedError('write'));
    });
    s.on('drain', () => {
      const ds = this.drainers;
      this.drainers = [];
      for (const w of ds) hub.wake(w, w.data);
    });
  }

  private startReading(): void {
    if (this.readingMode) return;
    this.readingMode = true;
    this.stream.on('readable', () => this.wakeReader());
  }

  /** Hands the waiting reader what there is now: bytes, EOF, the error or EBADF; nothing if none of these. */
  private wakeReader(): void {
    const r = this.reader;
    if (r === null) return;
    const into = this.readInto;
    const got = this.take(into !== null ? into.length : this.readWant);
    if (got !== null) {
      this.reader = null;
      this.readInto = null;
      hub.wake(r, into !== null ? got.copy(into) : got);
      return;
    }
    const err = this.error ?? this.stream.errored;
    if (err) {
      this.reader = null;
      this.readInto = null;
      hub.throwInto(r, err);
    } else if (this.eof || this.stream.readableEnded) {
      this.reader = null;
      this.readInto = null;
      hub.wake(r, into !== null ? 0 : EMPTY);
    } else if (this.stream.destroyed) {
      this.reader = null;
      this.readInto = null;
      hub.throwInto(r, closedError(into !== null ? 'recvInto' : 'recv'));
    } else {
      // 'readable' at EOF: read() lets Node emit 'end', which wakes the reader.
      this.stream.read(0);
    }
  }

  private failAll(err: unknown): void {
    const r = this.reader;
    this.reader = null;
    this.readInto = null;
    if (r !== null) hub.throwInto(r, err);
    const ws = this.writers.concat(this.drainers);
    this.writers = [];
    this.drainers = [];
    for (const w of ws) hub.throwInto(w, err);
  }

  /** Up to `n` buffered bytes, or null when none are buffered. */
  private take(n: number): Buffer | null {
    const s = this.stream;
    const len = s.readableLength;
    if (len === 0 || n === 0) return null;
    const chunk = s.read(Math.min(n, len)) as Buffer | string | null;
    if (chunk === null) return null;
    return typeof chunk === 'string' ? Buffer.from(chunk, s.readableEncoding ?? 'utf8') : chunk;
  }

  // ---- waiting -------------------------------------------------------------------

  private park<T>(what: string, undo: () => void): Waiter<T> | Promise<never> {
    const w = hub.park<T>(() => {
      undo();
      const hook = this.onInterrupt;
      if (hook !== null) hook();
    }, what);
    if (!(w instanceof Waiter)) return w;
    armSocketTimeout(w as Waiter<unknown>, what, this.timeoutSecs);
    return w;
  }

  /** Why a read cannot wait: the error, EOF (`eofValue`), EBADF; null if it can. */
  private readEnd<T>(syscall: string, eofValue: T): Promise<T> | null {
    if (this.isClosed) return Promise.reject(closedError(syscall));
    const err = this.error ?? this.stream.errored;
    if (err) return Promise.reject(err);
    if (this.eof || this.stream.readableEnded) return Promise.resolve(eofValue);
    if (this.stream.destroyed) return Promise.reject(closedError(syscall));
    if (this.timeoutSecs === 0) return Promise.reject(systemError(-11, syscall)); // EAGAIN
    return null;
  }

  private startRead(syscall: string): Promise<never> | null {
    if (this.isClosed) return Promise.reject(closedError(syscall));
    if (this.reader !== null) return Promise.reject(new Error(`${syscall}: another green thread is already reading from this socket`));
    this.attach();
    this.startReading();
    return hub.check();
  }

  private parkReader<T>(syscall: string, into: Buffer | null, want: number): Promise<T> {
    const w = this.park<T>(syscall, () => {
      if (this.reader === (w as Waiter<unknown>)) {
        this.reader = null;
        this.readInto = null;
      }
    });
    if (!(w instanceof Waiter)) return w;
    this.reader = w as Waiter<unknown>;
    this.readInto = into;
    this.readWant = want;
    // Sets Node's needReadable (the next bytes emit 'readable'), starts a read,
    // and at EOF lets 'end' be emitted.
    this.stream.read(0);
    return w.promise;
  }

  // ---- the calls -------------------------------------------------------------------

  /** Up to `bufsize` bytes as soon as some are there; an empty Buffer at EOF. */
  recv(bufsize = 65536): Promise<Buffer> {
    if (!Number.isInteger(bufsize) || bufsize < 0) {
      return Promise.reject(new RangeError(`recv: bufsize must be a non-negative integer, got ${String(bufsize)}`));
    }
    const early = this.startRead('recv');
    if (early !== null) return early;
    if (bufsize === 0) return Promise.resolve(EMPTY);
    const got = this.take(bufsize);
    if (got !== null) return Promise.resolve(got);
    return this.readEnd('recv', EMPTY) ?? this.parkReader<Buffer>('recv', null, bufsize);
  }

  /** Reads into `buf` (at most `nbytes` when given); resolves the count, 0 at EOF. */
  recvInto(buf: Buffer | Uint8Array, nbytes = 0): Promise<number> {
    if (!(buf instanceof Uint8Array)) return Promise.reject(new TypeError('recvInto: buf must be a Buffer or Uint8Array'));
    if (!Number.isInteger(nbytes) || nbytes < 0) {
      return Promise.reject(new RangeError(`recvInto: nbytes must be a non-negative integer, got ${String(nbytes)}`));
    }
    const target = toBuffer(buf, 'recvInto').subarray(0, nbytes > 0 ? nbytes : undefined);
    const early = this.startRead('recvInto');
    if (early !== null) return early;
    if (target.length === 0) return Promise.resolve(0);
    const got = this.take(target.length);
    if (got !== null) return Promise.resolve(got.copy(target));
    return this.readEnd('recvInto', 0) ?? this.parkReader<number>('recvInto', target, target.length);
  }

  private startWrite(data: Buffer | Uint8Array | string, syscall: string): Buffer | Promise<never> {
    let buf: Buffer;
    try {
      buf = toBuffer(data, syscall);
    } catch (err) {
      return Promise.reject(err);
    }
    const w = this.stream as unknown as Writable;
    if (typeof w.write !== 'function') return Promise.reject(new TypeError(`${syscall}: this stream is not writable`));
    if (this.isClosed) return Promise.reject(closedError(syscall));
    const err = this.error ?? w.errored;
    if (err) return Promise.reject(err);
    if (w.destroyed) return Promise.reject(closedError(syscall));
    if (w.writableEnded) {
      const e = systemError(-32, syscall); // EPIPE
      e.message = `${syscall}: the socket's writing side was already ended (EPIPE)`;
      return Promise.reject(e);
    }
    const pending = hub.check();
    if (pending !== null) return pending;
    this.attach();
    return buf;
  }

  /**
   * Writes all of `data` and waits until it is handed to the kernel (the write
   * callback): a peer that does not read holds it here (back-pressure).
   */
  sendall(data: Buffer | Uint8Array | string): Promise<void> {
    const buf = this.startWrite(data, 'sendall');
    if (!Buffer.isBuffer(buf)) return buf;
    const w = this.park<void>('sendall', () => this.drop(this.writers, w as Waiter<unknown>));
    if (!(w instanceof Waiter)) return w;
    this.writers.push(w as Waiter<unknown>);
    (this.stream as unknown as Writable).write(buf, (err) => {
      this.drop(this.writers, w as Waiter<unknown>);
      if (err) hub.throwInto(w as Waiter<unknown>, err);
      else hub.wake(w, undefined);
    });
    return w.promise;
  }

  /**
   * Writes `data`; resolves its length at once while the stream's buffer is
   * below its high-water mark, else once it drains.
   */
  send(data: Buffer | Uint8Array | string): Promise<number> {
    const buf = this.startWrite(data, 'send');
    if (!Buffer.isBuffer(buf)) return buf;
    if ((this.stream as unknown as Writable).write(buf)) return Promise.resolve(buf.length);
    const w = this.park<number>('send', () => this.drop(this.drainers, w as Waiter<unknown>));
    if (!(w instanceof Waiter)) return w;
    w.data = buf.length;
    this.drainers.push(w as Waiter<unknown>);
    return w.promise;
  }

  private drop(list: Waiter<unknown>[], w: Waiter<unknown>): void {
    const i = list.indexOf(w);
    if (i >= 0) list.splice(i, 1);
  }

  /**
   * Marks the stream closed for green calls: waiting threads get EBADF and
   * later calls fail with it. (The caller destroys the stream.)
   */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.failAll(closedError('close'));
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get timeout(): number | null {
    return this.timeoutSecs;
  }

  set timeout(seconds: number | null) {
    this.timeoutSecs = checkSeconds(seconds);
  }

  /** Waits for `events` (the first wins), or rejects on 'error'/'close'. Listeners go when the wait ends. */
  waitFor(what: string, events: string[], onInterrupt: (() => void) | null): Promise<void> {
    const s = this.stream;
    const remove = (): void => {
      for (const e of events) s.off(e, done);
      s.off('error', failed);
      s.off('close', closed);
    };
    const w = this.park<void>(what, () => {
      remove();
      if (onInterrupt !== null) onInterrupt();
    });
    if (!(w instanceof Waiter)) return w;
    const done = (): void => {
      remove();
      hub.wake(w, undefined);
    };
    const failed = (err: Error): void => {
      remove();
      hub.throwInto(w as Waiter<unknown>, err);
    };
    const closed = (): void => {
      remove();
      hub.throwInto(w as Waiter<unknown>, s.errored ?? closedError(what));
    };
    for (const e of events) s.on(e, done);
    s.on('error', failed);
    s.on('close', closed);
    return w.promise;
  }
}

const streams = new WeakMap<Readable, StreamGreen>();

/** The green state of `stream`, made on first use. */
export function streamGreen(stream: Readable): StreamGreen {
  let g = streams.get(stream);
  if (g === undefined) {
    g = new StreamGreen(stream);
    streams.set(stream, g);
  }
  return g;
}

// ---- the methods sockets gain ---------------------------------------------------------

/** The green calls of an evy net.Socket (and, once monkey-patched, of every net.Socket). */
export interface GreenSocketMethods {
  /** Up to `bufsize` (default 65536) bytes once some are there; an empty Buffer at EOF. Switches the socket to paused mode. */
  recv(bufsize?: number): Promise<Buffer>;
  /** Reads into `buf` (at most `nbytes`); resolves the count, 0 at EOF. */
  recvInto(buf: Buffer | Uint8Array, nbytes?: number): Promise<number>;
  /** Writes `data`; resolves its length once the socket's buffer is below its high-water mark. */
  send(data: Buffer | Uint8Array | string): Promise<number>;
  /** Writes `data` and waits until it is handed to the kernel (back-pressure). */
  sendall(data: Buffer | Uint8Array | string): Promise<void>;
  /** A buffered GreenFile over the socket ('r'/'w'/'rw', 'b' for Buffers). Closing it leaves the socket open. */
  makefile(mode: 'r' | 'w' | 'rw', opts?: GreenFileOptions): GreenFile<string>;
  /** ... and 'rb'/'wb'/'rwb' (the default) for Buffers. */
  makefile(mode?: 'rb' | 'wb' | 'rwb', opts?: GreenFileOptions): GreenFile<Buffer>;
  /**
   * Seconds each green wait on this socket may take before a SocketTimeout
   * (null: no limit; 0: never wait, EAGAIN). Evy's `sock.timeout`: Node's own
   * `socket.timeout` property (milliseconds, setTimeout's idle timer) is left alone.
   */
  settimeout(seconds: number | null): void;
  /** What settimeout() set (null: no limit). */
  gettimeout(): number | null;
  /**
   * Waits until the socket is connected (for a TLS client: the handshake is
   * done); rejects with the connect error (ECONNREFUSED...). A Timeout, kill or
   * socket timeout destroys a socket still connecting, as Evy closes a socket
   * whose connect was interrupted.
   */
  connected(): Promise<void>;
}

/** What connected() reads of a TLSSocket (node's own fields). */
interface TlsLike {
  encrypted?: boolean;
  _secureEstablished?: boolean;
  _tlsOptions?: { isServer?: boolean };
}

function makefile(this: NetSocket, mode = 'rb', opts: GreenFileOptions = {}): GreenFile<string> | GreenFile<Buffer> {
  const g = streamGreen(this);
  if (g.closed || this.destroyed) throw closedError('makefile');
  return mode.includes('b') ? new GreenFile<Buffer>(g, mode, opts) : new GreenFile<string>(g, mode, opts);
}

const socketMethods = {
  recv(this: NetSocket, bufsize?: number): Promise<Buffer> {
    return streamGreen(this).recv(bufsize);
  },
  recvInto(this: NetSocket, buf: Buffer | Uint8Array, nbytes?: number): Promise<number> {
    return streamGreen(this).recvInto(buf, nbytes);
  },
  send(this: NetSocket, data: Buffer | Uint8Array | string): Promise<number> {
    return streamGreen(this).send(data);
  },
  sendall(this: NetSocket, data: Buffer | Uint8Array | string): Promise<void> {
    return streamGreen(this).sendall(data);
  },
  makefile,
  settimeout(this: NetSocket, seconds: number | null): void {
    streamGreen(this).timeout = seconds;
  },
  gettimeout(this: NetSocket): number | null {
    return streamGreen(this).timeout;
  },
  connected(this: NetSocket): Promise<void> {
    const tlsSock = this as NetSocket & TlsLike;
    const isTls = tlsSock.encrypted === true;
    const g = streamGreen(this);
    if (this.destroyed) return Promise.reject(this.errored ?? closedError('connect'));
    const tcpUp = !this.connecting && !this.pending;
    if (tcpUp && (!isTls || tlsSock._secureEstablished === true)) return hub.check() ?? Promise.resolve();
    if (!this.connecting && !isTls) return Promise.reject(new Error('connected: connect() was never called on this socket'));
    // A TLS client is done at 'secureConnect' ('secure' comes before its verification).
    const event = !isTls ? 'connect' : tlsSock._tlsOptions?.isServer === true ? 'secure' : 'secureConnect';
    return g.waitFor('connect', [event], () => this.destroy());
  },
};

function install(proto: object, methods: object): void {
  for (const [name, value] of Object.entries(methods)) {
    Object.defineProperty(proto, name, { value, writable: true, configurable: true, enumerable: false });
  }
}

/** Puts the green socket calls on `proto` (a net.Socket prototype). */
export function installSocketMethods(proto: object): void {
  install(proto, socketMethods);
}

// ---- servers ---------------------------------------------------------------------------

/** The accept() queue of one server. */
class ServerGreen {
  private readonly server: NetServer;
  private readonly event: string;
  private readonly queue: NetSocket[] = [];
  private readonly acceptors: Waiter<unknown>[] = [];
  private closed = false;
  private wasListening: boolean;
  private readonly onError = (err: Error): void => this.failAll(err);

  /** `fed`: the server's owner hands it its events (offer, onListening, markClosed), so it adds no listener. */
  constructor(server: NetServer, event: string, fed = false) {
    this.server = server;
    this.event = event;
    this.wasListening = server.listening;
    if (fed) return;
    server.on(event, (sock: NetSocket) => void this.offer(sock, this.server.listenerCount(this.event) > 1));
    server.on('listening', () => this.onListening());
    server.on('close', () => this.markClosed());
  }

  onListening(): void {
    this.wasListening = true;
    this.closed = false;
  }

  /**
   * A new connection: to the first thread waiting in accept(); else, unless a
   * listener `claimed` it, queued for accept(). The queue holds at most
   * ACCEPT_BACKLOG connections, as a listen backlog does: past that, the
   * ones already closed leave it, and if it is still full the new one is
   * closed. Returns whether accept() or the queue took it.
   */
  offer(sock: NetSocket, claimed: boolean): boolean {
    const w = this.acceptors.shift();
    if (w !== undefined) {
      this.syncErrorListener();
      hub.wake(w, [sock, peerOf(this.server, sock)]);
      return true;
    }
    if (claimed) return false;
    if (this.queue.length >= ACCEPT_BACKLOG) {
      const open = this.queue.filter((s) => !s.destroyed);
      this.queue.splice(0, this.queue.length, ...open);
    }
    if (this.queue.length >= ACCEPT_BACKLOG) {
      sock.destroy();
      return false;
    }
    this.queue.push(sock);
    return true;
  }

  /** The server stopped listening: acceptors get EBADF (what is queued can still be accepted). */
  markClosed(): void {
    this.closed = true;
    this.failAll(closedError('accept'));
  }

  private failAll(err: unknown): void {
    const as = this.acceptors.splice(0);
    this.syncErrorListener();
    for (const w of as) hub.throwInto(w, err);
  }

  /** One 'error' listener while threads wait in accept(): a server error goes to them. */
  private syncErrorListener(): void {
    const has = this.server.listeners('error').includes(this.onError);
    if (this.acceptors.length > 0 && !has) this.server.on('error', this.onError);
    else if (this.acceptors.length === 0 && has) this.server.off('error', this.onError);
  }

  accept(): Promise<[NetSocket, Address]> {
    const pending = hub.check();
    if (pending !== null) return pending;
    const sock = this.queue.shift();
    if (sock !== undefined) return Promise.resolve([sock, peerOf(this.server, sock)]);
    if (this.closed || (this.wasListening && !this.server.listening)) return Promise.reject(closedError('accept'));
    const w = hub.park<[NetSocket, Address]>(() => {
      const i = this.acceptors.indexOf(w as Waiter<unknown>);
      if (i >= 0) this.acceptors.splice(i, 1);
      this.syncErrorListener();
    }, 'accept');
    if (!(w instanceof Waiter)) return w;
    this.acceptors.push(w as Waiter<unknown>);
    this.syncErrorListener();
    return w.promise;
  }

  /** Connections waiting for accept(). */
  get queued(): number {
    return this.queue.length;
  }
}

function peerOf(server: NetServer, sock: NetSocket): Address {
  if (sock.remoteAddress !== undefined) return [sock.remoteAddress, sock.remotePort ?? 0];
  return typeof server.address() === 'string' ? '' : ['', 0];
}

const servers = new WeakMap<NetServer, ServerGreen>();

/** Unclaimed connections a server queues for accept() at most: Node's default listen backlog. */
export const ACCEPT_BACKLOG = 511;

/**
 * The accept queue of a server whose owner feeds it its `event` connections,
 * 'listening' and close (evy/patched/net's and tls's Servers): no listener
 * of its own, so the server's listener counts stay stock.
 */
export function fedServerGreen(server: NetServer, event: string): ServerGreen {
  const g = new ServerGreen(server, event, true);
  servers.set(server, g);
  return g;
}

/** Whether `server` is a tls.Server; none exists before node:tls loads, so this never loads it. */
function isTlsServer(server: NetServer): boolean {
  if (!(process as unknown as { moduleLoadList: string[] }).moduleLoadList.includes('NativeModule tls')) return false;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return server instanceof (require('node:tls') as { Server: typeof TlsServer }).Server;
}

/** The accept queue of `server`, made on first use (TLS servers queue 'secureConnection' sockets). */
export function serverGreen(server: NetServer): ServerGreen {
  let g = servers.get(server);
  if (g === undefined) {
    g = new ServerGreen(server, isTlsServer(server) ? 'secureConnection' : 'connection');
    servers.set(server, g);
  }
  return g;
}

/** The green calls of an evy net.Server (and, once monkey-patched, of every net.Server). */
export interface GreenServerMethods {
  /**
   * The next connection and its peer address ([host, port]; '' for a Unix
   * socket). Connections queue from the first accept() (from the start for an
   * evy Server made without a connection listener) as long as no other
   * 'connection' listener takes them. Rejects EBADF once the server is closed.
   */
  accept(): Promise<[NetSocket, Address]>;
}

const serverMethods = {
  accept(this: NetServer): Promise<[NetSocket, Address]> {
    return serverGreen(this).accept();
  },
};

/** Puts accept() on `proto` (a net.Server prototype). */
export function installServerMethods(proto: object): void {
  install(proto, serverMethods);
}
