// TLS in the native hub (src/tls.c): OpenSSL, the copy inside Node. During
// the handshake what the green socket reads goes in with one call and what
// OpenSSL writes comes back to be sent; after it, the socket's native side
// (src/stream.c) decrypts each read as it lands and encrypts each write on
// its way out, so a record costs no JS of its own. The handshake, the reads
// and the writes are the green socket's own recv/sendall, so Timeout, kill
// and the socket timeout reach them as they reach any green call.
import type * as tls from 'node:tls';
import { binding } from '../hub/binding';
import { GreenSocket, SHUT_RD, SHUT_WR } from './socket';

/** A native SSL_CTX (napi_wrap()ed onto a plain object). */
type NativeContext = { readonly __evyTlsContext: unique symbol };

/** src/tls.c's functions, on the hub's binding. */
interface TlsBinding {
  /** [0]: bytes waiting to be sent after the last call; [1]: 1 once the peer's close_notify came */
  readonly tlsState: Int32Array;
  tlsContext(server: boolean, key: Buffer | undefined, cert: Buffer | undefined, ca: Buffer | undefined,
    requestCert: boolean, failNoCert: boolean, alpn: Buffer | undefined, passphrase: string | undefined): NativeContext;
  tlsNew(ctx: NativeContext, owner: object, servername: string | undefined, session: Buffer | undefined, alpn: Buffer | undefined): void;
  tlsHandshake(owner: object, input: Buffer | undefined): number;
  tlsRead(owner: object, input: Buffer | undefined): Buffer;
  tlsOut(owner: object): Buffer | undefined;
  tlsShutdown(owner: object, keep: boolean): Buffer | undefined;
  tlsFree(owner: object): void;
  tlsInfo(owner: object, what: Info.Version): string | null;
  tlsInfo(owner: object, what: Info.Cipher): [string, string, string] | null;
  tlsInfo(owner: object, what: Info.Alpn): string | false;
  tlsInfo(owner: object, what: Info.Servername): string | null;
  tlsInfo(owner: object, what: Info.Reused): boolean;
  tlsInfo(owner: object, what: Info.VerifyError): [string, string] | null;
  tlsInfo(owner: object, what: Info.Session): Buffer | undefined;
  tlsInfo(owner: object, what: Info.PeerChain): Buffer[];
  tlsLive(): number;
}

const enum Info {
  Version = 0,
  Cipher = 1,
  Alpn = 2,
  Servername = 3,
  Reused = 4,
  VerifyError = 5,
  Session = 6,
  PeerChain = 7,
}

const native = binding as unknown as TlsBinding;
const state = native.tlsState;
const EMPTY = Buffer.alloc(0);
/** Plaintext per write for a large sendall: the socket's back-pressure applies between them. */
const WRITE_CHUNK = 256 * 1024;
/** Ciphertext asked of the socket per read. */
const READ_SIZE = 65536;

/** What native TLS is given: PEM, as node:tls options take it. */
export interface NativeTlsOptions {
  serverSide: boolean;
  key?: string | Buffer;
  passphrase?: string;
  cert?: string | Buffer;
  ca?: string | Buffer | Array<string | Buffer>;
  requestCert: boolean;
  rejectUnauthorized: boolean;
  alpnProtocols?: string[];
  /** clients: the SNI name sent (none for an IP address) */
  servername?: string;
  /** clients: the name checked against the certificate */
  host: string;
  /** clients: a session (getSession()) to resume */
  session?: Buffer;
}

/** @internal Live native SSL objects (tests: back at baseline when every connection is gone). */
export function liveTlsSessions(): number {
  return native.tlsLive();
}

function pem(v: string | Buffer): Buffer {
  return typeof v === 'string' ? Buffer.from(v) : v;
}

function alpnWire(protocols: string[] | undefined): Buffer | undefined {
  if (protocols === undefined || protocols.length === 0) return undefined;
  const parts: Buffer[] = [];
  for (const p of protocols) {
    const b = Buffer.from(p);
    if (b.length === 0 || b.length > 255) throw new RangeError(`wrapSsl: an ALPN protocol name is 1 to 255 bytes, got ${JSON.stringify(p)}`);
    parts.push(Buffer.from([b.length]), b);
  }
  return Buffer.concat(parts);
}

// Contexts are cached by what made them, so that a server wrapping each
// connection with the same key and cert parses them once and its session
// tickets resume across connections (a context holds the ticket keys).
const ids = new WeakMap<object, number>();
let nextId = 0;
const contexts = new Map<string, NativeContext>();
const MAX_CONTEXTS = 64;
let roots: Buffer | undefined;

function idOf(v: string | Buffer | Array<string | Buffer> | undefined): string {
  if (v === undefined) return '-';
  if (typeof v === 'string') return `s${v}`;
  let id = ids.get(v);
  if (id === undefined) ids.set(v, (id = nextId++));
  return `o${id}`;
}

function contextFor(o: NativeTlsOptions): NativeContext {
  const failNoCert = o.serverSide && o.requestCert && o.rejectUnauthorized;
  const cacheKey = [o.serverSide ? 'S' : 'C', o.requestCert ? 1 : 0, failNoCert ? 1 : 0, idOf(o.key), idOf(o.passphrase), idOf(o.cert), idOf(o.ca),
    o.serverSide ? (o.alpnProtocols ?? []).join(',') : ''].join('|');
  let ctx = contexts.get(cacheKey);
  if (ctx !== undefined) return ctx;
  let ca: Buffer | undefined;
  if (o.ca !== undefined) ca = Array.isArray(o.ca) ? Buffer.concat(o.ca.map((c) => Buffer.concat([pem(c), Buffer.from('\n')]))) : pem(o.ca);
  else if (!o.serverSide) {
    // Node's bundled roots, as node:tls trusts by default.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    roots ??= Buffer.from((require('node:tls') as typeof tls).rootCertificates.join('\n'));
    ca = roots;
  }
  ctx = native.tlsContext(o.serverSide, o.key === undefined ? undefined : pem(o.key), o.cert === undefined ? undefined : pem(o.cert), ca,
    o.requestCert || !o.serverSide, failNoCert, o.serverSide ? alpnWire(o.alpnProtocols) : undefined, o.passphrase);
  if (contexts.size >= MAX_CONTEXTS) contexts.delete(contexts.keys().next().value as string);
  contexts.set(cacheKey, ctx);
  return ctx;
}

/** A Node-style error with its code. */
function codedError(message: string, code: string): NodeJS.ErrnoException {
  const err = new Error(message) as NodeJS.ErrnoException;
  err.code = code;
  return err;
}

/**
 * @internal One native TLS connection over a connected GreenSocket: the
 * reading and writing side of a GreenSSLSocket. One thread reads at a time;
 * writers may run beside it. Once the handshake is done the socket itself
 * reads plaintext and writes records (GreenSocket.startTls: src/stream.c
 * decrypts each read where it lands and encrypts each write on its way to
 * the kernel), so recv and sendall are the socket's own.
 */
export class NativeTls {
  private readonly raw: GreenSocket;
  private readonly opts: NativeTlsOptions;
  private freed = false;

  constructor(raw: GreenSocket, opts: NativeTlsOptions) {
    this.raw = raw;
    this.opts = opts;
    const alpn = opts.serverSide ? undefined : alpnWire(opts.alpnProtocols);
    native.tlsNew(contextFor(opts), this, opts.servername, opts.session, alpn);
  }

  /** Runs the handshake, then the checks rejectUnauthorized asks for. Throws Node's errors. */
  async handshake(): Promise<void> {
    let input: Buffer | undefined;
    try {
      // A server has nothing to say before the ClientHello.
      if (this.opts.serverSide) input = await this.nextFlight();
      for (;;) {
        if (native.tlsHandshake(this, input) === 1) break;
        if (state[0] > 0) await this.raw.sendall(native.tlsOut(this)!);
        input = await this.nextFlight();
      }
    } catch (err) {
      // An alert OpenSSL wrote for the peer (a protocol error, garbage) goes out first.
      if (!this.freed && state[0] > 0) this.raw.writeThen(native.tlsOut(this)!, () => {});
      throw err;
    }
    this.verify();
    // The socket reads plaintext from here on. Records that came with the
    // handshake's last flight (a client's first data), and any the socket
    // read beyond it, are decrypted now. What OpenSSL still has to send (the
    // handshake's last flight, a server's session tickets) goes out with the
    // application's next write of this loop turn, in one segment as node:tls
    // sends it, or at the turn's end (src/stream.c): sent alone, the next
    // small write would wait behind it for the peer's delayed ACK (Nagle).
    this.raw.startTls(this, (cipher) => native.tlsRead(this, cipher));
    if (state[1] === 1) this.raw.shutdown(SHUT_RD); // close_notify came already
  }

  /** The peer's next handshake bytes. */
  private async nextFlight(): Promise<Buffer> {
    const input = await this.raw.recv(READ_SIZE);
    if (input.length === 0) throw new Error('the peer closed the connection during the TLS handshake');
    return input;
  }

  private verify(): void {
    const o = this.opts;
    if (!o.rejectUnauthorized || (o.serverSide && !o.requestCert)) return;
    const bad = native.tlsInfo(this, Info.VerifyError);
    if (bad !== null) throw codedError(bad[1], bad[0]);
    if (o.serverSide || native.tlsInfo(this, Info.Reused)) return;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const err = (require('node:tls') as typeof tls).checkServerIdentity(o.host, this.getpeercert() as tls.PeerCertificate);
    if (err !== undefined) throw err;
  }

  /** Up to `bufsize` bytes of plaintext once some are there; an empty Buffer at EOF. */
  recv(bufsize: number): Promise<Buffer> {
    return this.raw.recv(bufsize);
  }

  recvInto(buf: Buffer | Uint8Array, nbytes: number): Promise<number> {
    return this.raw.recvInto(buf, nbytes);
  }

  /** Encrypts all of `data` and sends it, waiting as the socket's sendall does. */
  sendall(data: Buffer | Uint8Array | string): Promise<void> {
    if (typeof data === 'string' || data.length <= WRITE_CHUNK) return this.raw.sendall(data);
    return this.sendChunks(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }

  /** A large sendall, WRITE_CHUNK at a time: the socket's back-pressure applies between them. */
  private async sendChunks(buf: Buffer): Promise<void> {
    for (let off = 0; off < buf.length; off += WRITE_CHUNK) await this.raw.sendall(buf.subarray(off, off + WRITE_CHUNK));
  }

  /** Queues `buf` without parking; `done` runs once the socket took its records. */
  writeThen(buf: Buffer, done: (err?: Error | null) => void): void {
    this.raw.writeThen(buf, done);
  }

  /** Sends close_notify, then ends the socket's writing side. */
  shutdown(): void {
    if (this.freed) return;
    native.tlsShutdown(this, true);
    this.raw.writeThen(EMPTY, () => {}); // the alert, through the socket's TLS
    if (!this.raw.closed) this.raw.shutdown(SHUT_WR);
  }

  /** Frees the SSL and closes the socket. Harmless twice. */
  close(): void {
    if (this.freed) return;
    this.freed = true;
    native.tlsFree(this);
    this.raw.close();
  }

  get closed(): boolean {
    return this.freed;
  }

  // ---- what the handshake settled -------------------------------------------

  getpeercert(detailed = false): tls.PeerCertificate | tls.DetailedPeerCertificate | Record<string, never> {
    if (this.freed) return {};
    const chain = native.tlsInfo(this, Info.PeerChain);
    if (chain.length === 0) return {};
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { X509Certificate } = require('node:crypto') as typeof import('node:crypto');
    const certs = (detailed ? chain : chain.slice(0, 1)).map((der) => new X509Certificate(der));
    const objs = certs.map((c) => c.toLegacyObject() as tls.DetailedPeerCertificate);
    if (detailed) {
      for (let i = 0; i < objs.length; i++) {
        if (i + 1 < objs.length) objs[i].issuerCertificate = objs[i + 1];
        else if (certs[i].checkIssued(certs[i])) objs[i].issuerCertificate = objs[i];
      }
    }
    return objs[0];
  }

  cipher(): tls.CipherNameAndProtocol {
    const c = this.freed ? null : native.tlsInfo(this, Info.Cipher);
    return c === null ? ({} as tls.CipherNameAndProtocol) : { name: c[0], standardName: c[1], version: c[2] };
  }

  version(): string | null {
    return this.freed ? null : native.tlsInfo(this, Info.Version);
  }

  alpnProtocol(): string | false {
    return this.freed ? false : native.tlsInfo(this, Info.Alpn);
  }

  servername(): string | null {
    return this.freed ? null : native.tlsInfo(this, Info.Servername);
  }

  sessionReused(): boolean {
    return this.freed ? false : native.tlsInfo(this, Info.Reused);
  }

  getSession(): Buffer | undefined {
    return this.freed ? undefined : native.tlsInfo(this, Info.Session);
  }
}
