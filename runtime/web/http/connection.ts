// One client connection of the WSGI server: reads request heads, builds each
// environ, runs the application and sends its Response, until the
// connection should close. The connection's green thread holds a pool slot
// only while the application runs for one of its requests; reading a head or
// waiting idle between requests costs no slot, so idle, slow or abandoned
// clients cannot use up the pool. Their time is bounded by deadlines the
// server's sweep enforces (sweep() in wsgi.ts calls expire()): a whole head
// within headersTimeout, a whole body within requestTimeout, an idle
// keep-alive connection within its keepalive seconds.
import type { GreenPool } from '../../green/greenpool';
import { GreenletExit, type GreenThread } from '../../green/greenthread';
import { StopServe } from '../../io/convenience';
import { SHUT_WR, SocketTimeout, type Address, type GreenSocket } from '../../io/socket';
import { wrapSsl, type GreenSSLSocket, type WrapSslOptions } from '../../io/ssl';
import { RECV_SIZE, RecvBuffer } from '../recvbuf';
import { CR, HEX, LF, hasToken } from './grammar';
import { WsgiInput } from './input';
import { currentHttpDate, currentLogDate, escapeLogText, type LogRecord } from './log';
import { parseHead, scanHead, type HeadLimits, type RequestHead } from './parser';
import { Response, continueHead, type ResponseContext } from './response';
import { BodyError, HttpError, type Environ, type Hijacked, type LogStream, type StartResponse, type WriteFn, type WsgiApp, type WsgiResult } from './types';

/** Unread request body the server reads and drops to keep a connection; more: it closes. */
const MAX_DISCARD = 1 << 20;

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

/** Thrown into a connection's thread by the sweep: its request is past headersTimeout or requestTimeout. */
export class RequestTimeout extends BodyError {
  readonly status = 408;
  constructor(message: string) {
    super(message);
    this.name = 'RequestTimeout';
  }
}

/** The server's settings and shared state, read by every connection. */
export interface ServerState extends HeadLimits {
  app: WsgiApp;
  pool: GreenPool;
  log: LogStream | null;
  formatLog: ((r: LogRecord) => string) | null;
  logXForwardedFor: boolean;
  /** seconds idle between requests; 0: no keep-alive */
  keepalive: number;
  /** `Keep-Alive: timeout=N`'s N, -1: none */
  keepAliveHeader: number;
  socketTimeout: number | null;
  /** in milliseconds, as the deadlines */
  headersTimeout: number;
  requestTimeout: number;
  minimumChunkSize: number;
  capitalize: boolean;
  debug: boolean;
  urlScheme: string;
  ssl: (Omit<WrapSslOptions, 'serverSide'> & { key: string | Buffer; cert: string | Buffer }) | null;
  serverName: string;
  serverPort: string;
  errors: LogStream;
  stopping: boolean;
  /** @internal every open connection */
  connections: Set<Connection>;
  /** @internal connections idle between requests, longest idle first (a Set keeps insertion order) */
  idle: Set<Connection>;
  serverThread: GreenThread<unknown>;
}

/** What the deadline interrupts: nothing, a head being read, a body being read. */
const enum Waiting {
  None,
  Head,
  Body,
}

/** Header name as sent → environ key ('' for names the server drops). Bounded. */
const keyCache = new Map<string, string>();
function environKey(name: string): string {
  let key = keyCache.get(name);
  if (key !== undefined) return key;
  // Names with '_' are dropped: 'X_Forwarded' would collide with 'X-Forwarded' (spoofing).
  key = name.includes('_') ? '' : 'HTTP_' + name.toUpperCase().replaceAll('-', '_');
  if (keyCache.size < 2048) keyCache.set(name, key);
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

/** The client went away: reset, broken pipe, or our own close. */
export function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'EBADF' || code === 'ENOTCONN' || code === 'ECONNABORTED' || code === 'ETIMEDOUT';
}

/** The head of an answer the server makes itself (a refusal, a 500): a text/plain `body`, then close. */
function closingHead(status: string, body: string): string {
  return (
    `HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Date: ${currentHttpDate()}\r\nConnection: close\r\n\r\n`
  );
}

function closeResult(result: unknown): void {
  if (result !== null && typeof result === 'object' && typeof (result as { close?: unknown }).close === 'function') {
    try {
      (result as { close(): unknown }).close();
    } catch {
      // a failing close() changes nothing for the client
    }
  }
}

/** @internal One client connection: reads requests, runs the app, writes responses. */
export class Connection {
  readonly rb: RecvBuffer;
  hijacked = false;
  /** performance.now() past which the current wait is interrupted; 0: none */
  deadline = 0;
  waiting = Waiting.None;
  /** performance.now() when the current request's first byte was seen */
  private requestStart = 0;
  /** the connection's green thread, once spawned */
  thread: GreenThread<unknown> | null = null;
  /** The connection: a GreenSocket, or its TLS wrapping once run() did the handshake. */
  sock: GreenSocket | GreenSSLSocket;

  private response: Response | null = null;
  /** startResponse and write(), once per connection: they act on its current Response */
  private readonly startResponse: StartResponse = (status, headers, excInfo) => this.response!.start(status, headers, excInfo);
  private readonly write: WriteFn = (data) => this.response!.writeNow(data);
  /** what this connection's responses share */
  private readonly responses: ResponseContext;
  private input: WsgiInput | null = null;
  private readonly remoteAddr: string;
  private readonly remotePort: string;

  constructor(
    sock: GreenSocket,
    addr: Address,
    private readonly srv: ServerState,
  ) {
    this.sock = sock;
    this.rb = new RecvBuffer(sock);
    if (typeof addr === 'string') {
      this.remoteAddr = '';
      this.remotePort = '';
    } else {
      this.remoteAddr = addr[0];
      this.remotePort = String(addr[1]);
    }
    this.deadline = performance.now() + srv.headersTimeout;
    this.responses = { sock, keepAliveSeconds: srv.keepAliveHeader, capitalize: srv.capitalize, write: this.write };
  }

  /** Waiting for a request of which nothing came yet (a new or an idle keep-alive connection): a stopping server closes it. */
  quiet(): boolean {
    return this.waiting === Waiting.Head && this.rb.length === 0 && this.response?.hijacked !== true;
  }

  /** The response head has gone out. */
  get headSent(): boolean {
    return this.response !== null && this.response.headSent;
  }

  // ---- deadlines (the server's sweep calls expire) ------------------------------------

  /** The sweep found this connection past its deadline in a wait it bounds. */
  expire(): void {
    if (this.srv.idle.has(this)) {
      this.sock.close(); // an idle keep-alive connection: just closed
      return;
    }
    const what = this.waiting === Waiting.Body ? 'the request body' : 'the request head';
    const seconds = (this.waiting === Waiting.Body ? this.srv.requestTimeout : this.srv.headersTimeout) / 1000;
    this.deadline = 0;
    this.waiting = Waiting.None;
    this.thread?.kill(new RequestTimeout(`${what} did not arrive within ${seconds} seconds`));
  }

  /** @internal BodySource: the body is being read (its wait is bounded by requestTimeout) or not. */
  readingBody(on: boolean): void {
    this.waiting = on ? Waiting.Body : Waiting.None;
  }

  /** @internal BodySource */
  bodyBroken(): void {
    if (this.response !== null) this.response.keep = false;
  }

  /** @internal BodySource: a `100 Continue` with `headers`. */
  sendContinue(headers: readonly [string, string][]): Promise<void> {
    return this.sock.sendall(continueHead(headers, this.srv.capitalize));
  }

  // ---- reading heads --------------------------------------------------------------------

  /**
   * Waits for a whole request head; returns the offset just past it, or -1
   * when the client closed (or went quiet, or was closed) between requests.
   */
  private async readHead(first: boolean): Promise<number> {
    const rb = this.rb;
    const srv = this.srv;
    let scanned = 0; // bytes after pos already searched
    let started = !first && rb.length > 0;
    if (first) this.requestStart = this.deadline - srv.headersTimeout; // the connection's start
    else if (started) {
      this.requestStart = performance.now();
      this.deadline = this.requestStart + srv.headersTimeout;
    }
    try {
      for (;;) {
        // Stray CRLFs between requests (after a body) are skipped (RFC 9112 §2.2).
        const buf = rb.buf;
        let pos = rb.pos;
        while (pos < buf.length && (buf[pos] === CR || buf[pos] === LF)) pos++;
        if (pos !== rb.pos) {
          scanned = Math.max(0, scanned - (pos - rb.pos));
          rb.drop(pos - rb.pos);
        }
        const avail = rb.length;
        if (avail > 0) {
          if (!started && !first) {
            this.requestStart = performance.now();
            this.deadline = this.requestStart + srv.headersTimeout;
          }
          started = true;
          const end = scanHead(rb.buf, rb.pos, scanned, srv);
          if (end >= 0) return end;
          scanned = avail;
        }
        const idle = !started && !first;
        if (idle) {
          if (srv.stopping) return -1;
          srv.idle.add(this);
          this.deadline = srv.keepalive === Infinity ? 0 : performance.now() + srv.keepalive * 1000;
        }
        this.waiting = Waiting.Head;
        let got: boolean;
        try {
          got = await rb.more();
        } catch (err) {
          if (idle || err instanceof SocketTimeout || isGone(err)) return -1;
          if (err instanceof RequestTimeout && rb.length === 0) return -1; // nothing of a request came: just closed
          throw err;
        } finally {
          this.waiting = Waiting.None;
          if (idle) srv.idle.delete(this);
        }
        if (!got) return -1; // EOF, possibly mid-head: nothing to answer
      }
    } finally {
      this.deadline = 0;
    }
  }

  // ---- the connection's life ------------------------------------------------------

  /** Serves requests until the connection should close. */
  async run(): Promise<void> {
    const srv = this.srv;
    if (srv.ssl !== null) {
      this.waiting = Waiting.Head; // the handshake counts against headersTimeout
      try {
        this.sock = await wrapSsl(this.sock as GreenSocket, { ...srv.ssl, serverSide: true });
        this.rb.sock = this.sock;
        this.responses.sock = this.sock;
      } catch {
        return; // a failed or timed-out handshake ends this connection only (the caller closes it)
      } finally {
        this.waiting = Waiting.None;
      }
    }
    if (srv.socketTimeout !== null) this.sock.timeout = srv.socketTimeout;
    let first = true;
    try {
      for (;;) {
        const end = await this.readHead(first);
        first = false;
        if (end < 0) return;
        const started = srv.formatLog !== null ? performance.now() : 0;
        const head = parseHead(this.rb.buf, this.rb.pos, end, srv);
        const env = this.environ(head, end);
        const gt = this.thread!;
        const p = srv.pool.enter(gt);
        if (p !== undefined) await p;
        try {
          await this.respond(env, head, started);
        } finally {
          srv.pool.leave(gt);
        }
        if (this.hijacked || !this.response!.keep || srv.stopping) return;
      }
    } catch (err) {
      if (err instanceof HttpError) {
        await this.refuse(err.status, err.message, null);
        return;
      }
      if (err instanceof RequestTimeout) {
        await this.refuse(408, err.message, null);
        return;
      }
      if (err instanceof SocketTimeout || isGone(err) || err instanceof BodyError) return;
      throw err;
    }
  }

  /** A fresh environ (and Response, and wsgi.input) for `head`, which ends at `end`. */
  private environ(head: RequestHead, end: number): Environ {
    const srv = this.srv;
    const rawPath = head.rawPath;
    const env: Environ = {
      REQUEST_METHOD: head.method,
      SCRIPT_NAME: '',
      PATH_INFO: rawPath.includes('%') ? percentDecode(rawPath) : rawPath,
      RAW_PATH_INFO: rawPath,
      QUERY_STRING: head.query,
      CONTENT_TYPE: '',
      CONTENT_LENGTH: head.contentLength >= 0 ? String(head.contentLength) : '',
      SERVER_NAME: srv.serverName,
      SERVER_PORT: srv.serverPort,
      SERVER_PROTOCOL: head.http10 ? 'HTTP/1.0' : 'HTTP/1.1',
      REMOTE_ADDR: this.remoteAddr,
      REMOTE_PORT: this.remotePort,
      'wsgi.version': [1, 0],
      'wsgi.url_scheme': srv.urlScheme,
      'wsgi.input': null as unknown as WsgiInput,
      'wsgi.errors': srv.errors,
      'wsgi.multithread': true,
      'wsgi.multiprocess': false,
      'wsgi.run_once': false,
      headers_raw: head.headers,
      'evy.posthooks': [],
      'evy.socket': this.sock,
      'evy.hijack': this.hijack,
      'evy.minimum_write_chunk_size': srv.minimumChunkSize,
    };
    const headers = head.headers;
    for (let k = 0; k < headers.length; k++) {
      const key = environKey(headers[k][0]);
      if (key === '') continue;
      const value = headers[k][1];
      if (key === 'HTTP_CONTENT_LENGTH') continue;
      if (key === 'HTTP_CONTENT_TYPE') {
        env.CONTENT_TYPE = env.CONTENT_TYPE === '' ? value : env.CONTENT_TYPE + ',' + value;
        continue;
      }
      const prev = env[key as `HTTP_${string}`];
      env[key as `HTTP_${string}`] = prev === undefined ? value : prev + ',' + value;
    }
    if (head.host !== undefined) env.HTTP_HOST = head.host; // an absolute-form authority wins
    // keep-alive
    let keep = srv.keepalive > 0 && !srv.stopping;
    const askedKeepAlive = hasToken(head.connection, 'keep-alive');
    if (head.http10) keep &&= askedKeepAlive;
    else if (hasToken(head.connection, 'close')) keep = false;
    const input = new WsgiInput(this, head.chunked ? -1 : Math.max(0, head.contentLength), head.expect !== undefined);
    env['wsgi.input'] = input;
    this.input = input;
    this.rb.drop(end - this.rb.pos);
    this.response = new Response(this.responses, head.method === 'HEAD', head.http10, askedKeepAlive, keep, input, srv.minimumChunkSize);
    return env;
  }

  private readonly hijack = (): Hijacked => {
    const res = this.response;
    if (res === null || res.headSent) throw new Error('evy.hijack: the response has already started');
    this.hijacked = true;
    res.hijacked = true;
    res.keep = false;
    // the connection is the application's now: no pool slot, no deadline, no socket timeout
    this.srv.pool.leave(this.thread!);
    this.deadline = 0;
    if (this.srv.socketTimeout !== null) this.sock.timeout = null;
    return { socket: this.sock, head: this.rb.detach() };
  };

  // ---- responding -------------------------------------------------------------------

  /** Runs the app for `env` and sends its response. */
  private async respond(env: Environ, head: RequestHead, started: number): Promise<void> {
    const input = this.input!;
    const res = this.response!;
    const srv = this.srv;
    // the body, as the app reads it, must arrive within requestTimeout of the request
    if (!input.done) this.deadline = this.requestStart + srv.requestTimeout;
    let failure: unknown = null;
    let result: WsgiResult | null = null;
    try {
      let r = srv.app(env, this.startResponse) as WsgiResult | Promise<WsgiResult>;
      if (r !== null && typeof (r as Promise<WsgiResult>).then === 'function') r = await r;
      result = r as WsgiResult;
      const chunk = env['evy.minimum_write_chunk_size'];
      if (typeof chunk === 'number' && chunk >= 0) res.minimumChunkSize = chunk;
      const sent = res.send(result);
      if (sent !== undefined) await sent;
    } catch (err) {
      failure = err;
    } finally {
      closeResult(result);
    }
    try {
      if (failure !== null && !this.hijacked) await this.failed(failure, env);
      else if (!this.hijacked) this.logLine(env, `${head.method} ${head.target} ${env.SERVER_PROTOCOL}`, started);
      // What of the body the app left unread goes, so the next request can be read.
      if (res.keep && !this.hijacked && !input.done) {
        if (input.needContinue) res.keep = false; // the client still waits to send it
        else if (!(await input.discard(MAX_DISCARD))) res.keep = false; // its waits are bounded by requestTimeout too
      }
    } catch (err) {
      res.keep = false;
      if (!(err instanceof SocketTimeout || isGone(err) || err instanceof BodyError)) throw err;
    } finally {
      this.deadline = 0;
      const hooks = env['evy.posthooks'];
      if (!Array.isArray(hooks) || hooks.length > 0) await this.runPosthooks(env); // no promise for none
    }
  }

  /** The app (or sending its response) failed with `err`. */
  private async failed(err: unknown, env: Environ): Promise<void> {
    const res = this.response!;
    res.keep = false;
    if (err instanceof GreenletExit) throw err; // this connection's thread is being killed
    if (err instanceof SocketTimeout || isGone(err)) return; // the client is gone or stuck
    if (err instanceof RequestTimeout) {
      await this.refuse(408, err.message, env);
      return;
    }
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
    this.report(`Error in the WSGI application (${env.REQUEST_METHOD} ${escapeLogText(env.RAW_PATH_INFO)}): ${stack}\n`);
    if (res.headSent) return; // too late for a 500: the connection closes under the broken response
    const body = this.srv.debug ? `500 Internal Server Error\n\n${stack}\n` : '500 Internal Server Error\n';
    const head = closingHead('500 Internal Server Error', body);
    res.headSent = true;
    res.status = '500 Internal Server Error';
    res.bodySent = Buffer.byteLength(body);
    this.logLine(env, `${env.REQUEST_METHOD} ${env.RAW_PATH_INFO} ${env.SERVER_PROTOCOL}`, 0);
    try {
      await this.sock.sendall(env.REQUEST_METHOD === 'HEAD' ? head : head + body);
    } catch (e) {
      if (!(e instanceof SocketTimeout || isGone(e))) throw e;
    }
  }

  /** Answers a bad request with `status` and closes, reading what the client still sends (lingering close). */
  private async refuse(status: number, message: string, env: Environ | null): Promise<void> {
    if (env !== null && this.headSent) return; // a refused head (env null) is a new request: the last response's head does not count
    const reason = REASONS[status] ?? 'Error';
    const body = `${status} ${reason}: ${message}\n`;
    const head = closingHead(`${status} ${reason}`, body);
    // a refused head is a request of its own: a fresh Response, not the last request's
    const res =
      env !== null && this.response !== null
        ? this.response
        : (this.response = new Response(this.responses, false, false, false, false, null, 0));
    res.keep = false;
    res.headSent = true;
    res.status = `${status} ${reason}`;
    res.bodySent = Buffer.byteLength(body);
    if (env === null) this.logLine(null, this.requestLineGuess(), 0);
    else this.logLine(env, `${env.REQUEST_METHOD} ${env.RAW_PATH_INFO} ${env.SERVER_PROTOCOL}`, 0);
    try {
      await this.sock.sendall(head + body);
      this.sock.shutdown(SHUT_WR);
      // Drop what the client still sends until it closes (bounded), so that
      // closing with unread data does not reset the connection under the answer.
      const saved = this.sock.timeout;
      this.sock.timeout = Math.min(saved ?? 2, 2);
      this.rb.detach();
      for (let dropped = 0; dropped < MAX_DISCARD; ) {
        const d = await this.sock.recv(RECV_SIZE);
        if (d.length === 0) break;
        dropped += d.length;
      }
    } catch (err) {
      if (!(err instanceof SocketTimeout || err instanceof RequestTimeout || isGone(err))) throw err;
    }
  }

  private requestLineGuess(): string {
    const buf = this.rb.buf;
    const pos = this.rb.pos;
    const end = buf.indexOf(CR, pos);
    const stop = Math.min(end < 0 ? buf.length : end, pos + 200);
    return buf.toString('latin1', pos, stop);
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

  private logLine(env: Environ | null, requestLine: string, started: number): void {
    const format = this.srv.formatLog;
    if (format === null) return;
    const res = this.response;
    let clientIp = this.remoteAddr === '' ? '-' : this.remoteAddr;
    if (this.srv.logXForwardedFor && env !== null) {
      const xff = env.HTTP_X_FORWARDED_FOR;
      if (xff !== undefined && xff !== '') clientIp = xff.replaceAll(' ', '') + ',' + clientIp;
    }
    const line = format({
      client_ip: escapeLogText(clientIp),
      client_port: this.remotePort,
      date_time: currentLogDate(),
      request_line: escapeLogText(requestLine),
      status_code: res === null ? '' : res.status.slice(0, 3),
      body_length: res === null ? 0 : res.bodySent,
      wall_seconds: started === 0 ? 0 : (performance.now() - started) / 1000,
    });
    this.srv.log!.write(line);
  }

  private report(text: string): void {
    this.srv.log?.write(text);
  }
}
