// GreenSocket: Evy's green socket on the native hub's TCP, UDP and Unix-domain
// handles. Every wait is an evy operation: Timeout and kill interrupt accept,
// connect, recv, recvfrom, sendall and sendto, and the socket's own `timeout`
// raises SocketTimeout.
import { getSystemErrorName } from 'node:util';
import { binding } from '../hub/binding';
import { getHub, reportError, Waiter } from '../hub/hub';
import { wait } from '../green/greenthread';
import { GreenFile, type GreenFileOptions, type RawStream } from './file';

const hub = getHub();

/** Address family: IPv4. */
export const AF_INET = binding.AF_INET;
/** Address family: IPv6. */
export const AF_INET6 = binding.AF_INET6;
/** Address family: Unix-domain sockets (a path). */
export const AF_UNIX = binding.AF_UNIX;
/** Socket type: a byte stream (TCP, or a Unix stream socket). */
export const SOCK_STREAM = binding.SOCK_STREAM;
/** Socket type: datagrams (UDP). */
export const SOCK_DGRAM = binding.SOCK_DGRAM;
/** setsockopt/getsockopt level of the socket options (SO_*). */
export const SOL_SOCKET = binding.SOL_SOCKET;
/** Socket option: bind to an address still in TIME_WAIT. */
export const SO_REUSEADDR = binding.SO_REUSEADDR;
/** Socket option: several sockets bind the same port, the kernel spreads connections. */
export const SO_REUSEPORT = binding.SO_REUSEPORT;
/** Socket option: TCP keep-alive probes. */
export const SO_KEEPALIVE = binding.SO_KEEPALIVE;
/** Socket option: the kernel's receive buffer size, in bytes. */
export const SO_RCVBUF = binding.SO_RCVBUF;
/** Socket option: the kernel's send buffer size, in bytes. */
export const SO_SNDBUF = binding.SO_SNDBUF;
/** Socket option (read only): the pending socket error, cleared by reading it. */
export const SO_ERROR = binding.SO_ERROR;
/** Socket option (read only): SOCK_STREAM or SOCK_DGRAM. */
export const SO_TYPE = binding.SO_TYPE;
/** setsockopt/getsockopt level of the TCP options (TCP_NODELAY). */
export const IPPROTO_TCP = binding.IPPROTO_TCP;
/** TCP option: send small writes at once (no Nagle delay). */
export const TCP_NODELAY = binding.TCP_NODELAY;
/** shutdown(): no more receiving. */
export const SHUT_RD = 0;
/** shutdown(): no more sending (the peer reads EOF). */
export const SHUT_WR = 1;
/** shutdown(): neither. */
export const SHUT_RDWR = 2;

/** `[host, port]` for TCP (`['::1', 80]` for IPv6), a path for Unix sockets. */
export type Address = [string, number] | string;

/**
 * The addresses of a socket made for `A`: `[host, port]` for an AF_INET or
 * AF_INET6 one, a path for AF_UNIX. listen() and connect() type their socket
 * by the address they are given, so that `getsockname()` needs no cast.
 */
export type AddressLike<A extends Address> = A extends string ? string : [string, number];

/** An expired socket timeout (Evy's `socket.timeout`). */
export class SocketTimeout extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(what: string, seconds: number) {
    super(`${what} timed out after ${seconds} seconds`);
    this.name = 'SocketTimeout';
  }
}

/** @internal A socket timeout's seconds: null or a non-negative number, else a RangeError. */
export function checkSeconds(seconds: unknown): number | null {
  if (seconds !== null && (typeof seconds !== 'number' || Number.isNaN(seconds) || seconds < 0)) {
    throw new RangeError(`timeout must be null or a non-negative number of seconds, got ${String(seconds)}`);
  }
  return seconds as number | null;
}

/** How an expired socket timeout ends the wait: thrown into the thread, or settled as a Failure. */
type TimeoutEnd = (w: Waiter<unknown>, err: SocketTimeout) => void;

const throwTimeout: TimeoutEnd = (w, err) => {
  hub.throwInto(w, err);
};

/**
 * @internal Gives a parked waiter its deadline: SocketTimeout(what) after
 * `seconds` (null: none), delivered by `end` (thrown into the thread unless
 * told otherwise).
 */
export function armSocketTimeout(w: Waiter<unknown>, what: string, seconds: number | null, end: TimeoutEnd = throwTimeout): void {
  if (seconds === null) return;
  w.timer = hub.addTimer(seconds, () => {
    w.timer = null;
    end(w, madeInCallback(new SocketTimeout(what, seconds)));
  }, null, null);
}

/** A Node-style system error: code, errno, syscall, and address/port when given. */
export function systemError(errno: number, syscall: string, address?: Address): NodeJS.ErrnoException {
  const code = getSystemErrorName(errno);
  const where = address === undefined ? '' : typeof address === 'string' ? ` ${address}` : ` ${address[0]}:${address[1]}`;
  const err = new Error(`${syscall} ${code}${where}`) as NodeJS.ErrnoException & { address?: string; port?: number };
  err.code = code; // node:net's order: code, errno, syscall, address, port
  err.errno = errno;
  err.syscall = syscall;
  if (address !== undefined) {
    if (typeof address === 'string') err.address = address;
    else {
      err.address = address[0];
      err.port = address[1];
    }
  }
  return err;
}

/**
 * Errors made in a hub callback (a refused connect, a reset, a socket timeout,
 * a close under a parked call), whose stack holds evy's frames only, until
 * the call that waited for them takes them (atCaller).
 */
const callbackErrors = new WeakSet<object>();

/** @internal Marks `err`, made in a hub callback, for the stack of the call that gets it. */
export function madeInCallback<E extends Error>(err: E): E {
  callbackErrors.add(err);
  return err;
}

/**
 * An error made in a hub callback gets the stack of where it lands: in a
 * Failure's reaction or accept()'s and connect()'s own frames, the green
 * thread's awaiting functions (V8 follows the promise chain to them); at a
 * call that finds an error already there, that call's stack. `above`: frames
 * to leave out, from the top. Only failures pay for it.
 */
function atCaller(err: unknown, above?: Function): unknown {
  if (typeof err === 'object' && err !== null && callbackErrors.delete(err)) Error.captureStackTrace(err, above);
  return err;
}

function rethrowAtCaller(err: unknown): never {
  throw atCaller(err, rethrowAtCaller);
}

/**
 * A socket's failure (a reset, a close under the call, its timeout) as the
 * value a parked call is woken with: the call's own promise, which the green
 * thread awaits directly, adopts it and rejects, and on the way the error gets
 * the stack of the awaiting functions (atCaller, in a reaction V8 can follow
 * to them). A call that succeeds thus costs one promise, the waiter's, and
 * one resumption: no wrapper promise to fix a stack that failures alone need.
 */
class Failure {
  constructor(private readonly err: unknown) {}

  then(resolve: (v: never) => void, reject: (e: unknown) => void): void {
    Promise.reject(this.err).then(undefined, rethrowAtCaller).then(resolve, reject);
  }

  /** As debug.spew shows a resumption with it: the throw it is. */
  [Symbol.for('nodejs.util.inspect.custom')](_depth: number, opts: object, inspect: (v: unknown, o: object) => string): string {
    return `throw ${inspect(this.err, opts)}`;
  }
}

/**
 * accept() and connect() await their waiter in a function of their own, which
 * gives a failure the caller's stack there: they are thrown into as usual.
 */
function wrapsWait(syscall: string): boolean {
  return syscall === 'accept' || syscall === 'connect';
}

/** Ends a parked socket call with `err` (see Failure); false when it was no longer parked. */
function fail(w: Waiter<unknown>, err: unknown): boolean {
  return hub.wake(w, new Failure(err));
}

/** A timeout for a call whose promise is the waiter's own: off the socket, then the SocketTimeout goes in as a Failure. */
const failTimeout: TimeoutEnd = (w, err) => {
  if (!w.parked) return;
  (w.list as GreenSocket).unlink(w);
  fail(w, err);
};

/** @internal EBADF for a call on a closed socket. */
export function closedError(syscall: string): NodeJS.ErrnoException {
  const err = new Error(`${syscall} on a closed socket`) as NodeJS.ErrnoException;
  err.code = 'EBADF';
  err.errno = -9;
  err.syscall = syscall;
  return err;
}

/**
 * @internal EBADF for a thread parked in `syscall` on a socket that another
 * thread closed (Evy raises EBADF for it too), naming the parked call.
 */
export function closedUnderError(syscall: string): NodeJS.ErrnoException {
  const err = new Error(`${syscall}: the socket was closed while this green thread waited on it`) as NodeJS.ErrnoException;
  err.code = 'EBADF';
  err.errno = -9;
  err.syscall = syscall;
  return err;
}

const { K_READ, K_CONNECTION, K_CONNECT, K_WRITE, K_DGRAM, UV_EOF } = binding;
/** A TLS stream's read failed (src/stream.c): tlsError() has the error. */
const UV_EPROTO = -71;
const EMPTY = Buffer.alloc(0);
const RESOLVED: Promise<void> = Promise.resolve();
/** Bytes buffered from the network, unread, before reading pauses (back-pressure). */
const HIGH_WATER = 256 * 1024;
/** Datagrams queued unread before receiving pauses (the kernel's buffer takes over, then drops). */
const DGRAM_QUEUE = 1024;

/**
 * Sockets with a parked thread or an operation in flight, kept from GC until
 * done (the native side holds its owner weakly). An array with each socket's
 * slot in `pin`: pinning and unpinning on every recv cost no hashing.
 */
const pinned: GreenSocket[] = [];

/** select(): callbacks waiting for a socket to become ready. Empty but for select's waits. */
const watchers = new Map<GreenSocket, Set<() => void>>();

function notifyWatchers(sock: GreenSocket): void {
  const set = watchers.get(sock);
  if (set !== undefined) for (const cb of [...set]) cb();
}

/**
 * @internal Calls `cb` whenever something may have made `sock` ready (data,
 * EOF, an error, a connection, written data, close); returns the unwatch. A
 * watched socket reads, so readiness comes from the kernel, as with an fd.
 */
export function watchSocket(sock: GreenSocket, cb: () => void): () => void {
  let set = watchers.get(sock);
  if (set === undefined) watchers.set(sock, (set = new Set()));
  set.add(cb);
  sock.watched();
  return () => {
    set.delete(cb);
    if (set.size === 0) watchers.delete(sock);
  };
}

/** What a parked reader wants back. */
const enum ReadMode {
  Bytes, // recv: a Buffer
  Into, // recvInto: a count
  From, // recvfrom: [Buffer, address]
  FromInto, // recvfromInto: [count, address]
}

const enum Flag {
  Eof = 1,
  Reading = 2,
  /** listening: libuv holds back a connection until accept() takes it */
  ConnectionReady = 4,
  /** close() was called while makefile() files are open: the socket API is closed, the files go on */
  Detached = 8,
  /** closed by closeListener() with a connection taken ahead: in `heldAhead` for the next accept() */
  Held = 16,
  /** startTls(): the native side decrypts reads and encrypts writes */
  Tls = 32,
}

/** closeListener()'s connections that libuv had accepted ahead, each for its listener's next accept(). */
const heldAhead = new WeakMap<GreenSocket, GreenSocket>();

const enum State {
  Fresh,
  Listening,
  Connecting,
  Connected,
  Closed,
}

/** One queued write: its waiter, if a thread still waits for it, or its callback. */
interface PendingWrite {
  waiter: Waiter<number | undefined> | null;
  /** the call that queued it (send, sendall, sendto), for the error of a close under it */
  syscall: string;
  /** resolved with this count (send), or undefined when -1 (sendall) */
  length: number;
  /** writeThen()'s callback */
  done: ((err?: Error | null) => void) | null;
}

/** @internal Data to send as a Buffer (strings as UTF-8), or a TypeError naming `what`. */
export function toBuffer(data: Buffer | Uint8Array | string, what: string): Buffer {
  if (typeof data === 'string') return Buffer.from(data);
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`${what}: data must be a Buffer, Uint8Array or string, got ${data === null ? 'null' : typeof data}`);
}

function checkAddress(family: number, addr: unknown, what: string): Address {
  if (family === AF_UNIX) {
    if (typeof addr !== 'string') throw new TypeError(`${what}: a Unix socket address is a path string`);
    return addr;
  }
  if (!Array.isArray(addr) || addr.length !== 2 || typeof addr[0] !== 'string' || !Number.isInteger(addr[1])) {
    throw new TypeError(`${what}: an address is [host, port], got ${JSON.stringify(addr)}`);
  }
  const port = addr[1] as number;
  if (port < 0 || port > 65535) throw new RangeError(`${what}: port must be between 0 and 65535, got ${port}`);
  return [addr[0], port];
}

/**
 * Evy's green socket on the native hub's TCP, UDP and Unix-domain handles: calls
 * that would block park only the calling green thread. Made by `new
 * GreenSocket(family, type)`, listen(), connect() or accept(). `A` is what its
 * addresses look like: `[string, number]` (AF_INET, AF_INET6), `string`
 * (AF_UNIX), or Address when that is known only at run time, as for `new
 * GreenSocket(family)` without a type argument (`new GreenSocket<[string,
 * number]>(AF_INET)` says it).
 */
export class GreenSocket<A extends Address = Address> {
  readonly family: number;
  readonly type: number;
  private state = State.Fresh;
  private timeoutSecs: number | null = null;

  // Reading: chunks (for UDP, whole datagrams) copied out of the native slab.
  // The arrays are made on first use: an idle connection holds none.
  private chunks: Buffer[] | null = null;
  private chunkOffset = 0;
  private buffered = 0;
  /** UDP: the sender of each queued datagram */
  private froms: Address[] | null = null;
  private flags = 0;
  /** The read error (ECONNRESET...), or for a listening socket the failed accept, not yet reported. */
  private error: NodeJS.ErrnoException | null = null;
  /**
   * The thread parked in recv, accept or connect: at most one, as a socket is
   * either connected, listening or connecting. Writers park in `writes`.
   */
  private waiting: Waiter<unknown> | null = null;
  private readMode = ReadMode.Bytes;
  /** The call the parked thread is in (recv, accept, connect...), for the error of a close under it. */
  private waitSyscall = '';
  /** Open makefile() files: the handle closes when the socket and every file are closed. */
  private ioRefs = 0;
  private readWant = 0;
  private readInto: Buffer | null = null;
  private writes: PendingWrite[] | null = null;
  /** Slot in `pinned`, or -1. */
  private pin = -1;
  /** The native handle's slot (src/stream.c), for write(). */
  private slot = -1;
  /** Where bind() or connect() went, for the errors of listen() and connect(). */
  private target: Address | undefined = undefined;

  /**
   * `socket(family, type)`. AF_INET/AF_INET6 with SOCK_STREAM is TCP, with
   * SOCK_DGRAM UDP; AF_UNIX with SOCK_STREAM is a Unix-domain stream.
   */
  constructor(family: number = AF_INET, type: number = SOCK_STREAM, /** @internal */ accepted = false) {
    if (family !== AF_INET && family !== AF_INET6 && family !== AF_UNIX) {
      throw new RangeError(`socket: unsupported address family ${family} (AF_INET, AF_INET6 or AF_UNIX)`);
    }
    if (type !== SOCK_STREAM && type !== SOCK_DGRAM) {
      throw new RangeError(`socket: unsupported socket type ${type} (SOCK_STREAM or SOCK_DGRAM)`);
    }
    if (type === SOCK_DGRAM && family === AF_UNIX) throw new RangeError('socket: AF_UNIX sockets are SOCK_STREAM only');
    this.family = family;
    this.type = type;
    if (accepted) return; // the native handle comes from accept()
    if (type === SOCK_DGRAM) {
      this.slot = binding.udpOpen(this, family);
      this.froms = [];
    } else if (family === AF_UNIX) this.slot = binding.pipeOpen(this);
    else this.slot = binding.tcpOpen(this, family);
  }

  // ---- events from the native side -------------------------------------------

  /** @internal */
  onEvent(kind: number, value: number, offset: number, index: number): void {
    switch (kind) {
      case K_READ:
        this.onRead(value, offset);
        break;
      case K_DGRAM:
        this.onDatagram(value, offset, index);
        break;
      case K_CONNECTION:
        this.onConnection(value);
        break;
      case K_CONNECT:
        this.onConnect(value);
        break;
      case K_WRITE: // a queued write, or a queued datagram
        this.onWrite(value);
        break;
    }
    if (watchers.size !== 0) notifyWatchers(this);
  }

  private onRead(nread: number, offset: number): void {
    if (nread < 0) {
      this.stopReading();
      if (nread === UV_EOF) this.flags |= Flag.Eof;
      else this.error = madeInCallback(nread === UV_EPROTO && (this.flags & Flag.Tls) !== 0 ? binding.tlsError(this.slot) as NodeJS.ErrnoException : systemError(nread, 'read'));
      const r = this.waiting;
      if (r !== null) {
        this.waiting = null;
        this.settleIdle();
        if (this.error !== null) fail(r, this.error);
        else hub.wake(r, this.readInto !== null ? 0 : EMPTY);
      }
      return;
    }
    let from = 0;
    const r = this.waiting;
    if (r !== null) {
      // Straight to the waiting reader: one copy out of the slab.
      this.waiting = null;
      let out: Buffer | number;
      const into = this.readInto;
      if (into !== null) {
        out = slab.copy(into, 0, offset, offset + Math.min(nread, into.length));
        this.readInto = null;
      } else {
        const n = Math.min(nread, this.readWant);
        out = copyOut(offset, n);
      }
      from = into !== null ? (out as number) : (out as Buffer).length;
      this.settleIdle();
      hub.wake(r, out);
    }
    if (from < nread) {
      const rest = copyOut(offset + from, nread - from);
      (this.chunks ??= []).push(rest);
      this.buffered += rest.length;
      if (this.buffered >= HIGH_WATER) this.stopReading();
    }
  }

  private onDatagram(nread: number, offset: number, index: number): void {
    const r = this.waiting;
    if (nread < 0) {
      // An ICMP error for an earlier send (ECONNREFUSED on a connected socket):
      // the next or current receive reports it, once.
      const err = madeInCallback(systemError(nread, 'recvfrom'));
      if (r === null) this.error = err;
      else {
        this.waiting = null;
        this.settleIdle();
        fail(r, err);
      }
      return;
    }
    const from = binding.udpFrom(index);
    if (r === null) {
      const data = copyOut(offset, nread);
      (this.chunks ??= []).push(data);
      this.froms!.push(from);
      this.buffered += nread;
      if (this.chunks.length >= DGRAM_QUEUE || this.buffered >= HIGH_WATER) this.stopReading();
      return;
    }
    this.waiting = null;
    this.settleIdle();
    const into = this.readInto;
    let data: Buffer | number;
    if (into !== null) {
      this.readInto = null;
      data = slab.copy(into, 0, offset, offset + Math.min(nread, into.length));
    } else {
      // A datagram longer than the reader asked for is cut, as recvfrom(2) does.
      const n = Math.min(nread, this.readWant);
      data = copyOut(offset, n);
    }
    const mode = this.readMode;
    hub.wake(r, mode === ReadMode.From || mode === ReadMode.FromInto ? [data, from] : data);
  }

  private onConnection(status: number): void {
    if (status < 0) {
      const err = madeInCallback(systemError(status, 'accept'));
      const a = this.waiting;
      if (a !== null) {
        this.waiting = null;
        this.settleIdle();
        hub.throwInto(a as Waiter<unknown>, err);
      } else this.error = err;
      return;
    }
    const a = this.waiting;
    if (a !== null) {
      this.waiting = null;
      this.settleIdle();
      let conn: GreenSocket;
      try {
        conn = this.acceptNow();
      } catch (err) {
        hub.throwInto(a as Waiter<unknown>, err);
        return;
      }
      hub.wake(a, conn);
    } else {
      this.flags |= Flag.ConnectionReady;
    }
  }

  private onConnect(status: number): void {
    const c = this.waiting;
    this.waiting = null;
    this.settleIdle();
    if (this.state !== State.Connecting) return; // interrupted, and closed since
    if (status < 0) {
      this.state = State.Fresh;
      if (c !== null) hub.throwInto(c as Waiter<unknown>, madeInCallback(systemError(status, 'connect', this.target)));
      return;
    }
    this.state = State.Connected;
    if (c !== null) hub.wake(c, undefined);
  }

  private onWrite(status: number): void {
    const w = this.writes?.shift();
    this.settleIdle();
    if (w === undefined) return;
    if (w.done !== null) {
      w.done(status < 0 ? systemError(status, 'write') : null);
      return;
    }
    if (w.waiter === null) return;
    if (status < 0) fail(w.waiter as Waiter<unknown>, madeInCallback(systemError(status, this.type === SOCK_DGRAM ? 'sendto' : 'write')));
    else hub.wake(w.waiter, w.length < 0 ? undefined : w.length);
  }

  private pinSelf(): void {
    if (this.pin < 0) {
      this.pin = pinned.length;
      pinned.push(this);
    }
  }

  /** Drops the GC pin once nothing is parked on or in flight through this socket. */
  private settleIdle(): void {
    const i = this.pin;
    if (i >= 0 && this.waiting === null && (this.writes === null || this.writes.length === 0)) {
      const last = pinned.pop()!;
      if (last !== this) {
        pinned[i] = last;
        last.pin = i;
      }
      this.pin = -1;
    }
  }

  /**
   * @internal A parked thread was interrupted (kill, Timeout, socket timeout):
   * forget its waiter. An interrupted connect leaves the socket unusable, as in
   * Evy: it is closed.
   */
  unlink(w: Waiter<unknown>): void {
    if (this.waiting === w) {
      this.waiting = null;
      this.readInto = null;
      if (this.state === State.Connecting) this.close();
    } else if (this.writes !== null) {
      for (const p of this.writes) if (p.waiter === w) p.waiter = null;
    }
    this.settleIdle();
  }

  // ---- waiting -----------------------------------------------------------------

  /** Parks the current thread on this socket, with the socket timeout. An interruption calls unlink(). */
  private park<T>(what: string, reader = true): Waiter<T> | Promise<never> {
    const w = hub.park<T>(null, this);
    if (!(w instanceof Waiter)) return w;
    w.list = this;
    if (reader) this.waitSyscall = what; // a writer's call is in its PendingWrite
    this.pinSelf();
    armSocketTimeout(w as Waiter<unknown>, what, this.timeoutSecs, wrapsWait(what) ? throwTimeout : failTimeout);
    return w;
  }

  private checkOpen(syscall: string): void {
    if (this.state === State.Closed || (this.flags & Flag.Detached) !== 0) throw closedError(syscall);
  }

  /**
   * Timeout 0 and nothing buffered: EAGAIN. Reading starts anyway, so what the
   * kernel holds is there for the next try, as with a non-blocking fd.
   */
  private wouldBlock(syscall: string): Promise<never> {
    this.startReading();
    return Promise.reject(systemError(-11, syscall));
  }

  // ---- the socket API -------------------------------------------------------------

  /** Binds to `[host, port]` (port 0: any free port) or a Unix path. */
  bind(addr: Address, opts: { ipv6Only?: boolean } = {}): void {
    this.checkOpen('bind');
    const a = checkAddress(this.family, addr, 'bind');
    this.target = a; // for listen()'s error: libuv reports a TCP port in use there
    try {
      if (typeof a === 'string') binding.bind(this, a);
      else binding.bind(this, a[0] === '' ? (this.family === AF_INET6 ? '::' : '0.0.0.0') : a[0], a[1], opts.ipv6Only ?? false);
    } catch (err) {
      throw withAddress(err, a);
    }
  }

  /** Starts listening; accept() takes the connections. `backlog`: default 511, as node:net (Evy's 50 drops connections under a burst). */
  listen(backlog = 511): void {
    this.checkOpen('listen');
    if (this.type === SOCK_DGRAM) throw systemError(-95, 'listen'); // ENOTSUP (EOPNOTSUPP)
    if (!Number.isInteger(backlog) || backlog < 0) throw new RangeError(`listen: backlog must be a non-negative integer, got ${backlog}`);
    try {
      binding.listen(this, backlog);
    } catch (err) {
      throw this.target === undefined ? err : listenError(err, this.target);
    }
    this.state = State.Listening;
  }

  private acceptNow(): GreenSocket<A> {
    this.flags &= ~Flag.ConnectionReady;
    const conn = new GreenSocket<A>(this.family, this.type, true);
    conn.slot = binding.accept(this, conn);
    conn.state = State.Connected;
    return conn;
  }

  /** Waits for a connection: `[socket, peer address]`. */
  accept(): Promise<[GreenSocket<A>, A]> {
    if ((this.flags & Flag.Held) !== 0) {
      this.flags &= ~Flag.Held;
      const conn = heldAhead.get(this) as GreenSocket<A>;
      heldAhead.delete(this);
      try {
        return Promise.resolve([conn, conn.peerAddress()]);
      } catch (err) {
        conn.close();
        return Promise.reject(err);
      }
    }
    try {
      this.checkOpen('accept');
      if (this.type === SOCK_DGRAM) throw systemError(-95, 'accept');
      if (this.state !== State.Listening) throw new Error('accept: the socket is not listening; call listen() first');
      if (this.waiting !== null) throw new Error('accept: another green thread is already accepting on this socket');
    } catch (err) {
      return Promise.reject(err);
    }
    const pending = hub.check();
    if (pending !== null) return pending;
    if (this.error !== null) {
      const err = this.error;
      this.error = null;
      return Promise.reject(atCaller(err));
    }
    if ((this.flags & Flag.ConnectionReady) !== 0) {
      try {
        const conn = this.acceptNow();
        return Promise.resolve([conn, conn.peerAddress()]);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (this.timeoutSecs === 0) return Promise.reject(systemError(-11, 'accept'));
    const w = this.park<GreenSocket<A>>('accept');
    if (!(w instanceof Waiter)) return w;
    this.waiting = w as Waiter<unknown>;
    return this.acceptWaited(w.promise);
  }

  /** accept()'s parked promise: the connection and its peer (with the caller's stack on a failure: atCaller). */
  private async acceptWaited(p: Promise<GreenSocket<A>>): Promise<[GreenSocket<A>, A]> {
    try {
      const conn = await p;
      return [conn, conn.peerAddress()];
    } catch (err) {
      throw atCaller(err, this.acceptWaited);
    }
  }

  /** Connects to `[host, port]` (host names are resolved) or a Unix path. */
  async connect(addr: Address): Promise<void> {
    this.checkOpen('connect');
    if (this.type === SOCK_DGRAM) return this.connectDatagram(addr);
    if (this.state === State.Connected) throw systemError(-106, 'connect'); // EISCONN
    if (this.state !== State.Fresh) throw new Error('connect: the socket is listening or already connecting');
    let a = checkAddress(this.family, addr, 'connect');
    if (typeof a !== 'string') a = [await this.resolve(a[0]), a[1]];
    this.checkOpen('connect');
    this.target = a;
    try {
      if (typeof a === 'string') binding.connect(this, a);
      else binding.connect(this, a[0], a[1]);
    } catch (err) {
      throw withAddress(err, a);
    }
    this.state = State.Connecting;
    const w = this.park<void>('connect');
    if (!(w instanceof Waiter)) {
      this.close();
      return w;
    }
    this.waiting = w as Waiter<unknown>;
    try {
      return await w.promise;
    } catch (err) {
      throw atCaller(err, this.connect);
    }
  }

  /** UDP: sets the peer of send() and the only sender recv() accepts. Nothing is sent. */
  private async connectDatagram(addr: Address): Promise<void> {
    const a = checkAddress(this.family, addr, 'connect') as [string, number];
    const to: [string, number] = [await this.resolve(a[0]), a[1]];
    this.checkOpen('connect');
    try {
      if (this.state === State.Connected) binding.udpConnect(this); // dissolve the old association first
      this.state = State.Fresh;
      binding.udpConnect(this, to[0], to[1]);
    } catch (err) {
      throw withAddress(err, to);
    }
    this.state = State.Connected;
  }

  /**
   * Like connect(), but resolves to an errno (0 on success) instead of
   * throwing a system error. An expired socket timeout is EAGAIN, as in Evy.
   */
  async connectEx(addr: Address): Promise<number> {
    try {
      await this.connect(addr);
      return 0;
    } catch (err) {
      if (err instanceof SocketTimeout) return 11; // EAGAIN
      const e = err as NodeJS.ErrnoException;
      if (typeof e.errno === 'number' && typeof e.code === 'string' && e.syscall !== undefined) return -e.errno;
      throw err;
    }
  }

  private async resolve(host: string): Promise<string> {
    if (host === '') return this.family === AF_INET6 ? '::1' : '127.0.0.1';
    const family = this.family === AF_INET6 ? 6 : 4;
    if ((family === 4 && /^\d+\.\d+\.\d+\.\d+$/.test(host)) || (family === 6 && host.includes(':'))) return host;
    // node:dns loads on the first name to look up, not with evy.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const dns = require('node:dns') as typeof import('node:dns');
    const r = await wait(dns.promises.lookup(host, { family }));
    return r.address;
  }

  private startReading(): void {
    if ((this.flags & Flag.Reading) === 0 && (this.flags & Flag.Eof) === 0 && this.error === null) {
      binding.readStart(this); // datagrams for UDP
      this.flags |= Flag.Reading;
    }
  }

  private stopReading(): void {
    if ((this.flags & Flag.Reading) !== 0) {
      this.flags &= ~Flag.Reading;
      binding.readStop(this);
    }
  }

  /** Takes up to `n` buffered bytes (there are some). */
  private take(n: number): Buffer {
    const chunks = this.chunks!;
    const first = chunks[0];
    const avail = first.length - this.chunkOffset;
    let out: Buffer;
    if (n >= avail && this.chunkOffset === 0) {
      out = first;
      chunks.shift();
    } else if (n >= avail) {
      out = first.subarray(this.chunkOffset);
      chunks.shift();
      this.chunkOffset = 0;
    } else {
      out = first.subarray(this.chunkOffset, this.chunkOffset + n);
      this.chunkOffset += n;
    }
    this.buffered -= out.length;
    if (this.buffered < HIGH_WATER / 2 && this.state === State.Connected) this.startReading();
    return out;
  }

  private startRead(syscall: string, viaFile: boolean): Promise<never> | null {
    if (this.state === State.Closed || (!viaFile && (this.flags & Flag.Detached) !== 0)) return Promise.reject(closedError(syscall));
    if (this.state !== State.Connected) return Promise.reject(systemError(-107, syscall)); // ENOTCONN
    if (this.waiting !== null) {
      return Promise.reject(new Error(`${syscall}: another green thread is already reading from this socket`));
    }
    return null;
  }

  /**
   * Up to `bufsize` bytes as soon as some are there; an empty Buffer at EOF.
   * Throws the connection's error (ECONNRESET...), SocketTimeout after the
   * socket's timeout.
   */
  recv(bufsize = 65536): Promise<Buffer> {
    if (!Number.isInteger(bufsize) || bufsize < 0) return Promise.reject(new RangeError(`recv: bufsize must be a non-negative integer, got ${bufsize}`));
    if (this.type === SOCK_DGRAM) return this.receiveDatagram(ReadMode.Bytes, bufsize, null, 'recv') as Promise<Buffer>;
    return this.recvStream(bufsize, false);
  }

  /**
   * recv() on a stream; `viaFile`: for a makefile() file, which goes on
   * reading after the socket's own close(). recv(0) waits for readability
   * like any recv (so it can time out), then takes nothing.
   */
  private recvStream(bufsize: number, viaFile: boolean): Promise<Buffer> {
    const early = this.startRead('recv', viaFile);
    if (early !== null) return early;
    if (this.buffered > 0) return hub.check() ?? Promise.resolve(bufsize === 0 ? EMPTY : this.take(bufsize));
    if (this.error !== null) return Promise.reject(atCaller(this.error));
    if ((this.flags & Flag.Eof) !== 0) return Promise.resolve(EMPTY);
    if (this.timeoutSecs === 0) return bufsize === 0 ? Promise.resolve(EMPTY) : this.wouldBlock('recv');
    const w = this.park<Buffer>('recv');
    if (!(w instanceof Waiter)) return w;
    this.waiting = w as Waiter<unknown>;
    this.readMode = ReadMode.Bytes;
    this.readWant = bufsize;
    this.readInto = null;
    this.startReading();
    return w.promise;
  }

  /** Reads into `buf` (up to `nbytes`); resolves the count, 0 at EOF. */
  recvInto(buf: Buffer | Uint8Array, nbytes = 0): Promise<number> {
    if (!(buf instanceof Uint8Array)) return Promise.reject(new TypeError('recvInto: buf must be a Buffer or Uint8Array'));
    const target = toBuffer(buf, 'recvInto').subarray(0, nbytes > 0 ? nbytes : undefined);
    if (this.type === SOCK_DGRAM) return this.receiveDatagram(ReadMode.Into, 0, target, 'recvInto') as Promise<number>;
    const early = this.startRead('recvInto', false) ?? hub.check();
    if (early !== null) return early;
    if (this.buffered > 0) {
      let n = 0;
      while (n < target.length && this.buffered > 0) {
        const part = this.take(target.length - n);
        part.copy(target, n);
        n += part.length;
      }
      return Promise.resolve(n);
    }
    if (this.error !== null) return Promise.reject(atCaller(this.error));
    if ((this.flags & Flag.Eof) !== 0) return Promise.resolve(0);
    if (this.timeoutSecs === 0) return target.length === 0 ? Promise.resolve(0) : this.wouldBlock('recvInto');
    const w = this.park<number>('recvInto');
    if (!(w instanceof Waiter)) return w;
    this.waiting = w as Waiter<unknown>;
    this.readMode = ReadMode.Into;
    this.readInto = target;
    this.startReading();
    return w.promise;
  }

  /**
   * `[data, sender]`: for UDP the next datagram (cut to `bufsize`, as
   * recvfrom(2) does) and who sent it; for stream sockets recv() and the peer.
   */
  recvfrom(bufsize = 65536): Promise<[Buffer, A]> {
    if (!Number.isInteger(bufsize) || bufsize < 0) return Promise.reject(new RangeError(`recvfrom: bufsize must be a non-negative integer, got ${bufsize}`));
    if (this.type === SOCK_DGRAM) return this.receiveDatagram(ReadMode.From, bufsize, null, 'recvfrom') as Promise<[Buffer, A]>;
    return this.recv(bufsize).then((data) => [data, this.peerAddress()]);
  }

  /** recvfrom() into `buf` (up to `nbytes`): `[count, sender]`. */
  recvfromInto(buf: Buffer | Uint8Array, nbytes = 0): Promise<[number, A]> {
    if (!(buf instanceof Uint8Array)) return Promise.reject(new TypeError('recvfromInto: buf must be a Buffer or Uint8Array'));
    if (this.type === SOCK_STREAM) return this.recvInto(buf, nbytes).then((n) => [n, this.peerAddress()]);
    const target = toBuffer(buf, 'recvfromInto').subarray(0, nbytes > 0 ? nbytes : undefined);
    return this.receiveDatagram(ReadMode.FromInto, 0, target, 'recvfromInto') as Promise<[number, A]>;
  }

  /** The next datagram, in the shape `mode` asks for. */
  private receiveDatagram(mode: ReadMode, want: number, into: Buffer | null, syscall: string): Promise<unknown> {
    if (this.state === State.Closed || (this.flags & Flag.Detached) !== 0) return Promise.reject(closedError(syscall));
    if (this.waiting !== null) return Promise.reject(new Error(`${syscall}: another green thread is already reading from this socket`));
    const pending = hub.check();
    if (pending !== null) return pending;
    if (this.chunks !== null && this.chunks.length > 0) {
      const data = this.chunks.shift()!;
      const from = this.froms!.shift()!;
      this.buffered -= data.length;
      if (this.buffered < HIGH_WATER / 2 && this.chunks.length < DGRAM_QUEUE / 2) this.startReading();
      const out = into !== null ? data.copy(into, 0, 0, Math.min(data.length, into.length)) : data.length > want ? data.subarray(0, want) : data;
      return Promise.resolve(mode === ReadMode.From || mode === ReadMode.FromInto ? [out, from] : out);
    }
    if (this.error !== null) {
      const err = this.error;
      this.error = null;
      return Promise.reject(atCaller(err));
    }
    if (this.timeoutSecs === 0) return this.wouldBlock(syscall);
    const w = this.park<unknown>(syscall);
    if (!(w instanceof Waiter)) return w;
    this.waiting = w;
    this.readMode = mode;
    this.readWant = want;
    this.readInto = into;
    this.startReading();
    return w.promise;
  }

  /**
   * Sends `data` to `addr`: for UDP one datagram, resolving its length; a
   * connected stream socket ignores `addr`, as Linux does.
   */
  async sendto(data: Buffer | Uint8Array | string, addr: Address): Promise<number> {
    if (this.type === SOCK_STREAM) return this.send(data);
    this.checkOpen('sendto');
    const a = checkAddress(this.family, addr, 'sendto') as [string, number];
    const to: [string, number] = [await this.resolve(a[0]), a[1]];
    return this.write(data, 'sendto', false, to) as Promise<number>;
  }

  /**
   * Sends all of `data`: what the kernel takes at once goes out at once, the
   * rest is queued and this waits until it is written (back-pressure).
   */
  sendall(data: Buffer | Uint8Array | string): Promise<void> {
    return this.write(data, 'sendall', true) as Promise<void>;
  }

  /** Sends `data`; resolves the number of bytes sent (all of them, once written). */
  send(data: Buffer | Uint8Array | string): Promise<number> {
    return this.write(data, 'send') as Promise<number>;
  }

  /** `all`: resolve undefined (sendall) instead of the count (send). `to`: a UDP destination. */
  private write(data: Buffer | Uint8Array | string, syscall: string, all = false, to?: [string, number], viaFile = false): Promise<number | void> {
    let buf: Buffer;
    const dgram = this.type === SOCK_DGRAM;
    try {
      buf = toBuffer(data, syscall);
      if (viaFile) {
        if (this.state === State.Closed) throw closedError(syscall);
      } else this.checkOpen(syscall);
      if (to === undefined && this.state !== State.Connected) {
        throw systemError(dgram ? -89 : -32, syscall); // EDESTADDRREQ: no peer; EPIPE
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const pending = hub.check();
    if (pending !== null) return pending;
    let n: number;
    try {
      if (!dgram) n = (this.flags & Flag.Tls) === 0 ? binding.write(this.slot, buf) : binding.tlsSend(this.slot, buf);
      else if (to === undefined) n = binding.udpSend(this, buf) === 1 ? buf.length : -1;
      else n = binding.udpSend(this, buf, to[0], to[1]) === 1 ? buf.length : -1;
    } catch (err) {
      return Promise.reject(to !== undefined ? withAddress(err, to) : err);
    }
    if (n === buf.length) return all ? RESOLVED : Promise.resolve(n);
    const record: PendingWrite = { waiter: null, syscall, length: all ? -1 : buf.length, done: null };
    (this.writes ??= []).push(record);
    this.pinSelf();
    const w = this.park<number | undefined>(syscall, false);
    if (!(w instanceof Waiter)) return w;
    record.waiter = w;
    return w.promise;
  }

  /**
   * @internal Writes `buf` without parking anyone: `done` runs once all of it
   * is written (at once when the kernel took it). For stream adapters (TLS),
   * whose writes come from Node's stream machinery, not from a green thread.
   */
  writeThen(buf: Buffer, done: (err?: Error | null) => void): void {
    if (this.state !== State.Connected) {
      done(this.state === State.Closed ? closedError('write') : systemError(-32, 'write'));
      return;
    }
    let n: number;
    try {
      n = (this.flags & Flag.Tls) === 0 ? binding.write(this.slot, buf) : binding.tlsSend(this.slot, buf);
    } catch (err) {
      done(err as Error);
      return;
    }
    if (n === buf.length) {
      done(null);
      return;
    }
    (this.writes ??= []).push({ waiter: null, syscall: 'write', length: -1, done });
    this.pinSelf();
  }

  /**
   * @internal TLS from here on (./tls_native, once its handshake is done):
   * the native side decrypts what this socket reads and encrypts what it
   * writes, with `session`'s SSL. What was read and not taken yet is
   * ciphertext: `decrypt` gets it (undefined for none) and returns its
   * plaintext, which the next recv takes first.
   */
  startTls(session: object, decrypt: (cipher: Buffer | undefined) => Buffer): void {
    if (this.state !== State.Connected || this.type !== SOCK_STREAM) throw systemError(-107, 'startTls');
    let cipher: Buffer | undefined;
    if (this.buffered > 0) {
      const chunks = this.chunks!;
      chunks[0] = chunks[0].subarray(this.chunkOffset);
      cipher = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    }
    const plain = decrypt(cipher);
    this.chunks = plain.length > 0 ? [plain] : null;
    this.chunkOffset = 0;
    this.buffered = plain.length;
    binding.tlsAttach(this.slot, session);
    this.flags |= Flag.Tls;
  }

  /** Shuts down reading (SHUT_RD), writing (SHUT_WR: the peer sees EOF), or both. */
  shutdown(how: number = SHUT_RDWR): void {
    this.checkOpen('shutdown');
    if (this.type === SOCK_DGRAM) throw systemError(-95, 'shutdown');
    if (how !== SHUT_RD && how !== SHUT_WR && how !== SHUT_RDWR) throw new RangeError(`shutdown: how must be SHUT_RD, SHUT_WR or SHUT_RDWR, got ${how}`);
    if (this.state !== State.Connected) throw systemError(-107, 'shutdown');
    if (how !== SHUT_WR) {
      this.stopReading();
      this.flags |= Flag.Eof;
      const r = this.waiting;
      if (r !== null) {
        this.waiting = null;
        this.settleIdle();
        hub.wake(r, this.readInto !== null ? 0 : EMPTY);
      }
    }
    if (how !== SHUT_RD) binding.shutdown(this);
  }

  /**
   * Closes the socket. Threads parked on it get an EBADF error. Harmless
   * twice. With makefile() files still open, as in Evy, only the socket's own
   * calls close (EBADF): the connection stays open for the files and closes
   * when the last of them is closed.
   */
  close(): void {
    if (this.state === State.Closed) return;
    if (this.ioRefs > 0) {
      this.flags |= Flag.Detached;
      return;
    }
    this.closeHandle();
  }

  /**
   * @internal `evy run --workers`: closes a listening socket that other
   * processes share, keeping the connection libuv accepted ahead of accept():
   * the thread parked in accept() gets it, else the next accept() (which then
   * fails as closed), so a connection the kernel gave this process is served,
   * not reset.
   */
  closeListener(): void {
    if (this.state === State.Listening) {
      // libuv holds at most one, which JS may not have heard of yet (its event still queued).
      let conn: GreenSocket<A> | null = null;
      try {
        conn = this.acceptNow();
      } catch {
        // none taken ahead (EAGAIN), or it failed in the meantime
      }
      const a = this.waiting;
      if (conn !== null && a !== null) {
        this.waiting = null;
        this.settleIdle();
        hub.wake(a, conn);
      } else if (conn !== null) {
        heldAhead.set(this, conn);
        this.flags |= Flag.Held;
      }
    }
    this.close();
  }

  /** Closes the native handle: every parked thread gets EBADF. */
  private closeHandle(): void {
    this.state = State.Closed;
    this.flags &= ~Flag.Reading;
    binding.close(this);
    this.chunks = null;
    if (this.froms !== null) this.froms = [];
    this.buffered = 0;
    const w = this.waiting;
    this.waiting = null;
    if (w !== null) {
      const err = madeInCallback(closedUnderError(this.waitSyscall));
      if (wrapsWait(this.waitSyscall)) hub.throwInto(w, err);
      else fail(w, err);
    }
    if (this.writes !== null) {
      for (const p of this.writes) if (p.waiter !== null) fail(p.waiter as Waiter<unknown>, madeInCallback(closedUnderError(p.syscall)));
    }
    if (watchers.size !== 0) notifyWatchers(this);
    // Queued writes complete (cancelled) through onWrite; until then the socket stays pinned.
    this.settleIdle();
  }

  /** @internal select(): a recv/recvfrom/accept would not wait (closed: it fails at once). */
  readyToRead(): boolean {
    if (this.state === State.Closed || (this.flags & Flag.Detached) !== 0 || this.error !== null) return true;
    if (this.state === State.Listening) return (this.flags & Flag.ConnectionReady) !== 0;
    if (this.type === SOCK_DGRAM) return this.chunks !== null && this.chunks.length > 0;
    return this.buffered > 0 || (this.flags & Flag.Eof) !== 0;
  }

  /** @internal select(): a send would go out at once (closed: it fails at once). */
  readyToWrite(): boolean {
    if (this.state === State.Closed || (this.flags & Flag.Detached) !== 0) return true;
    if (this.type === SOCK_DGRAM) return this.writes === null || this.writes.length === 0;
    return this.state === State.Connected && (this.writes === null || this.writes.length === 0);
  }

  /** @internal watched by select(): read, so readiness comes in. */
  watched(): void {
    if (this.state === State.Connected || (this.type === SOCK_DGRAM && this.state !== State.Closed)) this.startReading();
  }

  /** The socket is closed. */
  /** listen() was called: the socket accepts connections. */
  get listening(): boolean {
    return this.state === State.Listening;
  }

  get closed(): boolean {
    return this.state === State.Closed || (this.flags & Flag.Detached) !== 0;
  }

  /** The OS file descriptor. */
  fileno(): number {
    this.checkOpen('fileno');
    return binding.fileno(this);
  }

  /** The local address: `[host, port]`, or a path for AF_UNIX (typed by `A`). */
  getsockname(): A {
    this.checkOpen('getsockname');
    return binding.name(this, false) as A;
  }

  /** The peer's address, typed as getsockname()'s. */
  getpeername(): A {
    this.checkOpen('getpeername');
    return binding.name(this, true) as A;
  }

  /** @internal What a thread parked on this socket waits for, as `.threads` shows it. */
  describeWait(w: Waiter<unknown>): string {
    let call = this.waitSyscall;
    if (this.waiting !== w) call = this.writes?.find((p) => p.waiter === w)?.syscall ?? 'send';
    if (this.state === State.Closed) return `${call} on a closed socket`;
    const fmt = (a: Address): string => (typeof a === 'string' ? a || '(unnamed)' : `${a[0]}:${a[1]}`);
    let where: string;
    try {
      where = `fd ${binding.fileno(this)}`;
      if (this.state === State.Listening) where += ` ${fmt(binding.name(this, false))}`;
      else where += ` peer ${fmt(binding.name(this, true))}`;
    } catch {
      where = 'socket';
    }
    return `${call} on ${where}`;
  }

  private peerAddress(): A {
    try {
      return intern(binding.name(this, true)) as A;
    } catch {
      return (this.family === AF_UNIX ? '' : ['', 0]) as A;
    }
  }

  /** Sets an integer socket option (SOL_SOCKET / IPPROTO_TCP ...); booleans as 0/1. */
  setsockopt(level: number, option: number, value: number | boolean): void {
    this.checkOpen('setsockopt');
    const fd = binding.fileno(this);
    if (fd < 0) throw closedError('setsockopt');
    binding.setsockopt(fd, level, option, typeof value === 'boolean' ? Number(value) : value);
  }

  /** Reads an integer socket option (SOL_SOCKET / IPPROTO_TCP ...). */
  getsockopt(level: number, option: number): number {
    this.checkOpen('getsockopt');
    const fd = binding.fileno(this);
    if (fd < 0) throw closedError('getsockopt');
    return binding.getsockopt(fd, level, option);
  }

  /** Seconds each blocking call may wait (null: forever, 0: never) before SocketTimeout. */
  get timeout(): number | null {
    return this.timeoutSecs;
  }

  set timeout(seconds: number | null) {
    this.timeoutSecs = checkSeconds(seconds);
  }

  /** Sets `timeout` (Python spelling). */
  settimeout(seconds: number | null): void {
    this.timeout = seconds;
  }

  /** Reads `timeout` (Python spelling). */
  gettimeout(): number | null {
    return this.timeoutSecs;
  }

  /** setblocking(false) is timeout 0; setblocking(true) is no timeout. */
  setblocking(flag: boolean): void {
    this.timeout = flag ? null : 0;
  }

  /**
   * A buffered file over this socket: 'r'/'w'/'rw' read and write strings,
   * with 'b' Buffers. Closing the file flushes it; the socket stays open. As
   * in Evy, the socket and its files close separately: the connection lasts
   * until the socket and every file made from it are closed, so
   * `f = s.makefile(); s.close()` leaves `f` working.
   */
  makefile(mode: 'r' | 'w' | 'rw', opts?: GreenFileOptions): GreenFile<string>;
  makefile(mode?: 'rb' | 'wb' | 'rwb', opts?: GreenFileOptions): GreenFile<Buffer>;
  makefile(mode = 'rb', opts: GreenFileOptions = {}): GreenFile<string> | GreenFile<Buffer> {
    this.checkOpen('makefile');
    if (this.type === SOCK_DGRAM) throw new Error('makefile: a SOCK_DGRAM socket has no byte stream to buffer');
    // Through the socket's own recv/sendall while it is open, through the
    // handle once only the files hold the connection.
    let released = false;
    const raw: RawStream = {
      recv: (n) => ((this.flags & Flag.Detached) === 0 ? this.recv(n) : this.recvStream(n, true)),
      sendall: (data) =>
        ((this.flags & Flag.Detached) === 0 ? this.sendall(data) : this.write(data, 'sendall', true, undefined, true)) as Promise<void>,
      release: () => {
        if (released) return; // once: close(), or the collector
        released = true;
        fileRefs.unregister(raw);
        this.releaseFile();
      },
    };
    const file = mode.includes('b') ? new GreenFile<Buffer>(raw, mode, opts) : new GreenFile<string>(raw, mode, opts);
    this.ioRefs++;
    // A file dropped without close() lets go of the connection when collected.
    fileRefs.register(file, raw, raw);
    return file;
  }

  /** A makefile() file was closed (or collected): the last one closes a socket that was closed before it. */
  private releaseFile(): void {
    if (--this.ioRefs === 0 && (this.flags & Flag.Detached) !== 0 && this.state !== State.Closed) this.closeHandle();
  }

  /**
   * @internal Closes the connection now, files or not (serve() once the
   * handler returned: nothing is left to read or write it).
   */
  closeNow(): void {
    if (this.state !== State.Closed) this.closeHandle();
  }

  /** Data buffered and not yet read (for tests and the debug tools). */
  get pendingBytes(): number {
    return this.buffered;
  }
}

/** makefile() files not closed: the collector releases their hold on the socket. */
const fileRefs = new FinalizationRegistry<RawStream>((raw) => raw.release?.());

/** Host strings seen lately, shared: a server's peers mostly come from a few addresses. */
const hosts = new Map<string, string>();

function intern(addr: Address): Address {
  if (typeof addr === 'string') return addr;
  const host = hosts.get(addr[0]);
  if (host !== undefined) addr[0] = host;
  else if (hosts.size < 256) hosts.set(addr[0], addr[0]);
  return addr;
}

/**
 * listen()'s system error as node:net makes it: the libuv message and where
 * (`listen EADDRINUSE: address already in use 127.0.0.1:8080`), with code,
 * errno, syscall, address and port.
 */
function listenError(err: unknown, addr: Address): unknown {
  const e = err as NodeJS.ErrnoException;
  if (!(e instanceof Error) || typeof e.errno !== 'number' || e.syscall !== 'listen') return err;
  const where = typeof addr === 'string' ? addr : addr[1] > 0 ? `${addr[0]}:${addr[1]}` : addr[0];
  const out = systemError(e.errno, 'listen', addr);
  out.message = `${e.message} ${where}`;
  Error.captureStackTrace(out, GreenSocket.prototype.listen);
  return out;
}

function withAddress(err: unknown, addr: Address): unknown {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e && typeof e === 'object' && typeof e.errno === 'number' && e.syscall !== undefined) {
    return systemError(e.errno, e.syscall, addr);
  }
  return err;
}

/**
 * Delivers one batch of native events (see src/stream.c): record i is kind,
 * value, slab offset; its owner is argument i - start + 1.
 */
function deliver(start: number): void {
  const owners = arguments;
  hub.beginCallback();
  for (let k = 1; k < owners.length; k++) {
    const owner = owners[k] as GreenSocket | undefined;
    const i = start + k - 1;
    if (owner === undefined) continue; // collected: its handle is being closed
    const j = i * 3;
    try {
      owner.onEvent(events[j], events[j + 1], events[j + 2], i);
    } catch (err) {
      reportError('a socket event', err);
    }
  }
  hub.endCallback();
}

const [slab, events] = binding.streamInit(deliver);

/** `n` bytes of the slab from `offset`, in a Buffer of their own. */
function copyOut(offset: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  if (n <= 128) {
    // small messages: a loop is cheaper than making a view to copy from
    for (let i = 0; i < n; i++) out[i] = slab[offset + i];
  } else {
    out.set(slab.subarray(offset, offset + n));
  }
  return out;
}

/** Evy's `socket.socket(family, type)`. */
export function socket(family: number = AF_INET, type: number = SOCK_STREAM): GreenSocket {
  return new GreenSocket(family, type);
}
