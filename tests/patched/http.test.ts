import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import * as stockHttp from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SocketTimeout, Timeout, sleep, spawn } from 'evy';
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
  assert.match(String(await rejection(ghttp.urlopen('http://127.0.0.1:1/', { timeout: -1 }))), /timeout must be null or a non-negative/);
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

test.run();
