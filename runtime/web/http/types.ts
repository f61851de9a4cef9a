// The WSGI server's public types, its options and their defaults, and the two
// errors of a request. evy/web/wsgi re-exports all of them.
import type { GreenPool } from '../../green/greenpool';
import type { GreenSocket } from '../../io/socket';
import type { GreenSSLSocket, WrapSslOptions } from '../../io/ssl';
import type { WsgiInput } from './input';

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
/** A posthook: a function, or `[fn, args, kwargs]` as in Evy. */
export type Posthook = PosthookFn | [PosthookFn, unknown[]?, Record<string, unknown>?];

/** Where access-log lines and errors go (process.stderr, or anything with write()). */
export interface LogStream {
  /** Takes one line (with its newline). */
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
  /** the header lines as sent: [name, value] pairs in order, repeats kept, names as spelled */
  headers_raw: [string, string][];
  'evy.posthooks': Posthook[];
  'evy.socket': GreenSocket | GreenSSLSocket;
  /** Takes the connection over from the server (websockets): see Hijacked. */
  'evy.hijack': () => Hijacked;
  /** body bytes gathered before a chunk of this response goes out; the app may change it (Evy's eventlet.minimum_write_chunk_size) */
  'evy.minimum_write_chunk_size': number;
  [header: `HTTP_${string}`]: string | undefined;
  [key: string]: unknown;
}

/** server()'s options; each default is one of the DEFAULT_* constants below. */
export interface ServerOptions {
  /**
   * Most requests handled at once (a GreenPool of this size); default 1024.
   * A connection holds a slot only while the application runs for one of
   * its requests: idle and slow clients cost a green thread, not a slot.
   */
  maxSize?: number;
  /** the pool whose slots requests take, instead of a new one of maxSize */
  customPool?: GreenPool;
  /**
   * Most open connections (default 10,000). When full, the longest-idle
   * keep-alive connection is closed to make room; with none idle, the new
   * connection waits in the listen backlog.
   */
  maxConnections?: number;
  /** access log and error reports; default process.stderr; null: silent */
  log?: LogStream | null;
  /**
   * Python %-style access-log format over client_ip, client_port, date_time,
   * request_line, status_code, body_length, wall_seconds; default Evy's
   * `%(client_ip)s - - [%(date_time)s] "%(request_line)s" %(status_code)s %(body_length)s %(wall_seconds).6f`
   */
  logFormat?: string;
  /** client_ip in the log is `X-Forwarded-For's chain,peer` when the request has one (default true, as in Evy) */
  logXForwardedFor?: boolean;
  /**
   * Keep connections open between requests. true (default): closed after
   * DEFAULT_KEEPALIVE (5) seconds idle; a number: that many seconds idle
   * (Infinity: never); false or 0: one request per connection.
   */
  keepalive?: boolean | number;
  /** body bytes gathered before a chunk goes out (default 4096); per request: environ['evy.minimum_write_chunk_size'] */
  minimumChunkSize?: number;
  /** seconds any single wait on a client may take, then the connection is closed (default: none) */
  socketTimeout?: number | null;
  /**
   * Seconds a client has, from its connection (or a keep-alive request's first
   * byte), to send a whole request head — the TLS handshake included; then 408
   * and close (default 60, as node:http). Whatever the byte rate: slowloris-proof.
   */
  headersTimeout?: number;
  /** Seconds from a request's first byte to the end of its body as the app reads it; then 408 (default 300, as node:http) */
  requestTimeout?: number;
  /** longest request line accepted, else 414 (default 8192) */
  urlLengthLimit?: number;
  /** largest request head accepted, else 431 (default 65536) */
  maxHeaderSize?: number;
  /** longest header line accepted, else 400 (default 8192, as Evy) */
  maxHeaderLine?: number;
  /** send the error's stack in a 500's body (default false) */
  debug?: boolean;
  /** wsgi.url_scheme (default 'http', or 'https' with ssl) */
  urlScheme?: string;
  /** response header names capitalised as in Evy (`some-weird` → `Some-Weird`); default true, false: sent as the app spelled them */
  capitalizeResponseHeaders?: boolean;
  /**
   * Serve HTTPS: each connection is wrapped with wrapSsl (server side) in its
   * own green thread before its first request; a failed handshake only ends
   * that connection. `evy.socket` is then the TLS socket.
   */
  ssl?: Omit<WrapSslOptions, 'serverSide'> & { key: string | Buffer; cert: string | Buffer };
}

/** Default `maxSize`: requests handled at once. */
export const DEFAULT_MAX_SIZE = 1024;
/** Default `maxConnections`: connections open at once. */
export const DEFAULT_MAX_CONNECTIONS = 10000;
/** Seconds an idle keep-alive connection is kept when `keepalive` is true (the default). */
export const DEFAULT_KEEPALIVE = 5;
/** Default `headersTimeout`: seconds for a request's head to arrive. */
export const DEFAULT_HEADERS_TIMEOUT = 60;
/** Default `requestTimeout`: seconds for a whole request to arrive. */
export const DEFAULT_REQUEST_TIMEOUT = 300;
/** Default `logFormat`: Evy's access-log line. */
export const DEFAULT_LOG_FORMAT =
  '%(client_ip)s - - [%(date_time)s] "%(request_line)s" %(status_code)s %(body_length)s %(wall_seconds).6f';
/** Default `minimumChunkSize`: body bytes gathered before a chunk goes out. */
export const MINIMUM_CHUNK_SIZE = 4096;
/** Default `urlLengthLimit`: the longest request line, in bytes (414 past it). */
export const MAX_REQUEST_LINE = 8192;
/** Default `maxHeaderSize`: the largest request head, in bytes (431 past it). */
export const MAX_HEADER_SIZE = 65536;
/** Default `maxHeaderLine`: the longest header line, in bytes (400 past it). */
export const MAX_HEADER_LINE = 8192;

/** A request the server refuses: answered with `status` and the connection closed. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
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
