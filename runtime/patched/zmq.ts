// evy/patched/zmq: Evy's green ZeroMQ (pyzmq's surface) on the zeromq package
// (zeromq.js 6, whose prebuilt libzmq ships inside the package).
//
// zeromq.js's own waits cannot be taken back: a receive() or send() promise,
// once it waits, consumes or sends a message whenever the socket gets ready,
// even if nobody waits for it any more. So evy never lets it wait. Every
// socket has RCVTIMEO and SNDTIMEO 0 natively, which makes zeromq.js's
// receive() and send() synchronous (a message is taken or queued during the
// call, or the promise rejects with EAGAIN), and they are called only when
// libzmq says the socket is ready (ZMQ_EVENTS). A green thread that must
// wait parks on the hub, which watches the socket's ZMQ_FD (zeromq.js polls
// that fd only while one of its own waits is under way, which never
// happens here). So:
// - a recv interrupted by a Timeout or kill took nothing: the next recv gets
//   the message; a recv that took one returns it (a throw arriving on the
//   way is deferred to the thread's next suspension point, as in Evy);
// - a send interrupted while waiting (the high-water mark, no peer yet) has
//   sent nothing;
// - the high-water mark blocks the green sender only, the hub runs on.
//
// ZMQ_FD is edge-triggered: it signals that ZMQ_EVENTS may have changed,
// and any call on the socket can consume that signal. So after each send or
// recv, a socket with other waiters looks at ZMQ_EVENTS again and wakes
// whom it concerns, as Evy's green zmq does.
//
// What a message costs. A send or recv whose socket is ready is no async
// function: it checks, asks ZMQ_EVENTS once, calls zeromq.js, and returns
// zeromq.js's own promise (already settled), or for recv() that promise
// through one `then` picking the first frame: each promise evy does not
// make is CPU saved (more so under AsyncLocalStorage, EVY_THREAD_SLOT=als,
// whose promise hooks run for every one). A green thread woken because
// dispatch() saw POLLIN (POLLOUT) does not ask ZMQ_EVENTS again: it calls
// zeromq.js at once, and an EAGAIN there (someone took the message first)
// means wait again.
import { sleep } from '../green/greenthread';
import { getHub, Waiter, type Listener } from '../hub/hub';
import { WaitList } from '../sync/waitlist';
import * as C from './zmq_constants';

export * from './zmq_constants';

const hub = getHub();

// ---- the zeromq package --------------------------------------------------------------

/** What evy uses of a zeromq.js socket (its protected option accessors included). */
interface NativeSocket {
  readonly readable: boolean;
  readonly writable: boolean;
  readonly closed: boolean;
  readonly lastEndpoint: string | null;
  receive(): Promise<Buffer[]>;
  send(parts: Frame | Frame[]): Promise<void>;
  bindSync(address: string): void;
  unbindSync(address: string): void;
  connect(address: string): void;
  disconnect(address: string): void;
  close(): void;
  getInt32Option(option: number): number;
  setInt32Option(option: number, value: number): void;
  getInt64Option(option: number): number;
  setInt64Option(option: number, value: number): void;
  getUint64Option(option: number): number;
  setUint64Option(option: number, value: number): void;
  getStringOption(option: number): string | null;
  setStringOption(option: number, value: string | Buffer | null): void;
}

type NativeSocketClass = new (options?: { context?: object }) => NativeSocket;

interface ZeromqModule {
  Context: new () => object;
  context: object;
  Pair: NativeSocketClass;
  Publisher: NativeSocketClass;
  Subscriber: NativeSocketClass;
  Request: NativeSocketClass;
  Reply: NativeSocketClass;
  Dealer: NativeSocketClass;
  Router: NativeSocketClass;
  Pull: NativeSocketClass;
  Push: NativeSocketClass;
  XPublisher: NativeSocketClass;
  XSubscriber: NativeSocketClass;
  Stream: NativeSocketClass;
  version: string;
}

function loadZeromq(): ZeromqModule {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('zeromq') as ZeromqModule;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'MODULE_NOT_FOUND' && /['"]zeromq['"]/.test(e.message)) {
      throw new Error(
        'evy/patched/zmq needs the zeromq package (an optional dependency of evy), which is not installed: run `npm install zeromq`',
        { cause: err },
      );
    }
    throw new Error(`evy/patched/zmq could not load the zeromq package (${e.message}): reinstall it with \`npm install zeromq\``, { cause: err });
  }
}

const zmq = loadZeromq();

/** The version of libzmq in the zeromq package ('4.3.5'). */
export const zmqVersion: string = zmq.version;

const CLASSES: Record<number, NativeSocketClass> = {
  [C.PAIR]: zmq.Pair,
  [C.PUB]: zmq.Publisher,
  [C.SUB]: zmq.Subscriber,
  [C.REQ]: zmq.Request,
  [C.REP]: zmq.Reply,
  [C.DEALER]: zmq.Dealer,
  [C.ROUTER]: zmq.Router,
  [C.PULL]: zmq.Pull,
  [C.PUSH]: zmq.Push,
  [C.XPUB]: zmq.XPublisher,
  [C.XSUB]: zmq.XSubscriber,
  [C.STREAM]: zmq.Stream,
};

const TYPE_NAMES: Record<number, string> = {
  [C.PAIR]: 'PAIR',
  [C.PUB]: 'PUB',
  [C.SUB]: 'SUB',
  [C.REQ]: 'REQ',
  [C.REP]: 'REP',
  [C.DEALER]: 'DEALER',
  [C.ROUTER]: 'ROUTER',
  [C.PULL]: 'PULL',
  [C.PUSH]: 'PUSH',
  [C.XPUB]: 'XPUB',
  [C.XSUB]: 'XSUB',
  [C.STREAM]: 'STREAM',
};

/** Types that cannot send (libzmq says ENOTSUP) or cannot receive. */
const NO_SEND = new Set([C.PULL, C.SUB]);
const NO_RECV = new Set([C.PUSH, C.PUB]);
/**
 * REQ and REP alternate send and recv: a call out of turn fails with EFSM
 * at once instead of waiting. evy keeps the turn itself (zeromq.js moves
 * whole messages, so a send or recv that completes moves it on): asking
 * libzmq would cost a failed call, with its error object, on every wait.
 */
const SEND_FIRST = C.REQ;
const RECV_FIRST = C.REP;
/**
 * Types whose send cannot fail once ZMQ_EVENTS says POLLOUT (and evy's turn
 * allows it): libzmq fails it only with EAGAIN, which POLLOUT rules out, or
 * with EFSM, which the turn does. A ROUTER's or a STREAM's send can still
 * fail (EHOSTUNREACH, an unknown peer), and so can a REP's once
 * ROUTER_MANDATORY is set.
 */
const SURE_SENDS = new Set([C.PUSH, C.PUB, C.XPUB, C.XSUB, C.DEALER, C.PAIR, C.REQ, C.REP]);

/**
 * Consecutive sends or recvs on one socket that complete at once before the
 * next one yields to the hub (a sleep(0)): libzmq's I/O thread fills the
 * queue behind Node's back, so a receiving loop would otherwise never let the
 * event loop run (zeromq.js delays one call in 512 for the same reason).
 */
const STREAK = 512;


// ---- errors --------------------------------------------------------------------------

/** A ZeroMQ error: `errno` is libzmq's (`zmq.EAGAIN`, `zmq.EFSM`...), `code` its name. */
export class ZMQError extends Error {
  readonly errno: number;
  readonly code: string;
  constructor(errno: number, message: string, code = codeOf(errno)) {
    super(message);
    this.name = 'ZMQError';
    this.errno = errno;
    this.code = code;
  }
}

/** The operation would have to wait: DONTWAIT was given, or RCVTIMEO/SNDTIMEO passed (EAGAIN). */
export class Again extends ZMQError {
  constructor(message: string) {
    super(C.EAGAIN, message, 'EAGAIN');
    this.name = 'Again';
  }
}

/** The context was terminated (ETERM). */
export class ContextTerminated extends ZMQError {
  constructor(message: string) {
    super(C.ETERM, message, 'ETERM');
    this.name = 'ContextTerminated';
  }
}

const CODES: Record<number, string> = {
  [C.EAGAIN]: 'EAGAIN',
  [C.EINVAL]: 'EINVAL',
  [C.ENOTSOCK]: 'ENOTSOCK',
  [C.ENOTSUP]: 'ENOTSUP',
  [C.EHOSTUNREACH]: 'EHOSTUNREACH',
  [C.EFSM]: 'EFSM',
  [C.ENOCOMPATPROTO]: 'ENOCOMPATPROTO',
  [C.ETERM]: 'ETERM',
};

function codeOf(errno: number): string {
  return CODES[errno] ?? `E${errno}`;
}

/** Whether a zeromq.js error is EAGAIN. */
function isAgain(err: unknown): boolean {
  return (err as { errno?: unknown } | null)?.errno === C.EAGAIN;
}

/** A zeromq.js error (with errno and code) as a ZMQError saying what failed. */
function wrap(err: unknown, what: string): unknown {
  const e = err as { errno?: unknown; code?: unknown; message?: unknown } | null;
  if (e === null || typeof e !== 'object' || typeof e.errno !== 'number') return err;
  const msg = `${what}: ${String(e.message)}`;
  if (e.errno === C.EAGAIN) return new Again(msg);
  if (e.errno === C.ETERM) return new ContextTerminated(msg);
  return new ZMQError(e.errno, msg, typeof e.code === 'string' ? e.code : codeOf(e.errno));
}

// ---- messages ------------------------------------------------------------------------

/** One frame as send() takes it: bytes, or a string (sent as UTF-8). */
export type Frame = Buffer | Uint8Array | ArrayBuffer | string;

function checkFrame(data: unknown, what: string): Frame {
  if (typeof data === 'string' || ArrayBuffer.isView(data) || data instanceof ArrayBuffer) return data as Frame;
  throw new TypeError(`${what}: a frame must be a Buffer, a Uint8Array, an ArrayBuffer or a string, got ${data === null ? 'null' : typeof data}`);
}

function checkFlags(flags: unknown, allowed: number, what: string): number {
  if (typeof flags !== 'number' || !Number.isInteger(flags) || flags < 0 || (flags & ~allowed) !== 0) {
    throw new TypeError(`${what}: flags must be 0 or a combination of ${allowed & C.SNDMORE ? 'zmq.DONTWAIT and zmq.SNDMORE' : 'zmq.DONTWAIT'}, got ${String(flags)}`);
  }
  return flags;
}

/** Seconds left until `deadline` (hub clock), or null for none. */
function remaining(deadline: number | null): number | null {
  return deadline === null ? null : Math.max(0, deadline - hub.clock());
}

// ---- options -------------------------------------------------------------------------

type OptionKind = 'int' | 'int64' | 'uint64' | 'bytes';

/** How each option is passed to libzmq; 'get'/'set' marks the one-way ones. By name: the key is zmq's constant of that name. */
const OPTION_LIST: readonly [name: keyof typeof C, kind: OptionKind, only?: 'get' | 'set'][] = [
  ['AFFINITY', 'uint64'],
  ['ROUTING_ID', 'bytes'],
  ['SUBSCRIBE', 'bytes', 'set'],
  ['UNSUBSCRIBE', 'bytes', 'set'],
  ['RATE', 'int'],
  ['RECOVERY_IVL', 'int'],
  ['SNDBUF', 'int'],
  ['RCVBUF', 'int'],
  ['RCVMORE', 'int', 'get'],
  ['FD', 'int', 'get'],
  ['EVENTS', 'int', 'get'],
  ['TYPE', 'int', 'get'],
  ['LINGER', 'int'],
  ['RECONNECT_IVL', 'int'],
  ['BACKLOG', 'int'],
  ['RECONNECT_IVL_MAX', 'int'],
  ['MAXMSGSIZE', 'int64'],
  ['SNDHWM', 'int'],
  ['RCVHWM', 'int'],
  ['MULTICAST_HOPS', 'int'],
  ['RCVTIMEO', 'int'],
  ['SNDTIMEO', 'int'],
  ['LAST_ENDPOINT', 'bytes', 'get'],
  ['ROUTER_MANDATORY', 'int', 'set'],
  ['TCP_KEEPALIVE', 'int'],
  ['TCP_KEEPALIVE_CNT', 'int'],
  ['TCP_KEEPALIVE_IDLE', 'int'],
  ['TCP_KEEPALIVE_INTVL', 'int'],
  ['IMMEDIATE', 'int'],
  ['XPUB_VERBOSE', 'int', 'set'],
  ['IPV6', 'int'],
  ['PROBE_ROUTER', 'int', 'set'],
  ['REQ_CORRELATE', 'int', 'set'],
  ['REQ_RELAXED', 'int', 'set'],
  ['CONFLATE', 'int', 'set'],
  ['ROUTER_HANDOVER', 'int', 'set'],
  ['HANDSHAKE_IVL', 'int'],
  ['HEARTBEAT_IVL', 'int'],
  ['HEARTBEAT_TTL', 'int'],
  ['HEARTBEAT_TIMEOUT', 'int'],
  ['CONNECT_TIMEOUT', 'int'],
  ['TCP_MAXRT', 'int'],
];

const OPTIONS: Record<number, { name: string; kind: OptionKind; only?: 'get' | 'set' }> = {};
for (const [name, kind, only] of OPTION_LIST) OPTIONS[C[name] as number] = { name, kind, only };

function optionOf(option: unknown, how: 'get' | 'set'): { name: string; kind: OptionKind } {
  const o = typeof option === 'number' ? OPTIONS[option] : undefined;
  if (o === undefined) {
    throw new TypeError(`${how}sockopt: unknown option ${String(option)} (use the zmq constants: zmq.LINGER, zmq.SUBSCRIBE, zmq.SNDHWM...)`);
  }
  if (o.only !== undefined && o.only !== how) {
    throw new ZMQError(C.EINVAL, `${how}sockopt: zmq.${o.name} can only be ${o.only === 'get' ? 'read' : 'set'}`);
  }
  return o;
}

// ---- sockets -------------------------------------------------------------------------

/** The socket types ctx.socket() takes (`zmq.PUSH`...). */
export type SocketType = number;

/** A value setsockopt() takes: a number (or boolean) for numeric options, bytes or a string for SUBSCRIBE, ROUTING_ID... */
export type OptionValue = number | boolean | string | Buffer;

/**
 * A green ZeroMQ socket, made by `Context.socket(type)`. Every wait (recv,
 * send at the high-water mark, the Poller) parks only the calling green
 * thread; a Timeout or kill interrupts it, and nothing is lost: an
 * interrupted recv took no message, an interrupted send sent none.
 *
 * Several green threads may use one socket at once (they queue for it, in
 * order); libzmq's own rules hold (a REQ socket alternates send and recv).
 */
export class Socket implements Disposable {
  /** `zmq.PUSH`, `zmq.REQ`... */
  readonly type: SocketType;
  readonly context: Context;
  private zs: NativeSocket | null;
  private readonly fd: number;
  private listener: Listener | null = null;
  private readonly readers = new WaitList<void>('zmq recv');
  private readonly writers = new WaitList<void>('zmq send');
  /** Pollers waiting on this socket: each looks at its events again. */
  private readonly watchers = new Set<() => void>();
  /** The rest of a message recv() returns frame by frame (RCVMORE is 1 while there is some). */
  private partial: Buffer[] = [];
  /** Frames sent with SNDMORE, waiting for the message's last one. */
  private outgoing: Frame[] = [];
  private rcvtimeo = -1;
  private sndtimeo = -1;
  private streak = 0;
  /** REQ/REP: whose turn it is ('send' or 'recv'); null for the other types, and for a REQ with REQ_RELAXED. */
  private turn: 'send' | 'recv' | null;
  /** An unlisten() is queued for the end of this loop turn. */
  private unlistenQueued = false;
  /** A send libzmq takes when ZMQ_EVENTS says POLLOUT cannot fail (SURE_SENDS): zeromq.js's promise goes to the caller as it is. */
  private sendCannotFail: boolean;
  /** Nor can a recv when it says POLLIN, but a REQ's with REQ_CORRELATE (it drops stale replies, and may find none left). */
  private recvCannotFail = true;

  /** @internal Context.socket() makes sockets. */
  constructor(context: Context, type: SocketType, native: object) {
    const Class = CLASSES[type];
    this.type = type;
    this.context = context;
    const zs = new Class({ context: native });
    // Both zero: zeromq.js's receive() and send() never wait (see the top).
    zs.setInt32Option(C.RCVTIMEO, 0);
    zs.setInt32Option(C.SNDTIMEO, 0);
    this.zs = zs;
    this.fd = zs.getInt32Option(C.FD);
    this.turn = type === SEND_FIRST ? 'send' : type === RECV_FIRST ? 'recv' : null;
    this.sendCannotFail = SURE_SENDS.has(type);
  }

  /** Whether close() was called (or the context destroyed). */
  get closed(): boolean {
    return this.zs === null;
  }

  /** The endpoint the socket last bound to ('tcp://127.0.0.1:41234'), with the real port of a `*` bind. */
  get lastEndpoint(): string | null {
    return this.open('lastEndpoint').lastEndpoint;
  }

  private open(what: string): NativeSocket {
    if (this.zs === null) throw new ZMQError(C.ENOTSOCK, `${what}: the zmq socket is closed`);
    return this.zs;
  }

  private typeName(): string {
    return TYPE_NAMES[this.type];
  }

  /**
   * Binds to `address` ('tcp://127.0.0.1:5555', 'tcp://127.0.0.1:*' for a
   * free port, 'ipc:///tmp/x', 'inproc://name').
   * @throws ZMQError when libzmq refuses (EADDRINUSE, a bad address...).
   */
  bind(address: string): void {
    if (typeof address !== 'string') throw new TypeError(`bind: address must be a string, got ${typeof address}`);
    const zs = this.open('bind');
    try {
      zs.bindSync(address);
    } catch (err) {
      throw wrap(err, `bind ${address}`);
    }
  }

  /**
   * Binds to a free port of `address` ('tcp://127.0.0.1') and returns it.
   * @example const port = sock.bindToRandomPort('tcp://127.0.0.1');
   */
  bindToRandomPort(address: string): number {
    if (typeof address !== 'string' || !address.startsWith('tcp://')) {
      throw new TypeError(`bindToRandomPort: address must be a tcp:// address without a port, got ${String(address)}`);
    }
    this.bind(`${address}:*`);
    return Number(/:(\d+)$/.exec(this.lastEndpoint ?? '')?.[1]);
  }

  /** Stops listening on `address`. */
  unbind(address: string): void {
    const zs = this.open('unbind');
    try {
      zs.unbindSync(address);
    } catch (err) {
      throw wrap(err, `unbind ${address}`);
    }
  }

  /** Connects to `address`; libzmq connects (and reconnects) in the background. */
  connect(address: string): void {
    if (typeof address !== 'string') throw new TypeError(`connect: address must be a string, got ${typeof address}`);
    const zs = this.open('connect');
    try {
      zs.connect(address);
    } catch (err) {
      throw wrap(err, `connect ${address}`);
    }
  }

  /** Undoes connect(address). */
  disconnect(address: string): void {
    const zs = this.open('disconnect');
    try {
      zs.disconnect(address);
    } catch (err) {
      throw wrap(err, `disconnect ${address}`);
    }
  }

  /**
   * Sets a socket option (`zmq.LINGER`, `zmq.SNDHWM`, `zmq.SUBSCRIBE`...).
   * RCVTIMEO and SNDTIMEO (ms, -1 for none) bound evy's waits: past them,
   * recv and send throw Again.
   * @throws TypeError for an unknown option or a value of the wrong kind; ZMQError when libzmq refuses it.
   */
  setsockopt(option: number, value: OptionValue): void {
    const o = optionOf(option, 'set');
    const zs = this.open('setsockopt');
    const what = `setsockopt(zmq.${o.name})`;
    if (o.kind === 'bytes') {
      if (typeof value !== 'string' && !Buffer.isBuffer(value)) throw new TypeError(`${what}: the value must be a string or a Buffer, got ${typeof value}`);
      // An empty SUBSCRIBE subscribes to everything; zeromq.js passes null for that.
      const v = value.length === 0 ? null : value;
      try {
        zs.setStringOption(option, v);
      } catch (err) {
        throw wrap(err, what);
      }
      return;
    }
    const n = typeof value === 'boolean' ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n)) throw new TypeError(`${what}: the value must be an integer, got ${typeof value === 'number' ? value : typeof value}`);
    if (option === C.RCVTIMEO || option === C.SNDTIMEO) {
      if (n < -1) throw new RangeError(`${what}: milliseconds, or -1 for no limit, got ${n}`);
      if (option === C.RCVTIMEO) this.rcvtimeo = n;
      else this.sndtimeo = n;
      return;
    }
    if (option === C.REQ_RELAXED && this.type === C.REQ) this.turn = null; // libzmq then allows a new request at any time
    if (option === C.ROUTER_MANDATORY) this.sendCannotFail = false; // a REP's send to a requester gone away then fails
    if (option === C.REQ_CORRELATE && this.type === C.REQ) this.recvCannotFail = false;
    try {
      if (o.kind === 'int') zs.setInt32Option(option, n);
      else if (o.kind === 'int64') zs.setInt64Option(option, n);
      else zs.setUint64Option(option, n);
    } catch (err) {
      throw wrap(err, what);
    }
  }

  /**
   * Reads a socket option. EVENTS (POLLIN | POLLOUT) and RCVMORE are evy's
   * view, which counts the frames of a message recv() is partway through.
   * @throws TypeError for an unknown option; ZMQError for a write-only one.
   */
  getsockopt(option: number): number | string | null {
    const o = optionOf(option, 'get');
    const zs = this.open('getsockopt');
    switch (option) {
      case C.RCVTIMEO:
        return this.rcvtimeo;
      case C.SNDTIMEO:
        return this.sndtimeo;
      case C.RCVMORE:
        return this.partial.length > 0 ? 1 : 0;
      case C.EVENTS:
        return this.events();
      case C.TYPE:
        return this.type;
    }
    try {
      if (o.kind === 'bytes') return zs.getStringOption(option);
      if (o.kind === 'int') return zs.getInt32Option(option);
      if (o.kind === 'int64') return zs.getInt64Option(option);
      return zs.getUint64Option(option);
    } catch (err) {
      throw wrap(err, `getsockopt(zmq.${o.name})`);
    }
  }

  /** SUB/XSUB: receive the messages starting with `topic` ('' or none: every message). */
  subscribe(topic: string | Buffer = ''): void {
    this.setsockopt(C.SUBSCRIBE, topic);
  }

  /** Undoes subscribe(topic). */
  unsubscribe(topic: string | Buffer = ''): void {
    this.setsockopt(C.UNSUBSCRIBE, topic);
  }

  /** POLLIN | POLLOUT as they are now (POLLERR once closed). */
  events(): number {
    if (this.zs === null) return C.POLLERR;
    return (this.partial.length > 0 ? C.POLLIN : 0) | this.nativeEvents(this.zs);
  }

  private nativeEvents(zs: NativeSocket): number {
    try {
      return zs.getInt32Option(C.EVENTS) & (C.POLLIN | C.POLLOUT);
    } catch {
      return C.POLLIN | C.POLLOUT; // let the waiters find out what is wrong
    }
  }

  // ---- sending -------------------------------------------------------------------

  /**
   * Sends one frame; with `zmq.SNDMORE`, more frames of the same message
   * follow (the message goes when its last frame does). Waits (parking this
   * green thread only) while the socket cannot take it: the high-water mark,
   * no peer yet. With `zmq.DONTWAIT` (or SNDTIMEO passed) it throws Again
   * instead. Interrupted while waiting (Timeout, kill), nothing was sent.
   * @throws Again; ZMQError (EFSM: a REQ socket's send out of turn; ENOTSUP: a PULL or SUB socket; ENOTSOCK: closed).
   * @example await push.send('hello');
   */
  send(data: Frame, flags = 0): Promise<void> {
    return this.transmit(data, null, flags, 'send');
  }

  /**
   * Sends a message of several frames, as one (a ROUTER's [identity, '', body]).
   * Waits and fails as send() does.
   * @example await dealer.sendMultipart(['job', Buffer.from([1, 2])]);
   */
  sendMultipart(frames: readonly Frame[], flags = 0): Promise<void> {
    return this.transmit(null, frames, flags, 'sendMultipart');
  }

  /** send() of a string (UTF-8). */
  sendString(text: string, flags = 0): Promise<void> {
    if (typeof text !== 'string') throw new TypeError(`sendString: text must be a string, got ${typeof text}`);
    return this.send(text, flags);
  }

  /** send() of `JSON.stringify(value)`. */
  sendJson(value: unknown, flags = 0): Promise<void> {
    return this.send(JSON.stringify(value), flags);
  }

  /**
   * send (`one` frame) and sendMultipart (`many`). When the socket can take
   * the message now (the common case), it goes synchronously and the caller
   * gets zeromq.js's own promise, already settled: no async frame, no promise
   * of evy's on top. Otherwise transmitWaiting() waits for the socket.
   */
  private transmit(one: unknown, many: readonly unknown[] | null, flags: number, what: string): Promise<void> {
    let parts: Frame | Frame[];
    try {
      checkFlags(flags, C.DONTWAIT | C.SNDMORE, what);
      let frames: Frame[] | null = null;
      let frame: Frame | null = null;
      if (many === null) {
        frame = checkFrame(one, what);
      } else {
        if (!Array.isArray(many) || many.length === 0) throw new TypeError(`${what}: frames must be a non-empty array`);
        frames = many.map((f) => checkFrame(f, what));
      }
      this.open(what);
      if (NO_SEND.has(this.type)) throw new ZMQError(C.ENOTSUP, `${what}: a ${this.typeName()} socket cannot send`);
      if (flags & C.SNDMORE) {
        if (frames !== null) this.outgoing.push(...frames);
        else this.outgoing.push(frame!);
        return Promise.resolve();
      }
      if (this.outgoing.length === 0) parts = frames ?? frame!;
      else parts = frames !== null ? [...this.outgoing, ...frames] : [...this.outgoing, frame!];
    } catch (err) {
      return Promise.reject(err);
    }
    const pending = hub.check();
    if (pending !== null) return pending;
    const zs = this.zs!;
    // A send that may fail goes now only when failing changes no state of evy's (see SURE_SENDS).
    if (this.streak < STREAK - 1 && this.turn !== 'recv' && (this.sendCannotFail || (this.turn === null && this.outgoing.length === 0))) {
      if (!zs.writable) return this.transmitWaiting(parts, flags, what, true);
      // zeromq.js queues the message during this call
      let sent: Promise<void>;
      try {
        sent = zs.send(parts);
      } catch (err) {
        return Promise.reject(wrap(err, what));
      }
      this.streak++;
      if (this.outgoing.length > 0) this.outgoing = [];
      if (this.turn !== null) this.turn = 'recv';
      this.afterOp();
      return this.sendCannotFail ? sent : sent.then(undefined, what === 'send' ? this.sendFailed : this.sendMultipartFailed);
    }
    return this.transmitWaiting(parts, flags, what, false);
  }

  private readonly sendFailed = (err: unknown): never => {
    throw wrap(err, 'send');
  };

  private readonly sendMultipartFailed = (err: unknown): never => {
    throw wrap(err, 'sendMultipart');
  };

  /**
   * The rest of a send that cannot go at once: the streak's yield, the turn,
   * the wait for POLLOUT. `full`: the caller just saw the socket not writable.
   */
  private async transmitWaiting(parts: Frame | Frame[], flags: number, what: string, full: boolean): Promise<void> {
    if (++this.streak >= STREAK) {
      this.streak = 0;
      await sleep(0);
      full = false;
    }
    let zs = this.open(what);
    if (this.turn === 'recv') throw new ZMQError(C.EFSM, `${what}: a ${this.typeName()} socket must recv before it sends again`);
    let deadline: number | null = null;
    // Woken, the socket is writable: dispatch() saw POLLOUT, and only a call
    // on this socket could have changed that since (then the send says EAGAIN).
    let woken = false;
    for (;;) {
      if (!woken && (full || !zs.writable)) {
        if (flags & C.DONTWAIT || this.sndtimeo === 0) throw new Again(`${what}: the ${this.typeName()} socket cannot take a message now`);
        if (this.sndtimeo > 0) deadline ??= hub.clock() + this.sndtimeo / 1000;
        this.streak = 0;
        this.listen();
        try {
          await this.writers.wait(remaining(deadline), this.sendTimedOut);
        } finally {
          this.unlisten();
        }
        zs = this.open(what);
        woken = true;
        continue;
      }
      // Writable: zeromq.js queues the message during this call.
      try {
        await zs.send(parts);
        break;
      } catch (err) {
        if (!woken || !isAgain(err)) throw wrap(err, what);
        woken = full = false; // someone else filled the queue first: wait again
      }
    }
    this.outgoing = [];
    if (this.turn !== null) this.turn = 'recv';
    this.afterOp();
  }

  // ---- receiving -----------------------------------------------------------------

  /**
   * Receives the next frame (of a multipart message, the next one of it:
   * `getsockopt(zmq.RCVMORE)` says whether more follow). Waits, parking this
   * green thread only, until a message is there; with `zmq.DONTWAIT` (or
   * RCVTIMEO passed) it throws Again instead. Interrupted while waiting, it
   * took nothing: the next recv gets the message.
   * @throws Again; ZMQError (EFSM: a REQ socket's recv before its send; ENOTSUP: a PUSH or PUB socket; ENOTSOCK: closed).
   * @example const msg = await pull.recv();
   */
  recv(flags = 0): Promise<Buffer> {
    return this.receive(flags, 'recv', false) as Promise<Buffer>;
  }

  /**
   * Receives a whole message, every frame (or the frames left of one recv()
   * is partway through). Waits and fails as recv() does.
   * @example const [identity, , body] = await router.recvMultipart();
   */
  recvMultipart(flags = 0): Promise<Buffer[]> {
    return this.receive(flags, 'recvMultipart', true) as Promise<Buffer[]>;
  }

  /** recv() decoded as a string (UTF-8 unless `encoding` says otherwise). */
  async recvString(flags = 0, encoding: BufferEncoding = 'utf8'): Promise<string> {
    return (await this.recv(flags)).toString(encoding);
  }

  /** recv() parsed as JSON. */
  async recvJson<T = unknown>(flags = 0): Promise<T> {
    return JSON.parse((await this.recv(flags)).toString()) as T;
  }

  /**
   * recv (one frame) and recvMultipart (`whole`). When a message is there
   * (the common case), zeromq.js takes it synchronously and its promise goes
   * to the caller (recvMultipart) or through one `then` that picks the first
   * frame (recv). Otherwise receiveWaiting() waits for one.
   */
  private receive(flags: number, what: string, whole: boolean): Promise<Buffer | Buffer[]> {
    try {
      checkFlags(flags, C.DONTWAIT, what);
      this.open(what);
    } catch (err) {
      return Promise.reject(err);
    }
    const pending = hub.check();
    if (pending !== null) return pending;
    if (this.partial.length > 0) {
      // the rest of a message recv() took frame by frame
      if (!whole) return Promise.resolve(this.partial.shift()!);
      const rest = this.partial;
      this.partial = [];
      return Promise.resolve(rest);
    }
    if (NO_RECV.has(this.type)) return Promise.reject(new ZMQError(C.ENOTSUP, `${what}: a ${this.typeName()} socket cannot receive`));
    const zs = this.zs!;
    if (this.streak < STREAK - 1 && this.turn !== 'send' && this.recvCannotFail) {
      if (!zs.readable) return this.receiveWaiting(flags, what, whole, true);
      // zeromq.js takes the message during this call
      let got: Promise<Buffer[]>;
      try {
        got = zs.receive();
      } catch (err) {
        return Promise.reject(wrap(err, what));
      }
      this.streak++;
      if (this.turn !== null) this.turn = 'send';
      this.afterOp();
      return whole ? got : got.then(this.firstFrame);
    }
    return this.receiveWaiting(flags, what, whole, false);
  }

  /** recv()'s part of a message: its first frame; the others wait for the next recvs. */
  private readonly firstFrame = (msg: Buffer[]): Buffer => {
    if (msg.length > 1) this.partial = msg.slice(1);
    return msg[0];
  };

  /**
   * The rest of a recv that cannot take a message at once: the streak's
   * yield, the turn, the wait for POLLIN. `empty`: the caller just saw the
   * socket not readable.
   */
  private async receiveWaiting(flags: number, what: string, whole: boolean, empty: boolean): Promise<Buffer | Buffer[]> {
    let zs = this.open(what);
    if (++this.streak >= STREAK) {
      this.streak = 0;
      await sleep(0);
      zs = this.open(what);
      empty = false;
    }
    if (this.turn === 'send') {
      throw new ZMQError(C.EFSM, `${what}: a ${this.typeName()} socket must send ${this.type === C.REQ ? 'its request' : 'its reply'} before it receives again`);
    }
    let deadline: number | null = null;
    // Woken, the socket is readable: dispatch() saw POLLIN, and only a call
    // on this socket could have changed that since (then the receive says EAGAIN).
    let woken = false;
    let msg: Buffer[];
    for (;;) {
      if (!woken && (empty || !zs.readable)) {
        if (flags & C.DONTWAIT || this.rcvtimeo === 0) throw new Again(`${what}: no message is waiting on the ${this.typeName()} socket`);
        if (this.rcvtimeo > 0) deadline ??= hub.clock() + this.rcvtimeo / 1000;
        this.streak = 0;
        this.listen();
        try {
          await this.readers.wait(remaining(deadline), this.recvTimedOut);
        } finally {
          this.unlisten();
        }
        zs = this.open(what);
        woken = true;
        continue;
      }
      // Readable: zeromq.js takes the message during this call; the await
      // only hands it over (a throw meanwhile waits for the next suspension point).
      try {
        msg = await zs.receive();
        break;
      } catch (err) {
        if (!woken || !isAgain(err)) throw wrap(err, what);
        woken = empty = false; // someone else took it first: wait again
      }
    }
    if (this.turn !== null) this.turn = 'send';
    this.afterOp();
    if (whole || msg.length === 1) return whole ? msg : msg[0];
    this.partial = msg.slice(1);
    return msg[0];
  }

  // ---- waiting -------------------------------------------------------------------

  private readonly recvTimedOut = { error: (): Again => new Again(`recv: no message within RCVTIMEO (${this.rcvtimeo} ms)`) };
  private readonly sendTimedOut = { error: (): Again => new Again(`send: the socket took no message within SNDTIMEO (${this.sndtimeo} ms)`) };

  private listen(): void {
    if (this.listener === null) this.listener = hub.addReader(this.fd, this.onFd);
  }

  /**
   * No one waits any more: the hub stops watching the fd (a watched fd keeps
   * the process alive), at the end of this loop turn, unless someone waits
   * again by then, which a request-reply loop does at once (opening and
   * closing a poll per message would cost more than the message).
   */
  private unlisten(): void {
    if (this.listener === null || this.unlistenQueued || this.waiting()) return;
    this.unlistenQueued = true;
    setImmediate(this.unlistenNow);
  }

  private readonly unlistenNow = (): void => {
    this.unlistenQueued = false;
    if (this.listener !== null && !this.waiting()) {
      hub.remove(this.listener);
      this.listener = null;
    }
  };

  private waiting(): boolean {
    return this.readers.length > 0 || this.writers.length > 0 || this.watchers.size > 0;
  }

  private readonly onFd = (): void => this.dispatch();

  /** A woken reader or writer was interrupted before it resumed: the next one gets the turn. */
  private readonly passRead = (): void => void this.readers.wakeOne(undefined, this.passRead);
  private readonly passWrite = (): void => void this.writers.wakeOne(undefined, this.passWrite);

  /** Wakes whom the socket's events concern: the first reader, the first writer, every poller. */
  private dispatch(): void {
    const zs = this.zs;
    if (zs === null) return;
    const ev = this.nativeEvents(zs);
    if (ev & C.POLLIN) this.readers.wakeOne(undefined, this.passRead);
    if (ev & C.POLLOUT) this.writers.wakeOne(undefined, this.passWrite);
    if (this.watchers.size > 0) for (const w of this.watchers) w();
  }

  /** After a send or recv: it may have consumed the fd's signal, so others look again. */
  private afterOp(): void {
    if (this.waiting()) this.dispatch();
  }

  /** @internal A Poller's interest in this socket's events (undone by the returned function). */
  watch(cb: () => void): () => void {
    this.open('poll');
    this.watchers.add(cb);
    this.listen();
    return () => {
      this.watchers.delete(cb);
      this.unlisten();
    };
  }

  // ---- closing -------------------------------------------------------------------

  /**
   * Closes the socket. Green threads waiting on it get a ZMQError (ENOTSOCK).
   * `linger` (ms) bounds how long unsent messages are kept trying; by
   * default the socket's LINGER option. Closing twice does nothing.
   */
  close(linger?: number): void {
    const zs = this.zs;
    if (zs === null) return;
    if (linger !== undefined) {
      if (typeof linger !== 'number' || !Number.isInteger(linger) || linger < -1) throw new TypeError(`close: linger must be milliseconds or -1, got ${String(linger)}`);
      zs.setInt32Option(C.LINGER, linger);
    }
    this.zs = null;
    if (this.listener !== null) {
      hub.remove(this.listener);
      this.listener = null;
    }
    const closed = (): ZMQError => new ZMQError(C.ENOTSOCK, 'the zmq socket was closed while this green thread waited on it');
    this.readers.throwAll(closed());
    this.writers.throwAll(closed());
    for (const w of [...this.watchers]) w();
    this.watchers.clear();
    this.partial = [];
    this.outgoing = [];
    zs.close();
    this.context.forget(this);
  }

  /** close(), for `using sock = ctx.socket(zmq.PUSH)`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

// ---- contexts ------------------------------------------------------------------------

let defaultContext: Context | null = null;

/**
 * A ZeroMQ context: makes sockets and owns them (`Context.instance()` is the
 * process's shared one).
 * @example
 * const ctx = new zmq.Context();
 * const pull = ctx.socket(zmq.PULL);
 * const port = pull.bindToRandomPort('tcp://127.0.0.1');
 */
export class Context implements Disposable {
  private readonly native: object;
  private readonly open = new Set<Socket>();
  private readonly emptied = new WaitList<void>('zmq Context.term');
  private terminated = false;

  constructor() {
    this.native = new zmq.Context();
  }

  /** The shared context, made on first use. */
  static instance(): Context {
    if (defaultContext === null || defaultContext.terminated) defaultContext = new Context();
    return defaultContext;
  }

  /** Sockets made here and not closed yet. */
  get socketCount(): number {
    return this.open.size;
  }

  /** Whether term() or destroy() ended it. */
  get closed(): boolean {
    return this.terminated;
  }

  /**
   * A new socket of `type` (`zmq.PUSH`, `zmq.PULL`, `zmq.REQ`, `zmq.REP`,
   * `zmq.PUB`, `zmq.SUB`, `zmq.DEALER`, `zmq.ROUTER`, `zmq.PAIR`, `zmq.XPUB`,
   * `zmq.XSUB`, `zmq.STREAM`).
   * @throws TypeError for an unknown type; ContextTerminated after term() or destroy().
   */
  socket(type: SocketType): Socket {
    if (typeof type !== 'number' || CLASSES[type] === undefined) {
      throw new TypeError(`socket: unknown socket type ${String(type)} (zmq.${Object.values(TYPE_NAMES).join(', zmq.')})`);
    }
    if (this.terminated) throw new ContextTerminated('socket: the context was terminated');
    const s = new Socket(this, type, this.native);
    this.open.add(s);
    return s;
  }

  /** @internal A socket of this context closed. */
  forget(s: Socket): void {
    this.open.delete(s);
    if (this.open.size === 0) this.emptied.wakeAll(undefined);
  }

  /**
   * Ends the context once every socket of it is closed, waiting (a green
   * wait: Timeout and kill interrupt it) for those still open, as libzmq's
   * zmq_ctx_term does. New sockets are refused from the call on.
   */
  async term(): Promise<void> {
    this.terminated = true;
    while (this.open.size > 0) await this.emptied.wait(null, null);
  }

  /** Closes every socket of the context (with `linger` ms, if given) and ends it. */
  destroy(linger?: number): void {
    this.terminated = true;
    for (const s of [...this.open]) s.close(linger);
  }

  /** destroy(), for `using ctx = new zmq.Context()`. */
  [Symbol.dispose](): void {
    this.destroy();
  }
}

// ---- the poller ----------------------------------------------------------------------

/**
 * pyzmq's Poller, green: `register` sockets with the events of interest,
 * then `poll(timeout)` waits (parking this green thread only) until some are
 * ready and returns `[socket, events]` pairs.
 * @example
 * const poller = new zmq.Poller();
 * poller.register(a, zmq.POLLIN);
 * poller.register(b, zmq.POLLIN);
 * for (const [sock] of await poller.poll(1000)) console.log(await sock.recvString());
 */
export class Poller {
  private readonly items = new Map<Socket, number>();

  /** Watches `socket` for `flags` (POLLIN | POLLOUT by default); flags 0 unregisters, as in pyzmq. */
  register(socket: Socket, flags: number = C.POLLIN | C.POLLOUT): void {
    if (!(socket instanceof Socket)) throw new TypeError('Poller.register: socket must be a zmq Socket of evy/patched/zmq');
    if (typeof flags !== 'number' || !Number.isInteger(flags) || flags < 0 || (flags & ~(C.POLLIN | C.POLLOUT | C.POLLERR)) !== 0) {
      throw new TypeError(`Poller.register: flags must combine zmq.POLLIN, zmq.POLLOUT and zmq.POLLERR, got ${String(flags)}`);
    }
    if (flags === 0) this.items.delete(socket);
    else this.items.set(socket, flags);
  }

  /** Changes the flags of a registered socket. */
  modify(socket: Socket, flags: number = C.POLLIN | C.POLLOUT): void {
    this.register(socket, flags);
  }

  /** Stops watching `socket`. @throws Error when it was not registered. */
  unregister(socket: Socket): void {
    if (!this.items.delete(socket)) throw new Error('Poller.unregister: the socket is not registered');
  }

  /** The registered sockets and their flags. */
  get sockets(): Array<[Socket, number]> {
    return [...this.items];
  }

  private ready(): Array<[Socket, number]> {
    const out: Array<[Socket, number]> = [];
    for (const [s, mask] of this.items) {
      const ev = s.events() & (mask | C.POLLERR);
      if (ev !== 0) out.push([s, ev]);
    }
    return out;
  }

  /**
   * Waits until a registered socket is ready, or `timeout` milliseconds
   * pass (null or -1: no limit; 0: just look), and returns the ready ones
   * with their events (empty on timeout). A closed socket reports POLLERR.
   * An evy operation: Timeout and kill interrupt it and leave nothing watching.
   */
  async poll(timeout: number | null = null): Promise<Array<[Socket, number]>> {
    if (timeout !== null && (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < -1)) {
      throw new RangeError(`Poller.poll: timeout must be milliseconds, -1 or null, got ${String(timeout)}`);
    }
    const pending = hub.check();
    if (pending !== null) await pending;
    const limit = timeout === null || timeout < 0 ? null : timeout;
    const deadline = limit === null ? null : hub.clock() + limit / 1000;
    for (;;) {
      const now = this.ready();
      if (now.length > 0 || limit === 0) return now;
      if (deadline !== null && hub.clock() >= deadline) return now;
      await this.waitReady(deadline);
    }
  }

  private async waitReady(deadline: number | null): Promise<void> {
    const undo: Array<() => void> = [];
    const cleanup = (): void => {
      for (const u of undo.splice(0)) u();
    };
    const w = hub.park<void>(cleanup, 'zmq Poller.poll');
    if (!(w instanceof Waiter)) return w;
    const wake = (): void => {
      if (w.parked) hub.wake(w, undefined);
    };
    try {
      for (const [s, mask] of this.items) {
        undo.push(s.watch(() => {
          if (s.events() & (mask | C.POLLERR)) wake();
        }));
      }
    } catch (err) {
      hub.throwInto(w as Waiter<unknown>, err);
    }
    if (deadline !== null && w.parked) {
      const t = hub.addTimer(Math.max(0, deadline - hub.clock()), wake, null, null);
      undo.push(() => t.cancel());
    }
    try {
      await w.promise;
    } finally {
      cleanup();
    }
  }
}
