// evy/web/wsgi: Evy's WSGI server (PEP 3333) on green sockets. One green
// thread per connection, from a GreenPool; HTTP/1.1 keep-alive, pipelining,
// chunked requests and responses, 100-continue, HEAD, HTTP/1.0; posthooks and
// socket hijacking for upgrades. The request head is parsed with byte scans
// over the receive buffer and one latin1 decoding of the header block.
import { GreenPool } from '../green/greenpool';
import { getCurrent, GreenletExit, type GreenThread } from '../green/greenthread';
import { StopServe } from '../io/convenience';
import { AF_UNIX, GreenSocket, SHUT_WR, SocketTimeout, type Address } from '../io/socket';
import { wrapSsl, type GreenSSLSocket, type WrapSslOptions } from '../io/ssl';

// ---- public types ---------------------------------------------------------------

/** A piece of a response body: bytes, or a string (sent as UTF-8). */
export type Body = Buffer | Uint8Array | string;

/** What an application returns: an iterable (or async iterable) of body pieces. */
export type WsgiResult = Iterable<Body> | AsyncIterable<Body>;

/** The write() callable start_response returns: sends `data` at once (headers first). */
export type WriteFn = (data: Body) => Promise<void>;

/**
 * `startResponse(status, headers, excInfo?)`: status like `'200 OK'`, headers
 * as `[name, value]` pairs. A second call is only allowed with `excInfo` (the
 * error being handled); once the headers went out, it rethrows `excInfo`.
 */
export type StartResponse = (status: string, headers: [string, string][], excInfo?: unknown) => WriteFn;

/** A WSGI application. */
export type WsgiApp = (environ: Environ, startResponse: StartResponse) => WsgiResult | Promise<WsgiResult>;

/** Called once the response is sent (or the client went away): `fn(environ, ...args, kwargs?)`. */
export type PosthookFn = (environ: Environ, ...args: unknown[]) => unknown;
export type Posthook = PosthookFn | [PosthookFn, unknown[]?, Record<string, unknown>?];

/** Where access-log lines and errors go (process.stderr, or anything with write()). */
export interface LogStream {
  write(line: string): unknown;
}

/** What `environ['evy.hijack']()` hands over. */
export interface Hijacked {
  /** the connection; the server will neither write to it nor close it */
  socket: GreenSocket | GreenSSLSocket;
  /** bytes already read from the socket past the request (and its body, if read) */
  head: Buffer;
}

/** The WSGI environ. Header values are `HTTP_*` keys; middleware may add its own keys. */
export interface Environ {
  REQUEST_METHOD: string;
  SCRIPT_NAME: string;
  /** percent-decoded, bytes as latin1 characters (PEP 3333 native strings) */
  PATH_INFO: string;
  /** the path as sent, not decoded */
  RAW_PATH_INFO: string;
  QUERY_STRING: string;
  /** '' when the request has none */
  CONTENT_TYPE: string;
  /** '' when the request has none (as for a chunked body) */
  CONTENT_LENGTH: string;
  SERVER_NAME: string;
  SERVER_PORT: string;
  SERVER_PROTOCOL: string;
  REMOTE_ADDR: string;
  REMOTE_PORT: string;
  'wsgi.version': [number, number];
  'wsgi.url_scheme': string;
  'wsgi.input': WsgiInput;
  'wsgi.errors': LogStream;
  'wsgi.multithread': boolean;
  'wsgi.multiprocess': boolean;
  'wsgi.run_once': boolean;
  'evy.posthooks': Posthook[];
  'evy.socket': GreenSocket | GreenSSLSocket;
  'evy.hijack': () => Hijacked;
  [header: `HTTP_${string}`]: string | undefined;
  [key: string]: unknown;
}

export interface ServerOptions {
  /** most connections served at once (a GreenPool of this size); default 1024 */
  maxSize?: number;
  /** the pool to run connections in, instead of a new one of maxSize */
  customPool?: GreenPool;
  /** access log and error reports; default process.stderr; null: silent */
  log?: LogStream | null;
  /**
   * Python %-style access-log format over client_ip, client_port, date_time,
   * request_line, status_code, body_length, wall_seconds; default Evy's
   * `%(client_ip)s - - [%(date_time)s] "%(request_line)s" %(status_code)s %(body_length)s %(wall_seconds).6f`
   */
  logFormat?: string;
  /** keep connections open between requests (default true); a number: the idle wait in seconds */
  keepalive?: boolean | number;
  /** body bytes gathered before a chunk goes out (default 4096) */
  minimumChunkSize?: number;
  /** seconds any single wait on a client may take, then the connection is closed (default: none) */
  socketTimeout?: number | null;
  /** longest request line accepted, else 414 (default 8192) */
  urlLengthLimit?: number;
  /** largest request head accepted, else 431 (default 65536) */
  maxHeaderSize?: number;
  /** send the error's stack in a 500's body (default false) */
  debug?: boolean;
  /** wsgi.url_scheme (default 'http', or 'https' with ssl) */
  urlScheme?: string;
  /**
   * Serve HTTPS: each connection is wrapped with wrapSsl (server side) in its
   * own green thread before its first request; a failed handshake only ends
   * that connection. `evy.socket` is then the TLS socket.
   */
  ssl?: Omit<WrapSslOptions, 'serverSide'> & { key: string | Buffer; cert: string | Buffer };
}

export const DEFAULT_MAX_SIZE = 1024;
export const DEFAULT_LOG_FORMAT =
  '%(client_ip)s - - [%(date_time)s] "%(request_line)s" %(status_code)s %(body_length)s %(wall_seconds).6f';
export const MINIMUM_CHUNK_SIZE = 4096;
export const MAX_REQUEST_LINE = 8192;
export const MAX_HEADER_SIZE = 65536;

/** A request the server refuses: answered with `status` and the connection closed. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'HttpError';
  }
}

/** A malformed or cut-short request body, thrown by wsgi.input. */
export class BodyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BodyError';
  }
}

// ---- bytes -------------------------------------------------------------------------

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;
const EMPTY = Buffer.alloc(0);
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const LFLF = Buffer.from('\n\n', 'latin1');
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
const RECV_SIZE = 65536;
/** Unread request body the server reads and drops to keep a connection; more: it closes. */
const MAX_DISCARD = 1 << 20;
/** Longest chunk-size line or trailer line of a chunked body. */
const MAX_CHUNK_LINE = 4096;
const MAX_TRAILERS = 65536;

/** RFC 9110 tchar: the bytes of a method or a header name. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = 10 + c;
  HEX[0x61 + c] = 10 + c;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  413: 'Content Too Large',
  414: 'URI Too Long',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

/** Header name as sent → environ key ('' for names the server drops). Bounded. */
const keyCache = new Map<string, string>();
const KEY_CACHE_MAX = 2048;

function environKey(name: string): string {
  let key = keyCache.get(name);
  if (key !== undefined) return key;
  // Names with '_' are dropped: 'X_Forwarded' would collide with 'X-Forwarded' (spoofing).
  key = name.includes('_') ? '' : 'HTTP_' + name.toUpperCase().replaceAll('-', '_');
  if (keyCache.size < KEY_CACHE_MAX) keyCache.set(name, key);
  return key;
}

/** %XX-decoding of a latin1 string, bytes staying latin1 characters; bad escapes are kept. */
function percentDecode(s: string): string {
  let out = '';
  let last = 0;
  for (let i = s.indexOf('%'); i >= 0 && i + 2 < s.length; i = s.indexOf('%', i + 1)) {
    const h = HEX[s.charCodeAt(i + 1) & 0xff];
    const l = HEX[s.charCodeAt(i + 2) & 0xff];
    if (h < 0 || l < 0 || s.charCodeAt(i + 1) > 0xff || s.charCodeAt(i + 2) > 0xff) continue;
    out += s.slice(last, i) + String.fromCharCode(h * 16 + l);
    last = i + 3;
    i += 2;
  }
  return last === 0 ? s : out + s.slice(last);
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
function copyPieces(out: Buffer, at: number, pieces: Body[]): number {
  for (const p of pieces) {
    if (typeof p === 'string') at += out.write(p, at);
    else {
      out.set(p, at);
      at += p.byteLength;
    }
  }
  return at;
}

// ---- dates -------------------------------------------------------------------------

let dateSecond = -1;
let httpDate = '';
let logDateSecond = -1;
let logDate = '';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The Date header's value, made once a second. */
function currentHttpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    httpDate = new Date(now).toUTCString();
  }
  return httpDate;
}

const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));

/** The access log's local time, `12/Mar/2024 13:04:05`, made once a second. */
function currentLogDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== logDateSecond) {
    logDateSecond = s;
    const d = new Date(now);
    logDate = `${pad2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  }
  return logDate;
}

// ---- the access log ----------------------------------------------------------------

interface LogRecord {
  client_ip: string;
  client_port: string;
  date_time: string;
  request_line: string;
  status_code: string;
  body_length: number;
  wall_seconds: number;
}

type LogPart = string | ((r: LogRecord) => string);

/** Compiles a Python %-format over LogRecord's names (`%(name)s`, `%(name)d`, `%(name).6f`, `%%`). */
function compileLogFormat(format: string): (r: LogRecord) => string {
  const parts: LogPart[] = [];
  const re = /%(?:\((\w+)\)([-+ 0#]*\d*)(?:\.(\d+))?([sdifr])|%)/g;
  let last = 0;
  for (let m = re.exec(format); m !== null; m = re.exec(format)) {
    parts.push(format.slice(last, m.index));
    last = re.lastIndex;
    if (m[0] === '%%') {
      parts.push('%');
      continue;
    }
    const name = m[1] as keyof LogRecord;
    const known: (keyof LogRecord)[] = ['client_ip', 'client_port', 'date_time', 'request_line', 'status_code', 'body_length', 'wall_seconds'];
    if (!known.includes(name)) throw new RangeError(`logFormat: unknown field '${m[1]}' (known: ${known.join(', ')})`);
    const width = Number(/\d+/.exec(m[2])?.[0] ?? 0);
    const left = m[2].includes('-');
    const precision = m[3] === undefined ? -1 : Number(m[3]);
    const conv = m[4];
    parts.push((r) => {
      const v = r[name];
      let s: string;
      if (conv === 'f') s = Number(v).toFixed(precision < 0 ? 6 : precision);
      else if (conv === 'd' || conv === 'i') s = String(Math.trunc(Number(v)));
      else s = precision >= 0 ? String(v).slice(0, precision) : String(v);
      return s.length >= width ? s : left ? s.padEnd(width) : s.padStart(width);
    });
  }
  parts.push(format.slice(last));
  const live = parts.filter((p) => p !== '');
  return (r) => {
    let out = '';
    for (const p of live) out += typeof p === 'string' ? p : p(r);
    return out + '\n';
  };
}

// ---- wsgi.input --------------------------------------------------------------------

const enum Chunk {
  Size,
  Data,
  DataEnd,
  Trailers,
  Done,
}

/**
 * wsgi.input: the request body, read from the connection as the application
 * asks for it, never past its end (Content-Length or the last chunk). The
 * first read sends `100 Continue` when the client asked for it.
 */
export class WsgiInput {
  /** Content-Length's bytes not yet read; -1: chunked. */
  private remaining: number;
  private chunkState = Chunk.Size;
  private chunkLeft = 0;
  /** read back by readline's look-ahead */
  private rbuf: Buffer = EMPTY;
  /** @internal the client waits for `100 Continue` before it sends the body */
  needContinue: boolean;
  /** @internal bytes of body handed out */
  consumed = 0;

  /** @internal */
  constructor(private readonly conn: Connection, contentLength: number, expectContinue: boolean) {
    this.remaining = contentLength;
    this.needContinue = expectContinue && contentLength !== 0;
  }

  /** The body's length from Content-Length, or null for a chunked body. */
  get length(): number | null {
    return this.remaining < 0 ? null : this.remaining + this.consumed;
  }

  /** @internal the whole body has been read */
  get done(): boolean {
    return this.rbuf.length === 0 && (this.remaining === 0 || (this.remaining < 0 && this.chunkState === Chunk.Done));
  }

  /** Up to `max` body bytes as soon as some are there; empty at the body's end. */
  private async piece(max: number): Promise<Buffer> {
    if (this.rbuf.length > 0) {
      const out = this.rbuf.length <= max ? this.rbuf : this.rbuf.subarray(0, max);
      this.rbuf = this.rbuf.length <= max ? EMPTY : this.rbuf.subarray(max);
      return out;
    }
    if (this.remaining === 0) return EMPTY;
    if (this.needContinue) {
      this.needContinue = false;
      if (!this.conn.headSent) await this.conn.sock.sendall(CONTINUE);
    }
    let out: Buffer;
    if (this.remaining > 0) {
      out = await this.conn.readBody(Math.min(max, this.remaining));
      this.remaining -= out.length;
    } else {
      out = await this.chunkedPiece(max);
    }
    this.consumed += out.length;
    return out;
  }

  private async chunkedPiece(max: number): Promise<Buffer> {
    const conn = this.conn;
    for (;;) {
      switch (this.chunkState) {
        case Chunk.Data: {
          const out = await conn.readBody(Math.min(max, this.chunkLeft));
          this.chunkLeft -= out.length;
          if (this.chunkLeft === 0) this.chunkState = Chunk.DataEnd;
          return out;
        }
        case Chunk.DataEnd: {
          const line = await conn.readLine(2, 'the end of a chunk');
          if (line.length !== 0) throw this.fail('a chunk is longer than its size says');
          this.chunkState = Chunk.Size;
          break;
        }
        case Chunk.Size: {
          const line = await conn.readLine(MAX_CHUNK_LINE, 'a chunk size');
          let size = 0;
          let i = 0;
          for (; i < line.length; i++) {
            const d = HEX[line[i]];
            if (d < 0) break;
            size = size * 16 + d;
            if (size > Number.MAX_SAFE_INTEGER / 16) throw this.fail('a chunk size is too large');
          }
          if (i === 0) throw this.fail(`a chunk size is not hexadecimal: '${line.toString('latin1', 0, 40)}'`);
          // what may follow: whitespace and chunk extensions (';name=value'), ignored
          if (i < line.length && line[i] !== 0x3b && line[i] !== SP && line[i] !== HT) {
            throw this.fail(`a chunk size is not hexadecimal: '${line.toString('latin1', 0, 40)}'`);
          }
          if (size === 0) this.chunkState = Chunk.Trailers;
          else {
            this.chunkLeft = size;
            this.chunkState = Chunk.Data;
          }
          break;
        }
        case Chunk.Trailers: {
          let total = 0;
          for (;;) {
            const line = await conn.readLine(MAX_CHUNK_LINE, 'a trailer');
            total += line.length + 2;
            if (total > MAX_TRAILERS) throw this.fail('the trailers are too long');
            if (line.length === 0) break;
          }
          this.chunkState = Chunk.Done;
          this.remaining = 0;
          return EMPTY;
        }
        case Chunk.Done:
          return EMPTY;
      }
    }
  }

  private fail(message: string): BodyError {
    this.conn.keep = false;
    return new BodyError(`malformed chunked request body: ${message}`);
  }

  /** `n` bytes (fewer at the body's end); without n (or negative), the rest of the body. */
  async read(n = -1): Promise<Buffer> {
    if (n === 0) return EMPTY;
    if (n > 0) {
      const first = await this.piece(n);
      if (first.length === n || first.length === 0) return first;
      const parts = [first];
      let got = first.length;
      while (got < n) {
        const p = await this.piece(n - got);
        if (p.length === 0) break;
        parts.push(p);
        got += p.length;
      }
      return Buffer.concat(parts, got);
    }
    const parts: Buffer[] = [];
    let got = 0;
    for (;;) {
      const p = await this.piece(RECV_SIZE);
      if (p.length === 0) break;
      parts.push(p);
      got += p.length;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, got);
  }

  /** One line with its '\n' (the last may have none); `limit` caps its length. Empty at the end. */
  async readline(limit = -1): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    for (;;) {
      const want = limit < 0 ? RECV_SIZE : Math.min(RECV_SIZE, limit - got);
      if (want <= 0) break;
      const p = await this.piece(want);
      if (p.length === 0) break;
      const nl = p.indexOf(LF);
      if (nl >= 0 && nl + 1 < p.length) {
        this.rbuf = this.rbuf.length === 0 ? p.subarray(nl + 1) : Buffer.concat([p.subarray(nl + 1), this.rbuf]);
        parts.push(p.subarray(0, nl + 1));
        got += nl + 1;
        break;
      }
      parts.push(p);
      got += p.length;
      if (nl >= 0) break;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, got);
  }

  /** Every remaining line. */
  async readlines(): Promise<Buffer[]> {
    const lines: Buffer[] = [];
    for await (const line of this) lines.push(line);
    return lines;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      const line = await this.readline();
      if (line.length === 0) return;
      yield line;
    }
  }

  /** @internal Reads and drops up to `limit` more body bytes; true if the body ended. */
  async discard(limit: number): Promise<boolean> {
    let dropped = 0;
    this.rbuf = EMPTY;
    while (!this.done) {
      if (dropped > limit) return false;
      const p = await this.piece(RECV_SIZE);
      if (p.length === 0) return this.done;
      dropped += p.length;
    }
    return true;
  }
}

// ---- a connection ------------------------------------------------------------------

/** The server's shared state, read by every connection. */
interface ServerState {
  app: WsgiApp;
  log: LogStream | null;
  formatLog: ((r: LogRecord) => string) | null;
  keepalive: boolean;
  idleTimeout: number | null;
  socketTimeout: number | null;
  minimumChunkSize: number;
  urlLengthLimit: number;
  maxHeaderSize: number;
  debug: boolean;
  urlScheme: string;
  ssl: (Omit<WrapSslOptions, 'serverSide'> & { key: string | Buffer; cert: string | Buffer }) | null;
  serverName: string;
  serverPort: string;
  errors: LogStream;
  stopping: boolean;
  connections: Set<Connection>;
  serverThread: GreenThread<unknown>;
}

const enum Framing {
  /** Content-Length from the application */
  Length,
  Chunked,
  /** HTTP/1.0 without a length: the body ends when the connection closes */
  Close,
  /** HEAD, 1xx, 204, 304: no body at all */
  None,
}

/** @internal One client connection: reads requests, runs the app, writes responses. */
export class Connection {
  /** unread received bytes are buf[pos..] */
  buf: Buffer = EMPTY;
  pos = 0;
  /** waiting for the first byte of a request: a stopping server may close it */
  idle = false;
  hijacked = false;
  /** reuse the connection after this response */
  keep = true;

  // the response in progress
  headSent = false;
  private started = false;
  private status = '';
  private headers: [string, string][] = [];
  private framing = Framing.Length;
  private contentLength = -1;
  private bodySent = 0;
  private pending: Body[] = [];
  private pendingLen = 0;
  private isHead = false;
  private http10 = false;
  private appSaysClose = false;
  private appChunked = false;
  private input: WsgiInput | null = null;

  readonly startResponse: StartResponse;
  private readonly writeFn: WriteFn;
  private readonly remoteAddr: string;
  private readonly remotePort: string;

  /** The connection: a GreenSocket, or its TLS wrapping once run() did the handshake. */
  sock: GreenSocket | GreenSSLSocket;

  constructor(sock: GreenSocket, addr: Address, private readonly srv: ServerState) {
    this.sock = sock;
    if (typeof addr === 'string') {
      this.remoteAddr = addr;
      this.remotePort = '';
    } else {
      this.remoteAddr = addr[0];
      this.remotePort = String(addr[1]);
    }
    this.startResponse = (status, headers, excInfo) => this.start(status, headers, excInfo);
    this.writeFn = (data) => this.writeNow(data);
  }

  // ---- reading -----------------------------------------------------------------

  /** Receives more bytes onto the unread ones; false at EOF. */
  private async more(): Promise<boolean> {
    const data = await this.sock.recv(RECV_SIZE);
    if (data.length === 0) return false;
    if (this.pos >= this.buf.length) this.buf = data;
    else this.buf = Buffer.concat([this.buf.subarray(this.pos), data]);
    this.pos = 0;
    return true;
  }

  /** Up to `max` (> 0) body bytes: what is buffered, else one recv. Throws BodyError at EOF. */
  async readBody(max: number): Promise<Buffer> {
    const avail = this.buf.length - this.pos;
    if (avail > 0) {
      const n = Math.min(avail, max);
      const out = this.buf.subarray(this.pos, this.pos + n);
      this.pos += n;
      return out;
    }
    const data = await this.sock.recv(Math.min(max, RECV_SIZE));
    if (data.length === 0) {
      this.keep = false;
      throw new BodyError('the client closed the connection before the end of the request body');
    }
    return data;
  }

  /** A CRLF-terminated line of the body's framing, without the CRLF. */
  async readLine(limit: number, what: string): Promise<Buffer> {
    let scanned = this.pos;
    for (;;) {
      const i = this.buf.indexOf(LF, scanned);
      if (i >= 0) {
        if (i === this.pos || this.buf[i - 1] !== CR) {
          this.keep = false;
          throw new BodyError(`malformed chunked request body: ${what} does not end with CRLF`);
        }
        const line = this.buf.subarray(this.pos, i - 1);
        this.pos = i + 1;
        return line;
      }
      if (this.buf.length - this.pos > limit) {
        this.keep = false;
        throw new BodyError(`malformed chunked request body: ${what} is longer than ${limit} bytes`);
      }
      const from = this.buf.length - this.pos;
      if (!(await this.more())) {
        this.keep = false;
        throw new BodyError('the client closed the connection before the end of the request body');
      }
      scanned = this.pos + from;
    }
  }

  /**
   * Waits for a whole request head; returns the offset of its CRLFCRLF, or -1
   * when the client closed (or went quiet) between requests.
   */
  private async readHead(): Promise<number> {
    let scanned = 0; // bytes after pos already searched
    for (;;) {
      const buf = this.buf;
      let pos = this.pos;
      // Stray CRLFs between requests (after a body) are skipped (RFC 9112 §2.2).
      while (pos < buf.length && (buf[pos] === CR || buf[pos] === LF)) pos++;
      if (pos !== this.pos) {
        scanned = Math.max(0, scanned - (pos - this.pos));
        this.pos = pos;
      }
      const avail = buf.length - pos;
      if (avail > 0) {
        const end = buf.indexOf(CRLFCRLF, pos + (scanned > 3 ? scanned - 3 : 0));
        if (end >= 0) {
          if (end - pos > this.srv.maxHeaderSize) throw new HttpError(431, `the request head is over ${this.srv.maxHeaderSize} bytes`);
          return end;
        }
        this.checkPartialHead(buf, pos, avail);
        scanned = avail;
      }
      const idle = avail === 0;
      this.idle = idle;
      if (idle && this.srv.idleTimeout !== null) this.sock.timeout = this.srv.idleTimeout;
      let got: boolean;
      try {
        got = await this.more();
      } catch (err) {
        if (idle || err instanceof SocketTimeout || isGone(err)) return -1;
        throw err;
      } finally {
        this.idle = false;
        if (idle && this.srv.idleTimeout !== null) this.sock.timeout = this.srv.socketTimeout;
      }
      if (!got) return -1; // EOF, possibly mid-head: nothing to answer
    }
  }

  /** A head still incomplete: refuse what can never become a good one. */
  private checkPartialHead(buf: Buffer, pos: number, avail: number): void {
    // what is there of the method must be a token: garbage is refused before its end
    let i = pos;
    while (i < buf.length && TCHAR[buf[i]] === 1) i++;
    if (i < buf.length && (i === pos || buf[i] !== SP)) throw new HttpError(400, 'malformed request line (method)');
    const lineEnd = buf.indexOf(LF, pos);
    if ((lineEnd < 0 ? avail : lineEnd - pos) > this.srv.urlLengthLimit + 64) {
      throw new HttpError(414, `the request line is over ${this.srv.urlLengthLimit} bytes`);
    }
    if (avail > this.srv.maxHeaderSize) throw new HttpError(431, `the request head is over ${this.srv.maxHeaderSize} bytes`);
    if (buf.indexOf(LFLF, pos) >= 0) throw new HttpError(400, 'the request head ends with bare LFs (CRLF needed)');
  }

  // ---- the connection's life ------------------------------------------------------

  /** Serves requests until the connection should close. */
  async run(): Promise<void> {
    if (this.srv.ssl !== null) {
      try {
        this.sock = await wrapSsl(this.sock as GreenSocket, { ...this.srv.ssl, serverSide: true });
      } catch {
        return; // a failed handshake ends this connection only (the caller closes it)
      }
    }
    const sock = this.sock;
    if (this.srv.socketTimeout !== null) sock.timeout = this.srv.socketTimeout;
    let end: number;
    try {
      for (;;) {
        end = await this.readHead();
        if (end < 0) return;
        const started = this.srv.formatLog !== null ? performance.now() : 0;
        const env = this.parse(end);
        await this.respond(env, started);
        if (this.hijacked || !this.keep || this.srv.stopping) return;
      }
    } catch (err) {
      if (err instanceof HttpError) {
        await this.refuse(err.status, err.message, null);
        return;
      }
      if (err instanceof SocketTimeout || isGone(err) || err instanceof BodyError) return;
      throw err;
    }
  }

  /** Answers a bad request with `status` and closes, reading what the client still sends (lingering close). */
  private async refuse(status: number, message: string, env: Environ | null): Promise<void> {
    if (this.headSent) return;
    const reason = REASONS[status] ?? 'Error';
    const body = `${status} ${reason}: ${message}\n`;
    const head =
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Date: ${currentHttpDate()}\r\nConnection: close\r\n\r\n`;
    this.keep = false;
    this.headSent = true;
    this.status = `${status} ${reason}`;
    this.bodySent = Buffer.byteLength(body);
    if (env === null) this.logLine(this.requestLineGuess(), 0);
    try {
      await this.sock.sendall(head + body);
      this.sock.shutdown(SHUT_WR);
      // Drop what the client still sends until it closes (bounded), so that
      // closing with unread data does not reset the connection under the answer.
      const saved = this.sock.timeout;
      this.sock.timeout = Math.min(saved ?? 2, 2);
      for (let dropped = 0; dropped < MAX_DISCARD; ) {
        const d = await this.sock.recv(RECV_SIZE);
        if (d.length === 0) break;
        dropped += d.length;
      }
    } catch (err) {
      if (!(err instanceof SocketTimeout || isGone(err))) throw err;
    }
  }

  private requestLineGuess(): string {
    const end = this.buf.indexOf(CR, this.pos);
    const stop = Math.min(end < 0 ? this.buf.length : end, this.pos + 200);
    return this.buf.toString('latin1', this.pos, stop);
  }

  // ---- parsing ----------------------------------------------------------------------

  /** Parses the head ending at `end` (its CRLFCRLF) into a fresh environ. */
  private parse(end: number): Environ {
    const b = this.buf;
    const start = this.pos;
    const head = b.toString('latin1', start, end + 2);
    // request line: METHOD SP target SP HTTP/1.x
    let i = start;
    while (TCHAR[b[i]] === 1) i++;
    if (i === start || b[i] !== SP) throw new HttpError(400, 'malformed request line (method)');
    const method = head.slice(0, i - start);
    const ts = ++i;
    let query = -1;
    for (let c = b[i]; c > SP && c !== 0x7f; c = b[++i]) if (c === 0x3f && query < 0) query = i;
    if (i === ts || b[i] !== SP) throw new HttpError(400, 'malformed request line (target)');
    const te = i++;
    // 'HTTP/1.' then a digit, then CRLF
    if (
      b[i] !== 0x48 || b[i + 1] !== 0x54 || b[i + 2] !== 0x54 || b[i + 3] !== 0x50 || b[i + 4] !== 0x2f ||
      b[i + 5] < 0x30 || b[i + 5] > 0x39 || b[i + 6] !== 0x2e || b[i + 7] < 0x30 || b[i + 7] > 0x39 || b[i + 8] !== CR || b[i + 9] !== LF
    ) {
      throw new HttpError(400, 'malformed request line (version)');
    }
    if (b[i + 5] !== 0x31) throw new HttpError(505, `HTTP/${head[i + 5 - start]}.x is not supported`);
    const http10 = b[i + 7] === 0x30;
    if (te - ts > this.srv.urlLengthLimit) throw new HttpError(414, `the request target is over ${this.srv.urlLengthLimit} bytes`);
    const protocol = http10 ? 'HTTP/1.0' : 'HTTP/1.1';
    let rawPath: string;
    let queryString = '';
    if (query < 0) rawPath = head.slice(ts - start, te - start);
    else {
      rawPath = head.slice(ts - start, query - start);
      queryString = head.slice(query + 1 - start, te - start);
    }
    if (rawPath.charCodeAt(0) !== 0x2f) {
      // absolute-form (a proxy request): keep the path of http://host/path
      const scheme = rawPath.indexOf('://');
      if (scheme > 0) {
        const slash = rawPath.indexOf('/', scheme + 3);
        rawPath = slash < 0 ? '/' : rawPath.slice(slash);
      }
    }
    const env: Environ = {
      REQUEST_METHOD: method,
      SCRIPT_NAME: '',
      PATH_INFO: rawPath.includes('%') ? percentDecode(rawPath) : rawPath,
      RAW_PATH_INFO: rawPath,
      QUERY_STRING: queryString,
      CONTENT_TYPE: '',
      CONTENT_LENGTH: '',
      SERVER_NAME: this.srv.serverName,
      SERVER_PORT: this.srv.serverPort,
      SERVER_PROTOCOL: protocol,
      REMOTE_ADDR: this.remoteAddr,
      REMOTE_PORT: this.remotePort,
      'wsgi.version': [1, 0],
      'wsgi.url_scheme': this.srv.urlScheme,
      'wsgi.input': null as unknown as WsgiInput,
      'wsgi.errors': this.srv.errors,
      'wsgi.multithread': true,
      'wsgi.multiprocess': false,
      'wsgi.run_once': false,
      'evy.posthooks': [],
      'evy.socket': this.sock,
      'evy.hijack': this.hijack,
    };
    // header lines
    let contentLength: string | undefined;
    let transferEncoding: string | undefined;
    let connection: string | undefined;
    let expect: string | undefined;
    i += 10;
    const stop = end + 2;
    while (i < stop) {
      const ns = i;
      while (TCHAR[b[i]] === 1) i++;
      if (i === ns || b[i] !== COLON) {
        throw new HttpError(400, b[ns] === SP || b[ns] === HT ? 'folded header lines are not accepted' : 'malformed header line');
      }
      const ne = i++;
      while (b[i] === SP || b[i] === HT) i++;
      const vs = i;
      for (let c = b[i]; c !== CR; c = b[++i]) {
        if ((c < SP && c !== HT) || c === 0x7f) throw new HttpError(400, 'a header value holds a control character');
      }
      if (b[i + 1] !== LF) throw new HttpError(400, 'a header line does not end with CRLF');
      let ve = i;
      while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HT)) ve--;
      i += 2;
      const key = environKey(head.slice(ns - start, ne - start));
      if (key === '') continue;
      const value = head.slice(vs - start, ve - start);
      switch (key) {
        case 'HTTP_CONTENT_LENGTH':
          contentLength = contentLength === undefined ? value : contentLength + ',' + value;
          continue;
        case 'HTTP_CONTENT_TYPE':
          env.CONTENT_TYPE = env.CONTENT_TYPE === '' ? value : env.CONTENT_TYPE + ',' + value;
          continue;
        case 'HTTP_TRANSFER_ENCODING':
          transferEncoding = transferEncoding === undefined ? value : transferEncoding + ',' + value;
          break;
        case 'HTTP_CONNECTION':
          connection = connection === undefined ? value : connection + ',' + value;
          break;
        case 'HTTP_EXPECT':
          expect = value;
          break;
      }
      const prev = env[key as `HTTP_${string}`];
      env[key as `HTTP_${string}`] = prev === undefined ? value : prev + ',' + value;
    }

    // the body's framing: no smuggling
    let length = 0;
    if (transferEncoding !== undefined) {
      if (contentLength !== undefined) throw new HttpError(400, 'both Content-Length and Transfer-Encoding were sent');
      if (http10) throw new HttpError(400, 'Transfer-Encoding in an HTTP/1.0 request');
      if (transferEncoding.trim().toLowerCase() !== 'chunked') {
        throw new HttpError(501, `unsupported Transfer-Encoding '${transferEncoding.slice(0, 60)}' (only chunked)`);
      }
      length = -1;
    } else if (contentLength !== undefined) {
      length = parseContentLength(contentLength);
      env.CONTENT_LENGTH = String(length);
    }
    // keep-alive
    let keep = this.srv.keepalive && !this.srv.stopping;
    if (connection !== undefined) {
      const c = connection.toLowerCase();
      if (http10) keep &&= hasToken(c, 'keep-alive');
      else if (hasToken(c, 'close')) keep = false;
    } else if (http10) keep = false;
    const input = new WsgiInput(this, length, !http10 && expect !== undefined && expect.toLowerCase() === '100-continue');
    env['wsgi.input'] = input;
    this.input = input;
    // reset the response state
    this.pos = end + 4;
    this.keep = keep;
    this.http10 = http10;
    this.isHead = method === 'HEAD';
    this.headSent = false;
    this.started = false;
    this.framing = Framing.Length;
    this.contentLength = -1;
    this.bodySent = 0;
    this.appSaysClose = false;
    this.appChunked = false;
    this.status = '';
    return env;
  }

  private readonly hijack = (): Hijacked => {
    if (this.headSent) throw new Error('evy.hijack: the response has already started');
    this.hijacked = true;
    this.keep = false;
    const head = this.buf.subarray(this.pos);
    this.buf = EMPTY;
    this.pos = 0;
    if (this.srv.socketTimeout !== null) this.sock.timeout = null;
    return { socket: this.sock, head };
  };

  // ---- responding -------------------------------------------------------------------

  private start(status: string, headers: [string, string][], excInfo?: unknown): WriteFn {
    if (this.hijacked) throw new Error('startResponse: the socket was hijacked');
    if (this.started && excInfo === undefined) {
      throw new Error('startResponse called a second time without excInfo');
    }
    if (this.headSent) throw excInfo; // too late to change the headers: re-raise (PEP 3333)
    if (typeof status !== 'string' || status.length < 4 || !isDigit(status, 0) || !isDigit(status, 1) || !isDigit(status, 2) || status.charCodeAt(3) !== SP) {
      throw new TypeError(`startResponse: status must be like '200 OK', got ${JSON.stringify(status)}`);
    }
    if (!Array.isArray(headers)) throw new TypeError('startResponse: headers must be an array of [name, value] pairs');
    let contentLength = -1;
    let close = false;
    let chunked = false;
    for (const h of headers) {
      if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string') {
        throw new TypeError(`startResponse: each header must be a [name, value] pair of strings, got ${JSON.stringify(h)}`);
      }
      const [name, value] = h;
      if (!isToken(name)) throw new TypeError(`startResponse: bad header name ${JSON.stringify(name)}`);
      if (hasLineBreak(value) || hasLineBreak(status)) throw new TypeError(`startResponse: a line break in header ${name} (response splitting)`);
      switch (name.length) {
        case 14:
          if (name.toLowerCase() === 'content-length') {
            const n = /^\d{1,15}$/.test(value.trim()) ? Number(value.trim()) : -1;
            if (n < 0) throw new TypeError(`startResponse: Content-Length must be a non-negative integer, got ${JSON.stringify(value)}`);
            contentLength = n;
          }
          break;
        case 10:
          if (name.toLowerCase() === 'connection' && hasToken(value.toLowerCase(), 'close')) close = true;
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') {
            if (value.trim().toLowerCase() !== 'chunked') throw new TypeError(`startResponse: the server only frames bodies as chunked, not '${value}'`);
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
    return this.writeFn;
  }

  /** Decides the framing and builds the head; `complete`: the whole body is `pending`. */
  private buildHead(complete: boolean): string {
    const code = (this.status.charCodeAt(0) - 48) * 100 + (this.status.charCodeAt(1) - 48) * 10 + (this.status.charCodeAt(2) - 48);
    let h = 'HTTP/1.1 ' + this.status + '\r\n';
    const headers = this.headers;
    let hasDate = false;
    for (let k = 0; k < headers.length; k++) {
      const name = headers[k][0];
      if (name.length === 17 && this.appChunked && name.toLowerCase() === 'transfer-encoding') continue;
      if (name.length === 4 && (name === 'Date' || name.toLowerCase() === 'date')) hasDate = true;
      h += name + ': ' + headers[k][1] + '\r\n';
    }
    if (!hasDate) h += 'Date: ' + currentHttpDate() + '\r\n';
    if (this.appSaysClose) this.keep = false;
    const bodiless = code < 200 || code === 204 || code === 304;
    if (bodiless) this.framing = Framing.None;
    else if (this.contentLength >= 0) this.framing = this.isHead ? Framing.None : Framing.Length;
    else if (complete && !this.appChunked) {
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
    // the client waits for a 100 Continue the app never asked for: its body will not come
    if (this.input !== null && this.input.needContinue) this.keep = false;
    if (!this.keep) h += 'Connection: close\r\n';
    else if (this.http10) h += 'Connection: keep-alive\r\n';
    this.headSent = true;
    return h + '\r\n';
  }

  /** Sends the head (if not yet sent) and the pending body, framed; `last`: the body ends here. */
  private flush(last: boolean): Promise<void> | undefined {
    let head = '';
    if (!this.headSent) head = this.buildHead(last);
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
    this.pending = [];
    this.pendingLen = 0;
    this.bodySent += bodyLen;
    if (size === 0) return undefined;
    const out = Buffer.allocUnsafe(size);
    let at = head.length > 0 ? latin1Write(out, head, 0) : 0;
    if (prefix !== '') at += latin1Write(out, prefix, at);
    if (bodyLen > 0) {
      if (bodyLen === pendingLen) at = copyPieces(out, at, pieces);
      else {
        // cut to Content-Length
        at += Buffer.concat(pieces.map(toBuffer)).copy(out, at, 0, bodyLen);
      }
    }
    if (chunked) {
      if (bodyLen > 0) {
        out[at++] = CR;
        out[at++] = LF;
      }
      if (last) at += LAST_CHUNK.copy(out, at);
    }
    return this.sock.sendall(out);
  }

  /** Body data from the app's iterable: gathered up to minimumChunkSize. */
  private emit(data: Body): Promise<void> | undefined {
    if (!isBody(data)) throw new TypeError(`the application's body must be Buffers or strings, got ${data === null ? 'null' : typeof data}`);
    if (!this.started) throw new Error('the application gave body data before calling startResponse');
    const n = byteLength(data);
    if (n === 0) return undefined;
    this.pending.push(data);
    this.pendingLen += n;
    if (this.pendingLen >= this.srv.minimumChunkSize) return this.flush(false);
    return undefined;
  }

  /** The write() callable: sends at once. */
  private async writeNow(data: Body): Promise<void> {
    if (this.hijacked) throw new Error('write: the socket was hijacked');
    if (!this.started) throw new Error('write() called before startResponse');
    if (!isBody(data)) throw new TypeError(`write: data must be a Buffer or string, got ${data === null ? 'null' : typeof data}`);
    const n = byteLength(data);
    if (n === 0) return;
    this.pending.push(data);
    this.pendingLen += n;
    await this.flush(false);
  }

  /** Runs the app for `env` and sends its response. */
  private async respond(env: Environ, started: number): Promise<void> {
    const input = this.input!;
    let failure: unknown = null;
    let result: WsgiResult | null = null;
    try {
      let r = this.srv.app(env, this.startResponse) as WsgiResult | Promise<WsgiResult>;
      if (r !== null && typeof (r as Promise<WsgiResult>).then === 'function') r = await r;
      result = r as WsgiResult;
      if (!this.hijacked) {
        if (Array.isArray(result)) {
          for (let k = 0; k < result.length; k++) {
            const p = this.emit(result[k] as Body);
            if (p !== undefined) await p;
          }
        } else if (result !== null && typeof (result as AsyncIterable<Body>)[Symbol.asyncIterator] === 'function') {
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
        if (!this.started) throw new Error('the application returned without calling startResponse');
        const p = this.flush(true);
        if (p !== undefined) await p;
        if (this.framing === Framing.Length && this.bodySent !== this.contentLength) this.keep = false;
        if (this.framing === Framing.Close) this.keep = false;
      }
    } catch (err) {
      failure = err;
    } finally {
      closeResult(result);
    }
    try {
      if (failure !== null && !this.hijacked) await this.failed(failure, env);
      else if (!this.hijacked) this.logLine(`${env.REQUEST_METHOD} ${env.RAW_PATH_INFO}${env.QUERY_STRING ? '?' + env.QUERY_STRING : ''} ${env.SERVER_PROTOCOL}`, started);
      // What of the body the app left unread goes, so the next request can be read.
      if (this.keep && !this.hijacked && !input.done) {
        if (input.needContinue) this.keep = false; // the client still waits to send it
        else if (!(await input.discard(MAX_DISCARD))) this.keep = false;
      }
    } catch (err) {
      this.keep = false;
      if (!(err instanceof SocketTimeout || isGone(err) || err instanceof BodyError)) throw err;
    } finally {
      await this.runPosthooks(env);
    }
  }

  /** The app (or sending its response) failed with `err`. */
  private async failed(err: unknown, env: Environ): Promise<void> {
    this.keep = false;
    if (err instanceof GreenletExit) throw err; // this connection's thread is being killed
    if (err instanceof SocketTimeout || isGone(err)) return; // the client is gone or stuck
    if (err instanceof BodyError) {
      await this.refuse(400, err.message, env);
      return;
    }
    if (err instanceof StopServe) {
      this.srv.serverThread.kill(err);
      await this.refuse(503, 'the server is stopping', env);
      return;
    }
    const stack = err instanceof Error ? (err.stack ?? String(err)) : String(err);
    this.report(`Error in the WSGI application (${env.REQUEST_METHOD} ${env.RAW_PATH_INFO}): ${stack}\n`);
    if (this.headSent) return; // too late for a 500: the connection closes under the broken response
    const body = this.srv.debug ? `500 Internal Server Error\n\n${stack}\n` : '500 Internal Server Error\n';
    const head =
      `HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Date: ${currentHttpDate()}\r\nConnection: close\r\n\r\n`;
    this.headSent = true;
    this.status = '500 Internal Server Error';
    this.bodySent = Buffer.byteLength(body);
    this.logLine(`${env.REQUEST_METHOD} ${env.RAW_PATH_INFO} ${env.SERVER_PROTOCOL}`, 0);
    try {
      await this.sock.sendall(this.isHead ? head : head + body);
    } catch (e) {
      if (!(e instanceof SocketTimeout || isGone(e))) throw e;
    }
  }

  private async runPosthooks(env: Environ): Promise<void> {
    const hooks = env['evy.posthooks'];
    if (!Array.isArray(hooks) || hooks.length === 0) return;
    env['evy.posthooks'] = [];
    for (const hook of hooks) {
      try {
        let r: unknown;
        if (typeof hook === 'function') r = hook(env);
        else if (Array.isArray(hook) && typeof hook[0] === 'function') {
          const args = hook[1] ?? [];
          r = hook[2] !== undefined ? hook[0](env, ...args, hook[2]) : hook[0](env, ...args);
        } else throw new TypeError('a posthook must be a function or [fn, args?, kwargs?]');
        if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') await r;
      } catch (err) {
        this.report(`Error in a posthook: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      }
    }
  }

  private logLine(requestLine: string, started: number): void {
    const format = this.srv.formatLog;
    if (format === null) return;
    const line = format({
      client_ip: this.remoteAddr,
      client_port: this.remotePort,
      date_time: currentLogDate(),
      request_line: requestLine,
      status_code: this.status.slice(0, 3),
      body_length: this.bodySent,
      wall_seconds: started === 0 ? 0 : (performance.now() - started) / 1000,
    });
    this.srv.log!.write(line);
  }

  private report(text: string): void {
    this.srv.log?.write(text);
  }
}

type Latin1Writer = Buffer & { latin1Write?(s: string, offset: number): number };

/** Writes latin1 `s` into `out` at `offset`; returns the bytes written. */
const latin1Write: (out: Buffer, s: string, offset: number) => number =
  typeof (Buffer.prototype as Latin1Writer).latin1Write === 'function'
    ? (out, s, offset) => (out as Latin1Writer).latin1Write!(s, offset)
    : (out, s, offset) => out.write(s, offset, 'latin1');

function closeResult(result: unknown): void {
  if (result !== null && typeof result === 'object' && typeof (result as { close?: unknown }).close === 'function') {
    try {
      (result as { close(): unknown }).close();
    } catch {
      // a failing close() changes nothing for the client
    }
  }
}

function isDigit(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 0x30 && c <= 0x39;
}

function isToken(s: string): boolean {
  if (typeof s !== 'string' || s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TCHAR[c] !== 1) return false;
  }
  return true;
}

function hasLineBreak(s: string): boolean {
  return s.indexOf('\n') >= 0 || s.indexOf('\r') >= 0 || s.indexOf('\0') >= 0;
}

/** `token` among the comma-separated tokens of lower-cased `list`. */
function hasToken(list: string, token: string): boolean {
  if (list === token) return true;
  for (const t of list.split(',')) if (t.trim() === token) return true;
  return false;
}

/** Content-Length's value (repeats joined by ','): all the same digits, else 400. */
function parseContentLength(v: string): number {
  let n = -1;
  for (const part of v.split(',')) {
    const t = part.trim();
    if (t.length === 0 || t.length > 15) throw new HttpError(400, `bad Content-Length '${v.slice(0, 40)}'`);
    for (let i = 0; i < t.length; i++) {
      const c = t.charCodeAt(i);
      if (c < 0x30 || c > 0x39) throw new HttpError(400, `bad Content-Length '${v.slice(0, 40)}'`);
    }
    const m = Number(t);
    if (n >= 0 && m !== n) throw new HttpError(400, 'conflicting Content-Length values');
    n = m;
  }
  return n;
}

/** The client went away: reset, broken pipe, or our own close. */
function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'EBADF' || code === 'ENOTCONN' || code === 'ECONNABORTED' || code === 'ETIMEDOUT';
}

// ---- the server ----------------------------------------------------------------------

function checkNumber(v: unknown, what: string, min: number): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v < min) throw new RangeError(`wsgi.server: ${what} must be a number ≥ ${min}, got ${String(v)}`);
  return v;
}

/**
 * Serves `app` on the listening socket `sock`, one green thread per
 * connection, until the socket is closed or the server's thread is killed
 * (with StopServe: a clean return). Open connections are then closed: idle
 * ones at once, busy ones after their current response (or at once if the
 * server was killed with anything but StopServe). The listener is closed.
 */
export async function server(sock: GreenSocket, app: WsgiApp, opts: ServerOptions = {}): Promise<void> {
  if (!(sock instanceof GreenSocket)) throw new TypeError('wsgi.server needs a listening GreenSocket');
  if (typeof app !== 'function') throw new TypeError('wsgi.server needs an application function');
  if (opts.customPool !== undefined && !(opts.customPool instanceof GreenPool)) throw new TypeError('wsgi.server: customPool must be a GreenPool');
  const pool = opts.customPool ?? new GreenPool(checkNumber(opts.maxSize ?? DEFAULT_MAX_SIZE, 'maxSize', 1));
  const log = opts.log === undefined ? process.stderr : opts.log;
  if (log !== null && typeof log?.write !== 'function') throw new TypeError('wsgi.server: log must have a write() method, or be null');
  const keepalive = opts.keepalive ?? true;
  let sockName: Address = ['', 0];
  try {
    sockName = sock.getsockname();
  } catch {
    // not bound: the names stay empty
  }
  const srv: ServerState = {
    app,
    log,
    formatLog: log === null ? null : compileLogFormat(opts.logFormat ?? DEFAULT_LOG_FORMAT),
    keepalive: keepalive !== false,
    idleTimeout: typeof keepalive === 'number' ? checkNumber(keepalive, 'keepalive', 0) : null,
    socketTimeout: opts.socketTimeout == null ? null : checkNumber(opts.socketTimeout, 'socketTimeout', 0),
    minimumChunkSize: checkNumber(opts.minimumChunkSize ?? MINIMUM_CHUNK_SIZE, 'minimumChunkSize', 0),
    urlLengthLimit: checkNumber(opts.urlLengthLimit ?? MAX_REQUEST_LINE, 'urlLengthLimit', 1),
    maxHeaderSize: checkNumber(opts.maxHeaderSize ?? MAX_HEADER_SIZE, 'maxHeaderSize', 64),
    debug: opts.debug ?? false,
    urlScheme: opts.urlScheme ?? (opts.ssl ? 'https' : 'http'),
    ssl: opts.ssl ?? null,
    serverName: typeof sockName === 'string' ? sockName : sockName[0],
    serverPort: typeof sockName === 'string' || sock.family === AF_UNIX ? '' : String(sockName[1]),
    errors: log ?? process.stderr,
    stopping: false,
    connections: new Set(),
    serverThread: getCurrent(),
  };
  const threads = new Set<GreenThread<unknown>>();
  const ended = (gt: GreenThread<unknown>, conn: Connection): void => {
    threads.delete(gt);
    srv.connections.delete(conn);
    if (!conn.hijacked) conn.sock.close();
    const failed = gt.thrown();
    if (failed !== null && !(failed.error instanceof StopServe) && log !== null) {
      const e = failed.error;
      log.write(`wsgi: a connection failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    }
  };
  let graceful = false;
  try {
    for (;;) {
      const [conn, addr] = await sock.accept();
      let c: Connection;
      try {
        c = new Connection(conn, addr, srv);
      } catch (err) {
        conn.close();
        throw err;
      }
      srv.connections.add(c);
      let gt: GreenThread<unknown>;
      try {
        gt = (await pool.spawn(runConnection, c)) as GreenThread<unknown>;
      } catch (err) {
        srv.connections.delete(c);
        conn.close();
        throw err;
      }
      threads.add(gt);
      gt.link(ended, c);
    }
  } catch (err) {
    if (err instanceof StopServe || sock.closed) graceful = true;
    else throw err;
  } finally {
    srv.stopping = true;
    sock.close();
    for (const c of srv.connections) if (c.idle || !graceful) c.sock.close();
    if (!graceful) for (const gt of threads) gt.kill();
    for (const gt of [...threads]) {
      try {
        await gt.wait();
      } catch {
        // reported by its link
      }
    }
  }
}

function runConnection(c: Connection): Promise<void> {
  return c.run();
}
