// TLS for green sockets: Node's tls runs over a Duplex on the GreenSocket
// (a green thread pumps its reads; its writes go straight to the socket), and
// the TLS stream is read and written back through green recv/sendall
// (GreenStreamSocket).
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { GreenThread, spawn, wait } from '../green/greenthread';
import { getHub, Waiter } from '../hub/hub';
import { GreenFile, type GreenFileOptions } from './file';
import { GreenSocket, SHUT_WR, SocketTimeout, type Address } from './socket';

const hub = getHub();
const EMPTY = Buffer.alloc(0);
const HIGH_WATER = 256 * 1024;

/**
 * A Node Duplex over a GreenSocket. Its reads run in a green thread of its
 * own and its writes never park, so no caller's Timeout or kill can land in
 * them.
 */
class SocketDuplex extends Duplex {
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

/**
 * Green recv/sendall over a Node Duplex stream (here a TLSSocket): the same
 * blocking-style calls as GreenSocket, each an evy operation.
 */
export class GreenStreamSocket {
  protected readonly stream: Duplex;
  private readonly raw: GreenSocket;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private eof = false;
  private error: Error | null = null;
  private reader: Waiter<Buffer> | null = null;
  private readWant = 0;
  private timeoutSecs: number | null;
  private isClosed = false;

  /** @internal */
  constructor(stream: Duplex, raw: GreenSocket) {
    this.stream = stream;
    this.raw = raw;
    this.timeoutSecs = raw.timeout;
    stream.on('data', (d: Buffer) => this.onData(d));
    stream.on('end', () => {
      this.eof = true;
      this.wakeReader(EMPTY);
    });
    stream.on('error', (err: Error) => {
      this.error = err;
      const r = this.reader;
      this.reader = null;
      if (r !== null) hub.throwInto(r as Waiter<unknown>, err);
    });
  }

  private onData(d: Buffer): void {
    const r = this.reader;
    if (r !== null) {
      this.reader = null;
      const n = Math.min(d.length, this.readWant);
      if (n < d.length) this.push(d.subarray(n));
      hub.wake(r, d.subarray(0, n));
      return;
    }
    this.push(d);
  }

  private push(d: Buffer): void {
    this.chunks.push(d);
    this.buffered += d.length;
    if (this.buffered >= HIGH_WATER) this.stream.pause();
  }

  private wakeReader(v: Buffer): void {
    const r = this.reader;
    this.reader = null;
    if (r !== null) hub.wake(r, v);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (first.length <= n) {
      out = first;
      this.chunks.shift();
    } else {
      out = first.subarray(0, n);
      this.chunks[0] = first.subarray(n);
    }
    this.buffered -= out.length;
    if (this.buffered < HIGH_WATER / 2 && this.stream.isPaused()) this.stream.resume();
    return out;
  }

  private park<T>(what: string, undo: () => void): Waiter<T> | Promise<never> {
    const w = hub.park<T>(undo);
    if (!(w instanceof Waiter)) return w;
    const secs = this.timeoutSecs;
    if (secs !== null) {
      w.timer = hub.addTimer(secs, () => {
        w.timer = null;
        hub.throwInto(w as Waiter<unknown>, new SocketTimeout(what, secs));
      }, null, null);
    }
    return w;
  }

  private closedError(syscall: string): NodeJS.ErrnoException {
    const err = new Error(`${syscall} on a closed socket`) as NodeJS.ErrnoException;
    err.code = 'EBADF';
    err.syscall = syscall;
    return err;
  }

  /** Up to `bufsize` bytes as soon as some are there; an empty Buffer at EOF. */
  recv(bufsize = 65536): Promise<Buffer> {
    if (this.isClosed) return Promise.reject(this.closedError('recv'));
    if (this.reader !== null) return Promise.reject(new Error('recv: another green thread is already reading from this socket'));
    if (this.buffered > 0) return hub.check() ?? Promise.resolve(this.take(bufsize));
    if (this.error !== null) return Promise.reject(this.error);
    if (this.eof) return Promise.resolve(EMPTY);
    const w = this.park<Buffer>('recv', () => (this.reader = null));
    if (!(w instanceof Waiter)) return w;
    this.reader = w;
    this.readWant = bufsize;
    return w.promise;
  }

  /** Sends all of `data`, waiting until the stream took it. */
  sendall(data: Buffer | Uint8Array | string): Promise<void> {
    if (this.isClosed) return Promise.reject(this.closedError('sendall'));
    if (this.error !== null) return Promise.reject(this.error);
    const w = this.park<void>('sendall', () => {});
    if (!(w instanceof Waiter)) return w;
    this.stream.write(typeof data === 'string' ? data : Buffer.from(data), (err) => {
      if (err) hub.throwInto(w as Waiter<unknown>, err);
      else hub.wake(w, undefined);
    });
    return w.promise;
  }

  /** sendall, resolving the number of bytes sent. */
  async send(data: Buffer | Uint8Array | string): Promise<number> {
    await this.sendall(data);
    return typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  }

  /** Ends the writing side (the peer sees EOF after the TLS close_notify). */
  shutdown(): void {
    this.stream.end();
  }

  /** Closes the stream and the socket under it. Harmless twice. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const err = this.closedError('close');
    const r = this.reader;
    this.reader = null;
    if (r !== null) hub.throwInto(r as Waiter<unknown>, err);
    this.stream.destroy();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get timeout(): number | null {
    return this.timeoutSecs;
  }

  set timeout(seconds: number | null) {
    this.raw.timeout = seconds; // validates
    this.timeoutSecs = seconds;
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
 * kill interrupt it and close the connection.
 */
export async function wrapSsl(sock: GreenSocket, opts: WrapSslOptions = {}): Promise<GreenSSLSocket> {
  if (!(sock instanceof GreenSocket)) throw new TypeError('wrapSsl needs a connected GreenSocket');
  if (opts.serverSide && (opts.key === undefined || opts.cert === undefined) && opts.secureContext === undefined) {
    throw new TypeError('wrapSsl: the server side needs key and cert');
  }
  const duplex = new SocketDuplex(sock);
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
