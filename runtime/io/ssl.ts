// TLS for green sockets: Node's tls runs over a Duplex on the GreenSocket
// (a green thread pumps its reads; its writes go straight to the socket), and
// the TLS stream is read and written back through green recv/sendall
// (GreenStreamSocket).
import type { Duplex } from 'node:stream';
import type * as tls from 'node:tls';
import { GreenThread, spawn, wait } from '../green/greenthread';
import { GreenFile, type GreenFileOptions } from './file';
import { GreenSocket, SHUT_WR, type Address } from './socket';
import { streamGreen, type StreamGreen } from './streamsock';


/**
 * A Node Duplex over a GreenSocket. Its reads run in a green thread of its
 * own and its writes never park, so no caller's Timeout or kill can land in
 * them.
 */
function socketDuplex(sock: GreenSocket): Duplex {
  // node:stream and node:tls load on the first TLS connection, not with evy.
  socketDuplexClass ??= makeSocketDuplex();
  return new socketDuplexClass(sock);
}

let socketDuplexClass: (new (sock: GreenSocket) => Duplex) | undefined;

function makeSocketDuplex(): new (sock: GreenSocket) => Duplex {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const stream = require('node:stream') as typeof import('node:stream');
  class SocketDuplex extends stream.Duplex {
    private readonly sock: GreenSocket;
    private reader: GreenThread<void> | null = null;

    constructor(sock: GreenSocket) {
      super({ allowHalfOpen: true });
      this.sock = sock;
    }

    override _read(): void {
      if (this.reader !== null && !this.reader.dead) return;
      this.reader = spawn(async () => {
        for (;;) {
          let data: Buffer;
          try {
            data = await this.sock.recv(65536);
          } catch (err) {
            this.destroy(err as Error);
            return;
          }
          if (data.length === 0) {
            this.push(null);
            return;
          }
          if (!this.push(data)) return; // resumed by the next _read()
        }
      });
    }

    override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
      this.sock.writeThen(chunk, cb);
    }

    override _final(cb: (err?: Error | null) => void): void {
      // Every write's callback has run: nothing is left to send before the FIN.
      try {
        this.sock.shutdown(SHUT_WR);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    }

    override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
      this.reader?.kill();
      this.sock.close();
      cb(err);
    }
  }
  return SocketDuplex;
}

/**
 * Green recv/sendall over a Node Duplex stream (here a TLSSocket): the same
 * blocking-style calls as GreenSocket, each an evy operation (the shared
 * StreamGreen of ./streamsock does the waiting).
 */
export class GreenStreamSocket {
  protected readonly stream: Duplex;
  private readonly raw: GreenSocket;
  private readonly green: StreamGreen;

  /** @internal */
  constructor(stream: Duplex, raw: GreenSocket) {
    this.stream = stream;
    this.raw = raw;
    this.green = streamGreen(stream);
    this.green.timeoutSecs = raw.timeout;
    this.green.attach(); // its errors are kept for green calls from the start
  }

  /** Up to `bufsize` bytes as soon as some are there; an empty Buffer at EOF. */
  recv(bufsize = 65536): Promise<Buffer> {
    return this.green.recv(bufsize);
  }

  /** Reads into `buf` (up to `nbytes`); resolves the count, 0 at EOF. */
  recvInto(buf: Buffer | Uint8Array, nbytes = 0): Promise<number> {
    return this.green.recvInto(buf, nbytes);
  }

  /** Sends all of `data`, waiting until the stream took it. */
  sendall(data: Buffer | Uint8Array | string): Promise<void> {
    return this.green.sendall(data);
  }

  /**
   * @internal Queues `buf` behind every earlier write without parking (for callers that
   * may not wait: a timer callback, a reader answering a ping); `done` runs
   * once the stream took it, with the error if it failed or was closed first.
   * The stream's own ordering keeps it in line with sendall()s.
   */
  writeThen(buf: Buffer, done: (err?: Error | null) => void): void {
    if (this.green.closed) {
      done(new Error('write: the connection is closed'));
      return;
    }
    this.stream.write(buf, done);
  }

  /** sendall, resolving the number of bytes sent. */
  async send(data: Buffer | Uint8Array | string): Promise<number> {
    await this.green.sendall(data);
    return typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  }

  /** Ends the writing side (the peer sees EOF after the TLS close_notify). */
  shutdown(): void {
    this.stream.end();
  }

  /** Closes the stream and the socket under it. Harmless twice. */
  close(): void {
    if (this.green.closed) return;
    this.green.close();
    this.stream.destroy();
  }

  get closed(): boolean {
    return this.green.closed;
  }

  get timeout(): number | null {
    return this.green.timeoutSecs;
  }

  set timeout(seconds: number | null) {
    this.raw.timeout = seconds; // validates
    this.green.timeoutSecs = seconds;
  }

  getsockname(): Address {
    return this.raw.getsockname();
  }

  getpeername(): Address {
    return this.raw.getpeername();
  }

  fileno(): number {
    return this.raw.fileno();
  }

  makefile(mode: 'r' | 'w' | 'rw', opts?: GreenFileOptions): GreenFile<string>;
  makefile(mode?: 'rb' | 'wb' | 'rwb', opts?: GreenFileOptions): GreenFile<Buffer>;
  makefile(mode = 'rb', opts: GreenFileOptions = {}): GreenFile<string> | GreenFile<Buffer> {
    return mode.includes('b') ? new GreenFile<Buffer>(this, mode, opts) : new GreenFile<string>(this, mode, opts);
  }
}

/** A green TLS connection. */
export class GreenSSLSocket extends GreenStreamSocket {
  /** @internal */
  constructor(
    private readonly tlsSocket: tls.TLSSocket,
    raw: GreenSocket,
  ) {
    super(tlsSocket, raw);
  }

  /** The peer's certificate (empty object when it sent none). */
  getpeercert(detailed = false): tls.PeerCertificate | tls.DetailedPeerCertificate {
    return this.tlsSocket.getPeerCertificate(detailed);
  }

  /** The negotiated cipher. */
  cipher(): tls.CipherNameAndProtocol {
    return this.tlsSocket.getCipher();
  }

  /** The negotiated protocol version, e.g. 'TLSv1.3'. */
  version(): string | null {
    return this.tlsSocket.getProtocol();
  }
}

export interface WrapSslOptions {
  /** true: the server side of the handshake (needs key and cert) */
  serverSide?: boolean;
  key?: string | Buffer;
  cert?: string | Buffer;
  /** trusted CAs (default: Node's bundled roots) */
  ca?: string | Buffer | Array<string | Buffer>;
  /** the name the client checks the certificate against, and sends as SNI */
  serverHostname?: string;
  /** verify the peer's certificate: on by default for clients */
  rejectUnauthorized?: boolean;
  /** servers: ask clients for a certificate */
  requestCert?: boolean;
  /** ALPN protocols to offer */
  alpnProtocols?: string[];
  /** anything else Node's tls accepts */
  secureContext?: tls.SecureContext;
}

/**
 * Runs the TLS handshake over a connected green socket and returns a green TLS
 * connection. Clients verify the server's certificate by default; a failed
 * verification throws Node's error (e.g. code DEPTH_ZERO_SELF_SIGNED_CERT,
 * ERR_TLS_CERT_ALTNAME_INVALID). The handshake is an evy operation: Timeout and
 * kill interrupt it and close the connection. A server wrapping many
 * connections should pass one `secureContext` (tls.createSecureContext):
 * with only key and cert, each handshake parses them again.
 */
export async function wrapSsl(sock: GreenSocket, opts: WrapSslOptions = {}): Promise<GreenSSLSocket> {
  if (!(sock instanceof GreenSocket)) throw new TypeError('wrapSsl needs a connected GreenSocket');
  if (sock.listening) {
    throw new TypeError(
      'wrapSsl wraps a connected socket, not a listener: wrap each accepted connection (wrapSsl(conn, { serverSide: true, ... })), or give evy/web/wsgi its ssl option',
    );
  }
  if (opts.serverSide && (opts.key === undefined || opts.cert === undefined) && opts.secureContext === undefined) {
    throw new TypeError('wrapSsl: the server side needs key and cert');
  }
  const duplex = socketDuplex(sock);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tls = require('node:tls') as typeof import('node:tls');
  let tlsSocket: tls.TLSSocket;
  let ready: Promise<void>;
  if (opts.serverSide) {
    tlsSocket = new tls.TLSSocket(duplex, {
      isServer: true,
      key: opts.key,
      cert: opts.cert,
      ca: opts.ca,
      requestCert: opts.requestCert ?? false,
      rejectUnauthorized: opts.rejectUnauthorized ?? false,
      ALPNProtocols: opts.alpnProtocols,
      secureContext: opts.secureContext,
    });
    ready = handshake(tlsSocket, 'secure');
  } else {
    const peer = sock.getpeername();
    const host = opts.serverHostname ?? (typeof peer === 'string' ? 'localhost' : peer[0]);
    tlsSocket = tls.connect({
      socket: duplex,
      servername: isIpAddress(host) ? undefined : host,
      host,
      ca: opts.ca,
      key: opts.key,
      cert: opts.cert,
      rejectUnauthorized: opts.rejectUnauthorized ?? true,
      ALPNProtocols: opts.alpnProtocols,
      secureContext: opts.secureContext,
    });
    ready = handshake(tlsSocket, 'secureConnect');
  }
  const green = new GreenSSLSocket(tlsSocket, sock);
  try {
    await wait(ready);
  } catch (err) {
    tlsSocket.destroy();
    throw err;
  }
  return green;
}

/** Resolves on `event`; rejects on an error, or if the peer goes away first. */
function handshake(s: tls.TLSSocket, event: 'secure' | 'secureConnect'): Promise<void> {
  return new Promise((res, rej) => {
    const gone = (): void => rej(new Error('the peer closed the connection during the TLS handshake'));
    s.once(event, () => {
      s.off('end', gone);
      s.off('close', gone);
      res();
    });
    s.once('error', rej);
    s.once('end', gone);
    s.once('close', gone);
  });
}

function isIpAddress(host: string): boolean {
  return /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.includes(':');
}
