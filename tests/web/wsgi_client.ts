// The WSGI suites' client side: a log that keeps its lines, a raw HTTP/1.1
// client reading responses off a green socket (chunked, Content-Length or
// until close, interim 100 Continues), and, bound to a suite's safety net,
// serveApp (a server on a fresh listener) and once (one request on a fresh
// connection).
import * as assert from 'uvu/assert';
import { connect, listen, withTimeout, type GreenSocket, type GreenThread } from 'evy';
import type { Address } from 'evy/patched/socket';
import { server, type LogStream, type ServerOptions, type WsgiApp } from 'evy/web/wsgi';
import type { SafetyNet } from '../safety';

/** A log that keeps its lines. */
export class Lines implements LogStream {
  text = '';
  write(s: string): boolean {
    this.text += s;
    return true;
  }
  /** the access-log lines (without the server's start-up line) */
  get lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '' && !/^\(\d+\) wsgi starting up on /.test(l));
  }
}

export interface Running {
  sock: GreenSocket;
  /** where clients connect: `['127.0.0.1', port]`, or the Unix socket's path */
  addr: Address;
  port: number;
  gt: GreenThread<void>;
  log: Lines;
  /** closes the listener and waits for the server to return */
  stop(): Promise<void>;
}

export interface Response {
  status: number;
  /** the status line as sent */
  statusLine: string;
  /** names lower-cased */
  headers: Record<string, string>;
  /** the header lines as sent, [name, value], names as spelled */
  raw: [string, string][];
  body: Buffer;
  /** the chunk sizes of a chunked body */
  chunks: number[];
}

/** Reads HTTP responses off a client socket. */
export class Client {
  buf = Buffer.alloc(0);
  constructor(
    readonly sock: GreenSocket,
    /** interim `100 Continue` responses before a final one are skipped (true) or a failure (false) */
    private readonly skipContinue = true,
  ) {
    sock.timeout = 10;
  }

  async send(data: string | Buffer): Promise<void> {
    await this.sock.sendall(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  private async more(): Promise<boolean> {
    const d = await this.sock.recv(65536);
    if (d.length === 0) return false;
    this.buf = Buffer.concat([this.buf, d]);
    return true;
  }

  async line(): Promise<string> {
    for (;;) {
      const i = this.buf.indexOf('\r\n');
      if (i >= 0) {
        const l = this.buf.toString('latin1', 0, i);
        this.buf = this.buf.subarray(i + 2);
        return l;
      }
      if (!(await this.more())) throw new Error(`EOF in a line; have ${JSON.stringify(this.buf.toString('latin1'))}`);
    }
  }

  async bytes(n: number): Promise<Buffer> {
    while (this.buf.length < n) if (!(await this.more())) throw new Error(`EOF after ${this.buf.length} of ${n} bytes`);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** A status line and its header lines, up to the empty line: [status line, [name, value] pairs]. */
  async head(): Promise<[string, [string, string][]]> {
    const status = await this.line();
    const raw: [string, string][] = [];
    for (let l = await this.line(); l !== ''; l = await this.line()) {
      const c = l.indexOf(':');
      raw.push([l.slice(0, c), l.slice(c + 1).trim()]);
    }
    return [status, raw];
  }

  /** One interim `100 Continue`: its headers (fails on anything else). */
  async hundredContinue(): Promise<[string, string][]> {
    const [status, raw] = await this.head();
    assert.is(status, 'HTTP/1.1 100 Continue');
    return raw;
  }

  /** One final response (a 100 Continue before it is skipped, or a failure without skipContinue: read it with hundredContinue); `head`: the request was HEAD. */
  async response(head = false): Promise<Response> {
    let [statusLine, raw] = await this.head();
    while (this.skipContinue && statusLine.startsWith('HTTP/1.1 100 ')) [statusLine, raw] = await this.head();
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine);
    if (!m) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
    const code = Number(m[1]);
    assert.ok(code >= 200, `an unexpected interim response: ${statusLine}`);
    const headers: Record<string, string> = {};
    for (const [name, value] of raw) {
      assert.is(headers[name.toLowerCase()], undefined, `header ${name} sent twice`);
      headers[name.toLowerCase()] = value;
    }
    const chunks: number[] = [];
    let body = Buffer.alloc(0);
    if (head || code === 204 || code === 304) {
      // no body
    } else if (headers['transfer-encoding'] === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const size = parseInt(await this.line(), 16);
        if (size === 0) {
          assert.is(await this.line(), '');
          break;
        }
        chunks.push(size);
        parts.push(await this.bytes(size));
        assert.is(await this.line(), '');
      }
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      body = Buffer.from(await this.bytes(Number(headers['content-length'])));
    } else {
      while (await this.more());
      body = this.buf;
      this.buf = Buffer.alloc(0);
    }
    return { status: code, statusLine, headers, raw, body, chunks };
  }

  /** Everything until the server closes. */
  async rest(): Promise<Buffer> {
    while (await this.more());
    const out = this.buf;
    this.buf = Buffer.alloc(0);
    return out;
  }

  /** The server closed the connection: EOF with nothing more sent (or a reset). */
  async closed(): Promise<boolean> {
    if (this.buf.length > 0) return false;
    try {
      const d = await this.sock.recv(1);
      return d.length === 0;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ECONNRESET';
    }
  }

  close(): void {
    this.sock.close();
  }
}

/** serveApp, open and once, their sockets and threads owned by `net`; `skipContinue` for each Client. */
export function wsgiHelpers(net: Pick<SafetyNet, 'own' | 'go'>, skipContinue = true) {
  const { own, go } = net;

  /** A server for `app` on a fresh listener at `where`, logging into a Lines. */
  function serveApp(app: WsgiApp, opts: ServerOptions = {}, where: Address = ['127.0.0.1', 0]): Running {
    const sock = own(listen(where));
    const log = new Lines();
    const gt = go(() => server(sock, app, { log, ...opts }));
    const name = sock.getsockname();
    return {
      sock,
      addr: typeof name === 'string' ? name : ['127.0.0.1', name[1]],
      port: typeof name === 'string' ? 0 : name[1],
      gt,
      log,
      async stop() {
        sock.close();
        await withTimeout(10, () => gt.wait());
      },
    };
  }

  /** A Client on a fresh connection to `addr` (a port on 127.0.0.1, or an address). */
  async function open(addr: Address | number): Promise<Client> {
    return new Client(own(await connect(typeof addr === 'number' ? ['127.0.0.1', addr] : addr)), skipContinue);
  }

  /** One request on a fresh connection: the response, and whether the server closed after it. */
  async function once(addr: Address | number, raw: string | Buffer, head = false): Promise<Response & { closedAfter: boolean }> {
    const c = await open(addr);
    try {
      await c.send(raw);
      const r = await c.response(head);
      // Only a response that says so is followed by a close: a keep-alive one would wait.
      return { ...r, closedAfter: r.headers.connection === 'close' && (await c.closed()) };
    } finally {
      c.close();
    }
  }

  return { serveApp, open, once };
}
