// evy/web/websocket: RFC 6455 WebSockets on green sockets. WebSocketWSGI turns
// a handler `(ws) => ...` into a WSGI app that upgrades the request on the
// server's socket (environ['evy.socket'], and environ['evy.hijack']() whose
// `head` — or environ['evy.rest'] — holds bytes read past the request);
// connect() is the client (ws:// and wss://). Every wait is an evy operation:
// Timeout and kill interrupt wait(), send() and close().
//
// This file holds the connection's state and the handshakes; the frame codec
// is ./ws/frame (pure functions over Buffers), permessage-deflate ./ws/deflate.
//
// The limits, each a rule of its own:
// - memory follows the bytes received, never a declared length: a frame's
//   payload is collected as it arrives (./ws/collect), and a message is
//   refused (1009) once its frames, or its inflated bytes, pass maxMessageSize;
// - pongs never wait: one the socket cannot take at once is queued, and more
//   than MAX_PENDING_PONGS of them (a peer that pings and does not read) fail
//   the connection with 1008 — the rule and the number of the `ws` package's
//   maxPendingAutoPongs;
// - pingInterval: a connection silent that long is pinged, and one still
//   silent an interval later while a thread waits in wait() is dropped (1006);
// - a failed connection (1002/1007/1008/1009) sends its close frame, ends its
//   writing side and lingers at most FAIL_LINGER for the peer to hang up
//   (RFC 6455 7.1.7: the endpoint need not wait for the close handshake);
//   the close handshake we start waits up to closeTimeout for the peer's.
import { isUtf8 } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { GreenletExit } from '../green/greenthread';
import { getHub } from '../hub/hub';
import type { Timer } from '../hub/timers';
import { connect as tcpConnect } from '../io/convenience';
import { wrapSsl } from '../io/ssl';
import { Event } from '../sync/event';
import { Timeout } from '../sync/timeout';
import { hasToken, isToken, listItems, trimOws } from './http/grammar';
import { RECV_SIZE, RecvBuffer } from './recvbuf';
import { Collector } from './ws/collect';
import {
  acceptAnswer,
  checkDeflateOptions,
  extensionHeader,
  negotiateServer,
  offerClient,
  PerMessageDeflate,
  SLICE,
  type DeflateParams,
  type PerMessageDeflateOptions,
} from './ws/deflate';
import {
  applyMask,
  closePayload,
  encodeFrame,
  isValidCloseCode,
  OP_BINARY,
  OP_CLOSE,
  OP_CONT,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  parseClose,
  parseHeader,
  ProtocolError,
  type FrameHeader,
  type HeaderRules,
} from './ws/frame';
import { isSocketError, isTransport, shutdownWrite, type Transport } from './ws/transport';
import type { Environ, StartResponse, WsgiApp } from './wsgi';

export { isValidCloseCode, ProtocolError };
export type { DeflateParams, Environ, PerMessageDeflateOptions, StartResponse, Transport, WsgiApp };

/** The GUID of RFC 6455 section 1.3, appended to the key for Sec-WebSocket-Accept. */
export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** What a WebSocket message is: text frames give strings, binary frames Buffers. */
export type Message = string | Buffer;

/** A failed opening handshake (client side), naming what was wrong. */
export class WebSocketError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebSocketError';
  }
}

const hub = getHub();
const EMPTY: Buffer = Buffer.alloc(0);
const DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024;
const DEFAULT_CLOSE_TIMEOUT = 5;
/**
 * Seconds of silence before we ping. The `ws` package has no default; ours is
 * on, so that a peer that vanished without a FIN (a dead NAT entry, a pulled
 * cable) does not hold its connection forever: it is gone within 60-90 s.
 */
const DEFAULT_PING_INTERVAL = 30;
/** Unwritten pongs that fail the connection (the `ws` package's maxPendingAutoPongs default). */
export const MAX_PENDING_PONGS = 60;
/** Seconds a failed connection waits for the peer to hang up after our close frame, at most. */
const FAIL_LINGER = 0.5;
const noop = (): void => {};

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key. */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

// ---- the connection ---------------------------------------------------------------------

const enum State {
  Open,
  /** we sent our close frame */
  Closing,
  Closed,
}

/** A WebSocket's options (both ends). */
export interface WebSocketOptions {
  /** true: this end is the client (masks its frames, wants unmasked ones) */
  client?: boolean;
  /** the request path (with the query string) */
  path?: string;
  origin?: string;
  /** the negotiated subprotocol ('' for none) */
  protocol?: string;
  environ?: Environ;
  /** bytes already read from the socket past the handshake */
  rest?: Buffer;
  /** largest message (all fragments, and inflated) accepted; a bigger one fails the connection with 1009 (default 16 MiB) */
  maxMessageSize?: number;
  /** seconds close() waits for the peer's close frame before closing the socket (default 5) */
  closeTimeout?: number;
  /** seconds of silence before a ping, and then before the connection is dropped (default 30; null: never) */
  pingInterval?: number | null;
  /** permessage-deflate as the handshake agreed it, with our tuning (threshold, level); none when absent */
  deflate?: { params: DeflateParams; options?: PerMessageDeflateOptions };
}

interface Frame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  payload: Buffer;
}

/**
 * One WebSocket connection over a connected GreenSocket or green TLS socket
 * (after the handshake). One green thread at a time may wait(); any may
 * send(). Pings are answered and the peer's close frame is seen only while
 * some thread is in wait() (or close()): a handler that only sends should
 * keep a reader thread, as examples/websocket.ts does.
 */
export class WebSocket {
  readonly path: string;
  readonly origin: string;
  readonly protocol: string;
  readonly environ: Environ;
  /** The Sec-WebSocket-Extensions agreed ('' for none). */
  readonly extensions: string;
  /** The close code: the first sent or received (1005: a close frame without one; 1006: the connection dropped). Null while open. */
  closeCode: number | null = null;
  closeReason = '';
  /** The payload of the last pong received. */
  lastPong: Buffer | null = null;
  readonly maxMessageSize: number;
  readonly closeTimeout: number;
  readonly pingInterval: number | null;

  private readonly sock: Transport;
  private readonly client: boolean;
  private readonly rb: RecvBuffer;
  private readonly rules: HeaderRules;
  private readonly deflate: PerMessageDeflate | null;
  private state = State.Open;
  private closeSent = false;
  private closeReceived = false;
  private reading = false;
  /** The reader consumed part of a frame: interrupting it now leaves the stream unreadable. */
  private midFrame = false;
  /** A fragmented message being reassembled (opcode 0: none), its frames' bytes so far, and whether it is compressed. */
  private msgOpcode = 0;
  private msgWire = 0;
  private msgCompressed = false;
  private msg: Collector | null = null;
  private closedEvent: Event<void> | null = null;
  /** Pongs queued and not yet written. */
  private pendingPongs = 0;
  private readonly pongWritten = (): void => {
    this.pendingPongs--;
  };
  /** A large message being compressed (others wait for it: the compressor is mid-message). */
  private compressing: Event<void> | null = null;
  // Liveness (pingInterval): bytes arrived since the last tick; we pinged; the
  // wait() session (a count) that was reading at the last tick, or -1.
  private timer: Timer | null = null;
  private heard = true;
  private pinged = false;
  private readSession = 0;
  private watchedSession = -1;

  constructor(sock: Transport, opts: WebSocketOptions = {}) {
    if (!isTransport(sock)) throw new TypeError('WebSocket needs a connected GreenSocket or GreenSSLSocket');
    this.sock = sock;
    this.client = opts.client ?? false;
    this.path = opts.path ?? '/';
    this.origin = opts.origin ?? '';
    this.protocol = opts.protocol ?? '';
    this.environ = opts.environ ?? ({} as Environ);
    this.maxMessageSize = checkPositive(opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE, 'maxMessageSize');
    this.closeTimeout = checkPositive(opts.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT, 'closeTimeout');
    this.pingInterval = checkInterval(opts.pingInterval);
    const pmd = opts.deflate;
    this.deflate = pmd === undefined ? null : new PerMessageDeflate(pmd.params, !this.client, pmd.options);
    this.extensions = pmd === undefined ? '' : extensionHeader(pmd.params);
    this.rules = { masked: !this.client, rsv1: this.deflate !== null };
    this.rb = new RecvBuffer(sock, opts.rest ?? EMPTY);
    if (this.pingInterval !== null) this.timer = hub.scheduleCallGlobal(this.pingInterval, this.tick);
  }

  /** The socket is closed (after the close handshake, a failure, or a dropped connection). */
  get closed(): boolean {
    return this.state === State.Closed;
  }

  /** Closed after both close frames went across (not dropped, timed out or failed on the way). */
  get wasClean(): boolean {
    return this.state === State.Closed && this.closeSent && this.closeReceived;
  }

  // ---- sending ---------------------------------------------------------------------------

  /** Sends a text (string) or binary (Buffer) message; resolves once written. */
  send(data: string | Buffer | Uint8Array): Promise<void> {
    if (this.state !== State.Open) return Promise.reject(closingError('send'));
    let opcode: number;
    let payload: Buffer | string;
    if (typeof data === 'string') {
      opcode = OP_TEXT;
      payload = data;
    } else if (data instanceof Uint8Array) {
      opcode = OP_BINARY;
      payload = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    } else {
      return Promise.reject(new TypeError(`WebSocket.send: data must be a string, Buffer or Uint8Array, got ${data === null ? 'null' : typeof data}`));
    }
    // (A string's length in characters stands for its size against the threshold.)
    if (this.deflate === null || !this.deflate.compresses(payload.length)) return this.sock.sendall(encodeFrame(opcode, payload, this.client));
    return this.sendCompressed(opcode, typeof payload === 'string' ? Buffer.from(payload) : payload);
  }

  /**
   * A compressed message, in order with the other compressed ones: a small
   * one is compressed and queued in one turn; a large one cedes while it is
   * compressed, and the others wait for it.
   */
  private async sendCompressed(opcode: number, data: Buffer): Promise<void> {
    const d = this.deflate!;
    while (this.compressing !== null) await this.compressing.wait();
    if (this.state !== State.Open) throw closingError('send');
    if (data.length <= SLICE) return this.sock.sendall(encodeFrame(opcode, d.compressNow(data), this.client, true));
    const done = (this.compressing = new Event<void>());
    let payload: Buffer;
    try {
      payload = await d.compress(data);
    } finally {
      this.compressing = null;
      done.send();
    }
    if ((this.state as State) !== State.Open) throw closingError('send');
    return this.sock.sendall(encodeFrame(opcode, payload, this.client, true));
  }

  /** Sends a ping (up to 125 bytes of payload); the peer's pong lands in `lastPong`. */
  ping(data: string | Buffer = EMPTY): Promise<void> {
    if (this.state !== State.Open) return Promise.reject(closingError('ping'));
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    if (!Buffer.isBuffer(payload)) return Promise.reject(new TypeError(`WebSocket.ping: data must be a string or a Buffer, got ${typeof data}`));
    if (payload.length > 125) return Promise.reject(new RangeError(`WebSocket.ping: a ping payload is at most 125 bytes, got ${payload.length}`));
    return this.sock.sendall(encodeFrame(OP_PING, payload, this.client));
  }

  /** Answers a ping without waiting; a peer that leaves MAX_PENDING_PONGS of them unread fails the connection. */
  private pong(payload: Buffer): void {
    if (this.pendingPongs >= MAX_PENDING_PONGS) {
      throw new ProtocolError(1008, 'WS_ERR_TOO_MANY_PENDING_PONGS', `${MAX_PENDING_PONGS} pongs left unwritten: the peer sends pings and does not read`);
    }
    this.pendingPongs++;
    this.sock.writeThen(encodeFrame(OP_PONG, payload, this.client), this.pongWritten);
  }

  // ---- receiving -------------------------------------------------------------------------

  /**
   * The next frame, unmasked; null at EOF. Its payload is collected as it
   * arrives. Throws ProtocolError for a header the rules refuse and for a
   * data frame taking its message past maxMessageSize.
   */
  private async readFrame(): Promise<Frame | null> {
    const rb = this.rb;
    let h: FrameHeader | null;
    while ((h = parseHeader(rb.buf, rb.pos, this.rules)) === null) {
      if (!(await rb.more())) return null;
      this.heard = true;
    }
    const len = h.length;
    if (h.opcode < 0x8) {
      const total = (h.opcode === OP_CONT ? this.msgWire : 0) + len;
      if (total > this.maxMessageSize) {
        throw new ProtocolError(1009, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', `a message of ${total} bytes or more (maxMessageSize is ${this.maxMessageSize})`);
      }
      this.msgWire = total;
    }
    rb.drop(h.headerLength);
    let payload: Buffer;
    if (rb.length >= len) payload = rb.take(len);
    else {
      this.midFrame = true;
      const parts = new Collector();
      parts.push(rb.detach());
      while (parts.length < len) {
        const chunk = await rb.read(len - parts.length);
        if (chunk.length === 0) return null;
        this.heard = true;
        parts.push(chunk);
      }
      payload = parts.concat();
      this.midFrame = false;
    }
    if (h.masked) applyMask(payload, 0, len, h.mask);
    return { fin: h.fin, rsv1: h.rsv1, opcode: h.opcode, payload };
  }

  /** A data frame: the message it completes, or null while more frames are to come. */
  private async onData(f: Frame): Promise<Message | null> {
    if (f.opcode !== OP_CONT) {
      if (this.msgOpcode !== 0) throw new ProtocolError(1002, 'WS_ERR_INVALID_OPCODE', 'a new data frame inside a fragmented message');
      if (f.fin && !f.rsv1) return this.message(f.opcode, f.payload);
      this.msgOpcode = f.opcode;
      this.msgCompressed = f.rsv1;
      this.msg = new Collector();
    } else if (this.msgOpcode === 0) {
      throw new ProtocolError(1002, 'WS_ERR_INVALID_OPCODE', 'a continuation frame without a message to continue');
    }
    if (this.msgCompressed) {
      this.midFrame = true; // an interrupted inflate loses the message, and with it the stream
      await this.deflate!.decompress(f.payload, f.fin, this.msg!, this.maxMessageSize);
      this.midFrame = false;
    } else this.msg!.push(f.payload);
    if (!f.fin) return null;
    const whole = this.msg!.concat();
    const opcode = this.msgOpcode;
    this.msgOpcode = 0;
    this.msg = null;
    return this.message(opcode, whole);
  }

  private message(opcode: number, payload: Buffer): Message {
    if (opcode === OP_TEXT) {
      if (!isUtf8(payload)) throw new ProtocolError(1007, 'WS_ERR_INVALID_UTF8', 'invalid UTF-8 in a text message');
      return payload.toString('utf8');
    }
    return payload;
  }

  /**
   * The next message: a string (text) or a Buffer (binary); null once the
   * connection is closed (by either side, a protocol failure, a drop, or
   * pingInterval's liveness rule). Pings are answered while waiting. Timeout
   * and kill interrupt it; between frames the connection stays usable, in the
   * middle of one it is closed.
   */
  async wait(): Promise<Message | null> {
    if (this.state === State.Closed) return null;
    if (this.reading) throw new Error('WebSocket.wait: another green thread is already waiting on this WebSocket');
    this.reading = true;
    this.readSession++;
    try {
      for (;;) {
        const f = await this.readFrame();
        if (f === null) {
          this.drop();
          return null;
        }
        if (f.opcode < 0x8) {
          // A whole uncompressed message in one frame, the common case, without onData's extra await.
          if (f.fin && !f.rsv1 && f.opcode !== OP_CONT && this.msgOpcode === 0) return this.message(f.opcode, f.payload);
          const m = await this.onData(f);
          if (m !== null) return m;
        } else if (f.opcode === OP_PING) {
          if (this.state === State.Open) this.pong(f.payload);
        } else if (f.opcode === OP_PONG) {
          this.lastPong = Buffer.from(f.payload);
        } else {
          await this.onCloseFrame(f.payload);
          return null;
        }
      }
    } catch (err) {
      if (err instanceof ProtocolError) {
        await this.fail(err);
        return null;
      }
      if ((this.state as State) === State.Closed) return null; // closed under us (close() gave up waiting, pingInterval)
      if (isSocketError(err)) {
        this.drop();
        return null;
      }
      if (this.midFrame) this.drop(); // interrupted inside a frame: the stream is lost
      throw err;
    } finally {
      this.reading = false;
      this.midFrame = false;
    }
  }

  /** The peer's close frame: its code and reason, our echo, the socket closed. */
  private async onCloseFrame(payload: Buffer): Promise<void> {
    const { code, reason } = parseClose(payload);
    this.closeReceived = true;
    const frame = this.beginClose(code, reason);
    try {
      if (frame !== null) await this.sock.sendall(frame);
    } catch (err) {
      if (!isSocketError(err)) throw err;
    } finally {
      this.finish();
    }
  }

  /**
   * Fails the connection (RFC 6455 7.1.7): our close frame with the error's
   * code, our writing side ended, then the socket closed once the peer hangs
   * up or FAIL_LINGER passed. The linger reads and drops what the peer still
   * sends, so closing with unread bytes does not reset the connection under
   * our close frame.
   */
  private async fail(err: ProtocolError): Promise<void> {
    const frame = this.beginClose(err.closeCode, err.message);
    const t = new Timeout(Math.min(this.closeTimeout, FAIL_LINGER));
    try {
      if (frame !== null) await this.sock.sendall(frame);
      shutdownWrite(this.sock);
      while ((await this.rb.read(RECV_SIZE)).length > 0);
    } catch (e) {
      if (e !== t && !isSocketError(e)) throw e;
    } finally {
      t.cancel();
      this.finish();
    }
  }

  /**
   * Starts the closing handshake from our side: the first close code given is
   * the one kept; while still open, moves to Closing and returns the close
   * frame to send, else null.
   */
  private beginClose(code: number, reason: string): Buffer | null {
    if (this.closeCode === null) {
      this.closeCode = code;
      this.closeReason = reason;
    }
    if (this.state !== State.Open) return null;
    this.state = State.Closing;
    this.closeSent = true;
    return encodeFrame(OP_CLOSE, closePayload(code, reason), this.client);
  }

  /** Closes the socket and frees what the connection holds; close() waiting on another thread's reader learns of it. */
  private finish(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.timer?.cancel();
    this.timer = null;
    this.msg = null;
    this.rb.detach();
    this.deflate?.close();
    this.sock.close();
    if (this.closedEvent !== null) this.closedEvent.send();
  }

  /** The connection ended without a close handshake. */
  private drop(): void {
    if (this.closeCode === null) this.closeCode = 1006;
    this.finish();
  }

  // ---- liveness ----------------------------------------------------------------------------

  /**
   * Every pingInterval: a silent connection gets a ping; one still silent at
   * the next tick is dropped, but only if a single wait() was reading all
   * along (else the pong may sit unread in the socket: nobody looked).
   */
  private readonly tick = (): void => {
    this.timer = null;
    if (this.state === State.Closed) return;
    if (this.heard) {
      this.heard = false;
      this.pinged = false;
    } else if (!this.pinged) {
      this.pinged = true;
      if (this.state === State.Open) this.sock.writeThen(encodeFrame(OP_PING, EMPTY, this.client), noop);
    } else if (this.reading && this.readSession === this.watchedSession) {
      if (this.closeCode === null) {
        this.closeCode = 1006;
        this.closeReason = `nothing from the peer within ${this.pingInterval} s of our ping`;
      }
      this.finish();
      return;
    }
    this.watchedSession = this.reading ? this.readSession : -1;
    this.timer = hub.scheduleCallGlobal(this.pingInterval!, this.tick);
  };

  // ---- closing -----------------------------------------------------------------------------

  /**
   * The close handshake: sends a close frame with `code` and `reason`, waits up
   * to closeTimeout for the peer's close frame (messages arriving meanwhile are
   * dropped, unless another thread is in wait()), then closes the socket.
   * Harmless when already closed. The socket is closed even if interrupted.
   * @throws {RangeError} `code` may not be sent (1000-1003, 1007-1014, 3000-4999), or `reason` is over 123 bytes.
   */
  async close(code = 1000, reason = ''): Promise<void> {
    if (!Number.isInteger(code) || !isValidCloseCode(code)) {
      throw new RangeError(`WebSocket.close: ${code} is not a close code that can be sent (1000-1003, 1007-1014, 3000-4999)`);
    }
    if (typeof reason !== 'string') throw new TypeError(`WebSocket.close: reason must be a string, got ${typeof reason}`);
    if (Buffer.byteLength(reason) > 123) throw new RangeError('WebSocket.close: the reason is at most 123 bytes of UTF-8');
    if (this.state === State.Closed) return;
    const frame = this.beginClose(code, reason);
    try {
      if (frame !== null) await this.sock.sendall(frame);
      if (this.closeReceived) return;
      if (this.reading) {
        // Another thread reads: it sees the peer's close frame and closes.
        await (this.closedEvent ??= new Event<void>()).wait(this.closeTimeout);
        return;
      }
      await this.awaitCloseFrame();
    } catch (err) {
      if (!isSocketError(err)) throw err;
    } finally {
      this.finish();
    }
  }

  /** Reads frames (dropping data, noting pongs) until the peer's close frame, EOF, a protocol failure or closeTimeout. */
  private async awaitCloseFrame(): Promise<void> {
    const t = new Timeout(this.closeTimeout);
    this.reading = true;
    this.readSession++;
    try {
      for (;;) {
        const f = await this.readFrame();
        if (f === null) return;
        if (f.opcode === OP_PONG) this.lastPong = Buffer.from(f.payload);
        else if (f.opcode === OP_CLOSE) {
          this.closeReceived = true;
          return;
        }
      }
    } catch (err) {
      if (err instanceof ProtocolError || isSocketError(err) || err === t) return;
      throw err;
    } finally {
      t.cancel();
      this.reading = false;
      this.midFrame = false;
    }
  }

  /**
   * Closes at once without waiting for the peer: a close frame with `code` is
   * queued (written if the peer reads), then the socket is closed. For a
   * killed handler (1001) and shutdowns.
   */
  terminate(code = 1001, reason = ''): void {
    if (this.state === State.Closed) return;
    const frame = this.beginClose(code, reason);
    if (frame !== null) this.sock.writeThen(frame, noop);
    this.finish();
  }
}

function closingError(what: string): Error {
  return new Error(`WebSocket.${what}: the connection is closing or closed`);
}

function checkPositive(v: unknown, what: string): number {
  if (typeof v !== 'number') throw new TypeError(`WebSocket: ${what} must be a number, got ${typeof v}`);
  if (!(v > 0) || v === Infinity) throw new RangeError(`WebSocket: ${what} must be a positive number, got ${v}`);
  return v;
}

function checkInterval(v: unknown): number | null {
  if (v === null) return null;
  return checkPositive(v ?? DEFAULT_PING_INTERVAL, 'pingInterval');
}

// ---- the server: a WSGI app ---------------------------------------------------------------

/** WebSocketWSGI's options: what the server side accepts. */
export interface WebSocketWSGIOptions {
  /** subprotocols this server speaks, preferred first */
  protocols?: string[];
  /** largest message accepted, after inflating (default 16 MiB); bigger fails with 1009 */
  maxMessageSize?: number;
  /** allowed Origin values; others get 403 (default: any origin) */
  origins?: string[];
  /** seconds the close handshake waits for the peer (default 5) */
  closeTimeout?: number;
  /** seconds of silence before a ping, and then before the connection is dropped (default 30; null: never) */
  pingInterval?: number | null;
  /** accept permessage-deflate offers (default false: it costs ~300 KiB of zlib state per connection that uses it) */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
}

const KEY_RE = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

/**
 * A WSGI app upgrading requests to WebSockets and running `handler(ws)` in
 * the request's green thread. Requests that are not upgrades get 400 (403 for
 * a disallowed Origin), with Connection: close. When the handler returns, the
 * connection is closed with the close handshake (1000); when it throws, with
 * 1011, and the error is rethrown; when it is killed, a 1001 close frame is
 * written and the socket closed at once. Relies on environ['evy.socket']
 * (plain or TLS), environ['evy.hijack']() and environ['evy.rest'] from evy's
 * WSGI server.
 * @throws {TypeError} `handler` is not a function, or an option has the wrong type.
 * @throws {RangeError} an option is out of range.
 * @example const app = WebSocketWSGI(async (ws) => { for (let m; (m = await ws.wait()) !== null; ) await ws.send(m); });
 */
export function WebSocketWSGI(handler: (ws: WebSocket) => unknown, opts: WebSocketWSGIOptions = {}): WsgiApp {
  if (typeof handler !== 'function') throw new TypeError('WebSocketWSGI needs a handler function (ws) => ...');
  const protocols = checkStrings(opts.protocols, 'protocols') ?? [];
  for (const p of protocols) if (!isToken(p)) throw new RangeError(`WebSocketWSGI: ${JSON.stringify(p)} is not a valid subprotocol name (an HTTP token)`);
  const origins = checkStrings(opts.origins, 'origins');
  const maxMessageSize = checkPositive(opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE, 'maxMessageSize');
  const closeTimeout = checkPositive(opts.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT, 'closeTimeout');
  const pingInterval = checkInterval(opts.pingInterval);
  const deflate = checkDeflateOptions(opts.perMessageDeflate, 'WebSocketWSGI');

  return async (environ: Environ, startResponse: StartResponse): Promise<Buffer[]> => {
    const refuse = (status: string, reason: string, extra: Array<[string, string]> = []): Buffer[] => {
      const body = Buffer.from(reason + '\n');
      // Connection: close: the server closes after the refusal instead of
      // keeping a connection that came to upgrade and will not.
      startResponse(status, [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)], ['Connection', 'close'], ...extra]);
      return [body];
    };
    if (!hasToken(header(environ, 'HTTP_UPGRADE'), 'websocket')) {
      return refuse('400 Bad Request', 'this URL takes WebSocket connections only (no Upgrade: websocket header)');
    }
    const method = header(environ, 'REQUEST_METHOD');
    if (method !== 'GET') return refuse('400 Bad Request', `a WebSocket upgrade must be a GET, not ${method ?? 'a request without a method'}`);
    if (!hasToken(header(environ, 'HTTP_CONNECTION'), 'upgrade')) return refuse('400 Bad Request', 'a WebSocket upgrade needs Connection: Upgrade');
    const version = header(environ, 'HTTP_SEC_WEBSOCKET_VERSION');
    if (version === undefined || trimOws(version) !== '13') {
      return refuse('426 Upgrade Required', `unsupported Sec-WebSocket-Version ${version === undefined ? '(none)' : JSON.stringify(version)}: 13 only`, [
        ['Sec-WebSocket-Version', '13'],
      ]);
    }
    const rawKey = header(environ, 'HTTP_SEC_WEBSOCKET_KEY');
    const key = rawKey === undefined ? undefined : trimOws(rawKey);
    if (key === undefined || !KEY_RE.test(key)) {
      return refuse('400 Bad Request', `Sec-WebSocket-Key must be 16 bytes in base64, got ${key === undefined || key === '' ? 'none' : JSON.stringify(key)}`);
    }
    const origin = header(environ, 'HTTP_ORIGIN') ?? '';
    if (origins !== undefined && !origins.includes(origin)) {
      return refuse('403 Forbidden', `origin ${JSON.stringify(origin)} is not allowed`);
    }
    const sock = environ['evy.socket'];
    const hijack = environ['evy.hijack'];
    if (!isTransport(sock) || typeof hijack !== 'function') {
      return refuse('500 Internal Server Error', "WebSocketWSGI needs environ['evy.socket'] (a GreenSocket or GreenSSLSocket) and environ['evy.hijack'] (evy's WSGI server)");
    }
    const offered = listItems(header(environ, 'HTTP_SEC_WEBSOCKET_PROTOCOL'));
    const protocol = protocols.find((p) => offered.includes(p)) ?? '';
    const agreed = deflate === null ? null : negotiateServer(header(environ, 'HTTP_SEC_WEBSOCKET_EXTENSIONS'), deflate);
    // evy's WSGI server hands over the bytes it read past the request with the
    // socket ({ socket, head }); another server may give them as evy.rest.
    const taken = (hijack as () => unknown)() as { head?: unknown } | undefined;
    const restValue = taken !== undefined && taken !== null && Buffer.isBuffer(taken.head) ? taken.head : environ['evy.rest'];
    const rest = Buffer.isBuffer(restValue) ? restValue : EMPTY;
    let head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n`;
    if (protocol !== '') head += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
    if (agreed !== null) head += `Sec-WebSocket-Extensions: ${agreed.header}\r\n`;
    head += '\r\n';
    const query = header(environ, 'QUERY_STRING') ?? '';
    const path = (header(environ, 'SCRIPT_NAME') ?? '') + (header(environ, 'PATH_INFO') ?? '/') + (query !== '' ? `?${query}` : '');
    const ws = new WebSocket(sock, {
      path,
      origin,
      protocol,
      environ,
      rest,
      maxMessageSize,
      closeTimeout,
      pingInterval,
      deflate: agreed === null ? undefined : { params: agreed.params, options: deflate! },
    });
    try {
      await sock.sendall(head);
    } catch (err) {
      ws.terminate();
      throw err;
    }
    let outcome: { error: unknown } | null = null;
    try {
      await handler(ws);
    } catch (err) {
      outcome = { error: err };
    }
    if (outcome === null) {
      await ws.close(1000);
      return [];
    }
    if (outcome.error instanceof GreenletExit) ws.terminate(1001);
    else await ws.close(1011, 'the server handler failed');
    throw outcome.error;
  };
}

function checkStrings(v: unknown, what: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new TypeError(`WebSocketWSGI: ${what} must be an array of strings`);
  return v;
}

function header(environ: Environ, key: string): string | undefined {
  const v = environ[key];
  return typeof v === 'string' ? v : undefined;
}

// ---- the client -------------------------------------------------------------------------------

/** connect()'s options (the client side). */
export interface ConnectOptions {
  /** subprotocols to offer (Sec-WebSocket-Protocol) */
  protocols?: string[];
  origin?: string;
  /** more request headers */
  headers?: Record<string, string>;
  /** largest message accepted, after inflating (default 16 MiB) */
  maxMessageSize?: number;
  /** seconds close() waits for the server's close frame (default 5) */
  closeTimeout?: number;
  /** seconds of silence before a ping, and then before the connection is dropped (default 30; null: never) */
  pingInterval?: number | null;
  /** offer permessage-deflate (default false) */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** wss://: the CAs to trust (default: Node's bundled roots) */
  ca?: string | Buffer | Array<string | Buffer>;
  /** wss://: verify the server's certificate (default true) */
  rejectUnauthorized?: boolean;
  /** wss://: the name to check the certificate against and send as SNI (default: the URL's host) */
  servername?: string;
}

const MAX_HEAD = 64 * 1024;

/**
 * Opens a WebSocket to `url` (ws:// or wss://host[:port]/path?query) over a
 * green TCP connection (TLS for wss://, through wrapSsl): masks its frames,
 * checks Sec-WebSocket-Accept, the subprotocol and the extensions the server
 * chose. Every wait is an evy operation (Timeout and kill interrupt it, and
 * the socket is closed).
 * @throws {WebSocketError} the URL or the handshake is wrong (the socket is closed).
 * @throws {Error} the connection or TLS failed (Node's error, e.g. code ECONNREFUSED or DEPTH_ZERO_SELF_SIGNED_CERT).
 * @example const ws = await connect('wss://example.org/feed', { perMessageDeflate: true });
 */
export async function connect(url: string, opts: ConnectOptions = {}): Promise<WebSocket> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new WebSocketError(`connect: ${JSON.stringify(url)} is not a URL`);
  }
  const secure = u.protocol === 'wss:';
  if (!secure && u.protocol !== 'ws:') throw new WebSocketError(`connect: a WebSocket URL starts with ws:// or wss://, got ${u.protocol}//`);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port === '' ? (secure ? 443 : 80) : Number(u.port);
  const path = (u.pathname === '' ? '/' : u.pathname) + u.search;
  const protocols = opts.protocols ?? [];
  for (const p of protocols) {
    if (!isToken(p)) throw new WebSocketError(`connect: ${JSON.stringify(p)} is not a valid subprotocol name`);
  }
  const deflate = checkDeflateOptions(opts.perMessageDeflate, 'connect');
  // The options are checked before connecting, not by the WebSocket after it.
  if (opts.maxMessageSize !== undefined) checkPositive(opts.maxMessageSize, 'maxMessageSize');
  if (opts.closeTimeout !== undefined) checkPositive(opts.closeTimeout, 'closeTimeout');
  checkInterval(opts.pingInterval);
  let req = `GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`;
  const key = randomBytes(16).toString('base64');
  req += `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
  if (protocols.length > 0) req += `Sec-WebSocket-Protocol: ${protocols.join(', ')}\r\n`;
  if (deflate !== null) req += `Sec-WebSocket-Extensions: ${offerClient(deflate)}\r\n`;
  if (opts.origin !== undefined) req += `Origin: ${opts.origin}\r\n`;
  for (const [k, v] of Object.entries(opts.headers ?? {})) {
    if (!isToken(k) || /[\r\n\0]/.test(v)) throw new WebSocketError(`connect: header ${JSON.stringify(k)} is not a valid header (name a token, no line break in the value)`);
    req += `${k}: ${v}\r\n`;
  }
  const raw = await tcpConnect([host, port]);
  let sock: Transport = raw;
  try {
    if (secure) sock = await wrapSsl(raw, { ca: opts.ca, rejectUnauthorized: opts.rejectUnauthorized, serverHostname: opts.servername ?? host });
    await sock.sendall(req + '\r\n');
    const rb = new RecvBuffer(sock);
    let end: number;
    while ((end = rb.buf.indexOf('\r\n\r\n', rb.pos)) < 0) {
      if (rb.length > MAX_HEAD) throw new WebSocketError(`connect: the handshake response head is over ${MAX_HEAD} bytes`);
      if (!(await rb.more())) throw new WebSocketError('connect: the server closed the connection during the handshake');
    }
    const lines = rb.take(end - rb.pos + 4).toString('latin1').slice(0, -4).split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (status === null || status[1] !== '101') throw new WebSocketError(`connect: the server answered ${JSON.stringify(lines[0])}, not 101 Switching Protocols`);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      if (i <= 0) continue;
      const name = line.slice(0, i).toLowerCase();
      const value = trimOws(line.slice(i + 1));
      const had = headers.get(name);
      headers.set(name, had === undefined ? value : `${had}, ${value}`);
    }
    if (!hasToken(headers.get('upgrade'), 'websocket')) throw new WebSocketError('connect: the 101 response has no Upgrade: websocket');
    if (!hasToken(headers.get('connection'), 'upgrade')) throw new WebSocketError('connect: the 101 response has no Connection: Upgrade');
    const accept = headers.get('sec-websocket-accept');
    if (accept !== acceptKey(key)) throw new WebSocketError(`connect: wrong Sec-WebSocket-Accept ${JSON.stringify(accept ?? null)} (expected ${acceptKey(key)})`);
    const protocol = headers.get('sec-websocket-protocol') ?? '';
    if (protocol !== '' && !protocols.includes(protocol)) throw new WebSocketError(`connect: the server chose subprotocol ${JSON.stringify(protocol)}, which was not offered`);
    const extensions = headers.get('sec-websocket-extensions');
    let params: DeflateParams | null = null;
    if (extensions !== undefined) {
      if (deflate === null) throw new WebSocketError(`connect: the server chose extensions ${JSON.stringify(extensions)}; this client offered none`);
      try {
        params = acceptAnswer(extensions, deflate);
      } catch (err) {
        throw new WebSocketError(`connect: ${(err as Error).message}`);
      }
    }
    return new WebSocket(sock, {
      client: true,
      path,
      origin: opts.origin ?? '',
      protocol,
      rest: rb.detach(),
      maxMessageSize: opts.maxMessageSize,
      closeTimeout: opts.closeTimeout,
      pingInterval: opts.pingInterval,
      deflate: params === null ? undefined : { params, options: deflate! },
    });
  } catch (err) {
    sock.close();
    raw.close();
    throw err;
  }
}
