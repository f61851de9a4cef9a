// The WebSocket suites' peers: a minimal HTTP upgrade server that gives an app
// the environ keys evy/web/wsgi provides (so evy/web/websocket is tested on its
// own), and a raw peer writing and reading hand-made frames.
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { connect as tcpConnect, listen, type GreenSocket, type GreenThread } from 'evy';
import { WebSocketWSGI, acceptKey, type Environ, type WebSocket, type WsgiApp } from 'evy/web/websocket';
import { finish, type SafetyNet } from '../../safety';

// ---- a raw peer: hand-made frames ----------------------------------------------------------

export interface RawFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  /** the length field form: 7, 16 or 64 bits */
  lengthBits: number;
  payload: Buffer;
}

export class Raw {
  buf = Buffer.alloc(0);
  /** the 101 response head (rawUpgrade) */
  head = '';
  constructor(readonly sock: GreenSocket) {}

  async need(n: number): Promise<boolean> {
    while (this.buf.length < n) {
      const d = await this.sock.recv();
      if (d.length === 0) return false;
      this.buf = Buffer.concat([this.buf, d]);
    }
    return true;
  }

  /**
   * Plays a WebSocket server's side of the handshake on an accepted socket:
   * reads the client's request head, answers 101 with the right accept key
   * and `extraHeaders` (CRLF-terminated lines), and keeps what came after.
   */
  static async accept(s: GreenSocket, extraHeaders = ''): Promise<Raw> {
    const raw = new Raw(s);
    let end: number;
    while ((end = raw.buf.indexOf('\r\n\r\n')) < 0) await raw.need(raw.buf.length + 1);
    const key = /Sec-WebSocket-Key: (\S+)/i.exec(raw.buf.subarray(0, end).toString())![1];
    await s.sendall(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n${extraHeaders}\r\n`);
    raw.buf = raw.buf.subarray(end + 4);
    return raw;
  }

  /** The next frame (unmasked), or null at EOF. */
  async frame(): Promise<RawFrame | null> {
    if (!(await this.need(2))) return null;
    let len = this.buf[1] & 0x7f;
    const masked = (this.buf[1] & 0x80) !== 0;
    const ext = len === 126 ? 2 : len === 127 ? 8 : 0;
    const hdr = 2 + ext + (masked ? 4 : 0);
    await this.need(hdr);
    if (ext === 2) len = this.buf.readUInt16BE(2);
    if (ext === 8) len = Number(this.buf.readBigUInt64BE(2));
    if (!(await this.need(hdr + len))) return null;
    const payload = Buffer.from(this.buf.subarray(hdr, hdr + len));
    if (masked) for (let i = 0; i < len; i++) payload[i] ^= this.buf[hdr - 4 + (i & 3)];
    const f = { fin: (this.buf[0] & 0x80) !== 0, rsv: (this.buf[0] >> 4) & 7, opcode: this.buf[0] & 0xf, masked, lengthBits: ext === 0 ? 7 : ext * 8, payload };
    this.buf = this.buf.subarray(hdr + len);
    return f;
  }

  /** Reads until EOF. */
  async eof(): Promise<void> {
    for (;;) if ((await this.sock.recv()).length === 0) return;
  }
}

/** A frame as a peer writes it: masked unless told otherwise. */
export function frame(opcode: number, payload: Buffer | string, o: { fin?: boolean; mask?: boolean; rsv?: number; len64?: boolean } = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const mask = o.mask ?? true;
  const len = data.length;
  const head: number[] = [((o.fin ?? true) ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | opcode];
  const m = mask ? 0x80 : 0;
  if (o.len64 || len >= 65536) {
    head.push(m | 127, 0, 0, 0, 0, (len >>> 24) & 255, (len >>> 16) & 255, (len >>> 8) & 255, len & 255);
  } else if (len >= 126) head.push(m | 126, len >> 8, len & 255);
  else head.push(m | len);
  if (!mask) return Buffer.concat([Buffer.from(head), data]);
  const key = randomBytes(4);
  const body = Buffer.from(data);
  for (let i = 0; i < len; i++) body[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), key, body]);
}

export function closePayload(code: number, reason: string | Buffer = ''): Buffer {
  const c = Buffer.alloc(2);
  c.writeUInt16BE(code);
  return Buffer.concat([c, typeof reason === 'string' ? Buffer.from(reason) : reason]);
}

export function closeCodeOf(f: RawFrame | null): number {
  assert.ok(f !== null, 'expected a close frame, got EOF');
  assert.is(f.opcode, 0x8, `expected a close frame, got opcode ${f.opcode}`);
  return f.payload.readUInt16BE(0);
}

export const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

export function upgradeRequest(headers: Record<string, string>, method = 'GET'): string {
  const base: Record<string, string> = { Host: 'x', Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': KEY, 'Sec-WebSocket-Version': '13', ...headers };
  return `${method} / HTTP/1.1\r\n${Object.entries(base).filter(([, v]) => v !== '').map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

export function sha1(b: Buffer): string {
  return createHash('sha1').update(b).digest('hex');
}

// ---- a minimal HTTP upgrade server (stands in for evy/web/wsgi) -------------------------

export interface Server {
  url: string;
  port: number;
  /** what the app threw, per connection */
  errors: unknown[];
  /** each connection's thread */
  conns: GreenThread<void>[];
  stop(): Promise<void>;
}

/** Reads one request head, builds the environ, calls the app; writes its response unless hijacked. */
async function handleHttp(app: WsgiApp, conn: GreenSocket, errors: unknown[]): Promise<void> {
  try {
    let buf = Buffer.alloc(0);
    let end: number;
    while ((end = buf.indexOf('\r\n\r\n')) < 0) {
      const d = await conn.recv();
      if (d.length === 0) return;
      buf = Buffer.concat([buf, d]);
    }
    const [requestLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
    const [method, target] = requestLine.split(' ');
    const q = target.indexOf('?');
    let hijacked = false;
    const environ = {
      REQUEST_METHOD: method,
      SCRIPT_NAME: '',
      PATH_INFO: q < 0 ? target : target.slice(0, q),
      QUERY_STRING: q < 0 ? '' : target.slice(q + 1),
      SERVER_PROTOCOL: 'HTTP/1.1',
      'evy.socket': conn,
      'evy.hijack': () => {
        hijacked = true;
      },
      'evy.rest': buf.subarray(end + 4),
    } as unknown as Environ;
    for (const line of lines) {
      const i = line.indexOf(':');
      environ['HTTP_' + line.slice(0, i).trim().toUpperCase().replace(/-/g, '_')] = line.slice(i + 1).trim();
    }
    let head = '';
    const body = await app(environ, (status, headers) => {
      head = `HTTP/1.1 ${status}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
      return async () => undefined;
    });
    if (hijacked) return;
    const parts = [Buffer.from(head)];
    for await (const b of body) parts.push(Buffer.from(b));
    await conn.sendall(Buffer.concat(parts));
  } catch (err) {
    errors.push(err);
  } finally {
    conn.close();
  }
}

/** An echo handler that records the closing code and reason it saw. */
export function echoApp(seen: { code?: number | null; reason?: string; ws?: WebSocket } = {}, opts = {}): WsgiApp {
  return WebSocketWSGI(async (ws) => {
    seen.ws = ws;
    for (;;) {
      const m = await ws.wait();
      if (m === null) break;
      await ws.send(m);
    }
    seen.code = ws.closeCode;
    seen.reason = ws.closeReason;
  }, opts);
}

/** The peers that open sockets, each remembered by the suite's safety net (own) and run in its threads (go). */
export function peers({ own, go }: Pick<SafetyNet, 'own' | 'go'>) {
  /** A raw TCP client that did the opening handshake (the 101 head consumed). */
  async function rawUpgrade(port: number, path = '/', extra = '', first?: Buffer): Promise<Raw> {
    const sock = own(await tcpConnect(['127.0.0.1', port]));
    const req = Buffer.from(
      `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
    );
    await sock.sendall(first === undefined ? req : Buffer.concat([req, first]));
    const raw = new Raw(sock);
    let end: number;
    while ((end = raw.buf.indexOf('\r\n\r\n')) < 0) assert.ok(await raw.need(raw.buf.length + 1), 'EOF during the handshake');
    const head = raw.buf.subarray(0, end).toString();
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(head, /\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=(\r\n|$)/);
    raw.head = head;
    raw.buf = raw.buf.subarray(end + 4);
    return raw;
  }

  /** One plain HTTP request: the status line, the head and the body. */
  async function httpRequest(port: number, request: string): Promise<{ status: string; head: string; body: string }> {
    const sock = own(await tcpConnect(['127.0.0.1', port]));
    await sock.sendall(request);
    const parts: Buffer[] = [];
    for (;;) {
      const d = await sock.recv();
      if (d.length === 0) break;
      parts.push(d);
    }
    sock.close();
    const text = Buffer.concat(parts).toString();
    const end = text.indexOf('\r\n\r\n');
    return { status: text.slice(0, text.indexOf('\r\n')), head: text.slice(0, end), body: text.slice(end + 4) };
  }

  /** Serves `app` on 127.0.0.1 with the minimal upgrade server above, a thread per connection. */
  function serveApp(app: WsgiApp): Server {
    const lsock = own(listen(['127.0.0.1', 0]));
    const port = (lsock.getsockname() as [string, number])[1];
    const errors: unknown[] = [];
    const conns: GreenThread<void>[] = [];
    const acceptor = go(async () => {
      for (;;) {
        const [c] = await lsock.accept();
        own(c);
        conns.push(go(() => handleHttp(app, c, errors)));
      }
    });
    return {
      url: `ws://127.0.0.1:${port}`,
      port,
      errors,
      conns,
      async stop() {
        acceptor.kill();
        lsock.close();
        for (const gt of conns) await finish(gt).catch(() => undefined);
        await finish(acceptor).catch(() => undefined);
      },
    };
  }

  return { rawUpgrade, httpRequest, serveApp };
}

