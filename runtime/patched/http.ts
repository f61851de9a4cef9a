// evy/patched/http: node:http, plus urlopen, the role of Evy's green
// urllib2.urlopen: a request whose every wait (connecting, the response
// headers, each read of the body) is an evy operation. A Timeout or kill
// there aborts the request (req.destroy()), which frees its socket.
//
// Its bounds: each wait has one by default (`timeout`, 60 seconds);
// `deadline` (300 seconds) bounds the whole exchange; `read()` stops at
// `maxBodySize`; and a redirect's body is never read in the background. Each
// of these failures destroys the request, so its socket is closed rather than
// left half-read in the pool.
import * as http from 'node:http';
import * as https from 'node:https';
import { getHub, Waiter } from '../hub/hub';
import { SocketTimeout } from '../io/socket';
import { streamGreen, type StreamGreen } from '../io/streamsock';
import { dropIn } from './dropin';

export * from 'node:http';

const hub = getHub();
const EMPTY = Buffer.alloc(0);

/**
 * urlopen's connection pool for http: URLs: keep-alive, at most 16 sockets per
 * host (more requests wait for one). Idle sockets do not hold the process.
 */
export const urlopenAgent: http.Agent = new http.Agent({ keepAlive: true, maxSockets: 16, maxFreeSockets: 16 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, maxFreeSockets: 16 });

export interface UrlopenOptions {
  /** default GET */
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  /** sent as is; content-length is set for it unless given */
  body?: string | Buffer | Uint8Array;
  /**
   * Seconds each wait may take before a SocketTimeout, which aborts the
   * request: connecting and getting the response head is one wait, and each
   * wait for more of the body is another. It bounds silences, not totals: a
   * body dripped a byte at a time never trips it (that is `deadline`'s job).
   * Default `urlopen.defaults.timeout` (60); null: no limit.
   */
  timeout?: number | null;
  /**
   * Seconds for the whole exchange, redirects and the reading of the body
   * included, counted from the urlopen call; past it, a wait raises
   * SocketTimeout and aborts the request. Default 300 (node:http's
   * requestTimeout): only it bounds a body dripped a byte at a time. null:
   * none, for a long download or a stream read with `for await`.
   */
  deadline?: number | null;
  /**
   * Bytes `read()` without `n` gathers in memory; a body bigger than that
   * fails with a RangeError (code ERR_BODY_TOO_LARGE) and aborts the request.
   * `read(n)` and `for await` take a body of any size piece by piece. Default
   * `urlopen.defaults.maxBodySize` (64 MiB); null: no limit.
   */
  maxBodySize?: number | null;
  /**
   * Redirects (301, 302, 303, 307, 308) followed before failing with
   * ERR_TOO_MANY_REDIRECTS (default 5). 0: redirects are returned, not followed.
   */
  maxRedirects?: number;
  /** the pool to use instead of urlopenAgent (e.g. an https.Agent with its own `ca`) */
  agent?: http.Agent;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Statuses whose response has no body, whatever its content-length says. */
const NO_BODY = new Set([204, 304]);
const MIB = 1024 * 1024;

/**
 * The bounds of one urlopen call, shared by its redirect hops and by the reads
 * of its response, so that `deadline` counts from the call to the last byte.
 */
class Limits {
  readonly timeout: number | null;
  readonly deadline: number | null;
  readonly maxBodySize: number | null;
  /** on the hub's clock; Infinity without a deadline */
  private readonly deadlineAt: number;

  constructor(timeout: number | null, deadline: number | null, maxBodySize: number | null) {
    this.timeout = timeout;
    this.deadline = deadline;
    this.maxBodySize = maxBodySize;
    this.deadlineAt = deadline === null ? Infinity : hub.clock() + deadline;
  }

  /**
   * How long the next wait may take (null: forever), and whether the deadline
   * rather than `timeout` sets that; 0 once the deadline has passed.
   */
  nextWait(): [number | null, boolean] {
    const left = this.deadlineAt - hub.clock();
    if (this.timeout !== null && this.timeout <= left) return [this.timeout, false];
    if (left === Infinity) return [null, false];
    return [Math.max(0, left), true];
  }

  /** The SocketTimeout for a wait that `nextWait` bounded. */
  expired(byDeadline: boolean, during: string, url: string): SocketTimeout {
    const secs = (byDeadline ? this.deadline : this.timeout) ?? 0;
    const err = new SocketTimeout('urlopen', secs);
    err.message = byDeadline
      ? `urlopen: the deadline of ${secs} seconds for the whole exchange passed ${during} ${url}`
      : `urlopen timed out after ${secs} seconds ${during} ${url}`;
    return err;
  }
}

/** A response: status, headers, final URL, and a body read green. */
export class UrlResponse implements AsyncIterable<Buffer> {
  readonly status: number;
  readonly statusText: string;
  /** lowercased names; set-cookie is an array */
  readonly headers: Record<string, string | string[]>;
  /** the URL that answered, after redirects */
  readonly url: string;
  private readonly req: http.ClientRequest;
  private readonly res: http.IncomingMessage;
  private readonly body: StreamGreen;
  private readonly limits: Limits;
  /** false for a HEAD request's response and for 1xx, 204 and 304: content-length does not count */
  private readonly hasBody: boolean;
  /** body bytes handed out so far */
  private consumed = 0;
  /** what urlopen itself failed the body with (a timeout, the size limit): each later read raises it again */
  private failure: Error | null = null;

  /** @internal */
  constructor(req: http.ClientRequest, res: http.IncomingMessage, url: string, method: string, limits: Limits) {
    this.req = req;
    this.res = res;
    this.url = url;
    this.limits = limits;
    this.status = res.statusCode ?? 0;
    this.statusText = res.statusMessage ?? '';
    this.hasBody = method !== 'HEAD' && this.status >= 200 && !NO_BODY.has(this.status);
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = v;
    this.headers = headers;
    this.body = streamGreen(res);
    this.body.onInterrupt = () => req.destroy();
    this.body.attach();
  }

  /**
   * Reads the body: `n` bytes of it (fewer at its end), or without `n` all the
   * rest, which must fit in `maxBodySize`. An empty Buffer at the end. Reading
   * to the end gives the socket back to the pool.
   * @throws {RangeError} `n` is not a non-negative integer; or, without `n`,
   *   the body is bigger than `maxBodySize` (code ERR_BODY_TOO_LARGE; the
   *   request is aborted).
   * @throws {SocketTimeout} a wait took longer than `timeout`, or the
   *   `deadline` passed (the request is aborted).
   * @example const page = String(await (await urlopen(url, { deadline: 30 })).read());
   */
  async read(n?: number): Promise<Buffer> {
    if (n !== undefined && (!Number.isInteger(n) || n < 0)) throw new RangeError(`read: n must be a non-negative integer, got ${String(n)}`);
    const max = this.limits.maxBodySize;
    if (n === undefined && max !== null) this.checkLength(max);
    // Without n, one byte past the limit tells a body over it from one that is exactly at it.
    const want = n ?? (max === null ? Infinity : max + 1);
    const chunks: Buffer[] = [];
    let got = 0;
    while (got < want) {
      const d = await this.recv(n === undefined ? Math.min(65536, want - got) : want - got);
      if (d.length === 0) break;
      chunks.push(d);
      got += d.length;
    }
    if (n === undefined && max !== null && got > max) {
      throw this.fail(tooLarge(`urlopen: the body of ${this.url} is bigger than maxBodySize (${max} bytes)`));
    }
    return chunks.length === 1 ? chunks[0] : chunks.length === 0 ? EMPTY : Buffer.concat(chunks, got);
  }

  /** The body has been read to its end. */
  get complete(): boolean {
    return this.res.readableEnded;
  }

  /** Aborts a body not read to its end (its socket is closed, not pooled). Harmless twice. */
  close(): void {
    if (!this.res.readableEnded) this.req.destroy();
  }

  /**
   * `for await (const chunk of response)`: the body's chunks as they come, with
   * no size limit; `timeout` and `deadline` bound its waits as they do read's.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      const d = await this.recv(65536);
      if (d.length === 0) return;
      yield d;
    }
  }

  /** A declared content-length over the limit fails before a byte is read. */
  private checkLength(max: number): void {
    const declared = this.res.headers['content-length'];
    if (!this.hasBody || declared === undefined) return;
    const rest = Number(declared) - this.consumed;
    if (Number.isSafeInteger(rest) && rest > max) {
      throw this.fail(tooLarge(`urlopen: the body of ${this.url} is ${rest} bytes (content-length), bigger than maxBodySize (${max} bytes)`));
    }
  }

  /** One recv of the body, its wait bounded by `timeout` and by what is left of `deadline`. */
  private async recv(bufsize: number): Promise<Buffer> {
    if (this.failure !== null) throw this.failure;
    const [secs, byDeadline] = this.limits.nextWait();
    // 0 (the deadline has passed): what is buffered or the end, but no wait (EAGAIN).
    this.body.timeoutSecs = secs;
    let d: Buffer;
    try {
      d = await this.body.recv(bufsize);
    } catch (err) {
      // Only the stream's own timer raises a SocketTimeout in recv (a Timeout
      // is another class), and EAGAIN only comes from a timeout of 0.
      const expired = err instanceof SocketTimeout || (secs === 0 && (err as NodeJS.ErrnoException).code === 'EAGAIN');
      if (!expired) throw err;
      throw this.fail(this.limits.expired(byDeadline, byDeadline ? 'while reading the body of' : 'with no byte of the body from', this.url));
    }
    this.consumed += d.length;
    return d;
  }

  /** Aborts the request (the socket is closed, not pooled) and keeps `err` for later reads. */
  private fail(err: Error): Error {
    this.failure = err;
    this.req.destroy();
    return err;
  }
}

function tooLarge(message: string): RangeError {
  const err = new RangeError(`${message}: read it piece by piece with read(n) or for await, or raise maxBodySize`) as RangeError & { code: string };
  err.code = 'ERR_BODY_TOO_LARGE';
  return err;
}

/** A number of seconds, positive (Infinity: none), or null (none); undefined gives `dflt`. */
function checkSeconds(v: unknown, name: string, dflt: number | null): number | null {
  if (v === undefined) return dflt;
  if (v === null) return null;
  if (typeof v !== 'number') throw new TypeError(`urlopen: ${name} must be null or a number of seconds, got ${typeof v}`);
  if (Number.isNaN(v) || v <= 0) throw new RangeError(`urlopen: ${name} must be null or a positive number of seconds, got ${String(v)}`);
  return v === Infinity ? null : v;
}

/** A count: a non-negative integer, or null (no limit) when `nullable`; undefined gives `dflt`. */
function checkCount<T extends number | null>(v: unknown, name: string, dflt: T, nullable: boolean): number | T {
  if (v === undefined) return dflt;
  if (v === null && nullable) return null as T;
  const what = `${nullable ? 'null or ' : ''}a non-negative integer`;
  if (typeof v !== 'number') throw new TypeError(`urlopen: ${name} must be ${what}, got ${v === null ? 'null' : typeof v}`);
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`urlopen: ${name} must be ${what}, got ${String(v)}`);
  return v;
}

function parseUrl(url: unknown, base?: URL): URL {
  if (typeof url !== 'string' && !(url instanceof URL)) {
    throw new TypeError(`urlopen: url must be a string or URL, got ${url === null ? 'null' : typeof url}`);
  }
  let u: URL;
  try {
    u = new URL(url, base);
  } catch {
    const err = new TypeError(`urlopen: invalid URL ${JSON.stringify(String(url))}`) as TypeError & { code: string };
    err.code = 'ERR_INVALID_URL';
    throw err;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new TypeError(`urlopen: unsupported URL scheme '${u.protocol}' in ${JSON.stringify(u.href)} (http: and https: only)`);
  }
  return u;
}

function withoutHeaders(headers: http.OutgoingHttpHeaders, drop: string[]): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (!drop.includes(k.toLowerCase())) out[k] = v;
  return out;
}

function hasHeader(headers: http.OutgoingHttpHeaders, name: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

/** Sends one request and waits (green) for its response head, a wait that `limits` bound. */
function exchange(
  url: URL,
  method: string,
  headers: http.OutgoingHttpHeaders,
  body: Buffer | undefined,
  agent: http.Agent | undefined,
  limits: Limits,
): Promise<[http.ClientRequest, http.IncomingMessage]> {
  const [secs, byDeadline] = limits.nextWait();
  if (secs === 0) return Promise.reject(limits.expired(true, 'before the request to', url.href));
  let req: http.ClientRequest | null = null;
  const w = hub.park<[http.ClientRequest, http.IncomingMessage]>(() => req?.destroy());
  if (!(w instanceof Waiter)) return w;
  const mod = url.protocol === 'https:' ? https : http;
  try {
    req = mod.request(url, { method, headers, agent: agent ?? (url.protocol === 'https:' ? httpsAgent : urlopenAgent) });
  } catch (err) {
    hub.throwInto(w as Waiter<unknown>, err);
    return w.promise;
  }
  const r = req;
  r.on('response', (res) => {
    if (!hub.wake(w, [r, res] as [http.ClientRequest, http.IncomingMessage])) r.destroy(); // nobody waits for it any more
  });
  // Stays: an error after the wait ended (the request was aborted) is not unhandled.
  r.on('error', (err) => hub.throwInto(w as Waiter<unknown>, err));
  if (secs !== null) {
    // On the waiter, so a wake cancels it; the throw's undo destroys the request.
    w.timer = hub.addTimer(secs, () => {
      w.timer = null;
      hub.throwInto(w as Waiter<unknown>, limits.expired(byDeadline, 'waiting for the response of', url.href));
    }, null, null);
  }
  r.end(body);
  return w.promise;
}

/**
 * Drops a redirect body that is all in, and waits until its request lets go of
 * the socket: Node emits the request's 'close' just before the socket's 'free',
 * which puts it back in the pool, so the next hop finds it there. No timer: the
 * bytes are all here, and 'close' follows within a few ticks.
 */
function release(req: http.ClientRequest, res: http.IncomingMessage): Promise<void> {
  res.resume();
  if (req.closed) return Promise.resolve();
  const done = (): void => void hub.wake(w as Waiter<void>, undefined);
  const w = hub.park<void>(() => {
    req.off('close', done);
    req.destroy();
  });
  if (!(w instanceof Waiter)) {
    req.destroy();
    return w;
  }
  req.once('close', done);
  return w.promise;
}

/**
 * Opens `url` (http:, or https: through node:https) and resolves the response
 * once its head is in; the body is read with `read()` or `for await`.
 *
 * Follows redirects (303, and 301/302 after a POST, become a GET without a
 * body; cross-origin hops drop authorization and cookie headers). A redirect's
 * own body is dropped: when all of it came with the head its socket goes back
 * to the pool, otherwise the socket is closed, so nothing goes on reading an
 * endless one. Any status is a response: 404 resolves, it does not throw.
 *
 * Bounds, by default: each wait (connecting and the head; each wait for more
 * of the body) `timeout` = 60 seconds; `read()` without `n` gathers at most
 * `maxBodySize` = 64 MiB; the whole exchange `deadline` = 300 seconds (only
 * it stops a body dripped slowly; null: none, for long streams).
 * `urlopen.defaults` holds these values.
 *
 * @throws {TypeError} the URL is not a string or URL, is invalid (code
 *   ERR_INVALID_URL) or is not http:/https:; an option has the wrong type.
 * @throws {RangeError} an option is out of range (the message names it).
 * @throws {SocketTimeout} a wait took longer than `timeout`, or the `deadline`
 *   passed; the request is aborted and its socket closed.
 * @throws a failed connection rejects with Node's error (code ECONNREFUSED...);
 *   too many redirects with code ERR_TOO_MANY_REDIRECTS.
 *
 * A Timeout or kill aborts the request and frees its socket, in urlopen as in
 * the reads of its body.
 * @example
 * const res = await urlopen('http://127.0.0.1:8000/', { timeout: 5, deadline: 30 });
 * if (res.status === 200) console.log(String(await res.read()));
 */
export async function urlopen(url: string | URL, opts: UrlopenOptions = {}): Promise<UrlResponse> {
  let target = parseUrl(url);
  if (opts === null || typeof opts !== 'object') throw new TypeError(`urlopen: opts must be an object, got ${opts === null ? 'null' : typeof opts}`);
  const limits = new Limits(
    checkSeconds(opts.timeout, 'timeout', urlopen.defaults.timeout),
    checkSeconds(opts.deadline, 'deadline', urlopen.defaults.deadline),
    checkCount(opts.maxBodySize, 'maxBodySize', urlopen.defaults.maxBodySize, true),
  );
  const maxRedirects = checkCount(opts.maxRedirects, 'maxRedirects', 5, false);
  let method = (opts.method ?? 'GET').toUpperCase();
  let headers: http.OutgoingHttpHeaders = { ...(opts.headers ?? {}) };
  let body: Buffer | undefined;
  if (opts.body !== undefined) {
    const b = opts.body;
    if (typeof b !== 'string' && !(b instanceof Uint8Array)) throw new TypeError('urlopen: body must be a string, Buffer or Uint8Array');
    body = typeof b === 'string' ? Buffer.from(b) : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    if (!hasHeader(headers, 'content-length')) headers['content-length'] = body.length;
  }
  for (let hops = 0; ; hops++) {
    const [req, res] = await exchange(target, method, headers, body, opts.agent, limits);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (!REDIRECTS.has(status) || location === undefined || maxRedirects === 0) {
      return new UrlResponse(req, res, target.href, method, limits);
    }
    if (hops >= maxRedirects) {
      req.destroy();
      const err = new Error(`urlopen: too many redirects (more than ${maxRedirects}), the last from ${target.href} to ${location}`) as NodeJS.ErrnoException;
      err.code = 'ERR_TOO_MANY_REDIRECTS';
      throw err;
    }
    let next: URL;
    try {
      next = parseUrl(location, target);
    } catch (err) {
      req.destroy();
      throw err;
    }
    // By now the parser has taken in all that came with the head: a short
    // redirect body is complete, and dropping it keeps the socket for the next
    // hop. Draining the rest in the background would read an endless body for
    // as long as the process lives (and keep it alive), so an unfinished body
    // closes its socket instead.
    if (res.complete) await release(req, res);
    else req.destroy();
    if (status === 303 ? method !== 'HEAD' : (status === 301 || status === 302) && method === 'POST') {
      method = 'GET';
      body = undefined;
      headers = withoutHeaders(headers, ['content-length', 'content-type', 'transfer-encoding']);
    }
    if (next.origin !== target.origin) headers = withoutHeaders(headers, ['authorization', 'cookie', 'host']);
    target = next;
  }
}

/**
 * The limits urlopen applies when its options leave them out: `timeout` 60
 * seconds per wait (long enough for a slow server, short enough that a dead
 * one does not hold a green thread for good); `deadline` 300 seconds for
 * the whole exchange (as node:http's requestTimeout: a body dripped a byte at
 * a time cannot hold a thread for good either; null for longer streams);
 * `maxBodySize` 64 MiB for `read()` without `n`. Frozen: pass options to change them.
 */
urlopen.defaults = Object.freeze({
  timeout: 60 as number | null,
  deadline: 300 as number | null,
  maxBodySize: 64 * MIB as number | null,
});

// A drop-in superset of node:http: every stock name, read and written through to the builtin (see ./dropin).
module.exports = dropIn('http', module.exports as object);
