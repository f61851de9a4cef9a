// evy/web/wsgi: Evy's WSGI server (PEP 3333) on green sockets. One green
// thread per connection; HTTP/1.1 keep-alive, pipelining, chunked requests
// and responses, 100-continue, HEAD, HTTP/1.0; posthooks and socket hijacking
// for upgrades. Safe with no options: idle, slow and abandoned clients are
// bounded in time (headersTimeout, requestTimeout, keepalive) and cost no pool
// slot; the oldest idle keep-alive connection makes room when maxConnections
// are open. The pieces live in web/http/: the parser (parser.ts, pure), the
// request body (input.ts), the response (response.ts), the access log
// (log.ts), one connection's loop (connection.ts); this file is the server.
import { createSecureContext } from 'node:tls';
import { GreenPool } from '../green/greenpool';
import { getCurrent, sleep, spawn, type GreenThread } from '../green/greenthread';
import { StopServe } from '../io/convenience';
import { AF_UNIX, GreenSocket, type Address } from '../io/socket';
import { Event } from '../sync/event';
import { Connection, type ServerState } from './http/connection';
import { compileLogFormat } from './http/log';
import {
  DEFAULT_HEADERS_TIMEOUT,
  DEFAULT_KEEPALIVE,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_SIZE,
  DEFAULT_LOG_FORMAT,
  DEFAULT_REQUEST_TIMEOUT,
  MAX_HEADER_LINE,
  MAX_HEADER_SIZE,
  MAX_REQUEST_LINE,
  MINIMUM_CHUNK_SIZE,
  type ServerOptions,
  type WsgiApp,
} from './http/types';

export * from './http/types';
export { WsgiInput } from './http/input';
export { RequestTimeout } from './http/connection';

function checkNumber(v: unknown, what: string, min: number): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v < min) throw new RangeError(`wsgi.server: ${what} must be a number ≥ ${min}, got ${String(v)}`);
  return v;
}

/** keepalive's seconds idle: true → the default, false or 0 → none. */
function keepaliveSeconds(v: boolean | number | undefined): number {
  if (v === undefined || v === true) return DEFAULT_KEEPALIVE;
  if (v === false) return 0;
  return checkNumber(v, 'keepalive', 0);
}

/**
 * Serves `app` on the listening socket `sock`, one green thread per
 * connection, until the socket is closed or the server's thread is killed
 * (with StopServe: a clean return). Open connections are then closed: idle
 * ones at once, busy ones after their current response (or at once if the
 * server was killed with anything but StopServe); one still waiting for its
 * first request gets a second for it. The listener is closed.
 * @throws {TypeError} `sock` is not a GreenSocket, `app` not a function, an option of the wrong type.
 * @throws {RangeError} an option out of its range.
 * @example await server(listen(['127.0.0.1', 8080]), (env, start) => { start('200 OK', []); return ['hi\n']; });
 */
export async function server(sock: GreenSocket, app: WsgiApp, opts: ServerOptions = {}): Promise<void> {
  if (!(sock instanceof GreenSocket)) throw new TypeError('wsgi.server needs a listening GreenSocket');
  if (typeof app !== 'function') throw new TypeError('wsgi.server needs an application function');
  if (opts.customPool !== undefined && !(opts.customPool instanceof GreenPool)) throw new TypeError('wsgi.server: customPool must be a GreenPool');
  const pool = opts.customPool ?? new GreenPool(checkNumber(opts.maxSize ?? DEFAULT_MAX_SIZE, 'maxSize', 1));
  const log = opts.log === undefined ? process.stderr : opts.log;
  if (log !== null && typeof log?.write !== 'function') throw new TypeError('wsgi.server: log must have a write() method, or be null');
  const maxConnections = checkNumber(opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS, 'maxConnections', 1);
  const keepalive = keepaliveSeconds(opts.keepalive);
  let sockName: Address = ['', 0];
  try {
    sockName = sock.getsockname();
  } catch {
    // not bound: the names stay empty
  }
  const unix = typeof sockName === 'string' || sock.family === AF_UNIX;
  const srv: ServerState = {
    app,
    pool,
    log,
    formatLog: log === null ? null : compileLogFormat(opts.logFormat ?? DEFAULT_LOG_FORMAT),
    logXForwardedFor: opts.logXForwardedFor ?? true,
    keepalive,
    keepAliveHeader: Number.isFinite(keepalive) && keepalive >= 1 ? Math.floor(keepalive) : -1,
    socketTimeout: opts.socketTimeout == null ? null : checkNumber(opts.socketTimeout, 'socketTimeout', 0),
    headersTimeout: checkNumber(opts.headersTimeout ?? DEFAULT_HEADERS_TIMEOUT, 'headersTimeout', 0.001) * 1000,
    requestTimeout: checkNumber(opts.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT, 'requestTimeout', 0.001) * 1000,
    minimumChunkSize: checkNumber(opts.minimumChunkSize ?? MINIMUM_CHUNK_SIZE, 'minimumChunkSize', 0),
    urlLengthLimit: checkNumber(opts.urlLengthLimit ?? MAX_REQUEST_LINE, 'urlLengthLimit', 1),
    maxHeaderSize: checkNumber(opts.maxHeaderSize ?? MAX_HEADER_SIZE, 'maxHeaderSize', 64),
    maxHeaderLine: checkNumber(opts.maxHeaderLine ?? MAX_HEADER_LINE, 'maxHeaderLine', 16),
    capitalize: opts.capitalizeResponseHeaders ?? true,
    debug: opts.debug ?? false,
    urlScheme: opts.urlScheme ?? (opts.ssl ? 'https' : 'http'),
    // One SecureContext for every connection: made per handshake, parsing the
    // key and certificate cost more than the handshake itself (a storm of
    // garbage ClientHellos took the server down through that alone).
    ssl: opts.ssl ? { ...opts.ssl, secureContext: opts.ssl.secureContext ?? createSecureContext({ key: opts.ssl.key, cert: opts.ssl.cert, ca: opts.ssl.ca }) } : null,
    serverName: unix ? 'unix' : sockName[0],
    serverPort: unix ? '' : String(sockName[1]),
    errors: log ?? process.stderr,
    stopping: false,
    connections: new Set(),
    idle: new Set(),
    serverThread: getCurrent(),
  };
  const threads = new Set<GreenThread<unknown>>();
  /** sent when a connection ends while the server waits for room under maxConnections */
  let room: Event<void> | null = null;
  const ended = (gt: GreenThread<unknown>, conn: Connection): void => {
    threads.delete(gt);
    srv.connections.delete(conn);
    srv.idle.delete(conn);
    if (!conn.hijacked) conn.sock.close();
    if (room !== null) {
      room.send();
      room = null;
    }
    const failed = gt.thrown();
    if (failed !== null && !(failed.error instanceof StopServe) && log !== null) {
      const e = failed.error;
      log.write(`wsgi: a connection failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    }
  };
  if (log !== null) {
    const where = unix ? `unix:${String(sockName)}` : `${srv.urlScheme}://${sockName[0].includes(':') ? `[${sockName[0]}]` : sockName[0]}:${srv.serverPort}`;
    log.write(`(${process.pid}) wsgi starting up on ${where}\n`);
  }
  const sweeper = spawn(sweep, srv);
  let graceful = false;
  try {
    for (;;) {
      while (srv.connections.size >= maxConnections) {
        // full: the longest-idle keep-alive connection makes room, else wait for one to end
        const oldest = srv.idle.values().next();
        if (!oldest.done) {
          srv.idle.delete(oldest.value);
          oldest.value.sock.close();
        }
        await (room ??= new Event<void>()).wait();
      }
      const [conn, addr] = await sock.accept();
      let c: Connection;
      try {
        c = new Connection(conn, addr, srv);
      } catch (err) {
        conn.close();
        throw err;
      }
      srv.connections.add(c);
      const gt = spawn(runConnection, c) as GreenThread<unknown>;
      c.thread = gt;
      threads.add(gt);
      gt.link(ended, c);
    }
  } catch (err) {
    if (err instanceof StopServe || sock.closed) graceful = true;
    else throw err;
  } finally {
    srv.stopping = true;
    sock.close();
    // Idle keep-alive connections close now; a new one whose first request
    // may be on its way (a worker drained under load) gets a moment for it.
    for (const c of srv.connections) {
      if (!graceful || (c.quiet() && srv.idle.has(c))) c.sock.close();
      else if (c.quiet()) c.deadline = Math.min(c.deadline, performance.now() + FIRST_REQUEST_AT_STOP);
    }
    if (!graceful) for (const gt of threads) gt.kill();
    try {
      for (const gt of [...threads]) {
        try {
          await gt.wait();
        } catch {
          // reported by its link
        }
      }
    } finally {
      sweeper.kill(); // only now: the deadlines still bound the connections that finish
    }
  }
}

/** ms a stopping server waits for the first request of a connection it accepted before the stop */
const FIRST_REQUEST_AT_STOP = 1000;

function runConnection(c: Connection): Promise<void> {
  return c.run();
}

/**
 * Enforces the connections' deadlines: wakes a few times per shortest limit
 * (at most once a second, at least every 10 ms) and expires each connection
 * past its deadline in a wait the deadline bounds. One sweep instead of a
 * timer per wait: the common request costs no timer at all.
 */
async function sweep(srv: ServerState): Promise<void> {
  const shortest = Math.min(srv.keepalive > 0 ? srv.keepalive * 1000 : Infinity, srv.headersTimeout, srv.requestTimeout);
  const every = Math.max(10, Math.min(1000, shortest / 4)) / 1000;
  for (;;) {
    await sleep(every);
    const now = performance.now();
    for (const c of srv.connections) if (c.deadline !== 0 && c.deadline <= now && c.waiting !== 0) c.expire();
  }
}
