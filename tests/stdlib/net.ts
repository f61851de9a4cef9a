// node:net scenarios: servers on 127.0.0.1:0 (and ::1), event order, half-open
// sockets, flow control, error codes.
import type * as dns from 'node:dns';
import * as net from 'node:net';
import type { Scenario, Trace } from './lib/trace';
import { close, closed, closedPort, collect, deferred, listen, once, thrown, track, turns, when } from './lib/util';

// net.connect / net.createServer, with every socket track()ed for closed().
// (Called through the module object, so a patched net is what runs.)
const connect = ((...args: unknown[]): net.Socket => track((net.connect as (...a: unknown[]) => net.Socket)(...args))) as typeof net.connect;

const createServer = ((...args: unknown[]): net.Server => {
  const server = (net.createServer as (...a: unknown[]) => net.Server)(...args);
  server.prependListener('connection', (s: net.Socket) => track(s));
  return server;
}) as typeof net.createServer;

/** An echo server: what it receives, it sends back; it ends when the client ends. */
async function echoServer(opts: net.ServerOpts = {}): Promise<[net.Server, number]> {
  const server = createServer(opts, (s: net.Socket) => s.pipe(s));
  return [server, await listen(server)];
}

/** Logs a socket's events (names, with the few arguments that are deterministic). */
function watch(t: Trace, s: net.Socket, prefix: string, events = ['connect', 'ready', 'end', 'finish', 'close', 'error', 'timeout']): void {
  for (const e of events) {
    s.on(e, (arg: unknown) => {
      if (e === 'close') t.log(`${prefix}close`, { hadError: arg });
      else if (e === 'error') t.error(`${prefix}error`, arg);
      else t.log(`${prefix}${e}`);
    });
  }
}

export const scenarios: Scenario[] = [
  {
    name: 'server.address() on 127.0.0.1:0',
    async run(t) {
      const server = createServer();
      t.log('listening before', server.listening);
      t.log('address before', server.address());
      const port = await listen(server);
      const a = server.address() as net.AddressInfo;
      t.log('listening', server.listening);
      t.log('address', { address: a.address, family: a.family, portIsNumber: typeof a.port === 'number', same: a.port === port, nonZero: port > 0 });
      await close(server);
      t.log('listening after', server.listening);
      t.log('address after', server.address());
    },
  },
  {
    name: 'server.address() on ::1',
    async run(t) {
      const server = createServer();
      await listen(server, '::1');
      const a = server.address() as net.AddressInfo;
      t.log('address', { address: a.address, family: a.family });
      const c = connect((server.address() as net.AddressInfo).port, '::1');
      await once(c, 'connect');
      t.log('remote', { address: c.remoteAddress, family: c.remoteFamily });
      c.destroy();
      await close(server);
    },
  },
  {
    name: "'listening' event and listen callback",
    async run(t) {
      const server = createServer();
      server.on('listening', () => t.log('listening event'));
      const done = deferred();
      const ret = server.listen(0, '127.0.0.1', () => {
        t.log('listen callback');
        done.resolve();
      });
      t.log('listen returns the server', ret === server);
      t.log('listening right after listen()', server.listening);
      await done.promise;
      server.on('close', () => t.log('close event'));
      await new Promise<void>((r) =>
        server.close((err) => {
          t.log('close callback', err ?? null);
          r();
        }),
      );
    },
  },
  {
    name: 'client and server event order for a full exchange',
    async run(t) {
      // Each side's order is logged on its own: how the two interleave is up to the kernel.
      const serverEvents: unknown[] = [];
      const clientEvents: unknown[] = [];
      const serverClosed = deferred();
      const server = createServer((s) => {
        serverEvents.push('connection');
        s.setEncoding('utf8');
        let got = '';
        s.on('data', (d: string) => (got += d));
        s.on('end', () => {
          serverEvents.push(['end', got]);
          s.end('bye');
        });
        s.on('finish', () => serverEvents.push('finish'));
        s.on('close', (hadError: boolean) => {
          serverEvents.push(['close', hadError]);
          serverClosed.resolve();
        });
      });
      const port = await listen(server);
      const c = connect(port, '127.0.0.1');
      for (const e of ['lookup', 'connect', 'ready', 'end', 'finish', 'close', 'error', 'timeout']) {
        c.on(e, (arg: unknown) => clientEvents.push(e === 'close' ? [e, arg] : e));
      }
      c.on('connect', () => c.end('hello'));
      const body = await collect(c);
      clientEvents.push(['got', body]);
      await closed(c);
      await serverClosed.promise;
      t.log('server', serverEvents);
      t.log('client', clientEvents);
      await close(server);
    },
  },
  {
    name: 'echo with setEncoding and without',
    async run(t) {
      const [server, port] = await echoServer();
      const a = connect(port, '127.0.0.1');
      a.setEncoding('utf8');
      const aChunks: unknown[] = [];
      a.on('data', (d) => aChunks.push(typeof d));
      a.end('text é');
      const b = connect(port, '127.0.0.1');
      const bTypes = new Set<boolean>();
      let bLen = 0;
      b.on('data', (d: Buffer) => {
        bTypes.add(Buffer.isBuffer(d));
        bLen += d.length;
      });
      b.end(Buffer.from([1, 2, 3, 4]));
      const [aText] = await Promise.all([collect(a).catch(() => ''), when(b, 'end')]);
      await Promise.all([closed(a), closed(b)]);
      t.log('utf8 chunks are strings', [...new Set(aChunks)]);
      t.log('utf8 text', aText);
      t.log('raw chunks are buffers', [...bTypes]);
      t.log('raw length', bLen);
      await close(server);
    },
  },
  {
    name: 'setEncoding hex and base64',
    async run(t) {
      const [server, port] = await echoServer();
      for (const enc of ['hex', 'base64', 'latin1'] as const) {
        const c = connect(port, '127.0.0.1');
        c.setEncoding(enc);
        let got = '';
        c.on('data', (d: string) => (got += d));
        c.end(Buffer.from('evy\u00ff', 'latin1'));
        await closed(c);
        t.log(enc, got);
      }
      await close(server);
    },
  },
  {
    name: 'allowHalfOpen false: the server socket ends when the client ends',
    async run(t) {
      const serverSide = deferred<net.Socket>();
      const server = createServer((s) => serverSide.resolve(s));
      const port = await listen(server);
      const c = connect(port, '127.0.0.1');
      const s = await serverSide.promise;
      const serverEvents: unknown[] = [];
      s.on('end', () => serverEvents.push(['end', { writable: s.writable }]));
      s.on('finish', () => serverEvents.push('finish'));
      s.on('close', () => serverEvents.push('close'));
      s.resume();
      c.resume();
      c.end();
      await when(c, 'end');
      t.log('client end');
      await Promise.all([closed(c), closed(s)]);
      t.log('server', serverEvents);
      t.log('allowHalfOpen', { server: s.allowHalfOpen, client: c.allowHalfOpen });
      await close(server);
    },
  },
  {
    name: 'allowHalfOpen true: the server writes after the client ended',
    async run(t) {
      const server = createServer({ allowHalfOpen: true }, (s) => {
        s.setEncoding('utf8');
        let got = '';
        s.on('data', (d: string) => (got += d));
        s.on('end', () => {
          t.log('server end', { got, writable: s.writable });
          setImmediate(() => {
            s.write('late ');
            s.end('reply');
          });
        });
      });
      const port = await listen(server);
      const c = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      let finished = false;
      c.on('finish', () => (finished = true));
      c.end('question');
      const reply = await collect(c);
      t.log('client got after its end', reply);
      t.log('client', { writable: c.writable, finished });
      c.end();
      await closed(c);
      await close(server);
    },
  },
  {
    name: 'ECONNREFUSED: error then close(hadError)',
    async run(t) {
      const port = await closedPort(net);
      const c = connect(port, '127.0.0.1');
      c.on('connect', () => t.log('connect?!'));
      c.on('error', (err: NodeJS.ErrnoException & { address?: string }) => {
        t.error('error', err);
        t.log('details', { syscall: err.syscall, errno: err.errno, address: err.address, portIsNumber: typeof (err as { port?: unknown }).port === 'number' });
      });
      const [hadError] = await when<[boolean]>(c, 'close');
      t.log('close', { hadError, destroyed: c.destroyed });
    },
  },
  {
    name: 'ECONNREFUSED through net.createConnection callback never runs',
    async run(t) {
      const port = await closedPort(net);
      let called = false;
      const c = track(net.createConnection({ port, host: '127.0.0.1' }, () => (called = true)));
      const [err] = await when<[Error]>(c, 'error');
      t.error('error', err);
      await closed(c);
      t.log('connect callback called', called);
    },
  },
  {
    name: 'ERR_SOCKET_BAD_PORT is thrown synchronously',
    async run(t) {
      // (On a socket of our own: the throw comes after the socket got a handle.)
      for (const port of [70000, -1, 1.5, 'abc']) {
        const sock = new net.Socket();
        t.error(`connect ${JSON.stringify(port)}`, thrown(() => sock.connect({ port: port as number, host: '127.0.0.1' })));
        sock.destroy();
      }
      const server = createServer();
      t.error('listen 65536', thrown(() => server.listen(65536)));
      t.log('server listening', server.listening);
    },
  },
  {
    name: 'ERR_INVALID_ARG_TYPE and ERR_MISSING_ARGS',
    async run(t) {
      t.error('connect()', thrown(() => (net.connect as unknown as () => void)()));
      t.error('connect({})', thrown(() => net.connect({} as net.NetConnectOpts)));
      const sock = new net.Socket();
      t.error('connect host number', thrown(() => sock.connect({ port: 1, host: 5 as unknown as string })));
      sock.destroy();
      t.error('createServer listener string', thrown(() => createServer('x' as unknown as () => void).listen(0)));
      const [server, port] = await echoServer();
      const c = connect(port, '127.0.0.1');
      await once(c, 'connect');
      t.error('write(123)', thrown(() => c.write(123 as unknown as string)));
      t.error('write(null)', thrown(() => c.write(null as unknown as string)));
      c.destroy();
      await closed(c);
      await close(server);
    },
  },
  {
    name: 'net.isIP / isIPv4 / isIPv6',
    async run(t) {
      for (const s of ['127.0.0.1', '::1', 'fe80::1%lo', '1.2.3', 'localhost', '', '::ffff:127.0.0.1', '256.0.0.1']) {
        t.log(s, [net.isIP(s), net.isIPv4(s), net.isIPv6(s)]);
      }
    },
  },
  {
    name: 'server.close() waits for open connections',
    async run(t) {
      const serverSide = deferred<net.Socket>();
      const server = createServer((s) => serverSide.resolve(s));
      const port = await listen(server);
      const c = connect(port, '127.0.0.1');
      const s = await serverSide.promise;
      const closed = deferred();
      server.close(() => {
        t.log('server close callback');
        closed.resolve();
      });
      t.log('listening after close()', server.listening);
      // The open connection still works.
      s.end('still here');
      const got = await collect(c);
      t.log('client got', got);
      c.end();
      await closed.promise;
      t.log('client destroyed', c.destroyed);
    },
  },
  {
    name: 'server.close() refuses new connections at once',
    async run(t) {
      const server = createServer((s) => s.end());
      const port = await listen(server);
      const closed = close(server);
      const c = connect(port, '127.0.0.1');
      c.on('connect', () => t.log('connect?!'));
      const [err] = await when<[NodeJS.ErrnoException]>(c, 'error');
      t.error('error', err);
      await closed;
      t.log('closed');
    },
  },
  {
    name: 'server.close() when not listening: ERR_SERVER_NOT_RUNNING',
    async run(t) {
      const server = createServer();
      const [err] = await new Promise<[Error | undefined]>((r) => server.close((e) => r([e])));
      t.error('close callback', err);
      const port = await listen(server);
      t.log('port', typeof port);
      await close(server);
      const [again] = await new Promise<[Error | undefined]>((r) => server.close((e) => r([e])));
      t.error('second close', again);
    },
  },
  {
    name: 'getConnections counts open sockets',
    async run(t) {
      const sockets: net.Socket[] = [];
      const arrived = deferred();
      const server = createServer((s) => {
        sockets.push(s);
        if (sockets.length === 3) arrived.resolve();
      });
      const port = await listen(server);
      const clients = [0, 1, 2].map(() => connect(port, '127.0.0.1'));
      await arrived.promise;
      const count = (): Promise<number> => new Promise((r, j) => server.getConnections((e, n) => (e ? j(e) : r(n))));
      t.log('connections', await count());
      const goneOne = when(sockets[0], 'close');
      clients[0].destroy();
      await goneOne;
      t.log('after one left', await count());
      for (const c of clients) c.destroy();
      await Promise.all(sockets.map((s) => closed(s)));
      t.log('after all left', await count());
      await close(server);
    },
  },
  {
    name: 'EADDRINUSE on a second listen to the same port',
    async run(t) {
      const a = createServer();
      const port = await listen(a);
      const b = createServer();
      b.on('listening', () => t.log('listening?!'));
      b.listen(port, '127.0.0.1');
      const [err] = await when<[NodeJS.ErrnoException]>(b, 'error');
      t.error('error', err);
      t.log('syscall', err.syscall);
      t.log('b listening', b.listening);
      await close(a);
    },
  },
  {
    name: 'ERR_SERVER_ALREADY_LISTEN',
    async run(t) {
      const server = createServer();
      await listen(server);
      t.error('listen again', thrown(() => server.listen(0, '127.0.0.1')));
      await close(server);
    },
  },
  {
    name: "setTimeout: 'timeout' is emitted and the socket stays open",
    async run(t) {
      const [server, port] = await echoServer();
      const c = connect(port, '127.0.0.1');
      await once(c, 'connect');
      const ret = c.setTimeout(30);
      t.log('setTimeout returns the socket', ret === c);
      await when(c, 'timeout');
      t.log('timeout', { destroyed: c.destroyed, timeout: c.timeout });
      c.setTimeout(0);
      t.log('timeout cleared', c.timeout);
      c.write('still works');
      const [d] = await when<[Buffer]>(c, 'data');
      t.log('echo', d.toString());
      c.destroy();
      await closed(c);
      await close(server);
    },
  },
  {
    name: 'connect option timeout',
    async run(t) {
      const [server, port] = await echoServer();
      const c = connect({ port, host: '127.0.0.1', timeout: 30 });
      c.on('connect', () => t.log('connect'));
      await when(c, 'timeout');
      t.log('timeout', c.timeout);
      c.end();
      await closed(c);
      await close(server);
    },
  },
  {
    name: 'pause() holds data until resume()',
    async run(t) {
      const written = deferred();
      const server = createServer((s) => s.end('abc', () => written.resolve()));
      const port = await listen(server);
      const c = connect(port, '127.0.0.1');
      c.pause();
      let got = '';
      c.on('data', (d: Buffer) => (got += d.toString()));
      await written.promise;
      await turns(5);
      t.log('while paused', { isPaused: c.isPaused(), got });
      c.resume();
      t.log('resumed', c.isPaused());
      await when(c, 'end');
      t.log('after resume', got);
      await closed(c);
      await close(server);
    },
  },
  {
    name: "write() returns false on a big write and 'drain' follows",
    async run(t) {
      const serverSide = deferred<net.Socket>();
      const server = createServer((s) => serverSide.resolve(s));
      const port = await listen(server);
      const c = connect(port, '127.0.0.1');
      await once(c, 'connect');
      const s = await serverSide.promise;
      const big = Buffer.alloc(4 * 1024 * 1024, 7);
      const ok = c.write(big, () => t.log('write callback'));
      t.log('write returned', ok);
      t.log('writableLength > 0', c.writableLength > 0);
      t.log('writableNeedDrain', c.writableNeedDrain);
      let n = 0;
      s.on('data', (d: Buffer) => (n += d.length));
      const drained = when(c, 'drain');
      await drained;
      t.log('drain');
      c.end();
      await when(s, 'end');
      t.log('server received', n);
      s.end();
      await closed(c);
      await close(server);
    },
  },
  {
    name: 'bytesRead / bytesWritten',
    async run(t) {
      const [server, port] = await echoServer();
      const c = connect(port, '127.0.0.1');
      t.log('before', [c.bytesRead, c.bytesWritten]);
      c.end('0123456789');
      await collect(c);
      t.log('after', [c.bytesRead, c.bytesWritten]);
      await closed(c);
      await close(server);
    },
  },
  {
    name: 'readyState, connecting, pending through a lifetime',
    async run(t) {
      const server = createServer({ allowHalfOpen: true }, (s) => {
        s.resume();
        s.on('end', () => setImmediate(() => s.end()));
      });
      const port = await listen(server);
      const c = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      const state = (): unknown => ({ readyState: c.readyState, connecting: c.connecting, pending: c.pending });
      t.log('after connect()', state());
      await once(c, 'connect');
      t.log('connected', state());
      c.end();
      await when(c, 'finish');
      t.log('after end', state());
      c.resume();
      await closed(c);
      t.log('closed', state());
      await close(server);
    },
  },
  {
    name: 'local and remote addresses on both sides',
    async run(t) {
      const serverSide = deferred<net.Socket>();
      const server = createServer((s) => serverSide.resolve(s));
      const port = await listen(server);
      const c = connect(port, '127.0.0.1');
      await once(c, 'connect');
      const s = await serverSide.promise;
      t.log('client', { localAddress: c.localAddress, localFamily: c.localFamily, remoteAddress: c.remoteAddress, remoteFamily: c.remoteFamily, remotePortMatches: c.remotePort === port });
      t.log('server', { remoteAddress: s.remoteAddress, remotePortMatches: s.remotePort === c.localPort, localPortMatches: s.localPort === port });
      const a = c.address() as net.AddressInfo;
      t.log('client.address()', { address: a.address, family: a.family, port: typeof a.port });
      c.destroy();
      await closed(s);
      await close(server);
    },
  },
  {
    name: "destroy(err): 'error' then 'close' with hadError",
    async run(t) {
      const [server, port] = await echoServer();
      const c = connect(port, '127.0.0.1');
      watch(t, c, '');
      await when(c, 'connect');
      c.destroy(Object.assign(new Error('boom'), { code: 'EBOOM' }));
      t.log('destroyed', c.destroyed);
      await closed(c);
      await close(server);
    },
  },
  {
    name: 'end(data, callback) and the server sees data then end',
    async run(t) {
      const got = deferred<string>();
      const server = createServer((s) => collect(s).then(got.resolve, got.reject));
      const port = await listen(server);
      const c = connect(port, '127.0.0.1');
      c.on('finish', () => t.log('finish event'));
      c.write('a');
      c.write(Buffer.from('b'));
      c.end('c', () => t.log('end callback'));
      t.log('server received', await got.promise);
      c.destroy();
      await closed(c);
      await close(server);
    },
  },
  {
    name: 'the server socket that resets: client sees ECONNRESET or end',
    async run(t) {
      const server = createServer((s) => s.resetAndDestroy());
      const port = await listen(server);
      const c = connect(port, '127.0.0.1');
      c.resume();
      const errs: string[] = [];
      c.on('error', (e: NodeJS.ErrnoException) => errs.push(String(e.code)));
      const [hadError] = await when<[boolean]>(c, 'close');
      t.log('close', { hadError, errors: errs });
      await close(server);
    },
  },
  {
    name: 'pauseOnConnect: no data until the server resumes',
    async run(t) {
      const serverSide = deferred<net.Socket>();
      const server = createServer({ pauseOnConnect: true }, (s) => serverSide.resolve(s));
      const port = await listen(server);
      const c = connect(port, '127.0.0.1');
      c.write('ping');
      const s = await serverSide.promise;
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString()));
      await turns(5);
      t.log('before resume', got);
      s.resume();
      await when(s, 'data');
      t.log('after resume', got);
      c.destroy();
      await closed(s);
      await close(server);
    },
  },
  {
    name: "maxConnections: the extra connection is dropped ('drop' event)",
    async run(t) {
      const first = deferred<net.Socket>();
      const server = createServer((s) => first.resolve(s));
      server.maxConnections = 1;
      const dropped = deferred<unknown>();
      server.on('drop', (d: { localAddress?: string; remoteAddress?: string }) => dropped.resolve({ localAddress: d.localAddress, remoteAddress: d.remoteAddress }));
      const port = await listen(server);
      const a = connect(port, '127.0.0.1');
      const s = await first.promise;
      const b = connect(port, '127.0.0.1');
      b.on('error', () => {});
      b.resume();
      t.log('drop', await dropped.promise);
      await closed(b);
      t.log('second closed');
      a.destroy();
      await closed(s);
      await close(server);
    },
  },
  {
    name: 'custom lookup: its result and its error (ENOTFOUND)',
    async run(t) {
      const [server, port] = await echoServer();
      const calls: unknown[] = [];
      const c = connect({
        port,
        host: 'echo.test',
        lookup: (host, opts, cb) => {
          calls.push([host, (opts as { all?: boolean }).all === true]);
          if ((opts as { all?: boolean }).all) (cb as (e: null, a: dns.LookupAddress[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
          else (cb as (e: null, a: string, f: number) => void)(null, '127.0.0.1', 4);
        },
      });
      c.on('lookup', (err: Error | null, address: string, family: number | string, host: string) => t.log('lookup event', [err, address, family, host]));
      c.end('via lookup');
      t.log('echo', await collect(c));
      await closed(c);
      const d = connect({
        port,
        host: 'nowhere.test',
        lookup: (host, _opts, cb) => {
          const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: host });
          (cb as (e: Error) => void)(err);
        },
      });
      d.on('lookup', (err: Error | null) => t.error('lookup event error', err));
      const [err] = await when<[NodeJS.ErrnoException]>(d, 'error');
      t.error('error', err);
      await closed(d);
      t.log('lookup calls', calls);
      await close(server);
    },
  },
  {
    name: 'setNoDelay / setKeepAlive / ref / unref return the socket; server unref/ref',
    async run(t) {
      const [server, port] = await echoServer();
      t.log('server.unref()', server.unref() === server);
      t.log('server.ref()', server.ref() === server);
      const c = connect(port, '127.0.0.1');
      await once(c, 'connect');
      t.log('socket', [c.setNoDelay(true) === c, c.setKeepAlive(true, 1000) === c, c.unref() === c, c.ref() === c]);
      c.destroy();
      await closed(c);
      await close(server);
    },
  },
  {
    name: 'new net.Socket() then connect()',
    async run(t) {
      const [server, port] = await echoServer();
      const c = track(new net.Socket());
      t.log('fresh', { readyState: c.readyState, pending: c.pending, destroyed: c.destroyed });
      const ret = c.connect(port, '127.0.0.1');
      t.log('connect returns the socket', ret === c);
      await once(c, 'connect');
      c.end('x');
      t.log('echo', await collect(c));
      await closed(c);
      t.log('closed', { readyState: c.readyState, destroyed: c.destroyed });
      await close(server);
    },
  },
  {
    name: 'write after end: ERR_STREAM_WRITE_AFTER_END',
    async run(t) {
      const [server, port] = await echoServer();
      const c = connect(port, '127.0.0.1');
      c.resume();
      c.end();
      const cbErr = deferred<unknown>();
      c.on('error', (e) => t.error('error event', e));
      c.write('late', (e) => cbErr.resolve(e));
      t.error('write callback', await cbErr.promise);
      await closed(c);
      await close(server);
    },
  },
  {
    name: 'many clients at once all get their echo',
    async run(t) {
      const [server, port] = await echoServer();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const c = connect(port, '127.0.0.1');
          c.end(`client-${i}`);
          return collect(c);
        }),
      );
      t.log('echoes', results);
      await close(server);
    },
  },
  {
    name: 'net.BlockList and net.SocketAddress',
    async run(t) {
      const bl = new net.BlockList();
      bl.addAddress('127.0.0.2');
      bl.addRange('10.0.0.1', '10.0.0.9');
      bl.addSubnet('192.168.0.0', 16);
      t.log('checks', ['127.0.0.2', '127.0.0.1', '10.0.0.5', '192.168.7.7', '8.8.8.8'].map((a) => bl.check(a)));
      t.log('rules', bl.rules);
      const sa = new net.SocketAddress({ address: '::1', port: 8080, family: 'ipv6' });
      t.log('SocketAddress', { address: sa.address, port: sa.port, family: sa.family, flowlabel: sa.flowlabel });
    },
  },
];
