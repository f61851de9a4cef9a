// One response: startResponse's checks, the framing decision (Content-Length,
// chunked, or until close), the head, and the body gathered into writes of at
// least minimumChunkSize bytes. A fresh Response per request, so nothing of
// one request's response state can leak into the next one's.
import type { GreenSocket } from '../../io/socket';
import type { GreenSSLSocket } from '../../io/ssl';
import { CR, LF, SP, hasToken, trimOws } from './grammar';
import { currentHttpDate } from './log';
import type { Body, WriteFn, WsgiResult } from './types';

const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
/** No body pieces, shared: a response allocates an array only for streamed pieces. */
const NO_PIECES: readonly Body[] = Object.freeze([]);
/** No headers, shared (until startResponse gives the app's; a 100 Continue with none set). */
export const NO_HEADERS: readonly [string, string][] = Object.freeze([]);

export const enum Framing {
  /** Content-Length from the application, or counted by the server */
  Length,
  Chunked,
  /** HTTP/1.0 without a length: the body ends when the connection closes */
  Close,
  /** HEAD, 1xx, 204, 304: no body at all */
  None,
}

/** What a connection's responses share (one object per connection, not per request). */
export interface ResponseContext {
  sock: GreenSocket | GreenSSLSocket;
  /** `Keep-Alive: timeout=N`'s N, or -1 for no such header */
  keepAliveSeconds: number;
  capitalize: boolean;
  /** the write() callable startResponse returns (the connection's, acting on its current Response) */
  write: WriteFn;
}

function byteLength(b: Body): number {
  return typeof b === 'string' ? Buffer.byteLength(b) : b.byteLength;
}

function toBuffer(b: Body): Buffer {
  if (typeof b === 'string') return Buffer.from(b);
  if (Buffer.isBuffer(b)) return b;
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function isBody(x: unknown): x is Body {
  return typeof x === 'string' || x instanceof Uint8Array;
}

/** Copies `pieces` into `out` from `at`; returns the offset after them. */
function copyPieces(out: Buffer, at: number, pieces: readonly Body[]): number {
  for (const p of pieces) {
    if (typeof p === 'string') at += out.write(p, at);
    else {
      out.set(p, at);
      at += p.byteLength;
    }
  }
  return at;
}

type Latin1Writer = Buffer & { latin1Write?(s: string, offset: number): number };

/** Writes latin1 `s` into `out` at `offset`; returns the bytes written. */
const latin1Write: (out: Buffer, s: string, offset: number) => number =
  typeof (Buffer.prototype as Latin1Writer).latin1Write === 'function'
    ? (out, s, offset) => (out as Latin1Writer).latin1Write!(s, offset)
    : (out, s, offset) => out.write(s, offset, 'latin1');

function isDigit(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 0x30 && c <= 0x39;
}

/** A byte that cannot be in a header line a server sends: CTLs but HT, DEL, and non-latin1 characters. */
function badHeaderChar(s: string, name: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || c === 0x7f || (c < SP && c !== 0x09)) return true;
    if (name && (c === 0x3a || c === SP || c === 0x09)) return true;
  }
  return false;
}

/**
 * Checks one `[name, value]` header pair of the application's: strings, a
 * non-empty name of latin1 characters without ':' or whitespace, no line
 * break or other control byte anywhere (response splitting).
 */
export function checkHeader(h: unknown, who: string): asserts h is [string, string] {
  if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string') {
    throw new TypeError(`${who}: each header must be a [name, value] pair of strings, got ${JSON.stringify(h)}`);
  }
  if (h[0].length === 0 || badHeaderChar(h[0], true)) throw new TypeError(`${who}: bad header name ${JSON.stringify(h[0])}`);
  if (badHeaderChar(h[1], false)) throw new TypeError(`${who}: a line break or control character in header ${h[0]} (response splitting)`);
}

/**
 * `some-weird` → `Some-Weird`, `x-API-key` → `X-Api-Key`: each '-'-part
 * capitalised as Evy does, with Python's bytes.capitalize() on the latin-1
 * name: ASCII letters only. String.prototype.toUpperCase would turn 'ß' into
 * 'SS' and 'ÿ' or 'µ' into characters beyond latin-1 (which the head's
 * latin-1 write then mangles). Cached, bounded.
 */
const capitalCache = new Map<string, string>();
export function capitalizeHeader(name: string): string {
  let out = capitalCache.get(name);
  if (out !== undefined) return out;
  out = '';
  let first = true;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (first && c >= 0x61 && c <= 0x7a) out += String.fromCharCode(c - 32);
    else if (!first && c >= 0x41 && c <= 0x5a) out += String.fromCharCode(c + 32);
    else out += name[i];
    first = c === 0x2d; // '-'
  }
  if (capitalCache.size < 2048) capitalCache.set(name, out);
  return out;
}

/** The interim `100 Continue`, with `headers` (checked: latin-1), as latin-1 bytes like every head (a string would go out as UTF-8). */
export function continueHead(headers: readonly [string, string][], capitalize: boolean): Buffer {
  let h = 'HTTP/1.1 100 Continue\r\n';
  for (const [name, value] of headers) h += (capitalize ? capitalizeHeader(name) : name) + ': ' + value + '\r\n';
  return Buffer.from(h + '\r\n', 'latin1');
}

/** A response being sent: the app's startResponse and write() act on it. */
export class Response {
  keep: boolean;
  headSent = false;
  started = false;
  /** the connection was handed over (evy.hijack): nothing more is written */
  hijacked = false;
  status = '';
  bodySent = 0;
  /** the bytes of body gathered before a chunk goes out */
  minimumChunkSize: number;
  framing = Framing.Length;
  private headers: readonly [string, string][] = NO_HEADERS;
  private contentLength = -1;
  /** body pieces for the next write: NO_PIECES, an array of ours, or the app's own array result (never written to) */
  private pending: readonly Body[] = NO_PIECES;
  private pendingLen = 0;
  private appSaysClose = false;
  private appChunked = false;

  /**
   * `isHead`, `http10`, `askedKeepAlive` (the client sent Connection:
   * keep-alive): the request's facts the head depends on; `keep`: reuse the
   * connection after it, unless the response turns that off; `input`: while
   * its client still waits for 100 Continue, the body will not come, so the
   * connection cannot be reused.
   */
  constructor(
    private readonly ctx: ResponseContext,
    private readonly isHead: boolean,
    private readonly http10: boolean,
    private readonly askedKeepAlive: boolean,
    keep: boolean,
    private readonly input: { readonly needContinue: boolean } | null,
    minimumChunkSize: number,
  ) {
    this.keep = keep;
    this.minimumChunkSize = minimumChunkSize;
  }

  /** startResponse's work (the connection's startResponse calls it on its current Response). */
  start(status: string, headers: [string, string][], excInfo?: unknown): WriteFn {
    if (this.hijacked) throw new Error('startResponse: the socket was hijacked');
    if (this.started && excInfo === undefined) throw new Error('startResponse called a second time without excInfo');
    if (this.headSent) throw excInfo; // too late to change the headers: re-raise (PEP 3333)
    if (typeof status !== 'string' || status.length < 4 || !isDigit(status, 0) || !isDigit(status, 1) || !isDigit(status, 2) || status.charCodeAt(3) !== SP) {
      throw new TypeError(`startResponse: status must be like '200 OK', got ${JSON.stringify(status)}`);
    }
    if (badHeaderChar(status, false)) throw new TypeError('startResponse: a line break or control character in the status (response splitting)');
    if (!Array.isArray(headers)) throw new TypeError('startResponse: headers must be an array of [name, value] pairs');
    let contentLength = -1;
    let close = false;
    let chunked = false;
    for (const h of headers) {
      checkHeader(h, 'startResponse');
      const [name, value] = h;
      switch (name.length) {
        case 14:
          if (name.toLowerCase() === 'content-length') {
            const v = trimOws(value);
            const n = /^\d{1,15}$/.test(v) ? Number(v) : -1;
            if (n < 0) throw new TypeError(`startResponse: Content-Length must be a non-negative integer, got ${JSON.stringify(value)}`);
            contentLength = n;
          }
          break;
        case 10:
          if (name.toLowerCase() === 'connection' && hasToken(value, 'close')) close = true;
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') {
            if (trimOws(value).toLowerCase() !== 'chunked') throw new TypeError(`startResponse: the server only frames bodies as chunked, not '${value}'`);
            chunked = true;
          }
          break;
      }
    }
    this.started = true;
    this.status = status;
    this.headers = headers;
    this.contentLength = contentLength;
    this.appSaysClose = close;
    this.appChunked = chunked;
    return this.ctx.write;
  }

  /** Decides the framing and builds the head; `sized`: the whole body is `pending` and the app said how much (an array). */
  private buildHead(sized: boolean): string {
    const ctx = this.ctx;
    const code = (this.status.charCodeAt(0) - 48) * 100 + (this.status.charCodeAt(1) - 48) * 10 + (this.status.charCodeAt(2) - 48);
    let h = 'HTTP/1.1 ' + this.status + '\r\n';
    const headers = this.headers;
    const capitalize = ctx.capitalize;
    let hasDate = false;
    let hasConnection = false;
    for (let k = 0; k < headers.length; k++) {
      const name = headers[k][0];
      const n = name.length;
      if (n === 17 && this.appChunked && name.toLowerCase() === 'transfer-encoding') continue;
      if (n === 4 && (name === 'Date' || name.toLowerCase() === 'date')) hasDate = true;
      else if (n === 10 && name.toLowerCase() === 'connection') hasConnection = true;
      h += (capitalize ? capitalizeHeader(name) : name) + ': ' + headers[k][1] + '\r\n';
    }
    if (!hasDate) h += 'Date: ' + currentHttpDate() + '\r\n';
    if (this.appSaysClose) this.keep = false;
    const bodiless = code < 200 || code === 204 || code === 304;
    if (bodiless) this.framing = Framing.None;
    else if (this.contentLength >= 0) this.framing = this.isHead ? Framing.None : Framing.Length;
    else if (sized && !this.appChunked) {
      this.contentLength = this.pendingLen;
      this.framing = this.isHead ? Framing.None : Framing.Length;
      if (!this.isHead || this.pendingLen > 0) h += 'Content-Length: ' + this.pendingLen + '\r\n';
    } else if (!this.http10) {
      this.framing = this.isHead ? Framing.None : Framing.Chunked;
      h += 'Transfer-Encoding: chunked\r\n';
    } else {
      this.framing = this.isHead ? Framing.None : Framing.Close;
      this.keep = false;
    }
    if (this.input !== null && this.input.needContinue) this.keep = false;
    if (!hasConnection) {
      if (!this.keep) h += 'Connection: close\r\n';
      else if (this.askedKeepAlive || this.http10) {
        h += 'Connection: keep-alive\r\n';
        if (ctx.keepAliveSeconds >= 0) h += 'Keep-Alive: timeout=' + ctx.keepAliveSeconds + '\r\n';
      }
    }
    this.headSent = true;
    return h + '\r\n';
  }

  /** Sends the head (if not yet sent) and the pending body, framed; `last`: the body ends here. */
  flush(last: boolean, sized = false): Promise<void> | undefined {
    let head = '';
    if (!this.headSent) head = this.buildHead(last && sized);
    let bodyLen = this.pendingLen;
    const pieces = this.pending;
    const framing = this.framing;
    if (framing === Framing.None) bodyLen = 0;
    else if (framing === Framing.Length) {
      const room = this.contentLength - this.bodySent;
      if (bodyLen > room) {
        // more than Content-Length said: the excess is dropped, and so is the connection
        this.keep = false;
        bodyLen = room;
      }
    }
    const pendingLen = this.pendingLen;
    let size = head.length + bodyLen;
    let prefix = '';
    const chunked = framing === Framing.Chunked;
    if (chunked) {
      if (bodyLen > 0) {
        prefix = bodyLen.toString(16) + '\r\n';
        size += prefix.length + 2;
      }
      if (last) size += LAST_CHUNK.length;
    }
    this.pending = NO_PIECES;
    this.pendingLen = 0;
    this.bodySent += bodyLen;
    if (size === 0) return undefined;
    const out = Buffer.allocUnsafe(size);
    let at = head.length > 0 ? latin1Write(out, head, 0) : 0;
    if (prefix !== '') at += latin1Write(out, prefix, at);
    if (bodyLen > 0) {
      if (bodyLen === pendingLen) at = copyPieces(out, at, pieces);
      else at += Buffer.concat(pieces.map(toBuffer)).copy(out, at, 0, bodyLen); // cut to Content-Length
    }
    if (chunked) {
      if (bodyLen > 0) {
        out[at++] = CR;
        out[at++] = LF;
      }
      if (last) at += LAST_CHUNK.copy(out, at);
    }
    return this.ctx.sock.sendall(out);
  }

  /** A piece of the app's result: its byte length, or a TypeError (not bytes) or Error (before startResponse). */
  private checkPiece(data: unknown): number {
    if (!isBody(data)) throw new TypeError(`the application's body must be Buffers or strings, got ${data === null ? 'null' : typeof data}`);
    if (!this.started) throw new Error('the application gave body data before calling startResponse');
    return byteLength(data);
  }

  /** Body data from the app's result, kept for the next write. */
  private gather(data: Body): void {
    const n = this.checkPiece(data);
    if (n === 0) return;
    this.keepPiece(data, n);
  }

  private keepPiece(data: Body, n: number): void {
    if (this.pending === NO_PIECES) this.pending = [data];
    else (this.pending as Body[]).push(data);
    this.pendingLen += n;
  }

  /** Body data from the app's iterable: gathered up to minimumChunkSize. */
  private emit(data: Body): Promise<void> | undefined {
    this.gather(data);
    if (this.pendingLen >= this.minimumChunkSize) return this.flush(false);
    return undefined;
  }

  /** The write() callable's work: sends at once. */
  async writeNow(data: Body): Promise<void> {
    if (this.hijacked) throw new Error('write: the socket was hijacked');
    if (!this.started) throw new Error('write() called before startResponse');
    if (!isBody(data)) throw new TypeError(`write: data must be a Buffer or string, got ${data === null ? 'null' : typeof data}`);
    const n = byteLength(data);
    if (n === 0) return;
    this.keepPiece(data, n);
    await this.flush(false);
  }

  /**
   * Sends the application's result. An array is a body of known size: when
   * the app gave no Content-Length, the server counts it (Evy's rule for
   * results with a length), and it goes out in one write. Any other iterable
   * is streamed: chunked for HTTP/1.1, until close for HTTP/1.0. Returns the
   * last write's promise (undefined when nothing is left to wait for): no
   * promise of its own for the common array result.
   */
  send(result: WsgiResult): Promise<void> | undefined {
    if (this.hijacked) return undefined;
    if (Array.isArray(result)) {
      if (this.pendingLen === 0) {
        // the common case: the app's array is the pieces, no copy of it
        let n = 0;
        for (let k = 0; k < result.length; k++) n += this.checkPiece(result[k]);
        this.pending = result as Body[];
        this.pendingLen = n;
      } else for (let k = 0; k < result.length; k++) this.gather(result[k] as Body);
      return this.end(true);
    }
    return this.stream(result);
  }

  private async stream(result: WsgiResult): Promise<void> {
    if (result !== null && typeof (result as AsyncIterable<Body>)[Symbol.asyncIterator] === 'function') {
      for await (const piece of result as AsyncIterable<Body>) {
        const p = this.emit(piece);
        if (p !== undefined) await p;
      }
    } else if (result !== null && typeof (result as Iterable<Body>)[Symbol.iterator] === 'function' && typeof result !== 'string') {
      for (const piece of result as Iterable<Body>) {
        const p = this.emit(piece);
        if (p !== undefined) await p;
      }
    } else {
      throw new TypeError(`the application must return an iterable of Buffers or strings, got ${result === null ? 'null' : typeof result}`);
    }
    const p = this.end(false);
    if (p !== undefined) await p;
  }

  /** The body is complete: the last write, framed (`sized`: its length is the pending bytes). */
  private end(sized: boolean): Promise<void> | undefined {
    if (this.hijacked) return undefined;
    if (!this.started) throw new Error('the application returned without calling startResponse');
    const p = this.flush(true, sized);
    // flush() settled the framing and counted the body: the verdict needs no wait
    if (this.framing === Framing.Length && this.bodySent !== this.contentLength) this.keep = false;
    if (this.framing === Framing.Close) this.keep = false;
    return p;
  }
}
