// node:http scenarios: a server and a client on 127.0.0.1:0. Status lines,
// header casing, chunked and fixed bodies, keep-alive agents, aborts and
// timeouts ('socket hang up'), error codes, upgrade, 100-continue, trailers.
import * as http from 'node:http';
import * as net from 'node:net';
import type { Scenario, Trace } from './lib/trace';
import { closed, closedPort, collect, deferred, thrown, track } from './lib/util';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface Srv {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

/** An http.Server on 127.0.0.1:0; close() also drops idle keep-alive sockets. */
async function serve(handler: Handler, opts: http.ServerOptions = {}): Promise<Srv> {
  const server = http.createServer(opts, handler);
  server.on('connection', (s: net.Socket) => track(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

interface Response {
  status: number | undefined;
  message: string | undefined;
  headers: http.IncomingHttpHeaders;
  body: string;
  res: http.IncomingMessage;
}

/** One request with a fresh, non-keep-alive agent unless one is given. */
function request(port: number, opts: http.RequestOptions = {}, body?: string | Buffer): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, agent: false, ...opts }, (res) => {
      collect(res).then((b) => resolve({ status: res.statusCode, message: res.statusMessage, headers: res.headers, body: b, res }), reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Headers, sorted, without the date and with the port of host normalised. */
function stable(h: http.IncomingHttpHeaders): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(h).sort()) {
    if (k === 'host') out[k] = String(h[k]).replace(/:\d+$/, ':<port>');
    else if (k !== 'date') out[k] = h[k];
  }
  return out;
}

async function failing(t: Trace, label: string, p: Promise<unknown>): Promise<void> {
  try {
    t.log(`${label} resolved?!`, await p);
  } catch (err) {
    t.error(label, err);
  }
}

export const scenarios: Scenario[] = [
  {
    name: 'GET: status line, headers, body',
    async run(t) {
      const srv = await serve((req, res) => {
        res.setHeader('Content-Type', 'text/plain');
        res.end(`you asked ${req.method} ${req.url}`);
      });
      const r = await request(srv.port, { path: '/hello?x=1' });
      t.log('status', [r.status, r.message]);
      t.log('headers', stable(r.headers));
      t.log('body', r.body);
      t.log('httpVersion', r.res.httpVersion);
      await srv.close();
    },
  },
  {
    name: 'header names are lowercased; rawHeaders keep their case',
    async run(t) {
      const seen = deferred<unknown>();
      const srv = await serve((req, res) => {
        seen.resolve({ headers: stable(req.headers), raw: req.rawHeaders.filter((_, i, a) => !/^host$/i.test(a[i - (i % 2)])) });
        res.setHeader('X-Custom-Header', 'Value');
        res.setHeader('X-Multi', ['a', 'b']);
        res.setHeader('set-cookie', ['c1=1', 'c2=2']);
        res.end();
      });
      const r = await request(srv.port, { headers: { 'X-Request-Thing': 'yes', 'ACCEPT': 'text/evy' } });
      t.log('server saw', await seen.promise);
      t.log('client headers', stable(r.headers));
      t.log('client rawHeaders', r.res.rawHeaders.filter((_, i, a) => !/^date$/i.test(a[i - (i % 2)])));
      await srv.close();
    },
  },
  {
    name: 'duplicate request headers are joined or kept per the rules',
    async run(t) {
      const seen = deferred<unknown>();
      const srv = await serve((req, res) => {
        seen.resolve({ dup: req.headers['x-dup'], ua: req.headers['user-agent'], distinct: req.headersDistinct['x-dup'] });
        res.end();
      });
      const sock = track(net.connect(srv.port, '127.0.0.1'));
      sock.write('GET / HTTP/1.1\r\nHost: x\r\nX-Dup: a\r\nX-Dup: b\r\nUser-Agent: one\r\nUser-Agent: two\r\nConnection: close\r\n\r\n');
      sock.resume();
      t.log('server saw', await seen.promise);
      await closed(sock);
      await srv.close();
    },
  },
  {
    name: 'chunked encoding when there is no content-length',
    async run(t) {
      const srv = await serve((_req, res) => {
        res.write('part one, ');
        res.write('part two, ');
        res.end('end');
      });
      const r = await request(srv.port);
      t.log('transfer-encoding', r.headers['transfer-encoding'] ?? null);
      t.log('content-length', r.headers['content-length'] ?? null);
      t.log('body', r.body);
      await srv.close();
    },
  },
  {
    name: 'content-length when the body is given to end() at once',
    async run(t) {
      const srv = await serve((_req, res) => res.end('exactly this'));
      const r = await request(srv.port);
      t.log('headers', { te: r.headers['transfer-encoding'] ?? null, cl: r.headers['content-length'] ?? null });
      await srv.close();
    },
  },
  {
    name: 'chunked bytes on the wire',
    async run(t) {
      const srv = await serve((_req, res) => {
        res.write('abc');
        res.end('de');
      });
      const sock = track(net.connect(srv.port, '127.0.0.1'));
      sock.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      const raw = await collect(sock);
      t.log('wire', raw.replace(/^Date: .*\r\n/m, ''));
      await srv.close();
    },
  },
  {
    name: '404 with a custom status message; unknown codes',
    async run(t) {
      const srv = await serve((req, res) => {
        if (req.url === '/custom') res.writeHead(404, 'Nowhere To Be Found', { 'X-Why': 'missing' });
        else if (req.url === '/weird') res.statusCode = 599;
        else res.statusCode = 404;
        res.end('not here');
      });
      for (const p of ['/plain', '/custom', '/weird']) {
        const r = await request(srv.port, { path: p });
        t.log(p, { status: r.status, message: r.message, why: r.headers['x-why'] ?? null, body: r.body });
      }
      await srv.close();
    },
  },
  {
    name: 'POST body arrives whole, with content-length or chunked',
    async run(t) {
      const srv = await serve((req, res) => {
        collect(req).then((b) => res.end(JSON.stringify({ method: req.method, cl: req.headers['content-length'] ?? null, te: req.headers['transfer-encoding'] ?? null, len: b.length, body: b.slice(0, 20) })));
      });
      const a = await request(srv.port, { method: 'POST', headers: { 'Content-Length': 11 } }, 'hello world');
      t.log('with content-length', JSON.parse(a.body));
      const b = await new Promise<string>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: srv.port, method: 'POST', agent: false }, (res) => collect(res).then(resolve, reject));
        req.on('error', reject);
        req.write('chunk1-');
        req.write(Buffer.alloc(100000, 'x'));
        req.end('-last');
      });
      t.log('chunked', JSON.parse(b));
      await srv.close();
    },
  },
  {
    name: 'http.get and setEncoding',
    async run(t) {
      const srv = await serve((_req, res) => res.end('é and more'));
      const body = await new Promise<unknown>((resolve, reject) => {
        const req = http.get(`http://127.0.0.1:${srv.port}/x`, { agent: false }, (res) => {
          res.setEncoding('utf8');
          const types = new Set<string>();
          let s = '';
          res.on('data', (d: unknown) => {
            types.add(typeof d);
            s += d as string;
          });
          res.on('end', () => resolve({ s, types: [...types], status: res.statusCode }));
        });
        req.on('error', reject);
        t.log('method', req.method);
        t.log('path', req.path);
      });
      t.log('got', body);
      await srv.close();
    },
  },
  {
    name: 'client and server event order',
    async run(t) {
      // Per object: how the request's and the response's events interleave is not specified.
      const serverEvents: string[] = [];
      const reqEvents: string[] = [];
      const resEvents: string[] = [];
      const clientEvents: string[] = [];
      const srv = await serve((req, res) => {
        serverEvents.push('request');
        req.on('end', () => reqEvents.push('end'));
        req.on('close', () => reqEvents.push('close'));
        res.on('finish', () => resEvents.push('finish'));
        res.on('close', () => resEvents.push('close'));
        req.resume();
        res.end('ok');
      });
      srv.server.on('connection', () => serverEvents.push('connection'));
      const done = deferred();
      const req = http.request({ host: '127.0.0.1', port: srv.port, agent: false }, (res) => {
        clientEvents.push('response');
        res.on('data', () => clientEvents.push('data'));
        res.on('end', () => clientEvents.push('res end'));
        res.on('close', () => clientEvents.push('res close'));
      });
      for (const e of ['socket', 'finish', 'close']) req.on(e, () => clientEvents.push(e));
      req.on('close', () => done.resolve());
      req.end();
      await done.promise;
      await srv.close();
      t.log('server', serverEvents);
      t.log('server req', reqEvents);
      t.log('server res', resEvents);
      t.log('client', clientEvents);
    },
  },
  {
    name: 'keep-alive agent reuses one socket',
    async run(t) {
      let connections = 0;
      const srv = await serve((req, res) => res.end(req.url));
      srv.server.on('connection', () => connections++);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const reused: boolean[] = [];
      const bodies: string[] = [];
      for (const p of ['/1', '/2', '/3']) {
        const body = await new Promise<string>((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port: srv.port, path: p, agent }, (res) => {
            reused.push(req.reusedSocket);
            t.log(`${p} connection header`, res.headers.connection ?? null);
            collect(res).then(resolve, reject);
          });
          req.on('error', reject);
          req.end();
        });
        bodies.push(body);
      }
      t.log('bodies', bodies);
      t.log('reusedSocket', reused);
      t.log('connections', connections);
      t.log('free sockets', Object.values(agent.freeSockets).reduce((n, l) => n + (l?.length ?? 0), 0));
      agent.destroy();
      await srv.close();
    },
  },
  {
    name: 'maxSockets 1: concurrent requests queue on the agent',
    async run(t) {
      const order: string[] = [];
      const srv = await serve((req, res) => {
        order.push(String(req.url));
        res.end(req.url);
      });
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const all = await Promise.all(
        ['/a', '/b', '/c'].map(
          (p) =>
            new Promise<string>((resolve, reject) => {
              const req = http.request({ host: '127.0.0.1', port: srv.port, path: p, agent }, (res) => collect(res).then(resolve, reject));
              req.on('error', reject);
              req.end();
            }),
        ),
      );
      t.log('responses', all);
      t.log('server order', order);
      agent.destroy();
      await srv.close();
    },
  },
  {
    name: 'the default agent keeps connections alive',
    async run(t) {
      const srv = await serve((_req, res) => res.end('x'));
      const r = await request(srv.port, { agent: undefined });
      t.log('connection', r.headers.connection ?? null);
      t.log('keep-alive header', r.headers['keep-alive'] ?? null);
      t.log('globalAgent keepAlive', (http.globalAgent as unknown as { keepAlive: boolean }).keepAlive);
      await srv.close();
    },
  },
  {
    name: "request timeout then destroy: ECONNRESET 'socket hang up'",
    async run(t) {
      const pending: http.ServerResponse[] = [];
      const srv = await serve((_req, res) => pending.push(res));
      const events: unknown[] = [];
      const done = deferred();
      const req = http.request({ host: '127.0.0.1', port: srv.port, agent: false }, () => events.push('response?!'));
      req.setTimeout(50, () => {
        events.push('timeout');
        req.destroy();
      });
      req.on('error', (e) => events.push(['error', { code: (e as NodeJS.ErrnoException).code, message: e.message }]));
      req.on('close', () => {
        events.push('close');
        done.resolve();
      });
      req.end();
      await done.promise;
      t.log('events', events);
      for (const r of pending) r.end();
      await srv.close();
    },
  },
  {
    name: 'destroy() before a response, and abort event order',
    async run(t) {
      const arrived = deferred();
      const srv = await serve(() => arrived.resolve());
      const events: unknown[] = [];
      const done = deferred();
      const req = http.request({ host: '127.0.0.1', port: srv.port, agent: false });
      req.on('error', (e) => events.push(['error', (e as NodeJS.ErrnoException).code, e.message]));
      req.on('abort', () => events.push('abort'));
      req.on('close', () => {
        events.push('close');
        done.resolve();
      });
      req.end();
      await arrived.promise;
      req.destroy();
      await done.promise;
      t.log('events', events);
      t.log('destroyed', req.destroyed);
      await srv.close();
    },
  },
  {
    name: "the server drops the socket mid-response: 'aborted' and ECONNRESET",
    async run(t) {
      const srv = await serve((_req, res) => {
        res.writeHead(200, { 'Content-Length': 1000 });
        res.write('partial', () => res.socket?.destroy());
      });
      const events: unknown[] = [];
      const done = deferred();
      const req = http.request({ host: '127.0.0.1', port: srv.port, agent: false }, (res) => {
        events.push(['response', res.statusCode]);
        res.on('aborted', () => events.push('aborted'));
        res.on('error', (e: NodeJS.ErrnoException) => events.push(['res error', e.code, e.message]));
        res.on('end', () => events.push('end?!'));
        res.on('close', () => {
          events.push(['res close', res.complete]);
          done.resolve();
        });
        res.resume();
      });
      req.on('error', (e) => events.push(['req error', (e as NodeJS.ErrnoException).code]));
      req.end();
      await done.promise;
      t.log('events', events);
      await srv.close();
    },
  },
  {
    name: 'ECONNREFUSED on the request',
    async run(t) {
      const port = await closedPort(net);
      await failing(t, 'request', request(port));
    },
  },
  {
    name: 'header validation: ERR_INVALID_HTTP_TOKEN, ERR_INVALID_CHAR, ERR_HTTP_HEADERS_SENT',
    async run(t) {
      const seen = deferred<unknown[]>();
      const srv = await serve((_req, res) => {
        const out: unknown[] = [];
        out.push(thrown(() => res.setHeader('bad header', 'x')));
        out.push(thrown(() => res.setHeader('x-ok', 'line\nbreak')));
        out.push(thrown(() => res.setHeader('x-undef', undefined as unknown as string)));
        res.writeHead(200);
        res.write('body');
        out.push(thrown(() => res.setHeader('x-late', '1')));
        res.end();
        seen.resolve(out);
      });
      await request(srv.port);
      for (const e of await seen.promise) t.error('server', e);
      t.error('validateHeaderName', thrown(() => http.validateHeaderName('bad name')));
      t.error('validateHeaderValue', thrown(() => http.validateHeaderValue('x', 'a\rb')));
      t.error('client bad header', thrown(() => http.request({ host: '127.0.0.1', port: srv.port, headers: { 'bad name': 'x' } })));
      await srv.close();
    },
  },
  {
    name: 'request option errors',
    async run(t) {
      t.error('https: protocol', thrown(() => http.request({ protocol: 'https:', host: '127.0.0.1', port: 1 })));
      t.error('bad method', thrown(() => http.request({ method: 'GE T', host: '127.0.0.1', port: 1 })));
      t.error('bad path', thrown(() => http.request({ path: '/a b', host: '127.0.0.1', port: 1 })));
      t.error('bad url', thrown(() => http.request('not a url')));
      t.error('bad agent', thrown(() => http.request({ agent: 'x' as unknown as http.Agent, host: '127.0.0.1', port: 1 })));
    },
  },
  {
    name: 'STATUS_CODES and METHODS',
    async run(t) {
      t.log('codes', [200, 201, 204, 301, 404, 418, 500, 503].map((c) => http.STATUS_CODES[c]));
      t.log('methods include', ['GET', 'PATCH', 'PROPFIND', 'QUERY'].map((m) => http.METHODS.includes(m)));
      t.log('maxHeaderSize', typeof http.maxHeaderSize);
    },
  },
  {
    name: 'HEAD and 204 carry no body',
    async run(t) {
      const srv = await serve((req, res) => {
        if (req.url === '/204') {
          res.statusCode = 204;
          res.end('ignored');
        } else res.end('a body of 17 bytes');
      });
      const head = await request(srv.port, { method: 'HEAD' });
      t.log('HEAD', { status: head.status, cl: head.headers['content-length'] ?? null, body: head.body });
      const nc = await request(srv.port, { path: '/204' });
      t.log('204', { status: nc.status, message: nc.message, cl: nc.headers['content-length'] ?? null, body: nc.body });
      await srv.close();
    },
  },
  {
    name: "Expect: 100-continue ('checkContinue' and 'continue')",
    async run(t) {
      const events: string[] = [];
      const srv = await serve((req, res) => {
        collect(req).then((b) => res.end(`got ${b}`));
      });
      srv.server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
        events.push('checkContinue');
        res.writeContinue();
        srv.server.emit('request', req, res);
      });
      const body = await new Promise<string>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: srv.port, method: 'POST', agent: false, headers: { Expect: '100-continue' } }, (res) => collect(res).then(resolve, reject));
        req.on('continue', () => {
          events.push('continue');
          req.end('the body');
        });
        req.on('error', reject);
      });
      t.log('events', events);
      t.log('body', body);
      await srv.close();
    },
  },
  {
    name: 'trailers',
    async run(t) {
      const srv = await serve((_req, res) => {
        res.writeHead(200, { Trailer: 'X-Checksum' });
        res.write('data');
        res.addTrailers({ 'X-Checksum': 'abc123' });
        res.end();
      });
      const r = await request(srv.port);
      t.log('body', r.body);
      t.log('trailers', r.res.trailers);
      t.log('rawTrailers', r.res.rawTrailers);
      await srv.close();
    },
  },
  {
    name: 'response header API: getHeader, getHeaderNames, hasHeader, removeHeader, headersSent',
    async run(t) {
      const seen = deferred<unknown>();
      const srv = await serve((_req, res) => {
        res.setHeader('X-A', '1');
        res.setHeader('X-B', 2);
        res.appendHeader('X-A', '3');
        res.removeHeader('X-B');
        const before = { names: res.getHeaderNames(), a: res.getHeader('x-a'), hasB: res.hasHeader('x-b'), headers: res.getHeaders(), sent: res.headersSent };
        res.end('', () => seen.resolve({ before, sent: res.headersSent, finished: res.writableFinished }));
      });
      const r = await request(srv.port);
      t.log('server', await seen.promise);
      t.log('client x-a', r.headers['x-a']);
      await srv.close();
    },
  },
  {
    name: '431 for headers over maxHeaderSize',
    async run(t) {
      const srv = await serve((_req, res) => res.end('small ok'), { maxHeaderSize: 1024 });
      const errs: unknown[] = [];
      srv.server.on('clientError', (e: NodeJS.ErrnoException, s: net.Socket) => {
        errs.push(e.code);
        s.end('HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n');
      });
      const ok = await request(srv.port);
      t.log('small', ok.body);
      const big = await request(srv.port, { headers: { 'X-Big': 'x'.repeat(4000) } });
      t.log('big', { status: big.status, message: big.message });
      t.log('clientError codes', errs);
      await srv.close();
    },
  },
  {
    name: "malformed request: 'clientError' and the default 400",
    async run(t) {
      const srv = await serve((_req, res) => res.end());
      const sock = track(net.connect(srv.port, '127.0.0.1'));
      sock.write('THIS IS NOT HTTP\r\n\r\n');
      const raw = await collect(sock);
      t.log('response', raw);
      const errs: unknown[] = [];
      srv.server.on('clientError', (e: NodeJS.ErrnoException & { bytesParsed?: number; rawPacket?: Buffer }, s: net.Socket) => {
        errs.push({ code: e.code, message: e.message, bytesParsed: e.bytesParsed ?? null, rawPacket: e.rawPacket ? e.rawPacket.toString() : null });
        s.destroy();
      });
      const sock2 = track(net.connect(srv.port, '127.0.0.1'));
      sock2.write('GET / HTTP/1.1\r\nBad Header Line\r\n\r\n');
      sock2.resume();
      await closed(sock2);
      t.log('clientError', errs);
      await srv.close();
    },
  },
  {
    name: "upgrade: 'upgrade' on both sides, then raw bytes",
    async run(t) {
      const srv = await serve((_req, res) => res.end('no upgrade?!'));
      srv.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
        t.log('server upgrade', { upgrade: req.headers.upgrade, head: head.toString() });
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: evy\r\nConnection: Upgrade\r\n\r\n');
        socket.pipe(socket);
      });
      const [res, socket, head] = await new Promise<[http.IncomingMessage, net.Socket, Buffer]>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: srv.port, agent: false, headers: { Connection: 'Upgrade', Upgrade: 'evy' } });
        req.on('upgrade', (r: http.IncomingMessage, s: net.Socket, h: Buffer) => resolve([r, s, h]));
        req.on('response', () => reject(new Error('got a response')));
        req.on('error', reject);
        req.end();
      });
      t.log('client upgrade', { status: res.statusCode, message: res.statusMessage, upgrade: res.headers.upgrade, head: head.length });
      track(socket);
      socket.end('raw after upgrade');
      t.log('echo', await collect(socket));
      await closed(socket);
      await srv.close();
    },
  },
  {
    name: 'res.end callback and finish; req.url, method, httpVersion on the server',
    async run(t) {
      const seen = deferred<unknown>();
      const srv = await serve((req, res) => {
        const info = { url: req.url, method: req.method, httpVersion: req.httpVersion, complete: req.complete };
        const order: string[] = [];
        res.on('finish', () => order.push('finish'));
        req.resume();
        req.on('end', () =>
          res.end('bye', () => {
            order.push('end callback');
            seen.resolve({ info, order, completeAfter: req.complete });
          }),
        );
      });
      await request(srv.port, { method: 'PUT', path: '/p/a/t/h?q=%20' }, 'x');
      t.log('server', await seen.promise);
      await srv.close();
    },
  },
  {
    name: 'server.address(), listening, and close with an idle keep-alive client',
    async run(t) {
      const srv = await serve((_req, res) => res.end('x'));
      const a = srv.server.address() as net.AddressInfo;
      t.log('address', { address: a.address, family: a.family, port: typeof a.port });
      const agent = new http.Agent({ keepAlive: true });
      await request(srv.port, { agent });
      const closedCb = deferred();
      srv.server.close(() => closedCb.resolve());
      await closedCb.promise;
      t.log('closed with an idle keep-alive socket open');
      t.log('listening', srv.server.listening);
      agent.destroy();
    },
  },
  {
    name: 'server.setTimeout / requestTimeout defaults and headersTimeout',
    async run(t) {
      const srv = await serve((_req, res) => res.end());
      t.log('defaults', { timeout: srv.server.timeout, keepAliveTimeout: srv.server.keepAliveTimeout, requestTimeout: srv.server.requestTimeout, headersTimeout: srv.server.headersTimeout, maxHeadersCount: srv.server.maxHeadersCount, maxRequestsPerSocket: srv.server.maxRequestsPerSocket });
      t.log('setTimeout returns the server', srv.server.setTimeout(1234) === srv.server);
      t.log('timeout', srv.server.timeout);
      await srv.close();
    },
  },
  {
    name: "server socket timeout: 'timeout' event on the server",
    async run(t) {
      const got = deferred<string>();
      const srv = await serve(() => {
        /* never answers */
      });
      srv.server.setTimeout(50, (s: net.Socket) => {
        got.resolve('server timeout');
        s.destroy();
      });
      const p = request(srv.port);
      t.log('event', await got.promise);
      await failing(t, 'client', p);
      await srv.close();
    },
  },
  {
    name: 'json round trip with a big body',
    async run(t) {
      const srv = await serve((req, res) => {
        collect(req).then((b) => {
          const obj = JSON.parse(b) as { items: number[] };
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ count: obj.items.length, sum: obj.items.reduce((a, n) => a + n, 0) }));
        });
      });
      const items = Array.from({ length: 50000 }, (_, i) => i);
      const r = await request(srv.port, { method: 'POST', headers: { 'content-type': 'application/json' } }, JSON.stringify({ items }));
      t.log('response', JSON.parse(r.body));
      await srv.close();
    },
  },
];
