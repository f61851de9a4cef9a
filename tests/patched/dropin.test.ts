// evy/patched/<name> as a drop-in superset of node:<name> (issue 11, items 4-10):
// each test does the same thing with node:<name> and with evy's module, and
// compares. The full export list comes from each builtin itself.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fork, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import { join } from 'node:path';
import * as timers from 'node:timers';
import * as timersPromises from 'node:timers/promises';
import { promisify } from 'node:util';
import { Timeout } from 'evy';
import * as gnet from 'evy/patched/net';
import * as gtimers from 'evy/patched/timers';
import { assertClean, localhostCert, rejection } from '../helpers';
// The module objects themselves: a compiler's `import * as` (esbuild's, here)
// copies a CommonJS module into getters, for node:tls as for evy's.
import http = require('node:http');
import tls = require('node:tls');
import ghttp = require('evy/patched/http');
import gtls = require('evy/patched/tls');

test.after.each(assertClean);

const FIXTURES = join(__dirname, 'fixtures');
// The instance 'evy' loads (runtime/ through tsx would be a second hub).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ACCEPT_BACKLOG } = require(join(__dirname, '../../dist/io/streamsock.js')) as { ACCEPT_BACKLOG: number };

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

async function close(server: net.Server): Promise<void> {
  const closed = once(server, 'close');
  server.close();
  await closed;
}

test('every export of each builtin, from the builtin itself: there, same descriptor, assignable as stock, importable by name (CJS and ESM)', () => {
  const r = spawnSync(process.execPath, [join(FIXTURES, 'dropin-exports.mjs')], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  const { checked, gaps } = JSON.parse(r.stdout) as { checked: number; gaps: string[] };
  assert.ok(checked > 100, `only ${checked} stock names checked`);
  assert.equal(gaps, []);
});

test('item 10: import { createServer } from evy/patched/http in a plain .mjs, and lookup, setTimeout, createConnection', () => {
  const r = spawnSync(process.execPath, [join(FIXTURES, 'dropin-named.mjs')], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), {
    createServer: 'function', urlopen: 'function', lookup: 'function', gethostbyname: 'function', setTimeout: 'function',
    sleep: 'function', createConnection: true, wrapSocket: 'function', DEFAULT_MAX_VERSION: true, defaultIsModule: true,
  });
});

test('item 10: the typings (the "types" condition) give ES and CommonJS modules the same names, evy\'s types included', () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(FIXTURES, 'types', 'tsconfig.json')], { encoding: 'utf8', timeout: 120_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
});

test('item 4: the constructors node lets one call without new can be called so from evy\'s modules', () => {
  const pairs: Array<[string, () => unknown, () => unknown, Function, Function]> = [
    ['net.Server()', () => net.Server(), () => gnet.Server(), net.Server, gnet.Server],
    ['net.Socket()', () => net.Socket(), () => gnet.Socket(), net.Socket, gnet.Socket],
    ['net.Stream()', () => net.Stream(), () => gnet.Stream(), net.Socket, gnet.Stream],
    ['tls.Server()', () => tls.Server({}), () => gtls.Server({}), tls.Server, gtls.Server],
    ['http.Server()', () => http.Server(), () => ghttp.Server(), http.Server, ghttp.Server],
    ['http.Agent()', () => (http.Agent as unknown as () => unknown)(), () => (ghttp.Agent as unknown as () => unknown)(), http.Agent, ghttp.Agent],
  ];
  for (const [what, stockCall, evyCall, Stock, Evy] of pairs) {
    const a = stockCall() as object;
    const b = evyCall() as object;
    assert.ok(a instanceof Stock && b instanceof Stock && b instanceof Evy && a instanceof Evy, what);
    assert.is(Object.getPrototypeOf(b), Object.getPrototypeOf(a), `${what}: the same prototype`);
    if (a instanceof net.Socket) (a as net.Socket).destroy();
    if (b instanceof net.Socket) (b as net.Socket).destroy();
  }
  // Old-style subclassing, as Node's own modules and older libraries do it:
  // Server.call(this) sets up `this`, as node's does.
  const subclass = (Base: Function): net.Server => {
    function Sub(this: net.Server): void {
      Base.call(this);
    }
    Object.setPrototypeOf(Sub.prototype, Base.prototype);
    return new (Sub as unknown as new () => net.Server)();
  };
  const [stockSub, evySub] = [subclass(net.Server), subclass(gnet.Server)];
  assert.ok(evySub instanceof gnet.Server && evySub instanceof net.Server);
  assert.equal(Object.keys(evySub), Object.keys(stockSub), 'set up as node\'s');
  assert.equal(evySub.eventNames(), stockSub.eventNames());
  class Derived extends gnet.Server {}
  assert.ok(new Derived() instanceof net.Server);
});

test('item 5: tls.DEFAULT_MAX_VERSION, DEFAULT_CIPHERS, createSecureContext and http.globalAgent are assignable and reach node\'s modules', async () => {
  const saved = { max: tls.DEFAULT_MAX_VERSION, ciphers: tls.DEFAULT_CIPHERS, csc: tls.createSecureContext, agent: http.globalAgent };
  try {
    (gtls as { DEFAULT_MAX_VERSION: string }).DEFAULT_MAX_VERSION = 'TLSv1.2';
    assert.is(tls.DEFAULT_MAX_VERSION, 'TLSv1.2');
    (gtls as { DEFAULT_CIPHERS: string }).DEFAULT_CIPHERS = 'ECDHE-RSA-AES128-GCM-SHA256';
    assert.is(tls.DEFAULT_CIPHERS, 'ECDHE-RSA-AES128-GCM-SHA256');
    // Node's own tls.connect looks createSecureContext up on the module object: it finds the one set through evy.
    const { key, cert } = localhostCert();
    const server = tls.createServer({ key, cert }, (s) => s.end());
    let made = 0;
    (gtls as { createSecureContext: typeof tls.createSecureContext }).createSecureContext = (opts) => {
      made++;
      return saved.csc(opts);
    };
    const port = await listen(server);
    const c = tls.connect({ port, host: '127.0.0.1', ca: cert, servername: 'localhost' });
    await once(c, 'secureConnect');
    assert.is(made, 1, 'node:tls used the createSecureContext assigned through evy/patched/tls');
    assert.is(c.getProtocol(), 'TLSv1.2', 'and the DEFAULT_MAX_VERSION');
    c.destroy();
    await close(server);
    const agent = new http.Agent();
    (ghttp as { globalAgent: http.Agent }).globalAgent = agent;
    assert.is(http.globalAgent, agent);
    const req = http.request({ host: '127.0.0.1', port: 9 });
    req.on('error', () => {});
    assert.is((req as unknown as { agent: http.Agent }).agent, agent, 'node:http\'s requests use it');
    req.destroy();
    agent.destroy();
  } finally {
    Object.assign(tls, { DEFAULT_MAX_VERSION: saved.max, DEFAULT_CIPHERS: saved.ciphers, createSecureContext: saved.csc });
    http.globalAgent = saved.agent;
  }
  assert.is(gtls.createSecureContext, tls.createSecureContext, 'a change made on node:tls shows in evy\'s module');
});

test('item 6: sockets node makes are instances of evy\'s classes, with the green calls: http server sockets', async () => {
  const seen: unknown[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.socket instanceof net.Socket, req.socket instanceof gnet.Socket, typeof (req.socket as gnet.Socket).recv);
    res.end('ok');
  });
  const port = await listen(server);
  const res = await new Promise<http.IncomingMessage>((resolve) => http.get({ port, host: '127.0.0.1', agent: false }, resolve));
  res.resume();
  await once(res, 'end');
  assert.equal(seen, [true, true, 'function']);
  await close(server);
});

test('item 6: sockets received over IPC', async () => {
  const child = fork(join(FIXTURES, 'ipc-socket-child.cjs'), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit');
  const server = net.createServer((sock) => child.send('socket', sock));
  const port = await listen(server);
  const c = net.connect(port, '127.0.0.1');
  const [report] = (await once(child, 'message')) as [Record<string, unknown>];
  assert.equal(report, { stock: true, evy: true, recv: 'function' });
  assert.equal(await exited, [0, null]);
  c.destroy();
  // No 'close' to wait for: Node still counts the connection it handed over.
  server.close();
});

test('item 6: TLS sockets in pskCallback', async () => {
  const psk = Buffer.from('d731ef57be09e5204f0b205b60627028', 'hex');
  const ciphers = 'PSK-AES128-GCM-SHA256';
  const seen: unknown[] = [];
  const server = gtls.createServer({ ciphers, maxVersion: 'TLSv1.2', pskCallback: (socket, identity) => {
    seen.push(socket instanceof tls.TLSSocket, socket instanceof gtls.TLSSocket, typeof (socket as gtls.TLSSocket).recv, identity);
    return psk;
  } } as tls.TlsOptions);
  const port = await listen(server);
  const c = gtls.connect({ port, host: '127.0.0.1', ciphers, maxVersion: 'TLSv1.2', checkServerIdentity: () => undefined,
    pskCallback: () => ({ psk, identity: 'evy' }) });
  await c.connected();
  const [conn] = await server.accept();
  assert.equal(seen, [true, true, 'function', 'evy']);
  await c.sendall('psk');
  assert.is(String(await conn.recv()), 'psk');
  c.destroy();
  conn.destroy();
  await close(server);
});

test('item 7: a patch of evy\'s Socket.prototype and Server.prototype reaches the objects node:http makes', async () => {
  const probe = function evyProbe(): string {
    return 'patched';
  };
  (gnet.Socket.prototype as unknown as Record<string, unknown>).evyProbe = probe;
  (gnet.Server.prototype as unknown as Record<string, unknown>).evyProbe = probe;
  try {
    let got = '';
    const server = http.createServer((req, res) => {
      got = (req.socket as unknown as { evyProbe(): string }).evyProbe();
      res.end();
    });
    assert.is((server as unknown as { evyProbe(): string }).evyProbe(), 'patched', 'an http.Server is a net.Server');
    const port = await listen(server);
    const res = await new Promise<http.IncomingMessage>((resolve) => http.get({ port, host: '127.0.0.1', agent: false }, resolve));
    res.resume();
    await once(res, 'end');
    assert.is(got, 'patched');
    assert.is((res.socket as unknown as { evyProbe?: unknown } | null)?.evyProbe ?? probe, probe);
    await close(server);
  } finally {
    delete (gnet.Socket.prototype as unknown as Record<string, unknown>).evyProbe;
    delete (gnet.Server.prototype as unknown as Record<string, unknown>).evyProbe;
  }
  assert.is((new net.Socket() as unknown as Record<string, unknown>).evyProbe, undefined);
});

test('item 8: util.promisify(timers.setTimeout) is timers.promises.setTimeout, as with node:timers and node:timers/promises', async () => {
  assert.is(promisify(timers.setTimeout), timersPromises.setTimeout, 'stock');
  assert.is(promisify(timers.setImmediate), timersPromises.setImmediate, 'stock');
  assert.is(promisify(gtimers.setTimeout), gtimers.promises.setTimeout);
  assert.is(promisify(gtimers.setImmediate), gtimers.promises.setImmediate);
  assert.is(gtimers.setTimeout.name, 'setTimeout');
  assert.is(gtimers.setTimeout.length, timers.setTimeout.length);
  // The rest is node's: the same Timeout, the same errors.
  const t = gtimers.setTimeout(() => {}, 1000);
  assert.ok(t instanceof (timers.setTimeout(() => {}, 0).constructor as Function));
  clearTimeout(t);
  assert.throws(() => gtimers.setTimeout('x' as never), (e: NodeJS.ErrnoException) => e.code === 'ERR_INVALID_ARG_TYPE');
  let fired = false;
  await new Promise<void>((resolve) => gtimers.setImmediate(() => resolve((fired = true) && undefined)));
  assert.ok(fired);
  // The promisified one is evy's: a Timeout interrupts it.
  const to = new Timeout(0.02);
  assert.is(await rejection(promisify(gtimers.setTimeout)(60_000)), to);
});

/** The listener counts of the events a server's machinery could listen to. */
function listenerCounts(s: net.Server): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of ['connection', 'secureConnection', 'listening', 'close', 'error', 'tlsClientError']) out[e] = s.listenerCount(e);
  return out;
}

test('item 9: a listener-less evy Server has the listeners of a stock one, before, while and after listening', async () => {
  const { key, cert } = localhostCert();
  const makers: Array<[string, () => net.Server, () => net.Server]> = [
    ['net.createServer()', () => net.createServer(), () => gnet.createServer()],
    ['net.Server()', () => net.Server(), () => gnet.Server()],
    ['net.createServer(listener)', () => net.createServer(() => {}), () => gnet.createServer(() => {})],
    ['tls.createServer()', () => tls.createServer({ key, cert }), () => gtls.createServer({ key, cert })],
  ];
  for (const [what, stockMake, evyMake] of makers) {
    const a = stockMake();
    const b = evyMake();
    assert.equal(listenerCounts(b), listenerCounts(a), `${what}, made`);
    await listen(a);
    await listen(b);
    assert.equal(listenerCounts(b), listenerCounts(a), `${what}, listening`);
    assert.equal(b.eventNames(), a.eventNames(), `${what}: event names`);
    await close(a);
    await close(b);
    assert.equal(listenerCounts(b), listenerCounts(a), `${what}, closed`);
  }
});

test('item 9: unclaimed connections queue for accept() up to a backlog; past it, new ones are closed', async () => {
  const server = gnet.createServer();
  const port = await listen(server);
  const clients: net.Socket[] = [];
  for (let i = 0; i < ACCEPT_BACKLOG; i++) {
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    clients.push(c);
  }
  await Promise.all(clients.map((c) => once(c, 'connect')));
  // Every one of them reached the server (and its queue) before the next.
  for (;;) {
    const n = await new Promise<number>((resolve) => server.getConnections((_, count) => resolve(count)));
    if (n === ACCEPT_BACKLOG) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const extra = net.connect(port, '127.0.0.1');
  extra.on('error', () => {});
  await once(extra, 'close');
  assert.is(server.listenerCount('connection'), 0);
  const accepted: net.Socket[] = [];
  const t = new Timeout(10);
  try {
    for (let i = 0; i < ACCEPT_BACKLOG; i++) accepted.push((await server.accept())[0]);
  } finally {
    t.cancel();
  }
  assert.is(accepted.length, ACCEPT_BACKLOG, 'the queue held a backlog of them');
  const none = new Timeout(0.05);
  assert.is(await rejection(server.accept()), none, 'and no more');
  for (const s of [...clients, ...accepted]) s.destroy();
  await close(server);
});

test.run();
