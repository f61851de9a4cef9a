// evy/web/websocket: RFC 6455 WebSockets on green sockets. WebSocketWSGI turns
// a handler `(ws) => ...` into a WSGI app that upgrades the request on the
// server's socket (environ['evy.socket'], and environ['evy.hijack']() whose
// `head` — or environ['evy.rest'] — holds bytes read past the request);
// connect() is the client. Every wait is an evy
// operation: Timeout and kill interrupt wait(), send() and close().
import { isUtf8 } from 'node:buffer';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { endianness } from 'node:os';
import { GreenletExit } from '../green/greenthread';
import { connect as tcpConnect } from '../io/convenience';
import { GreenSocket } from '../io/socket';
import { Event } from '../sync/event';
import { Timeout } from '../sync/timeout';

/** The GUID of RFC 6455 section 1.3, appended to the key for Sec-WebSocket-Accept. */
export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A WSGI environ: CGI keys (REQUEST_METHOD, PATH_INFO, HTTP_*...) and evy's (evy.socket, evy.hijack, evy.rest). */
export type Environ = Record<string, unknown>;
/** WSGI start_response: the status line (`'400 Bad Request'`) and the headers. */
export type StartResponse = (status: string, headers: Array<[string, string]>) => unknown;
/** A WSGI app as evy/web/wsgi calls it: the body is an iterable of Buffers. */
export type WSGIApp = (environ: Environ, startResponse: StartResponse) => Promise<Iterable<Buffer>>;
/** What a WebSocket message is: text frames give strings, binary frames Buffers. */
export type Message = string | Buffer;

/** A failed opening handshake (client side), naming what was wrong. */
export class WebSocketError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebSocketError';
  }
}

const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

const EMPTY: Buffer = Buffer.alloc(0);
const DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024;
const DEFAULT_CLOSE_TIMEOUT = 5;
const RECV_SIZE = 65536;
const LITTLE_ENDIAN = endianness() === 'LE';

/** The peer broke the protocol: the connection is failed with `code`. */
class Fail extends Error {
  constructor(
    readonly code: number,
    message: string,
    /** bytes of the offending frame still unread (-1: the framing is lost) */
    readonly skip = 0,
  ) {
    super(message);
  }
}

/** A close code that may appear in a close frame (RFC 6455 7.4, IANA registry). */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
  );
}

/** A system error of the connection (ECONNRESET, EPIPE, EBADF...), not an interruption. */
function isSocketError(err: unknown): boolean {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key. */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

// ---- masking -------------------------------------------------------------------------

/**
 * XORs buf[start, start+len) with the 4-byte mask, in place: 32-bit words over
 * the aligned middle (little-endian hosts), 4 bytes per turn elsewhere.
 */
function applyMask(buf: Buffer, start: number, len: number, m0: number, m1: number, m2: number, m3: number): void {
  const end = start + len;
  let i = start;
  if (LITTLE_ENDIAN && len >= 64) {
    // Bytes up to the first 4-aligned address, then words, then the tail.
    const lead = (4 - ((buf.byteOffset + i) & 3)) & 3;
    const m = [m0, m1, m2, m3];
    for (let k = 0; k < lead; k++, i++) buf[i] ^= m[(i - start) & 3];
    const phase = (i - start) & 3;
    const word = (m[phase] | (m[(phase + 1) & 3] << 8) | (m[(phase + 2) & 3] << 16) | (m[(phase + 3) & 3] << 24)) >>> 0;
    const words = (end - i) >>> 2;
    const view = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w] ^= word;
    i += words * 4;
    for (; i < end; i++) buf[i] ^= m[(i - start) & 3];
    return;
  }
  for (; i + 3 < end; i += 4) {
    buf[i] ^= m0;
    buf[i + 1] ^= m1;
    buf[i + 2] ^= m2;
    buf[i + 3] ^= m3;
  }
  if (i < end) buf[i++] ^= m0;
  if (i < end) buf[i++] ^= m1;
  if (i < end) buf[i] ^= m2;
}

/** Random mask keys, 4 bytes each, from a refilled pool (one crypto call per 1024 frames). */
let maskPool = Buffer.alloc(0);
let maskPos = 0;
function nextMask(out: Buffer, at: number): void {
  if (maskPos + 4 > maskPool.length) {
    maskPool = randomFillSync(Buffer.allocUnsafe(4096));
    maskPos = 0;
  }
  maskPool.copy(out, at, maskPos, maskPos + 4);
  maskPos += 4;
}

// ---- the connection ---------------------------------------------------------------------

const enum State {
  Open,
  /** we sent our close frame */
  Closing,
  Closed,
}

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
  /** largest message (all fragments) accepted; a bigger one fails the connection with 1009 */
  maxMessageSize?: number;
  /** seconds close() waits for the peer's close frame before closing the socket */
  closeTimeout?: number;
}

interface Frame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/**
 * One WebSocket connection over a connected GreenSocket (after the handshake).
 * One green thread at a time may wait(); any may send().
 */
export class WebSocket {
  readonly path: string;
  readonly origin: string;
  readonly protocol: string;
  readonly environ: Environ;
  /** The close code: the first sent or received (1005: a close frame without one; 1006: the connection dropped). Null while open. */
  closeCode: number | null = null;
  closeReason = '';
  /** The payload of the last pong received. */
  lastPong: Buffer | null = null;
  readonly maxMessageSize: number;
  readonly closeTimeout: number;

  private readonly sock: GreenSocket;
  private readonly client: boolean;
  private state = State.Open;
  private closeReceived = false;
  private reading = false;
  /** The reader consumed part of a frame: interrupting it now leaves the stream unreadable. */
  private midFrame = false;
  private rbuf: Buffer;
  private rpos = 0;
  /** A fragmented message being reassembled. */
  private parts: Buffer[] | null = null;
  private partsLen = 0;
  private partsOpcode = 0;
  private closedEvent: Event<void> | null = null;

  constructor(sock: GreenSocket, opts: WebSocketOptions = {}) {
    if (!(sock instanceof GreenSocket)) throw new TypeError('WebSocket needs a connected GreenSocket');
    this.sock = sock;
    this.client = opts.client ?? false;
    this.path = opts.path ?? '/';
    this.origin = opts.origin ?? '';
    this.protocol = opts.protocol ?? '';
    this.environ = opts.environ ?? {};
    this.rbuf = opts.rest ?? EMPTY;
    this.maxMessageSize = checkPositive(opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE, 'maxMessageSize');
    this.closeTimeout = checkPositive(opts.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT, 'closeTimeout');
  }

  /** The socket is closed (after the close handshake, a failure, or a dropped connection). */
  get closed(): boolean {
    return this.state === State.Closed;
  }

  // ---- sending ---------------------------------------------------------------------------

  private encode(opcode: number, data: Buffer | string): Buffer {
    const len = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
    const hdr = 2 + ext + (this.client ? 4 : 0);
    const out = Buffer.allocUnsafe(hdr + len);
    out[0] = 0x80 | opcode;
    if (ext === 0) out[1] = len;
    else if (ext === 2) {
      out[1] = 126;
      out.writeUInt16BE(len, 2);
    } else {
      out[1] = 127;
      out.writeUInt32BE(Math.floor(len / 0x100000000), 2);
      out.writeUInt32BE(len >>> 0, 6);
    }
    if (typeof data === 'string') out.write(data, hdr, 'utf8');
    else data.copy(out, hdr);
    if (this.client) {
      out[1] |= 0x80;
      nextMask(out, hdr - 4);
      applyMask(out, hdr, len, out[hdr - 4], out[hdr - 3], out[hdr - 2], out[hdr - 1]);
    }
    return out;
  }

  private closeFrame(code: number, reason: string): Buffer {
    if (code === 1005) return this.encode(OP_CLOSE, EMPTY);
    const r = Buffer.from(reason, 'utf8');
    const payload = Buffer.allocUnsafe(2 + r.length);
    payload.writeUInt16BE(code, 0);
    r.copy(payload, 2);
    return this.encode(OP_CLOSE, payload);
  }

  /** Sends a text (string) or binary (Buffer) message; resolves once written. */
  send(data: string | Buffer | Uint8Array): Promise<void> {
    if (this.state !== State.Open) return Promise.reject(new Error('WebSocket.send: the connection is closing or closed'));
    let frame: Buffer;
    if (typeof data === 'string') frame = this.encode(OP_TEXT, data);
    else if (data instanceof Uint8Array) frame = this.encode(OP_BINARY, Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    else return Promise.reject(new TypeError(`WebSocket.send: data must be a string, Buffer or Uint8Array, got ${data === null ? 'null' : typeof data}`));
    return this.sock.sendall(frame);
  }

  /** Sends a ping (up to 125 bytes of payload); the peer's pong lands in `lastPong`. */
  ping(data: string | Buffer = EMPTY): Promise<void> {
    if (this.state !== State.Open) return Promise.reject(new Error('WebSocket.ping: the connection is closing or closed'));
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    if (payload.length > 125) return Promise.reject(new RangeError(`WebSocket.ping: a ping payload is at most 125 bytes, got ${payload.length}`));
    return this.sock.sendall(this.encode(OP_PING, payload));
  }

  // ---- receiving -------------------------------------------------------------------------

  /** Makes `n` bytes readable at rpos; false at EOF. Interruptible without losing bytes. */
  private async fill(n: number): Promise<boolean> {
    while (this.rbuf.length - this.rpos < n) {
      const chunk = await this.sock.recv(RECV_SIZE);
      if (chunk.length === 0) return false;
      const left = this.rbuf.length - this.rpos;
      this.rbuf = left === 0 ? chunk : Buffer.concat([this.rbuf.subarray(this.rpos), chunk]);
      this.rpos = 0;
    }
    return true;
  }

  /**
   * The next frame, unmasked; null at EOF. Throws Fail for protocol errors;
   * a bad header is left unconsumed, its frame's size in Fail.skip.
   */
  private async readFrame(): Promise<Frame | null> {
    if (!(await this.fill(2))) return null;
    let b = this.rbuf;
    let p = this.rpos;
    const masked = (b[p + 1] & 0x80) !== 0;
    let len = b[p + 1] & 0x7f;
    const ext = len === 126 ? 2 : len === 127 ? 8 : 0;
    const hdr = 2 + ext + (masked ? 4 : 0);
    if (!(await this.fill(hdr))) return null;
    b = this.rbuf;
    p = this.rpos;
    if (ext === 2) len = b.readUInt16BE(p + 2);
    else if (ext === 8) {
      const hi = b.readUInt32BE(p + 2);
      if (hi >= 0x80000000) throw new Fail(1002, 'a 64-bit payload length with the top bit set', -1);
      len = hi * 0x100000000 + b.readUInt32BE(p + 6);
    }
    const b0 = b[p];
    const span = hdr + len;
    if ((b0 & 0x70) !== 0) throw new Fail(1002, 'reserved bits set without an extension', span);
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if (opcode >= 0x8) {
      if (opcode > OP_PONG) throw new Fail(1002, `unknown opcode ${opcode}`, span);
      if (!fin) throw new Fail(1002, 'a fragmented control frame', span);
      if (len > 125) throw new Fail(1002, `a control frame with a ${len}-byte payload (at most 125)`, span);
    } else if (opcode > OP_BINARY) throw new Fail(1002, `unknown opcode ${opcode}`, span);
    if (masked === this.client) throw new Fail(1002, this.client ? 'a masked frame from the server' : 'an unmasked frame from the client', span);
    if (opcode < 0x8) {
      const total = (opcode === OP_CONT && this.parts !== null ? this.partsLen : 0) + len;
      if (total > this.maxMessageSize) throw new Fail(1009, `a message of ${total} bytes or more (maxMessageSize is ${this.maxMessageSize})`, span);
    }
    let m0 = 0, m1 = 0, m2 = 0, m3 = 0;
    if (masked) {
      const k = p + hdr - 4;
      m0 = b[k];
      m1 = b[k + 1];
      m2 = b[k + 2];
      m3 = b[k + 3];
    }
    p += hdr;
    this.rpos = p;
    let payload: Buffer;
    const have = b.length - p;
    if (have >= len) {
      payload = b.subarray(p, p + len);
      this.rpos = p + len;
      if (this.rpos === b.length) {
        this.rbuf = EMPTY;
        this.rpos = 0;
      }
    } else {
      // The rest of the payload straight from the socket into its own buffer.
      this.midFrame = true;
      payload = Buffer.allocUnsafe(len);
      b.copy(payload, 0, p);
      this.rbuf = EMPTY;
      this.rpos = 0;
      let got = have;
      while (got < len) {
        const n = await this.sock.recvInto(payload.subarray(got));
        if (n === 0) return null;
        got += n;
      }
      this.midFrame = false;
    }
    if (masked) applyMask(payload, 0, len, m0, m1, m2, m3);
    return { fin, opcode, payload };
  }

  private message(opcode: number, payload: Buffer): Message {
    if (opcode === OP_TEXT) {
      if (!isUtf8(payload)) throw new Fail(1007, 'invalid UTF-8 in a text message');
      return payload.toString('utf8');
    }
    return payload;
  }

  /**
   * The next message: a string (text) or a Buffer (binary); null once the
   * connection is closed (by either side, a protocol failure, or a drop).
   * Pings are answered while waiting. Timeout and kill interrupt it; between
   * frames the connection stays usable, in the middle of one it is closed.
   */
  async wait(): Promise<Message | null> {
    if (this.state === State.Closed) return null;
    if (this.reading) throw new Error('WebSocket.wait: another green thread is already waiting on this WebSocket');
    this.reading = true;
    try {
      for (;;) {
        const f = await this.readFrame();
        if (f === null) {
          this.drop();
          return null;
        }
        switch (f.opcode) {
          case OP_TEXT:
          case OP_BINARY:
            if (this.parts !== null) throw new Fail(1002, 'a new data frame inside a fragmented message');
            if (f.fin) return this.message(f.opcode, f.payload);
            this.parts = [f.payload];
            this.partsLen = f.payload.length;
            this.partsOpcode = f.opcode;
            break;
          case OP_CONT: {
            if (this.parts === null) throw new Fail(1002, 'a continuation frame without a message to continue');
            this.parts.push(f.payload);
            this.partsLen += f.payload.length;
            if (!f.fin) break;
            const whole = Buffer.concat(this.parts, this.partsLen);
            const op = this.partsOpcode;
            this.parts = null;
            this.partsLen = 0;
            return this.message(op, whole);
          }
          case OP_PING:
            if (this.state === State.Open) await this.sock.sendall(this.encode(OP_PONG, f.payload));
            break;
          case OP_PONG:
            this.lastPong = f.payload;
            break;
          case OP_CLOSE:
            await this.onCloseFrame(f.payload);
            return null;
        }
      }
    } catch (err) {
      if (err instanceof Fail) {
        await this.fail(err.code, err.message, err.skip);
        return null;
      }
      if ((this.state as State) === State.Closed) return null; // closed under us (close() gave up waiting)
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
    let code = 1005;
    let reason = '';
    if (payload.length === 1) throw new Fail(1002, 'a close frame with a 1-byte payload');
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!isValidCloseCode(code)) throw new Fail(1002, `invalid close code ${code}`);
      const r = payload.subarray(2);
      if (!isUtf8(r)) throw new Fail(1007, 'invalid UTF-8 in the close reason');
      reason = r.toString('utf8');
    }
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
   * Fails the connection: our close frame with `code`, then up to closeTimeout
   * for the peer's close frame (the offending frame skipped; when the framing
   * is lost, reading to EOF), then the socket closed.
   */
  private async fail(code: number, reason: string, skip: number): Promise<void> {
    const frame = this.beginClose(code, reason);
    try {
      if (frame !== null) await this.sock.sendall(frame);
      const t = new Timeout(this.closeTimeout);
      try {
        if (skip >= 0 && (await this.discard(skip)) && (await this.awaitCloseFrame(false))) return;
        // The framing is lost: read to EOF, so closing does not reset the connection under our close frame.
        for (;;) if ((await this.sock.recv(RECV_SIZE)).length === 0) break;
      } catch (err) {
        if (err !== t && !isSocketError(err)) throw err;
      } finally {
        t.cancel();
      }
    } catch (err) {
      if (!isSocketError(err)) throw err;
    } finally {
      this.finish();
    }
  }

  /**
   * Starts the closing handshake from our side: the first close code given is
   * the one kept; while still open, moves to Closing and returns the close
   * frame to send (the reason cut to what a frame holds), else null.
   */
  private beginClose(code: number, reason: string): Buffer | null {
    if (this.closeCode === null) {
      this.closeCode = code;
      this.closeReason = reason;
    }
    if (this.state !== State.Open) return null;
    this.state = State.Closing;
    return this.closeFrame(code, truncateReason(reason));
  }

  /** Drops `n` bytes of the stream; false at EOF. */
  private async discard(n: number): Promise<boolean> {
    const buffered = Math.min(n, this.rbuf.length - this.rpos);
    this.rpos += buffered;
    n -= buffered;
    while (n > 0) {
      const chunk = await this.sock.recv(Math.min(n, RECV_SIZE));
      if (chunk.length === 0) return false;
      n -= chunk.length;
    }
    return true;
  }

  /** Closes the socket; close() waiting on another thread's reader learns of it. */
  private finish(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.parts = null;
    this.rbuf = EMPTY;
    this.rpos = 0;
    this.sock.close();
    if (this.closedEvent !== null) this.closedEvent.send();
  }

  /** The connection ended without a close handshake. */
  private drop(): void {
    if (this.closeCode === null) this.closeCode = 1006;
    this.finish();
  }

  /**
   * The close handshake: sends a close frame with `code` and `reason`, waits up
   * to closeTimeout for the peer's close frame (messages arriving meanwhile are
   * dropped, unless another thread is in wait()), then closes the socket.
   * Harmless when already closed. The socket is closed even if interrupted.
   */
  async close(code = 1000, reason = ''): Promise<void> {
    if (!Number.isInteger(code) || !isValidCloseCode(code)) {
      throw new RangeError(`WebSocket.close: ${code} is not a close code that can be sent (1000-1003, 1007-1014, 3000-4999)`);
    }
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

  /**
   * Reads frames (dropping data, noting pongs) until the peer's close frame;
   * true when it came, false at EOF or a protocol failure. With `bounded`,
   * gives up (false) after closeTimeout.
   */
  private async awaitCloseFrame(bounded = true): Promise<boolean> {
    const t = bounded ? new Timeout(this.closeTimeout) : null;
    this.reading = true;
    try {
      for (;;) {
        const f = await this.readFrame();
        if (f === null) return false;
        if (f.opcode === OP_PONG) this.lastPong = f.payload;
        else if (f.opcode === OP_CLOSE) {
          this.closeReceived = true;
          return true;
        }
      }
    } catch (err) {
      if (err instanceof Fail || isSocketError(err) || (t !== null && err === t)) return false;
      throw err;
    } finally {
      t?.cancel();
      this.reading = false;
      this.midFrame = false;
    }
  }

  /**
   * Closes at once without waiting for the peer: a close frame with `code` is
   * written if the kernel takes it, then the socket is closed. For a killed
   * handler (1001) and shutdowns.
   */
  terminate(code = 1001, reason = ''): void {
    if (this.state === State.Closed) return;
    const frame = this.beginClose(code, reason);
    if (frame !== null) this.sock.writeThen(frame, () => {});
    this.finish();
  }
}

function checkPositive(v: number, what: string): number {
  if (typeof v !== 'number' || !(v > 0)) throw new RangeError(`WebSocket: ${what} must be a positive number, got ${String(v)}`);
  return v;
}

/** Cuts a reason to the 123 bytes a close frame holds (on a character boundary). */
function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let r = reason;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

// ---- the server: a WSGI app ---------------------------------------------------------------

export interface WebSocketWSGIOptions {
  /** subprotocols this server speaks, preferred first */
  protocols?: string[];
  /** largest message accepted (default 16 MiB); bigger fails with 1009 */
  maxMessageSize?: number;
  /** allowed Origin values; others get 403 (default: any origin) */
  origins?: string[];
  /** seconds the close handshake waits for the peer (default 5) */
  closeTimeout?: number;
}

function header(environ: Environ, key: string): string | undefined {
  const v = environ[key];
  return typeof v === 'string' ? v : undefined;
}

function tokens(v: string | undefined): string[] {
  return v === undefined ? [] : v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

const KEY_RE = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

/**
 * A WSGI app upgrading requests to WebSockets and running `handler(ws)` in
 * the request's green thread. Requests that are not upgrades get 400 (403 for
 * a disallowed Origin). When the handler returns, the connection is closed
 * with the close handshake (1000); when it throws, with 1011, and the error is
 * rethrown; when it is killed, a 1001 close frame is written and the socket
 * closed at once. Relies on environ['evy.socket'], environ['evy.hijack']()
 * and environ['evy.rest'] from evy's WSGI server.
 */
export function WebSocketWSGI(handler: (ws: WebSocket) => unknown, opts: WebSocketWSGIOptions = {}): WSGIApp {
  if (typeof handler !== 'function') throw new TypeError('WebSocketWSGI needs a handler function (ws) => ...');
  const protocols = opts.protocols ?? [];
  const origins = opts.origins;
  const maxMessageSize = checkPositive(opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE, 'maxMessageSize');
  const closeTimeout = checkPositive(opts.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT, 'closeTimeout');

  return async (environ: Environ, startResponse: StartResponse): Promise<Iterable<Buffer>> => {
    const refuse = (status: string, reason: string, extra: Array<[string, string]> = []): Buffer[] => {
      const body = Buffer.from(reason + '\n');
      startResponse(status, [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)], ...extra]);
      return [body];
    };
    const upgrade = header(environ, 'HTTP_UPGRADE');
    if (upgrade === undefined || !tokens(upgrade).some((t) => t.toLowerCase() === 'websocket')) {
      return refuse('400 Bad Request', 'this URL takes WebSocket connections only (no Upgrade: websocket header)');
    }
    const method = header(environ, 'REQUEST_METHOD');
    if (method !== 'GET') return refuse('400 Bad Request', `a WebSocket upgrade must be a GET, not ${method ?? 'a request without a method'}`);
    if (!tokens(header(environ, 'HTTP_CONNECTION')).some((t) => t.toLowerCase() === 'upgrade')) {
      return refuse('400 Bad Request', 'a WebSocket upgrade needs Connection: Upgrade');
    }
    const version = header(environ, 'HTTP_SEC_WEBSOCKET_VERSION');
    if (version?.trim() !== '13') {
      return refuse('400 Bad Request', `unsupported Sec-WebSocket-Version ${version === undefined ? '(none)' : JSON.stringify(version)}: 13 only`, [
        ['Sec-WebSocket-Version', '13'],
      ]);
    }
    const key = header(environ, 'HTTP_SEC_WEBSOCKET_KEY')?.trim();
    if (key === undefined || !KEY_RE.test(key)) {
      return refuse('400 Bad Request', `Sec-WebSocket-Key must be 16 bytes in base64, got ${key === undefined ? 'none' : JSON.stringify(key)}`);
    }
    const origin = header(environ, 'HTTP_ORIGIN') ?? '';
    if (origins !== undefined && !origins.includes(origin)) {
      return refuse('403 Forbidden', `origin ${JSON.stringify(origin)} is not allowed`);
    }
    const sock = environ['evy.socket'];
    const hijack = environ['evy.hijack'];
    if (!(sock instanceof GreenSocket) || typeof hijack !== 'function') {
      return refuse('500 Internal Server Error', "WebSocketWSGI needs environ['evy.socket'] (a GreenSocket) and environ['evy.hijack'] (evy's WSGI server)");
    }
    const offered = tokens(header(environ, 'HTTP_SEC_WEBSOCKET_PROTOCOL'));
    const protocol = protocols.find((p) => offered.includes(p)) ?? '';
    // evy's WSGI server hands over the bytes it read past the request with the
    // socket ({ socket, head }); another server may give them as evy.rest.
    const taken = (hijack as () => unknown)() as { head?: unknown } | undefined;
    const restValue = taken !== undefined && taken !== null && Buffer.isBuffer(taken.head) ? taken.head : environ['evy.rest'];
    const rest = Buffer.isBuffer(restValue) ? restValue : EMPTY;
    let head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n`;
    if (protocol !== '') head += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
    head += '\r\n';
    const query = header(environ, 'QUERY_STRING') ?? '';
    const path = (header(environ, 'SCRIPT_NAME') ?? '') + (header(environ, 'PATH_INFO') ?? '/') + (query !== '' ? `?${query}` : '');
    const ws = new WebSocket(sock, { path, origin, protocol, environ, rest, maxMessageSize, closeTimeout });
    try {
      await sock.sendall(head);
    } catch (err) {
      sock.close();
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

// ---- the client -------------------------------------------------------------------------------

export interface ConnectOptions {
  /** subprotocols to offer (Sec-WebSocket-Protocol) */
  protocols?: string[];
  origin?: string;
  /** more request headers */
  headers?: Record<string, string>;
  maxMessageSize?: number;
  closeTimeout?: number;
}

const MAX_HEAD = 64 * 1024;

/**
 * Opens a WebSocket to `url` (ws://host[:port]/path?query) over a green TCP
 * connection: masks its frames and checks Sec-WebSocket-Accept. Throws
 * WebSocketError when the handshake fails (the socket is closed).
 */
export async function connect(url: string, opts: ConnectOptions = {}): Promise<WebSocket> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new WebSocketError(`connect: ${JSON.stringify(url)} is not a URL`);
  }
  if (u.protocol === 'wss:') throw new WebSocketError('connect: wss:// is not supported (ws:// only)');
  if (u.protocol !== 'ws:') throw new WebSocketError(`connect: a WebSocket URL starts with ws://, got ${u.protocol}//`);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port === '' ? 80 : Number(u.port);
  const path = (u.pathname === '' ? '/' : u.pathname) + u.search;
  const protocols = opts.protocols ?? [];
  for (const p of protocols) {
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(p)) throw new WebSocketError(`connect: ${JSON.stringify(p)} is not a valid subprotocol name`);
  }
  const sock = await tcpConnect([host, port]);
  try {
    const key = randomBytes(16).toString('base64');
    let req = `GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
    if (protocols.length > 0) req += `Sec-WebSocket-Protocol: ${protocols.join(', ')}\r\n`;
    if (opts.origin !== undefined) req += `Origin: ${opts.origin}\r\n`;
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) throw new WebSocketError(`connect: header ${JSON.stringify(k)} contains a line break`);
      req += `${k}: ${v}\r\n`;
    }
    await sock.sendall(req + '\r\n');

    let buf = EMPTY;
    let end: number;
    while ((end = buf.indexOf('\r\n\r\n')) < 0) {
      if (buf.length > MAX_HEAD) throw new WebSocketError(`connect: the handshake response head is over ${MAX_HEAD} bytes`);
      const chunk = await sock.recv(RECV_SIZE);
      if (chunk.length === 0) throw new WebSocketError('connect: the server closed the connection during the handshake');
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    }
    const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (status === null || status[1] !== '101') throw new WebSocketError(`connect: the server answered ${JSON.stringify(lines[0])}, not 101 Switching Protocols`);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    if (headers.get('upgrade')?.toLowerCase() !== 'websocket') throw new WebSocketError('connect: the 101 response has no Upgrade: websocket');
    if (!tokens(headers.get('connection')).some((t) => t.toLowerCase() === 'upgrade')) throw new WebSocketError('connect: the 101 response has no Connection: Upgrade');
    const accept = headers.get('sec-websocket-accept');
    if (accept !== acceptKey(key)) throw new WebSocketError(`connect: wrong Sec-WebSocket-Accept ${JSON.stringify(accept ?? null)} (expected ${acceptKey(key)})`);
    if (headers.has('sec-websocket-extensions')) throw new WebSocketError('connect: the server chose an extension this client did not offer');
    const protocol = headers.get('sec-websocket-protocol') ?? '';
    if (protocol !== '' && !protocols.includes(protocol)) throw new WebSocketError(`connect: the server chose subprotocol ${JSON.stringify(protocol)}, which was not offered`);
    return new WebSocket(sock, {
      client: true,
      path,
      origin: opts.origin ?? '',
      protocol,
      rest: buf.subarray(end + 4),
      maxMessageSize: opts.maxMessageSize,
      closeTimeout: opts.closeTimeout,
    });
  } catch (err) {
    sock.close();
    throw err;
  }
}
