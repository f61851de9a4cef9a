// evy/web/wsgi with no options against abusive clients, side by side with
// node:http: 1,100 connections that send nothing, then 1,100 slowloris
// connections (a head dripped a byte at a time), while a good client probes;
// and the deadlines and limits that make the defaults safe, each at small
// settings: headersTimeout against a slow head, requestTimeout against a
// slow body, keepalive against idle clients, maxConnections evicting the
// longest-idle, pool slots held only while the app runs (not by idle or
// hijacked connections), and a TLS handshake that never starts.
import { test as suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { Event, GreenPool, connect, listen, sleep, wait, withTimeout, type GreenSocket } from 'evy';
import { server, type Environ, type ServerOptions, type StartResponse, type WsgiApp } from 'evy/web/wsgi';
import { localhostCert } from '../helpers';
import { safetyNet } from '../safety';

const { test, own, go } = safetyNet(suite, { limit: 120, only: process.env.ABUSE_ONLY });

const MANY = 1100;
const PROBES = 200;

function hello(_env: Environ, start: StartResponse): string[] {
  start('200 OK', [['Content-Type', 'text/plain']]);
  return ['hello'];
}

function serveApp(opts: ServerOptions = {}, app: WsgiApp = hello): { port: number; stop(): Promise<void> } {
  const sock = own(listen(['127.0.0.1', 0]));
  const gt = go(() => server(sock, app, { log: null, ...opts }));
  return {
    port: (sock.getsockname() as [string, number])[1],
    async stop() {
      sock.close();
      await withTimeout(10, () => gt.wait());
    },
  };
}

function softFdLimit(): number {
  const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m === null || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/** Opens `n` raw client connections (node:net), all connected. */
async function openMany(port: number, n: number): Promise<net.Socket[]> {
  const socks: net.Socket[] = [];
  const pending: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    socks.push(s);
    pending.push(new Promise((res) => s.once('connect', () => res())));
  }
  await wait(Promise.all(pending));
  return socks;
}

/** One probe: a fresh connection, a GET, the time to a whole 200 response (ms), or -1 if none within 3 s. */
function probe(port: number): Promise<number> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const give = (ms: number): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(ms);
    };
    const timer = setTimeout(() => give(-1), 3000);
    s.on('error', () => give(-1));
    s.on('connect', () => s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.startsWith('HTTP/1.1 200') && got.endsWith('hello')) give(performance.now() - t0);
    });
    s.on('end', () => give(got.startsWith('HTTP/1.1 200') ? performance.now() - t0 : -1));
  });
}

interface Probed {
  answered: number;
  p50: number;
  p99: number;
}

/** PROBES probes, four at a time. */
async function probeAll(port: number): Promise<Probed> {
  const times: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < PROBES) {
      next++;
      times.push(await probe(port));
    }
  };
  await wait(Promise.all([worker(), worker(), worker(), worker()]));
  const ok = times.filter((t) => t >= 0).sort((a, b) => a - b);
  const at = (q: number): number => (ok.length === 0 ? NaN : ok[Math.min(ok.length - 1, Math.floor(q * ok.length))]);
  return { answered: ok.length, p50: at(0.5), p99: at(0.99) };
}

/** A node:http server with its defaults, on the same loop. */
async function nodeServer(): Promise<{ port: number; stop(): Promise<void> }> {
  const srv = http.createServer((_req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end('hello');
  });
  await wait(new Promise<void>((res) => srv.listen(0, '127.0.0.1', () => res())));
  return {
    port: (srv.address() as net.AddressInfo).port,
    async stop() {
      srv.closeAllConnections();
      await wait(new Promise<void>((res) => srv.close(() => res())));
    },
  };
}

/** Runs `attack` against a server on `port`, probes meanwhile, ends the attack. */
async function underAttack(port: number, attack: (port: number) => Promise<() => void>): Promise<Probed> {
  const stop = await attack(port);
  try {
    await sleep(0.5);
    return await probeAll(port);
  } finally {
    stop();
  }
}

async function idleAttack(port: number): Promise<() => void> {
  const socks = await openMany(port, MANY);
  return () => socks.forEach((s) => s.destroy());
}

/** Each connection sends a request line, then one byte of a header every 0.3 s, forever. */
async function slowlorisAttack(port: number): Promise<() => void> {
  const socks = await openMany(port, MANY);
  for (const s of socks) s.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  const drip = setInterval(() => {
    for (const s of socks) if (!s.destroyed) s.write('a');
  }, 300);
  return () => {
    clearInterval(drip);
    socks.forEach((s) => s.destroy());
  };
}

const fmt = (p: Probed): string => `${p.answered}/${PROBES} answered, p50 ${p.p50.toFixed(1)} ms, p99 ${p.p99.toFixed(1)} ms`;

test('default options: 1,100 idle connections, then 1,100 slowloris ones, do not stop a good client (side by side with node:http)', async () => {
  assert.ok(softFdLimit() >= 4 * MANY + 500, `the test needs ${4 * MANY + 500} file descriptors (ulimit -n), the limit is ${softFdLimit()}`);
  const results: string[] = [];
  for (const [name, attack] of [
    ['idle', idleAttack],
    ['slowloris', slowlorisAttack],
  ] as const) {
    const evy = serveApp();
    const e = await underAttack(evy.port, attack);
    await evy.stop();
    const node = await nodeServer();
    const n = await underAttack(node.port, attack);
    await node.stop();
    results.push(`${name} ×${MANY}: evy ${fmt(e)} | node:http ${fmt(n)}`);
    assert.ok(e.answered >= PROBES * 0.99, `${name}: evy answered ${e.answered} of ${PROBES} probes`);
  }
  console.log('\n' + results.join('\n'));
});

// ---- the deadlines, at small settings ------------------------------------------------------

/** A raw evy client; resolves to what the server sent until it closed, and when (s after start). */
async function readAll(c: GreenSocket): Promise<string> {
  let got = '';
  for (let d; (d = await c.recv()).length > 0; ) got += d.toString('latin1');
  return got;
}

test('headersTimeout bounds the whole head, whatever the byte rate: a slowloris client gets 408 and is closed', async () => {
  const srv = serveApp({ headersTimeout: 0.5, socketTimeout: 10 });
  const c = own(await connect(['127.0.0.1', srv.port]));
  const t0 = performance.now();
  await c.sendall('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  const reader = go(() => readAll(c));
  // a byte every 0.1 s: each wait is short, the head never ends
  while (!reader.dead) {
    try {
      await c.sendall('a');
    } catch {
      break;
    }
    await sleep(0.1);
  }
  const got = await reader.wait();
  const secs = (performance.now() - t0) / 1000;
  assert.match(got, /^HTTP\/1\.1 408 Request Timeout\r\n/);
  assert.ok(secs >= 0.4 && secs < 5, `closed after ${secs} s`);
  c.close();
  await srv.stop();
});

test('a connection that sends nothing is closed after headersTimeout, without a response', async () => {
  const srv = serveApp({ headersTimeout: 0.3 });
  const c = own(await connect(['127.0.0.1', srv.port]));
  const got = await withTimeout(5, () => readAll(c));
  assert.is(got, '');
  c.close();
  await srv.stop();
});

test('requestTimeout bounds a body dripped byte by byte: the reading app gets RequestTimeout, the client 408', async () => {
  let seen = '';
  const srv = serveApp({ requestTimeout: 0.5 }, async (env, start) => {
    try {
      await env['wsgi.input'].read();
    } catch (err) {
      seen = (err as Error).name;
      throw err;
    }
    start('200 OK', []);
    return ['read'];
  });
  const c = own(await connect(['127.0.0.1', srv.port]));
  await c.sendall('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
  const reader = go(() => readAll(c));
  while (!reader.dead) {
    try {
      await c.sendall('b');
    } catch {
      break;
    }
    await sleep(0.1);
  }
  assert.match(await reader.wait(), /^HTTP\/1\.1 408 Request Timeout\r\n/);
  assert.is(seen, 'RequestTimeout');
  c.close();
  await srv.stop();
});

test('keepalive: an idle keep-alive connection is closed after that many seconds; a busy app is not interrupted', async () => {
  const srv = serveApp({ keepalive: 0.3, headersTimeout: 0.3, requestTimeout: 0.3 }, async (_env, start) => {
    await sleep(0.8); // longer than every limit: the app's own time is not bounded by them
    start('200 OK', []);
    return ['slow'];
  });
  const c = own(await connect(['127.0.0.1', srv.port]));
  await c.sendall('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const t0 = performance.now();
  const got = await withTimeout(5, () => readAll(c));
  assert.match(got, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(got, /\r\nKeep-Alive: timeout=|slow$/); // answered, then closed when idle
  assert.ok(got.endsWith('slow'));
  assert.ok((performance.now() - t0) / 1000 >= 0.9, 'closed only after the idle time');
  c.close();
  await srv.stop();
});

/** Sends one keep-alive request on `c` and reads its (13-byte-body) response head and body. */
async function askOnce(c: GreenSocket): Promise<string> {
  await c.sendall('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  let got = '';
  while (!got.endsWith('hello')) {
    const d = await c.recv();
    if (d.length === 0) break;
    got += d.toString('latin1');
  }
  return got;
}

test('maxConnections: when full, the longest-idle keep-alive connection is closed to make room', async () => {
  const srv = serveApp({ maxConnections: 3 });
  const cs: GreenSocket[] = [];
  for (let i = 0; i < 3; i++) {
    const c = own(await connect(['127.0.0.1', srv.port]));
    assert.match(await askOnce(c), /^HTTP\/1\.1 200/);
    cs.push(c);
  }
  const fourth = own(await connect(['127.0.0.1', srv.port]));
  assert.match(await withTimeout(5, () => askOnce(fourth)), /^HTTP\/1\.1 200/);
  assert.is((await withTimeout(5, () => cs[0].recv())).length, 0, 'the oldest idle one was closed');
  assert.match(await askOnce(cs[2]), /^HTTP\/1\.1 200/, 'a younger one still serves');
  for (const c of [...cs, fourth]) c.close();
  await srv.stop();
});

test('idle and slow connections hold no pool slot: maxSize 2, five of them, a good client is still served', async () => {
  const srv = serveApp({ maxSize: 2 });
  const idle: GreenSocket[] = [];
  for (let i = 0; i < 5; i++) {
    const c = own(await connect(['127.0.0.1', srv.port]));
    if (i % 2 === 0) assert.match(await askOnce(c), /^HTTP\/1\.1 200/); // idle keep-alive
    else await c.sendall('GET / HTTP/1.1\r\nHost'); // half a head
    idle.push(c);
  }
  assert.ok((await withTimeout(5, () => wait(probe(srv.port)))) >= 0);
  for (const c of idle) c.close();
  await srv.stop();
});

test('a hijacked connection gives back its pool slot: maxSize 1, an upgraded socket open, another request served', async () => {
  const held = new Event<void>();
  const pool = new GreenPool(1);
  const srv = serveApp({ customPool: pool }, async (env, start) => {
    if (env.PATH_INFO === '/upgrade') {
      const { socket } = env['evy.hijack']();
      await socket.sendall('hijacked');
      await held.wait();
      socket.close();
      return [];
    }
    return hello(env, start);
  });
  const up = own(await connect(['127.0.0.1', srv.port]));
  await up.sendall('GET /upgrade HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.is((await up.recv()).toString(), 'hijacked');
  assert.is(pool.free(), 1);
  assert.ok((await withTimeout(5, () => wait(probe(srv.port)))) >= 0);
  held.send();
  assert.is((await up.recv()).length, 0);
  up.close();
  await srv.stop();
});

test('HTTPS: connections that never send a ClientHello are closed after headersTimeout and do not stop a good client', async () => {
  const { key, cert } = localhostCert();
  const srv = serveApp({ ssl: { key, cert }, headersTimeout: 0.5, maxSize: 1 });
  const silent: GreenSocket[] = [];
  for (let i = 0; i < 20; i++) silent.push(own(await connect(['127.0.0.1', srv.port])));
  const { request } = await import('node:https');
  const status = await withTimeout(5, () =>
    wait(
      new Promise<number>((resolve, reject) => {
        request({ host: '127.0.0.1', port: srv.port, ca: cert, servername: 'localhost', agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
          .on('error', reject)
          .end();
      }),
    ),
  );
  assert.is(status, 200);
  for (const c of silent) assert.is((await withTimeout(5, () => c.recv())).length, 0, 'closed by the deadline');
  for (const c of silent) c.close();
  await srv.stop();
});

suite.run();
