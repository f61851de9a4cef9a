// TLS for green sockets. Natively (./tls_native, src/tls.c): OpenSSL over the
// green socket's own reads and writes. On node:tls (a secureContext given, or
// EVY_TLS=node): Node's tls runs over a Duplex on the GreenSocket (a green
// thread pumps its reads; its writes go straight to the socket), and the TLS
// stream is read and written back through green recv/sendall.
import type { Duplex } from 'node:stream';
import type * as tls from 'node:tls';
import { GreenThread, spawn, wait } from '../green/greenthread';
import { getHub } from '../hub/hub';
import { GreenFile, type GreenFileOptions } from './file';
import { GreenSocket, SHUT_WR, type Address } from './socket';
import { streamGreen, type StreamGreen } from './streamsock';
import { NativeTls } from './tls_native';


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

const hub = getHub();

let socketDuplexClass: (new (sock: GreenSocket) => Duplex) | undefined;

function makeSocketDuplex(): new (sock: GreenSocket) => Duplex {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const stream = require('node:stream') as typeof import('node:stream');
  class SocketDuplex extends stream.Duplex {
    private readonly sock: GreenSocket;
    private reader: GreenThread<void> | null = null;
    private readonly pushChunk = (data: Buffer): boolean => this.push(data);

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
          // resumed by the next _read(); what the push runs (node:tls's
          // callbacks) is the stream's, not this reader's (see outsideThreads)
          if (!hub.outsideThreads(this.pushChunk, data)) return;
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
 * Green recv/sendall over a TLS connection: native TLS (./tls_native), or a
 * Node Duplex stream (a TLSSocket, the node:tls path). The same blocking-style
 * calls as GreenSocket, each an evy operation.
 */
export class GreenStreamSocket {
  private readonly raw: GreenSocket;
  /** the node:tls path: the stream and the StreamGreen that waits on it */
  private readonly stream: Duplex | null;
  private readonly green: StreamGreen | null;
  /** the native path */
  private readonly native: NativeTls | null;

  /** @internal */
  constructor(io: Duplex | NativeTls, raw: GreenSocket) {
    this.raw = raw;
    if (io instanceof NativeTls) {
      this.native = io;
      this.stream = this.green = null;
    } else {
      this.native = null;
      this.stream = io;
      this.green = streamGreen(io);
      this.green.timeoutSecs = raw.timeout;
      this.green.attach(); // its errors are kept for green calls from the start
    }
  }

  /** Up to `bufsize` bytes as soon as some are there; an empty Buffer at EOF. */
  recv(bufsize = 65536): Promise<Buffer> {
    if (this.native !== null) {
      if (!Number.isInteger(bufsize) || bufsize < 0) return Promise.reject(new RangeError(`recv: bufsize must be a non-negative integer, got ${bufsize}`));
      return this.native.recv(bufsize);
    }
    return this.green!.recv(bufsize);
  }

  /** Reads into `buf` (up to `nbytes`); resolves the count, 0 at EOF. */
  recvInto(buf: Buffer | Uint8Array, nbytes = 0): Promise<number> {
    return this.native !== null ? this.native.recvInto(buf, nbytes) : this.green!.recvInto(buf, nbytes);
  }

  /** Sends all of `data`, waiting until the stream took it. */
  sendall(data: Buffer | Uint8Array | string): Promise<void> {
    return this.native !== null ? this.native.sendall(data) : this.green!.sendall(data);
  }

  /**
   * @internal Queues `buf` behind every earlier write without parking (for callers that
   * may not wait: a timer callback, a reader answering a ping); `done` runs
   * once the stream took it, with the error if it failed or was closed first.
   * The stream's own ordering keeps it in line with sendall()s.
   */
  writeThen(buf: Buffer, done: (err?: Error | null) => void): void {
    if (this.native !== null) {
      this.native.writeThen(buf, done);
      return;
    }
    if (this.green!.closed) {
      done(new Error('write: the connection is closed'));
      return;
    }
    this.stream!.write(buf, done);
  }

  /** sendall, resolving the number of bytes sent. */
  async send(data: Buffer | Uint8Array | string): Promise<number> {
    await this.sendall(data);
    return typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  }

  /** Ends the writing side (the peer sees EOF after the TLS close_notify). */
  shutdown(): void {
    if (this.native !== null) this.native.shutdown();
    else this.stream!.end();
  }

  /** Closes the stream and the socket under it. Harmless twice. */
  close(): void {
    if (this.native !== null) {
      this.native.close();
      return;
    }
    if (this.green!.closed) return;
    this.green!.close();
    this.stream!.destroy();
  }

  get closed(): boolean {
    return this.native !== null ? this.native.closed : this.green!.closed;
  }

  get timeout(): number | null {
    return this.native !== null ? this.raw.timeout : this.green!.timeoutSecs;
  }

  set timeout(seconds: number | null) {
    this.raw.timeout = seconds; // validates
    if (this.green !== null) this.green.timeoutSecs = seconds;
  }

  /** This end's address, of the socket underneath. */
  getsockname(): Address {
    return this.raw.getsockname();
  }

  /** The peer's address, of the socket underneath. */
  getpeername(): Address {
    return this.raw.getpeername();
  }

  /** The file descriptor of the socket underneath. */
  fileno(): number {
    return this.raw.fileno();
  }

  /** A buffered GreenFile over the TLS stream: 'r'/'w'/'rw' for strings. */
  makefile(mode: 'r' | 'w' | 'rw', opts?: GreenFileOptions): GreenFile<string>;
  /** ... and 'rb'/'wb'/'rwb' (the default) for Buffers. */
  makefile(mode?: 'rb' | 'wb' | 'rwb', opts?: GreenFileOptions): GreenFile<Buffer>;
  makefile(mode = 'rb', opts: GreenFileOptions = {}): GreenFile<string> | GreenFile<Buffer> {
    return mode.includes('b') ? new GreenFile<Buffer>(this, mode, opts) : new GreenFile<string>(this, mode, opts);
  }
}

/** A green TLS connection. */
export class GreenSSLSocket extends GreenStreamSocket {
  private readonly tlsSocket: tls.TLSSocket | null;
  private readonly nativeTls: NativeTls | null;

  /** @internal */
  constructor(io: tls.TLSSocket | NativeTls, raw: GreenSocket) {
    super(io, raw);
    this.nativeTls = io instanceof NativeTls ? io : null;
    this.tlsSocket = io instanceof NativeTls ? null : io;
  }

  /** The peer's certificate (empty object when it sent none); `detailed`: with its issuers (issuerCertificate). */
  getpeercert(detailed = false): tls.PeerCertificate | tls.DetailedPeerCertificate {
    if (this.nativeTls !== null) return this.nativeTls.getpeercert(detailed) as tls.PeerCertificate;
    return this.tlsSocket!.getPeerCertificate(detailed);
  }

  /** The negotiated cipher. */
  cipher(): tls.CipherNameAndProtocol {
    return this.nativeTls !== null ? this.nativeTls.cipher() : this.tlsSocket!.getCipher();
  }

  /** The negotiated protocol version, e.g. 'TLSv1.3'. */
  version(): string | null {
    return this.nativeTls !== null ? this.nativeTls.version() : this.tlsSocket!.getProtocol();
  }

  /** The protocol ALPN settled on, or false (Evy's selected_alpn_protocol()). */
  selectedAlpnProtocol(): string | false {
    return this.nativeTls !== null ? this.nativeTls.alpnProtocol() : this.tlsSocket!.alpnProtocol ?? false;
  }

  /** Servers: the host name the client asked for (SNI), or null. */
  get servername(): string | null {
    if (this.nativeTls !== null) return this.nativeTls.servername();
    const name = (this.tlsSocket as tls.TLSSocket & { servername?: string | false }).servername;
    return typeof name === 'string' ? name : null;
  }

  /**
   * Clients: this session, to resume with wrapSsl's `session` option
   * (undefined until the server has sent a resumable one: in TLS 1.3 that
   * comes after the handshake, with the first data read).
   */
  getSession(): Buffer | undefined {
    return this.nativeTls !== null ? this.nativeTls.getSession() : this.tlsSocket!.getSession();
  }

  /** The handshake resumed an earlier session. */
  sessionReused(): boolean {
    return this.nativeTls !== null ? this.nativeTls.sessionReused() : this.tlsSocket!.isSessionReused();
  }
}

/** wrapSsl()'s options (Node's tls options, in Evy's names). */
export interface WrapSslOptions {
  /** true: the server side of the handshake (needs key and cert) */
  serverSide?: boolean;
  /** the private key, PEM */
  key?: string | Buffer;
  /** the key's passphrase, when it is encrypted */
  passphrase?: string;
  /** the certificate, PEM; intermediates may follow it */
  cert?: string | Buffer;
  /** trusted CAs, PEM (default: Node's bundled roots) */
  ca?: string | Buffer | Array<string | Buffer>;
  /** the name the client checks the certificate against, and sends as SNI */
  serverHostname?: string;
  /** verify the peer's certificate: on by default for clients */
  rejectUnauthorized?: boolean;
  /** servers: ask clients for a certificate */
  requestCert?: boolean;
  /** ALPN protocols to offer (clients) or accept, in order of preference (servers) */
  alpnProtocols?: string[];
  /** clients: a session from getSession() to resume */
  session?: Buffer;
  /**
   * A node:tls SecureContext (tls.createSecureContext): the connection then
   * runs on node:tls, whose native context evy cannot reach.
   */
  secureContext?: tls.SecureContext;
}

/**
 * Runs the TLS handshake over a connected green socket and returns a green TLS
 * connection. Clients verify the server's certificate by default; a failed
 * verification throws Node's error (e.g. code DEPTH_ZERO_SELF_SIGNED_CERT,
 * ERR_TLS_CERT_ALTNAME_INVALID). The handshake is an evy operation: Timeout and
 * kill interrupt it and close the connection.
 *
 * TLS runs in the native hub (OpenSSL, Node's own, over the green socket's
 * reads and writes); contexts are cached by the key, cert and ca objects (or
 * strings) given, so a server passing the same ones each time parses them
 * once and resumes sessions across connections. With a `secureContext`, or
 * with EVY_TLS=node in the environment, it runs on node:tls instead.
 *
 * @throws TypeError for a socket that is not connected, a listener, or a
 * server side without key and cert; the handshake's and verification's errors.
 * @example
 * const conn = await wrapSsl(await connect(['example.com', 443]), { serverHostname: 'example.com' });
 * await conn.sendall('GET / HTTP/1.0\r\nHost: example.com\r\n\r\n');
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
  if (opts.secureContext === undefined && process.env.EVY_TLS !== 'node') return wrapNative(sock, opts);
  const duplex = socketDuplex(sock);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tls = require('node:tls') as typeof import('node:tls');
  let tlsSocket: tls.TLSSocket;
  let ready: Promise<void>;
  if (opts.serverSide) {
    tlsSocket = new tls.TLSSocket(duplex, {
      isServer: true,
      key: opts.key,
      passphrase: opts.passphrase,
      cert: opts.cert,
      ca: opts.ca,
      requestCert: opts.requestCert ?? false,
      rejectUnauthorized: opts.rejectUnauthorized ?? false,
      ALPNProtocols: opts.alpnProtocols,
      secureContext: opts.secureContext,
    });
    ready = handshake(tlsSocket, 'secure');
  } else {
    const host = hostOf(sock, opts);
    tlsSocket = tls.connect({
      socket: duplex,
      servername: isIpAddress(host) ? undefined : host,
      host,
      ca: opts.ca,
      key: opts.key,
      passphrase: opts.passphrase,
      cert: opts.cert,
      rejectUnauthorized: opts.rejectUnauthorized ?? true,
      ALPNProtocols: opts.alpnProtocols,
      session: opts.session,
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

/** The name a client checks: serverHostname, else the peer's address. */
function hostOf(sock: GreenSocket, opts: WrapSslOptions): string {
  const peer = sock.getpeername();
  return opts.serverHostname ?? (typeof peer === 'string' ? 'localhost' : peer[0]);
}

async function wrapNative(sock: GreenSocket, opts: WrapSslOptions): Promise<GreenSSLSocket> {
  const serverSide = opts.serverSide ?? false;
  const host = serverSide ? '' : hostOf(sock, opts);
  let t: NativeTls;
  try {
    t = new NativeTls(sock, {
      serverSide,
      key: opts.key,
      passphrase: opts.passphrase,
      cert: opts.cert,
      ca: opts.ca,
      requestCert: opts.requestCert ?? false,
      rejectUnauthorized: opts.rejectUnauthorized ?? !serverSide,
      alpnProtocols: opts.alpnProtocols,
      servername: serverSide || isIpAddress(host) ? undefined : host,
      host,
      session: opts.session,
    });
  } catch (err) {
    sock.close();
    throw err;
  }
  try {
    await t.handshake();
  } catch (err) {
    t.close();
    throw err;
  }
  return new GreenSSLSocket(t, sock);
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
