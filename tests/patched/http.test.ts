import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import * as stockHttp from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SocketTimeout, Timeout, getHub, sleep, spawn } from 'evy';
import * as ghttp from 'evy/patched/http';
import { assertClean, rejection, settle } from '../helpers';

test.after.each(assertClean);

type Handler = (req: stockHttp.IncomingMessage, res: stockHttp.ServerResponse) => void;

/** A loopback server; `closed` resolves when a connection's socket closes. */
async function serve(handler: Handler): Promise<{ server: stockHttp.Server; base: string; closes: Promise<void>[] }> {
  const closes: Promise<void>[] = [];
  const server = stockHttp.createServer(handler);
  server.on('connection', (s: Socket) => closes.push(new Promise((res) => s.once('close', () => res()))));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, closes };
}

async function stop(server: stockHttp.Server): Promise<void> {
  server.closeAllConnections();
  const closed = once(server, 'close');
  server.close();
  await closed;
  await settle();
}

function body(req: stockHttp.IncomingMessage): Promise<string> {
  return new Promise((res) => {
    let s = '';
    req.on('data', (d) => (s += d));
    req.on('end', () => res(s));
  });
}

test('every node:http export is there, unchanged', () => {
  for (const key of Object.keys(stockHttp)) {
    if (key === 'default') continue;
    assert.is((ghttp as Record<string, unknown>)[key], (stockHttp as Record<string, unknown>)[key], key);
  }
});

test('urlopen: status, lowercased headers, url, read() and read(n)', async () => {
  const { server, base } = await serve((req, res) => {
    res.setHeader('X-Thing', 'yes');
    res.end(`hello ${req.method} ${req.url}`);
  });
  const r = await ghttp.urlopen(`${base}/path?q=1`);
  assert.is(r.status, 200);
  assert.is(r.statusText, 'OK');
  assert.is(r.headers['x-thing'], 'yes');
  assert.is(r.url, `${base}/path?q=1`);
  assert.is(String(await r.read(5)), 'hello');
  assert.is(String(await r.read()), ' GET /path?q=1');
  assert.is((await r.read()).length, 0, 'empty at the end');
  assert.ok(r.complete);
  await stop(server);
});

test('urlopen: POST with a body and headers; a 404 is a response', async () => {
  const { server, base } = await serve(async (req, res) => {
    const text = await body(req);
    res.statusCode = req.url === '/missing' ? 404 : 201;
    res.end(`${req.method} ${req.headers['content-type']} ${req.headers['content-length']} ${text}`);
  });
  const r = await ghttp.urlopen(`${base}/post`, { method: 'post', headers: { 'Content-Type': 'text/plain' }, body: 'payload' });
  assert.is(r.status, 201);
  assert.is(String(await r.read()), 'POST text/plain 7 payload');
  const missing = await ghttp.urlopen(`${base}/missing`);
  assert.is(missing.status, 404);
  await missing.read();
  await stop(server);
});

test('async iteration yields the body chunk by chunk', async () => {
  const { server, base } = await serve((_req, res) => {
    res.write('one,');
    setTimeout(() => res.end('two'), 20);
  });
  const r = await ghttp.urlopen(base);
  const chunks: string[] = [];
  for await (const c of r) chunks.push(String(c));
  assert.equal(chunks, ['one,', 'two']);
  await stop(server);
});

test('redirects: 302 and 301 followed, url is the final one; 303 turns a POST into a GET; 307 keeps it', async () => {
  const seen: string[] = [];
  const { server, base } = await serve(async (req, res) => {
    const text = await body(req);
    seen.push(`${req.method} ${req.url} ${text}`);
    const to: Record<string, [number, string]> = {
      '/a': [302, '/b'],
      '/b': [301, 'c'],
      '/see-other': [303, '/c'],
      '/temp': [307, '/echo'],
    };
    const hop = to[req.url ?? ''];
    if (hop) {
      res.writeHead(hop[0], { Location: hop[1] });
      res.end('redirect body');
      return;
    }
    res.end(`${req.method} ${req.url} ${text}`);
  });
  const r = await ghttp.urlopen(`${base}/a`);
  assert.is(r.url, `${base}/c`);
  assert.is(String(await r.read()), 'GET /c ');
  const p = await ghttp.urlopen(`${base}/see-other`, { method: 'POST', body: 'x' });
  assert.is(String(await p.read()), 'GET /c ');
  const t = await ghttp.urlopen(`${base}/temp`, { method: 'POST', body: 'kept' });
  assert.is(String(await t.read()), 'POST /echo kept');
  assert.equal(seen, ['GET /a ', 'GET /b ', 'GET /c ', 'POST /see-other x', 'GET /c ', 'POST /temp kept', 'POST /echo kept']);
  const raw = await ghttp.urlopen(`${base}/a`, { maxRedirects: 0 });
  assert.is(raw.status, 302, 'maxRedirects 0: the redirect itself');
  assert.is(raw.headers.location, '/b');
  await raw.read();
  await stop(server);
});

test('too many redirects is an error naming the limit', async () => {
  let hits = 0;
  const { server, base } = await serve((_req, res) => {
    hits++;
    res.writeHead(302, { Location: '/loop' });
    res.end();
  });
  const err = (await rejection(ghttp.urlopen(`${base}/loop`, { maxRedirects: 3 }))) as NodeJS.ErrnoException;
  assert.is(err.code, 'ERR_TOO_MANY_REDIRECTS');
  assert.match(err.message, /more than 3/);
  assert.is(hits, 4);
  await stop(server);
});

test('keep-alive: two sequential requests reuse one pooled socket', async () => {
  const ports: number[] = [];
  const { server, base } = await serve((req, res) => {
    ports.push(req.socket.remotePort ?? -1);
    res.end('ok');
  });
  for (let i = 0; i < 3; i++) {
    const r = await ghttp.urlopen(base);
    assert.is(String(await r.read()), 'ok');
    await sleep(0);
  }
  assert.is(ports.length, 3);
  assert.is(new Set(ports).size, 1, `one socket for all: ${ports}`);
  await stop(server);
});

test('a Timeout around urlopen to a server that never answers aborts the request and frees the socket', async () => {
  const { server, base, closes } = await serve(() => {});
  const t = new Timeout(0.05);
  assert.is(await rejection(ghttp.urlopen(base)), t);
  assert.is(closes.length, 1);
  await closes[0]; // the server saw the connection close
  await settle();
  assert.equal(Object.keys(ghttp.urlopenAgent.sockets), [], 'no socket left in the pool');
  await stop(server);
});

test('the timeout option raises SocketTimeout, and the server sees the connection close', async () => {
  const { server, base, closes } = await serve(() => {});
  const err = (await rejection(ghttp.urlopen(base, { timeout: 0.05 }))) as SocketTimeout;
  assert.instance(err, SocketTimeout);
  assert.match(err.message, /urlopen timed out after 0\.05 seconds/);
  await closes[0];
  await stop(server);
});

test('kill while reading the body aborts it; so does the timeout option in read()', async () => {
  const { server, base, closes } = await serve((_req, res) => {
    res.writeHead(200, { 'Content-Length': '100' });
    res.write('partial');
  });
  const r = await ghttp.urlopen(base);
  const reader = spawn(() => r.read());
  await sleep(0.02);
  reader.kill();
  assert.is(await reader.wait(), undefined);
  await closes[0];

  const slow = await ghttp.urlopen(base, { timeout: 0.05 });
  assert.is(String(await slow.read(7)), 'partial');
  assert.instance(await rejection(slow.read()), SocketTimeout);
  await closes[1];
  await stop(server);
});

test('a body the server cuts short is an error, not a hang', async () => {
  const { server, base } = await serve((_req, res) => {
    res.writeHead(200, { 'Content-Length': '100' });
    res.write('short', () => res.socket?.destroy());
  });
  const r = await ghttp.urlopen(base);
  const err = (await rejection(r.read())) as NodeJS.ErrnoException;
  assert.is(err.code, 'ECONNRESET');
  await stop(server);
});

test('close() drops an unread body and its socket', async () => {
  const { server, base, closes } = await serve((_req, res) => {
    res.writeHead(200, { 'Content-Length': '100' });
    res.write('x');
  });
  const r = await ghttp.urlopen(base);
  r.close();
  await closes[0];
  await stop(server);
});

test('refused: the Node error; bad URLs: a TypeError naming them', async () => {
  const { server, base } = await serve(() => {});
  await stop(server);
  const err = (await rejection(ghttp.urlopen(base))) as NodeJS.ErrnoException;
  assert.is(err.code, 'ECONNREFUSED');
  const bad = (await rejection(ghttp.urlopen('not a url'))) as TypeError & { code: string };
  assert.instance(bad, TypeError);
  assert.match(bad.message, /invalid URL "not a url"/);
  assert.is(bad.code, 'ERR_INVALID_URL');
  const ftp = (await rejection(ghttp.urlopen('ftp://example.com/x'))) as TypeError;
  assert.instance(ftp, TypeError);
  assert.match(ftp.message, /unsupported URL scheme 'ftp:' in "ftp:\/\/example.com\/x"/);
  assert.match(String(await rejection(ghttp.urlopen('http://127.0.0.1:1/', { timeout: -1 }))), /timeout must be null or a positive number/);
});

test('bounded pool: more concurrent requests than sockets wait their turn', async () => {
  let open = 0;
  let most = 0;
  const { server, base } = await serve((_req, res) => {
    open++;
    most = Math.max(most, open);
    setTimeout(() => {
      open--;
      res.end('done');
    }, 10);
  });
  const agent = new stockHttp.Agent({ keepAlive: true, maxSockets: 2 });
  const threads = Array.from({ length: 6 }, () => spawn(async () => String(await (await ghttp.urlopen(base, { agent })).read())));
  for (const t of threads) assert.is(await t.wait(), 'done');
  assert.is(most, 2);
  agent.destroy();
  await stop(server);
});

/** Seconds on the hub's clock since `start` (from getHub().clock()). */
function since(start: number): number {
  return getHub().clock() - start;
}

/** Resolves when the socket of `req` closes (the client dropped or the server ended it). */
function socketClosed(req: stockHttp.IncomingMessage): Promise<void> {
  return new Promise((res) => req.socket.once('close', () => res()));
}

test('a redirect whose body never ends: urlopen returns the final response and closes the redirect\'s connection', async () => {
  // The server writes the redirect's body until its socket closes; CAP only
  // keeps a broken client (one that drains it) from hanging the suite.
  const CAP = 32 * 1024 * 1024;
  let written = 0;
  let drainedAll!: () => void;
  const capped = new Promise<void>((res) => (drainedAll = res));
  const { server, base, closes } = await serve((req, res) => {
    if (req.url === '/final') {
      res.end('final');
      return;
    }
    res.writeHead(302, { Location: '/final' });
    const chunk = Buffer.alloc(16384, 'x');
    const pump = (): void => {
      for (;;) {
        if (written >= CAP) {
          drainedAll();
          res.end();
          return;
        }
        written += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  const r = await ghttp.urlopen(`${base}/endless`);
  assert.is(r.url, `${base}/final`);
  assert.is(String(await r.read()), 'final');
  await Promise.race([closes[0], capped]);
  assert.ok(written < CAP, `the redirect's body was drained: ${written} bytes`);
  const atClose = written;
  await settle();
  assert.is(written, atClose, 'nothing written once the connection closed');
  assert.is(closes.length, 2, 'the final request had a connection of its own');
  assert.equal(Object.keys(ghttp.urlopenAgent.sockets), [], 'no socket left busy in the pool');
  await stop(server);
});

test('a short redirect body that came with the head keeps its socket for the next hop', async () => {
  const ports: number[] = [];
  const { server, base } = await serve((req, res) => {
    ports.push(req.socket.remotePort ?? -1);
    if (req.url === '/moved') {
      res.writeHead(302, { Location: '/here' });
      res.end('see /here');
      return;
    }
    res.end('here');
  });
  const r = await ghttp.urlopen(`${base}/moved`);
  assert.is(String(await r.read()), 'here');
  assert.is(ports.length, 2);
  assert.is(new Set(ports).size, 1, `one socket for both hops: ${ports}`);
  await stop(server);
});

test('deadline bounds the whole read of a dripped body, which each wait\'s timeout alone would not', async () => {
  // 30 bytes, one each 200 ms: 6 s in all, far past the deadline (a client
  // without one reads it all, and the test fails instead of hanging).
  const { server, base, closes } = await serve((_req, res) => {
    res.writeHead(200, { 'Content-Length': '30' });
    res.flushHeaders();
    let sent = 0;
    const drip = setInterval(() => (++sent === 30 ? res.end('x') : res.write('x')), 200);
    res.on('close', () => clearInterval(drip));
  });
  const start = getHub().clock();
  // timeout is 5 times the drip's interval: no single wait comes near it.
  const r = await ghttp.urlopen(base, { timeout: 1, deadline: 2 });
  assert.is(String(await r.read(3)), 'xxx', 'a byte every 200 ms passes the per-wait timeout');
  const err = (await rejection(r.read())) as SocketTimeout;
  const took = since(start);
  assert.instance(err, SocketTimeout);
  assert.match(err.message, /^urlopen: the deadline of 2 seconds for the whole exchange passed while reading the body of http:\/\/127\.0\.0\.1:/);
  assert.ok(took >= 1.95 && took < 6, `failed after ${took} s`);
  await closes[0]; // the server saw the connection close
  assert.is(await rejection(r.read()), err, 'a later read raises the same error');
  await stop(server);
});

test('deadline also bounds the wait for a response head, redirects included', async () => {
  const { server, base, closes } = await serve((req, res) => {
    if (req.url === '/go') {
      res.writeHead(302, { Location: '/silent' });
      res.end();
      return;
    }
    // Silent for 5 s, far past the deadline; then an answer, so a client
    // without a deadline fails the test instead of hanging it.
    const late = setTimeout(() => res.end('late'), 5000);
    res.on('close', () => clearTimeout(late));
  });
  const start = getHub().clock();
  const err = (await rejection(ghttp.urlopen(`${base}/go`, { deadline: 0.3 }))) as SocketTimeout;
  const took = since(start);
  assert.instance(err, SocketTimeout);
  assert.match(err.message, /the deadline of 0\.3 seconds for the whole exchange passed waiting for the response of http:\/\/127\.0\.0\.1:\d+\/silent/);
  assert.ok(took >= 0.25 && took < 5, `failed after ${took} s`);
  await closes[0];
  await stop(server);
});

test('timeout bounds each wait of the body: headers then silence fail read() after about timeout', async () => {
  const { server, base, closes } = await serve((_req, res) => {
    res.writeHead(200, { 'Content-Length': '10' });
    res.flushHeaders();
  });
  const r = await ghttp.urlopen(base, { timeout: 0.3 });
  assert.is(r.status, 200);
  const start = getHub().clock();
  const err = (await rejection(r.read())) as SocketTimeout;
  const took = since(start);
  assert.instance(err, SocketTimeout);
  assert.is(err.code, 'ETIMEDOUT');
  assert.match(err.message, /^urlopen timed out after 0\.3 seconds with no byte of the body from http:\/\/127\.0\.0\.1:/);
  assert.ok(took >= 0.25 && took < 5, `failed after ${took} s`);
  await closes[0];
  await settle();
  assert.equal(Object.keys(ghttp.urlopenAgent.sockets), [], 'no socket left in the pool');
  await stop(server);
});

test('the default timeout is 60 seconds per wait, the default deadline 300, and null for both arms none', async () => {
  assert.equal(ghttp.urlopen.defaults, { timeout: 60, deadline: 300, maxBodySize: 64 * 1024 * 1024 });
  assert.ok(Object.isFrozen(ghttp.urlopen.defaults));
  let arrived!: () => void;
  let requests = new Promise<void>((res) => (arrived = res));
  const { server, base, closes } = await serve(() => arrived());
  const waits = (): number[] => getHub().pendingTimers().map((t) => t.deadline - getHub().clock());

  const t = spawn(() => ghttp.urlopen(base));
  await requests;
  assert.ok(waits().some((s) => s > 55 && s <= 60), `a wait bounded by about 60 s: ${waits()}`);
  t.kill();
  assert.is(await t.wait(), undefined);
  await closes[0];

  requests = new Promise<void>((res) => (arrived = res));
  const u = spawn(() => ghttp.urlopen(base, { timeout: null, deadline: null }));
  await requests;
  assert.equal(waits(), [], 'no timer for the wait');
  u.kill();
  await u.wait();
  await closes[1];
  await stop(server);
});

test('maxBodySize: read() of a bigger body fails with a RangeError naming the limit and closes the socket; exactly at it succeeds', async () => {
  const LIMIT = 1024 * 1024;
  const closed = new Map<string, Promise<void>>();
  const { server, base } = await serve((req, res) => {
    closed.set(req.url ?? '', socketClosed(req));
    const [, kind, size] = /^\/(cl|chunked)\/(\d+)/.exec(req.url ?? '') ?? [];
    const body = Buffer.alloc(Number(size), 'b');
    if (kind === 'cl') {
      res.end(body); // one write: Node gives it a content-length
      return;
    }
    for (let i = 0; i < body.length; i += 65536) res.write(body.subarray(i, i + 65536));
    res.end();
  });
  const opts = { maxBodySize: LIMIT };

  const declared = await ghttp.urlopen(`${base}/cl/${2 * LIMIT}`, opts);
  const e1 = (await rejection(declared.read())) as RangeError & { code: string };
  assert.instance(e1, RangeError);
  assert.is(e1.code, 'ERR_BODY_TOO_LARGE');
  assert.match(e1.message, /is 2097152 bytes \(content-length\), bigger than maxBodySize \(1048576 bytes\)/);
  await closed.get(`/cl/${2 * LIMIT}`);

  const streamed = await ghttp.urlopen(`${base}/chunked/${2 * LIMIT}`, opts);
  assert.is(streamed.headers['transfer-encoding'], 'chunked');
  const e2 = (await rejection(streamed.read())) as RangeError & { code: string };
  assert.instance(e2, RangeError);
  assert.is(e2.code, 'ERR_BODY_TOO_LARGE');
  assert.match(e2.message, /bigger than maxBodySize \(1048576 bytes\): read it piece by piece with read\(n\) or for await/);
  await closed.get(`/chunked/${2 * LIMIT}`);

  for (const kind of ['cl', 'chunked']) {
    const exact = await ghttp.urlopen(`${base}/${kind}/${LIMIT}`, opts);
    assert.is((await exact.read()).length, LIMIT, `${kind}: exactly at the limit`);
    assert.ok(exact.complete);
  }
  const pieces = await ghttp.urlopen(`${base}/chunked/${2 * LIMIT}?n`, opts);
  assert.is((await pieces.read(2 * LIMIT)).length, 2 * LIMIT, 'read(n) is bounded by n, not by maxBodySize');
  assert.is((await pieces.read()).length, 0);
  await stop(server);
});

test('bad option values: a TypeError for the wrong type, a RangeError for the wrong range, each naming the option', async () => {
  const cases: [unknown, new (...a: never[]) => Error, RegExp][] = [
    [{ timeout: '5' }, TypeError, /^urlopen: timeout must be null or a number of seconds, got string$/],
    [{ timeout: -1 }, RangeError, /^urlopen: timeout must be null or a positive number of seconds, got -1$/],
    [{ timeout: 0 }, RangeError, /timeout must be null or a positive number of seconds, got 0/],
    [{ timeout: NaN }, RangeError, /timeout must be null or a positive number of seconds, got NaN/],
    [{ deadline: '1' }, TypeError, /^urlopen: deadline must be null or a number of seconds, got string$/],
    [{ deadline: 0 }, RangeError, /^urlopen: deadline must be null or a positive number of seconds, got 0$/],
    [{ maxBodySize: '1' }, TypeError, /^urlopen: maxBodySize must be null or a non-negative integer, got string$/],
    [{ maxBodySize: 1.5 }, RangeError, /^urlopen: maxBodySize must be null or a non-negative integer, got 1\.5$/],
    [{ maxBodySize: -1 }, RangeError, /maxBodySize must be null or a non-negative integer, got -1/],
    [{ maxRedirects: '3' }, TypeError, /^urlopen: maxRedirects must be a non-negative integer, got string$/],
    [{ maxRedirects: -1 }, RangeError, /^urlopen: maxRedirects must be a non-negative integer, got -1$/],
    [null, TypeError, /^urlopen: opts must be an object, got null$/],
  ];
  for (const [opts, cls, re] of cases) {
    const err = (await rejection(ghttp.urlopen('http://127.0.0.1:1/', opts as ghttp.UrlopenOptions))) as Error;
    assert.instance(err, cls, JSON.stringify(opts));
    assert.match(err.message, re);
  }
});

test.run();
