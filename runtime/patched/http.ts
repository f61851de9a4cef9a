// evy/patched/http: node:http, plus urlopen, the role of Evy's green
// urllib2.urlopen: a request whose every wait (connecting, the response
// headers, each read of the body) is an evy operation. A Timeout or kill
// there aborts the request (req.destroy()), which frees its socket.
import * as http from 'node:http';
import * as https from 'node:https';
import { getHub, Waiter } from '../hub/hub';
import { armSocketTimeout } from '../io/socket';
import { streamGreen, type StreamGreen } from '../io/streamsock';

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
   * Seconds each wait may take (the response headers, each read of the body)
   * before a SocketTimeout, which aborts the request. null: no limit.
   */
  timeout?: number | null;
  /**
   * Redirects (301, 302, 303, 307, 308) followed before failing with
   * ERR_TOO_MANY_REDIRECTS (default 5). 0: redirects are returned, not followed.
   */
  maxRedirects?: number;
  /** the pool to use instead of urlopenAgent (e.g. an https.Agent with its own `ca`) */
  agent?: http.Agent;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

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

  /** @internal */
  constructor(req: http.ClientRequest, res: http.IncomingMessage, url: string, timeout: number | null) {
    this.req = req;
    this.res = res;
    this.url = url;
    this.status = res.statusCode ?? 0;
    this.statusText = res.statusMessage ?? '';
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = v;
    this.headers = headers;
    this.body = streamGreen(res);
    this.body.timeoutSecs = timeout;
    this.body.onInterrupt = () => req.destroy();
    this.body.attach();
  }

  /**
   * `n` bytes of the body (fewer at its end); without `n`, all the rest. An
   * empty Buffer at the end. Reading to the end gives the socket back to the pool.
   */
  async read(n?: number): Promise<Buffer> {
    if (n !== undefined && (!Number.isInteger(n) || n < 0)) throw new RangeError(`read: n must be a non-negative integer, got ${String(n)}`);
    const chunks: Buffer[] = [];
    let got = 0;
    while (n === undefined || got < n) {
      const d = await this.body.recv(n === undefined ? 65536 : n - got);
      if (d.length === 0) break;
      chunks.push(d);
      got += d.length;
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

  /** `for await (const chunk of response)`: the body's chunks as they come. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      const d = await this.body.recv();
      if (d.length === 0) return;
      yield d;
    }
  }
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

/** Sends one request and waits (green) for its response headers. */
function exchange(
  url: URL,
  method: string,
  headers: http.OutgoingHttpHeaders,
  body: Buffer | undefined,
  agent: http.Agent | undefined,
  timeout: number | null,
): Promise<[http.ClientRequest, http.IncomingMessage]> {
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
  armSocketTimeout(w as Waiter<unknown>, 'urlopen', timeout);
  r.end(body);
  return w.promise;
}

/**
 * Opens `url` (http:, or https: through node:https) and resolves the response
 * once its headers are in; the body is read with `read()` or `for await`.
 * Follows redirects (303, and 301/302 after a POST, become a GET without a
 * body; cross-origin hops drop authorization and cookie headers). Any status
 * is a response: 404 resolves, it does not throw. Errors: a bad URL is a
 * TypeError naming it; a failed connection rejects with Node's error (code
 * ECONNREFUSED...); `timeout` raises SocketTimeout. A Timeout or kill aborts
 * the request and frees its socket.
 */
export async function urlopen(url: string | URL, opts: UrlopenOptions = {}): Promise<UrlResponse> {
  let target = parseUrl(url);
  const timeout = opts.timeout ?? null;
  if (timeout !== null && (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0)) {
    throw new RangeError(`urlopen: timeout must be null or a non-negative number of seconds, got ${String(timeout)}`);
  }
  const maxRedirects = opts.maxRedirects ?? 5;
  if (!Number.isInteger(maxRedirects) || maxRedirects < 0) {
    throw new RangeError(`urlopen: maxRedirects must be a non-negative integer, got ${String(maxRedirects)}`);
  }
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
    const [req, res] = await exchange(target, method, headers, body, opts.agent, timeout);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (!REDIRECTS.has(status) || location === undefined || maxRedirects === 0) {
      return new UrlResponse(req, res, target.href, timeout);
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
    res.resume(); // the redirect's body is dropped; the socket goes back to the pool
    if (status === 303 ? method !== 'HEAD' : (status === 301 || status === 302) && method === 'POST') {
      method = 'GET';
      body = undefined;
      headers = withoutHeaders(headers, ['content-length', 'content-type', 'transfer-encoding']);
    }
    if (next.origin !== target.origin) headers = withoutHeaders(headers, ['authorization', 'cookie', 'host']);
    target = next;
  }
}
