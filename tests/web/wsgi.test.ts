// evy/web/wsgi: the WSGI environ and input, keep-alive, pipelining, chunked
// requests and responses, 100-continue, HEAD, HTTP/1.0, timeouts, refusals
// (400/414/431/500/501/505), the access log, posthooks, hijacking, big uploads
// in bounded memory, curl and Python's http.client as clients, a fuzz run,
// and stopping the server (close, StopServe, kill, Timeout).
import { test as suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  Event,
  GreenPool,
  GreenSocket,
  StopServe,
  Timeout,
  connect,
  kill,
  listen,
  sleep,
  wait,
  withTimeout,
  type GreenSSLSocket,
} from 'evy';
import { SHUT_WR } from 'evy/patched/socket';
import { server, type Environ, type LogStream, type StartResponse, type WsgiApp } from 'evy/web/wsgi';
import { captureStderr, settle, socketFds } from '../helpers';
import { safetyNet } from '../safety';
import { wsgiHelpers } from './wsgi_client';

// A failing test must not leave sockets or threads behind (see ../safety).
// WSGI_ONLY=substring runs the matching tests only; WSGI_DEBUG=1 prints timings.
const { test, own, go } = safetyNet(suite, { limit: 30, only: process.env.WSGI_ONLY, timings: !!process.env.WSGI_DEBUG });

// ---- helpers -------------------------------------------------------------------------

const { serveApp, open, once } = wsgiHelpers({ own, go });

const hello: WsgiApp = (_env, start) => {
  start('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '13']]);
  return ['Hello, World!'];
};

/** Echoes the path and the body's length and sha256. */
const echo: WsgiApp = async (env, start) => {
  const body = await env['wsgi.input'].read();
  const out = `${env.REQUEST_METHOD} ${env.PATH_INFO} ${body.length} ${createHash('sha256').update(body).digest('hex')}`;
  start('200 OK', [['Content-Type', 'text/plain']]);
  return [out];
};

function sha(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return wait(
    new Promise<string>((resolve, reject) => {
      const child = execFile(cmd, args, { timeout: 20_000, maxBuffer: 1 << 24 }, (err, out, errOut) => {
        if (err) reject(new Error(`${cmd} failed: ${err.message}\n${errOut}`));
        else resolve(out);
      });
      if (input !== undefined) child.stdin!.end(input);
    }),
  );
}

// ---- the environ -----------------------------------------------------------------------

test('environ: CGI keys, HTTP_* headers, wsgi.* and evy.* keys', async () => {
  let seen: Environ | null = null;
  const srv = serveApp((env, start) => {
    seen = env;
    start('200 OK', [['Content-Length', '2']]);
    return ['ok'];
  });
  const c = await open(srv.port);
  await c.send(
    'POST /a%20b/%C3%BC;p?x=1&y=%20 HTTP/1.1\r\nHost: example.com:8080\r\nX-Multi: a\r\nx-multi: b\r\n' +
      'X_Spoofed: no\r\nContent-Type: text/x\r\nContent-Length: 0\r\nX-Pad:   spaced value  \r\n\r\n',
  );
  const r = await c.response();
  assert.is(r.status, 200);
  assert.is(r.body.toString(), 'ok');
  const env = seen as unknown as Environ;
  assert.is(env.REQUEST_METHOD, 'POST');
  assert.is(env.SCRIPT_NAME, '');
  assert.is(env.PATH_INFO, '/a b/\u00c3\u00bc;p', 'percent-decoded, bytes as latin1');
  assert.is(env.RAW_PATH_INFO, '/a%20b/%C3%BC;p');
  assert.is(env.QUERY_STRING, 'x=1&y=%20');
  assert.is(env.CONTENT_TYPE, 'text/x');
  assert.is(env.CONTENT_LENGTH, '0');
  assert.is(env.SERVER_NAME, '127.0.0.1');
  assert.is(env.SERVER_PORT, String(srv.port));
  assert.is(env.SERVER_PROTOCOL, 'HTTP/1.1');
  assert.is(env.REMOTE_ADDR, '127.0.0.1');
  assert.is(env.REMOTE_PORT, String((c.sock.getsockname() as [string, number])[1]));
  assert.is(env.HTTP_HOST, 'example.com:8080');
  assert.is(env.HTTP_X_MULTI, 'a,b', 'repeated headers joined by commas');
  assert.is(env.HTTP_X_PAD, 'spaced value');
  assert.is(env.HTTP_X_SPOOFED, undefined, 'names with underscores are dropped');
  assert.is(env.HTTP_CONTENT_TYPE, undefined);
  assert.is(env.HTTP_CONTENT_LENGTH, undefined);
  assert.equal(env['wsgi.version'], [1, 0]);
  assert.is(env['wsgi.url_scheme'], 'http');
  assert.is(env['wsgi.multithread'], true);
  assert.is(env['wsgi.multiprocess'], false);
  assert.is(env['wsgi.run_once'], false);
  assert.is(typeof env['wsgi.errors'].write, 'function');
  assert.ok(env['evy.socket'] instanceof GreenSocket);
  assert.equal(env['evy.posthooks'], []);
  assert.is(typeof env['evy.hijack'], 'function');
  c.close();
  await srv.stop();
});

test('environ: absolute-form target, OPTIONS *, empty query', async () => {
  const paths: string[] = [];
  const srv = serveApp((env, start) => {
    paths.push(`${env.REQUEST_METHOD} ${env.PATH_INFO} [${env.QUERY_STRING}]`);
    start('204 No Content', []);
    return [];
  });
  const c = await open(srv.port);
  await c.send('GET http://example.com/x/y?q HTTP/1.1\r\nHost: x\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: x\r\n\r\nGET /? HTTP/1.1\r\nHost: x\r\n\r\n');
  for (let i = 0; i < 3; i++) assert.is((await c.response()).status, 204);
  assert.equal(paths, ['GET /x/y [q]', 'OPTIONS * []', 'GET / []']);
  c.close();
  await srv.stop();
});

// ---- wsgi.input ------------------------------------------------------------------------

test('wsgi.input: read(n), readline, readlines and iteration stop at Content-Length', async () => {
  const got: string[][] = [];
  const srv = serveApp(async (env, start) => {
    const input = env['wsgi.input'];
    const parts: string[] = [];
    if (env.PATH_INFO === '/read') {
      parts.push((await input.read(3)).toString(), (await input.read(100)).toString(), (await input.read()).toString());
    } else if (env.PATH_INFO === '/readline') {
      parts.push((await input.readline()).toString(), (await input.readline(2)).toString());
      for (const l of await input.readlines()) parts.push(l.toString());
    } else {
      for await (const l of input) parts.push(l.toString());
    }
    got.push(parts);
    start('200 OK', [['Content-Length', '0']]);
    return [];
  });
  const c = await open(srv.port);
  const body = 'one\ntwo\nthree';
  // three requests back to back: each body must end where its Content-Length says
  const req = (p: string) => `POST ${p} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  await c.send(req('/read') + req('/readline') + req('/iter'));
  for (let i = 0; i < 3; i++) assert.is((await c.response()).status, 200);
  assert.equal(got, [
    ['one', '\ntwo\nthree', ''],
    ['one\n', 'tw', 'o\n', 'three'],
    ['one\n', 'two\n', 'three'],
  ]);
  c.close();
  await srv.stop();
});

test('wsgi.input: chunked request bodies with extensions and trailers, then the next request', async () => {
  const srv = serveApp(echo);
  const c = await open(srv.port);
  await c.send(
    'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n' +
      'GET /next HTTP/1.1\r\nHost: x\r\n\r\n',
  );
  const r1 = await c.response();
  assert.is(r1.body.toString(), `POST /c 16 ${sha('hello 0123456789')}`);
  const r2 = await c.response();
  assert.is(r2.body.toString(), `GET /next 0 ${sha('')}`);
  c.close();
  await srv.stop();
});

test('wsgi.input: a body the app leaves unread is skipped for the next request', async () => {
  const srv = serveApp((env, start) => {
    start('200 OK', []);
    return [env.PATH_INFO];
  });
  const c = await open(srv.port);
  await c.send('POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nxxxxxPOST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nyyy\r\n0\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal([(await c.response()).body.toString(), (await c.response()).body.toString(), (await c.response()).body.toString()], ['/a', '/b', '/c']);
  c.close();
  await srv.stop();
});

test('wsgi.input: a malformed chunked body is a 400 and the connection closes', async () => {
  const srv = serveApp(echo);
  for (const bad of ['zz\r\nhello\r\n0\r\n\r\n', '5\r\nhelloXX\r\n0\r\n\r\n', '5\nhello\r\n0\r\n\r\n']) {
    const r = await once(srv.port, `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${bad}`);
    assert.is(r.status, 400, bad);
    assert.ok(r.closedAfter);
  }
  await srv.stop();
});

test('100-continue: sent on the first read, and only then', async () => {
  const srv = serveApp(echo);
  const c = await open(srv.port);
  await c.send('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n');
  assert.is(await c.line(), 'HTTP/1.1 100 Continue');
  assert.is(await c.line(), '');
  await c.send('data');
  const r = await c.response();
  assert.is(r.body.toString(), `POST /up 4 ${sha('data')}`);
  c.close();
  // An app that answers without reading: no 100, and the connection closes
  // (the client never sent the body).
  const srv2 = serveApp((_env, start) => {
    start('413 Content Too Large', [['Content-Length', '0']]);
    return [];
  });
  const c2 = await open(srv2.port);
  await c2.send('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n');
  assert.is(await c2.line(), 'HTTP/1.1 413 Content Too Large');
  const headers: string[] = [];
  for (let l = await c2.line(); l !== ''; l = await c2.line()) headers.push(l);
  assert.ok(headers.includes('Connection: close'), headers.join(' | '));
  assert.ok(await c2.closed());
  c2.close();
  await srv.stop();
  await srv2.stop();
});

// ---- HTTP/1.1 --------------------------------------------------------------------------

test('keep-alive: 1,000 requests on one connection', async () => {
  let n = 0;
  const srv = serveApp((env, start) => {
    n++;
    start('200 OK', [['Content-Type', 'text/plain']]);
    return [env.QUERY_STRING];
  });
  const c = await open(srv.port);
  for (let i = 0; i < 1000; i++) {
    await c.send(`GET /?${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const r = await c.response();
    assert.is(r.body.toString(), String(i));
    assert.is(r.headers.connection, undefined);
  }
  assert.is(n, 1000);
  assert.is(srv.log.lines.length, 1000);
  c.close();
  await srv.stop();
});

test('pipelining: a burst of 50 requests in one write, answered in order', async () => {
  const srv = serveApp(async (env, start) => {
    // later requests finish sooner, yet answers keep the order of requests
    await sleep((50 - Number(env.QUERY_STRING)) * 0.0002);
    start('200 OK', []);
    return [env.QUERY_STRING];
  });
  const c = await open(srv.port);
  let burst = '';
  for (let i = 0; i < 50; i++) burst += `GET /?${i} HTTP/1.1\r\nHost: x\r\n\r\n`;
  await c.send(burst);
  for (let i = 0; i < 50; i++) assert.is((await c.response()).body.toString(), String(i));
  c.close();
  await srv.stop();
});

test('chunked responses: no Content-Length, pieces gathered to minimumChunkSize', async () => {
  const srv = serveApp(
    async function* (env: Environ, start: StartResponse) {
      start('200 OK', [['Content-Type', 'text/plain']]);
      for (let i = 0; i < 10; i++) {
        yield Buffer.alloc(1000, 97 + i);
        await sleep(0);
      }
      if (env.PATH_INFO === '/tail') yield 'end';
    } as unknown as WsgiApp,
    { minimumChunkSize: 4096 },
  );
  const c = await open(srv.port);
  await c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /tail HTTP/1.1\r\nHost: x\r\n\r\n');
  const r = await c.response();
  assert.is(r.headers['transfer-encoding'], 'chunked');
  assert.is(r.headers['content-length'], undefined);
  assert.is(r.body.length, 10_000);
  assert.equal(r.chunks, [5000, 5000], 'gathered until at least 4096 bytes');
  const r2 = await c.response();
  assert.equal(r2.chunks, [5000, 5000, 3]);
  assert.is(r2.body.subarray(-3).toString(), 'end');
  c.close();
  await srv.stop();
});

test('a whole small response without Content-Length gets one, in one write', async () => {
  const srv = serveApp((_env, start) => {
    start('200 OK', []);
    return ['Hello, ', Buffer.from('World'), new Uint8Array([33])];
  });
  const c = await open(srv.port);
  await c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const first = await c.sock.recv(65536);
  const text = first.toString();
  assert.ok(text.endsWith('\r\n\r\nHello, World!'), 'head and body arrive together');
  assert.match(text, /\r\nContent-Length: 13\r\n/);
  assert.match(text, /\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n/);
  c.close();
  await srv.stop();
});

test('write(): data goes out at once, before the app returns', async () => {
  const gotFirst = new Event<void>();
  const srv = serveApp(async (_env, start) => {
    const write = start('200 OK', [['Content-Length', '6']]);
    await write('abc');
    await gotFirst.wait();
    await write(Buffer.from('def'));
    return [];
  });
  const c = await open(srv.port);
  await c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  let seen = '';
  while (!seen.endsWith('abc')) seen += (await c.sock.recv(100)).toString();
  gotFirst.send();
  c.buf = Buffer.alloc(0);
  assert.is((await c.bytes(3)).toString(), 'def');
  c.close();
  await srv.stop();
});

test('HEAD: headers without the body; the connection goes on', async () => {
  const srv = serveApp((env, start) => {
    start('200 OK', env.PATH_INFO === '/len' ? [['Content-Length', '5']] : []);
    return ['hello'];
  });
  const c = await open(srv.port);
  await c.send('HEAD /len HTTP/1.1\r\nHost: x\r\n\r\nHEAD /nolen HTTP/1.1\r\nHost: x\r\n\r\nGET /len HTTP/1.1\r\nHost: x\r\n\r\n');
  const r1 = await c.response(true);
  assert.is(r1.headers['content-length'], '5');
  const r2 = await c.response(true);
  assert.is(r2.headers['content-length'], '5');
  const r3 = await c.response();
  assert.is(r3.body.toString(), 'hello', 'nothing of the HEAD bodies was sent');
  c.close();
  await srv.stop();
});

test('Connection: close, HTTP/1.0, HTTP/1.0 keep-alive, keepalive: false', async () => {
  const srv = serveApp((env, start) => {
    start('200 OK', env.PATH_INFO === '/stream' ? [] : [['Content-Length', '2']]);
    if (env.PATH_INFO === '/stream') return (async function* () {
      yield 'a';
      await sleep(0);
      yield 'b';
    })();
    return ['ok'];
  });
  let r = await once(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.is(r.headers.connection, 'close');
  assert.ok(r.closedAfter);
  r = await once(srv.port, 'GET / HTTP/1.0\r\n\r\n');
  assert.is(r.headers.connection, 'close');
  assert.ok(r.closedAfter);
  // 1.0 without a length: the close ends the body, never chunked
  r = await once(srv.port, 'GET /stream HTTP/1.0\r\n\r\n');
  assert.is(r.headers['transfer-encoding'], undefined);
  assert.is(r.body.toString(), 'ab');
  const c = await open(srv.port);
  await c.send('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n');
  assert.is((await c.response()).headers.connection, 'keep-alive');
  await c.send('GET / HTTP/1.0\r\n\r\n');
  assert.is((await c.response()).body.toString(), 'ok');
  assert.ok(await c.closed());
  c.close();
  await srv.stop();
  const srv2 = serveApp(hello, { keepalive: false });
  r = await once(srv2.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.is(r.headers.connection, 'close');
  assert.ok(r.closedAfter);
  await srv2.stop();
});

test('an app saying Connection: close, or sending less than its Content-Length, ends the connection', async () => {
  const srv = serveApp((env, start) => {
    if (env.PATH_INFO === '/short') {
      start('200 OK', [['Content-Length', '10']]);
      return ['abc'];
    }
    start('200 OK', [['Connection', 'close'], ['Content-Length', '2']]);
    return ['ok'];
  });
  let r = await once(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.ok(r.closedAfter);
  const c = await open(srv.port);
  await c.send('GET /short HTTP/1.1\r\nHost: x\r\n\r\n');
  const head = await c.line();
  assert.is(head, 'HTTP/1.1 200 OK');
  while ((await c.line()) !== '');
  assert.is((await c.bytes(3)).toString(), 'abc');
  assert.ok(await c.closed());
  c.close();
  r = await once(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.is(r.status, 200);
  await srv.stop();
});

// ---- timeouts ----------------------------------------------------------------------------

test('socketTimeout: a client stalling mid-request is dropped', async () => {
  const srv = serveApp(echo, { socketTimeout: 0.2 });
  const c = await open(srv.port);
  await c.send('GET / HTTP/1.1\r\nHost: x\r\n'); // never finishes its head
  const t0 = performance.now();
  assert.ok(await c.closed());
  assert.ok(performance.now() - t0 >= 150, 'not before the timeout');
  c.close();
  // mid-body
  const c2 = await open(srv.port);
  await c2.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
  assert.ok(await c2.closed());
  c2.close();
  await srv.stop();
});

test('keepalive as a number: idle connections close after that many seconds', async () => {
  const srv = serveApp(hello, { keepalive: 0.1 });
  const c = await open(srv.port);
  await c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.is((await c.response()).status, 200);
  const t0 = performance.now();
  assert.ok(await c.closed());
  assert.ok(performance.now() - t0 >= 80);
  c.close();
  await srv.stop();
});

// ---- refusals ----------------------------------------------------------------------------

test('414 for a long request line, 431 for a big head (maxHeaderSize too)', async () => {
  const srv = serveApp(hello, { urlLengthLimit: 100 });
  let r = await once(srv.port, `GET /${'a'.repeat(200)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.is(r.status, 414);
  assert.ok(r.closedAfter);
  r = await once(srv.port, `GET /${'a'.repeat(5000)}`); // still no end of line
  assert.is(r.status, 414);
  r = await once(srv.port, `GET /${'a'.repeat(99)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.is(r.status, 200);
  r = await once(srv.port, `GET / HTTP/1.1\r\nHost: x\r\n${'X-Big: yyyyyyyyyy\r\n'.repeat(4000)}\r\n`);
  assert.is(r.status, 431);
  assert.ok(r.closedAfter);
  await srv.stop();
  const srv2 = serveApp(hello, { maxHeaderSize: 1024 });
  r = await once(srv2.port, `GET / HTTP/1.1\r\nHost: x\r\nX-A: ${'b'.repeat(1100)}\r\n\r\n`);
  assert.is(r.status, 431);
  r = await once(srv2.port, `GET / HTTP/1.1\r\nHost: x\r\nX-A: ${'b'.repeat(900)}\r\n\r\n`);
  assert.is(r.status, 200);
  await srv2.stop();
});

test('400 for malformed heads and smuggling attempts; 501, 505', async () => {
  const srv = serveApp(echo);
  const cases: [string, number][] = [
    ['GET\r\n\r\n', 400],
    ['GET /\r\n\r\n', 400],
    ['GET / HTTP/1.1 x\r\n\r\n', 400],
    ['G(T / HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['GET  / HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['GET / http/1.1\r\n\r\n', 400],
    ['GET / HTTP/2.0\r\n\r\n', 505],
    ['GET / HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: x\r\nX : y\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n', 400],
    ['GET / HTTP/1.1\nHost: x\n\n', 400],
    ['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 400],
    ['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd', 400],
    ['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n', 400],
    ['POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 501],
  ];
  for (const [raw, status] of cases) {
    const r = await once(srv.port, raw);
    assert.is(r.status, status, JSON.stringify(raw));
    assert.ok(r.closedAfter, `closed after ${JSON.stringify(raw)}`);
    assert.is(r.headers.connection, 'close');
  }
  // the same Content-Length twice is refused too, as node:http does
  const r = await once(srv.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc');
  assert.is(r.status, 400);
  assert.ok(srv.log.lines.some((l) => / 400 \d+ /.test(l)), 'refusals are logged');
  await srv.stop();
});

test('500 when the app throws: no traceback unless debug; the server keeps serving', async () => {
  const app: WsgiApp = (env, start) => {
    if (env.PATH_INFO === '/boom') throw new Error('kaboom');
    if (env.PATH_INFO === '/twice') {
      start('200 OK', []);
      start('200 OK', []);
    }
    if (env.PATH_INFO === '/split') start('200 OK', [['X-Evil', 'a\r\nSet-Cookie: x=1']]);
    if (env.PATH_INFO === '/nobody') return 42 as unknown as string[];
    if (env.PATH_INFO === '/nostart') return ['x'];
    start('200 OK', []);
    return ['fine'];
  };
  const srv = serveApp(app);
  for (const p of ['/boom', '/twice', '/split', '/nobody', '/nostart']) {
    const r = await once(srv.port, `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.is(r.status, 500, p);
    assert.is(r.body.toString(), '500 Internal Server Error\n', p);
    assert.is(r.headers['set-cookie'], undefined);
  }
  assert.match(srv.log.text, /Error: kaboom/);
  assert.match(srv.log.text, /startResponse called a second time without excInfo/);
  assert.match(srv.log.text, /response splitting/);
  assert.is((await once(srv.port, 'GET /ok HTTP/1.1\r\nHost: x\r\n\r\n')).body.toString(), 'fine');
  await srv.stop();
  const dbg = serveApp(app, { debug: true });
  const r = await once(dbg.port, 'GET /boom HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.is(r.status, 500);
  assert.match(r.body.toString(), /Error: kaboom\n\s+at /);
  await dbg.stop();
});

test('startResponse with excInfo replaces the response before it was sent', async () => {
  const srv = serveApp((_env, start) => {
    start('200 OK', []);
    try {
      throw new Error('late');
    } catch (err) {
      start('503 Service Unavailable', [['Content-Length', '4']], err);
    }
    return ['busy'];
  });
  const r = await once(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.is(r.status, 503);
  assert.is(r.body.toString(), 'busy');
  await srv.stop();
});

// ---- the access log --------------------------------------------------------------------------

test('access log: Evy format by default, logFormat overrides, log: null is silent', async () => {
  const srv = serveApp(hello);
  await once(srv.port, 'GET /x?y=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await srv.stop();
  assert.is(srv.log.lines.length, 1);
  assert.match(srv.log.lines[0], /^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4} \d\d:\d\d:\d\d\] "GET \/x\?y=1 HTTP\/1\.1" 200 13 \d+\.\d{6}$/);
  const custom = serveApp(hello, { logFormat: '%(status_code)s|%(body_length)d|%(request_line)s|%(client_port)s|%%' });
  const c = await open(custom.port);
  await c.send('GET /z HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await c.response();
  c.close();
  await custom.stop();
  assert.is(custom.log.text.split('\n')[0], `(${process.pid}) wsgi starting up on http://127.0.0.1:${custom.port}`);
  assert.match(custom.log.text, /\n200\|13\|GET \/z HTTP\/1\.1\|\d+\|%\n$/);
  const [, printed] = await captureStderr(async () => {
    const quiet = serveApp(hello, { log: null });
    await once(quiet.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await quiet.stop();
  });
  assert.is(printed, '');
  const sock = own(listen(['127.0.0.1', 0]));
  try {
    await server(sock, hello, { logFormat: '%(nope)s' });
    assert.unreachable('accepted');
  } catch (err) {
    assert.match(String(err), /unknown field 'nope'/);
  }
  sock.close();
});

// ---- posthooks and hijacking ---------------------------------------------------------------

test('posthooks: functions and [fn, args, kwargs], after the response is sent', async () => {
  const calls: unknown[][] = [];
  const srv = serveApp((env, start) => {
    env['evy.posthooks'].push((e: Environ) => calls.push(['plain', e.PATH_INFO]));
    env['evy.posthooks'].push([(e: Environ, a: unknown, b: unknown, kw: unknown) => calls.push(['tuple', e.PATH_INFO, a, b, kw]), [1, 2], { k: 3 }]);
    start('200 OK', [['Content-Length', '2']]);
    calls.push(['app']);
    return ['ok'];
  });
  const c = await open(srv.port);
  await c.send('GET /p HTTP/1.1\r\nHost: x\r\n\r\n');
  await c.response();
  await settle();
  assert.equal(calls, [['app'], ['plain', '/p'], ['tuple', '/p', 1, 2, { k: 3 }]]);
  c.close();
  await srv.stop();
});

test('posthooks run exactly once when the client disconnects mid-response', async () => {
  let hooks = 0;
  let pieces = 0;
  const ran = new Event<void>();
  const srv = serveApp(async function* (env: Environ, start: StartResponse) {
    env['evy.posthooks'].push(() => {
      hooks++;
      ran.send();
    });
    start('200 OK', []);
    for (;;) {
      pieces++;
      yield Buffer.alloc(64 * 1024, 120);
      await sleep(0);
    }
  } as unknown as WsgiApp);
  const c = await open(srv.port);
  await c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await c.sock.recv(1000);
  c.close();
  await withTimeout(10, () => ran.wait());
  await sleep(0.05);
  assert.is(hooks, 1);
  assert.ok(pieces > 0);
  await srv.stop();
});

test('evy.hijack: the app takes the socket; the server writes nothing and leaves it open', async () => {
  let taken: GreenSocket | GreenSSLSocket | null = null;
  const done = new Event<void>();
  const srv = serveApp(async (env) => {
    const { socket, head } = env['evy.hijack']();
    taken = socket;
    assert.is(socket, env['evy.socket']);
    await socket.sendall(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n\r\n[${head.toString()}]`);
    go(async () => {
      // the server's thread is gone by now; the socket still works
      await sleep(0.01);
      const more = await socket.recv(100);
      await socket.sendall(`<${more.toString()}>`);
      socket.close();
      done.send();
    });
    return [];
  });
  const c = await open(srv.port);
  await c.send('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly');
  assert.is(await c.line(), 'HTTP/1.1 101 Switching Protocols');
  assert.is(await c.line(), 'Upgrade: echo');
  assert.is(await c.line(), '');
  assert.is((await c.bytes(7)).toString(), '[early]');
  await c.send('later');
  assert.is((await c.bytes(7)).toString(), '<later>');
  assert.ok(await c.closed());
  await done.wait();
  assert.ok((taken as unknown as GreenSocket).closed);
  c.close();
  await srv.stop();
});

// ---- big bodies ----------------------------------------------------------------------------------

test('a 100 MiB chunked upload streams through wsgi.input in bounded memory', async () => {
  const TOTAL = 100 << 20;
  const srv = serveApp(async (env, start) => {
    const input = env['wsgi.input'];
    const h = createHash('sha256');
    let n = 0;
    for (;;) {
      const piece = await input.read(65536);
      if (piece.length === 0) break;
      assert.ok(piece.length <= 65536);
      h.update(piece);
      n += piece.length;
    }
    start('200 OK', []);
    return [`${n} ${h.digest('hex')}`];
  });
  const c = await open(srv.port);
  const block = Buffer.alloc(65536);
  for (let i = 0; i < block.length; i++) block[i] = (i * 31) & 0xff;
  const expect = createHash('sha256');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const rss0 = process.memoryUsage.rss();
  let peak = rss0;
  const sender = go(async () => {
    await c.send('PUT /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
    for (let sent = 0; sent < TOTAL; sent += block.length) {
      expect.update(block);
      await c.send(`${block.length.toString(16)}\r\n`);
      await c.send(block);
      await c.send('\r\n');
      if ((sent & 0xfffff) === 0) {
        // Collect the garbage of each MiB (the 64 KiB pieces read and dropped):
        // what RSS still grows by is what the server holds.
        gc();
        peak = Math.max(peak, process.memoryUsage.rss());
      }
    }
    await c.send('0\r\n\r\n');
  });
  // The answer comes only after the last chunk: the whole upload, not the
  // client's 10 s recv timeout, bounds the wait (minutes on a loaded machine).
  await sender.wait();
  const r = await c.response();
  assert.is(r.body.toString(), `${TOTAL} ${expect.digest('hex')}`);
  const growth = (peak - rss0) / (1 << 20);
  assert.ok(growth < 16, `RSS grew by ${growth.toFixed(1)} MiB for a 100 MiB upload`);
  c.close();
  await srv.stop();
});

// ---- real clients ------------------------------------------------------------------------------------

test('curl: a chunked upload, and Expect: 100-continue', async () => {
  const expects: string[] = [];
  const srv = serveApp(async (env, start) => {
    expects.push(env.HTTP_EXPECT ?? '-');
    return echo(env, start);
  });
  const url = `http://127.0.0.1:${srv.port}/up`;
  const data = 'x'.repeat(100_000) + 'end';
  let out = await run('/usr/bin/curl', ['-sS', '--max-time', '15', '-H', 'Transfer-Encoding: chunked', '--data-binary', '@-', url], data);
  assert.is(out, `POST /up ${data.length} ${sha(data)}`);
  out = await run('/usr/bin/curl', ['-sS', '--max-time', '15', '-H', 'Expect: 100-continue', '--expect100-timeout', '10', '--data-binary', '@-', url], data);
  assert.is(out, `POST /up ${data.length} ${sha(data)}`);
  assert.equal(expects, ['-', '100-continue']);
  await srv.stop();
});

test("Python's http.client: GET and POST on one keep-alive connection", async () => {
  const srv = serveApp(echo);
  const script = [
    'import http.client, sys, hashlib',
    `c = http.client.HTTPConnection("127.0.0.1", ${srv.port}, timeout=10)`,
    'c.request("GET", "/g%C3%A9t?q=1")',
    'r = c.getresponse(); print(r.status, r.read().decode())',
    'c.request("POST", "/p", body=b"abc" * 1000, headers={"Content-Type": "application/octet-stream"})',
    'r = c.getresponse(); print(r.status, r.read().decode())',
    'c.request("POST", "/it", body=iter([b"ab", b"cd"]), encode_chunked=True)',
    'r = c.getresponse(); print(r.status, r.read().decode(), r.getheader("Content-Length"))',
  ].join('\n');
  const out = await run('python3', ['-c', script]);
  assert.is(
    out,
    `200 GET /g\u00c3\u00a9t 0 ${sha('')}\n200 POST /p 3000 ${sha('abc'.repeat(1000))}\n200 POST /it 4 ${sha('abcd')} ${`POST /it 4 ${sha('abcd')}`.length}\n`,
  );
  await srv.stop();
});

// ---- fuzz ----------------------------------------------------------------------------------------------

test('fuzz: 10,000 random and truncated requests; the server still answers and no fd leaks', async () => {
  const srv = serveApp(echo, { socketTimeout: 5 });
  const fds0 = socketFds();
  let seed = 12345;
  const rand = (n: number): number => {
    // mulberry32: a seeded generator, so a failure can be replayed
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
  const words = ['GET', 'POST', ' ', '/', 'HTTP/1.1', 'HTTP/1.0', '\r\n', '\n', ':', 'Content-Length', 'Transfer-Encoding', 'chunked',
    '0', '5', 'ffffffffffffffff', '-1', 'Host', 'x', '\r\n\r\n', '%', '?', 'Expect', '100-continue', 'Connection', 'close', '\0', ';'];
  const good = 'POST /p?q HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello';
  const goodChunked = 'POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n';
  function sample(): Buffer {
    switch (rand(4)) {
      case 0: {
        const b = Buffer.alloc(rand(300));
        for (let i = 0; i < b.length; i++) b[i] = rand(256);
        return b;
      }
      case 1: {
        const s = rand(2) ? good : goodChunked;
        return Buffer.from(s.slice(0, rand(s.length)), 'latin1');
      }
      case 2: {
        const b = Buffer.from(rand(2) ? good : goodChunked, 'latin1');
        for (let k = rand(4); k >= 0; k--) b[rand(b.length)] = rand(256);
        return b;
      }
      default: {
        let s = '';
        for (let k = rand(30); k >= 0; k--) s += words[rand(words.length)];
        return Buffer.from(s, 'latin1');
      }
    }
  }
  const statuses = new Map<string, number>();
  async function one(data: Buffer): Promise<void> {
    const t1 = performance.now();
    const c = await connect(['127.0.0.1', srv.port]); // closed by the finally below, failing or not
    c.timeout = 10;
    try {
      await c.sendall(data);
      c.shutdown(SHUT_WR);
      let got = '';
      for (;;) {
        const d = await c.recv(65536);
        if (d.length === 0) break;
        got += d.toString('latin1');
      }
      const status = got.slice(9, 12) || 'none';
      if (process.env.WSGI_DEBUG && performance.now() - t1 > 50) console.log(JSON.stringify(data.toString('latin1')), '->', JSON.stringify(got.slice(0, 60)), performance.now() - t1);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET' && (err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
      statuses.set('reset', (statuses.get('reset') ?? 0) + 1);
    } finally {
      c.close();
    }
  }
  const samples: Buffer[] = [];
  for (let i = 0; i < 10_000; i++) samples.push(sample());
  const pool = new GreenPool(25);
  const t0 = performance.now();
  await withTimeout(25, async () => {
    for (const s of samples) await pool.spawn(one, s);
    await pool.waitall();
  });
  const took = performance.now() - t0;
  assert.ok((statuses.get('400') ?? 0) > 100, `many 400s: ${JSON.stringify([...statuses])}`);
  assert.ok((statuses.get('200') ?? 0) > 10, `some good ones: ${JSON.stringify([...statuses])}`);
  assert.is(statuses.get('reset'), undefined, 'no answer lost to a reset');
  assert.ok(took < 25_000);
  const r = await once(srv.port, good);
  assert.is(r.body.toString(), `POST /p 5 ${sha('hello')}`);
  await settle(10);
  assert.is(socketFds(), fds0, 'every connection was closed');
  await srv.stop();
});

// ---- pools and stopping ----------------------------------------------------------------------------

test('maxSize bounds concurrent connections; customPool is used', async () => {
  const gate = new Event<void>();
  let inside = 0;
  let most = 0;
  const app: WsgiApp = async (_env, start) => {
    inside++;
    most = Math.max(most, inside);
    await gate.wait();
    inside--;
    start('200 OK', [['Content-Length', '0'], ['Connection', 'close']]);
    return [];
  };
  const srv = serveApp(app, { maxSize: 2 });
  const cs = await Promise.all([0, 1, 2, 3].map(() => open(srv.port)));
  for (const c of cs) await c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await withTimeout(5, async () => {
    while (inside < 2) await sleep(0.005);
  });
  await sleep(0.05); // time for a third, were the pool not full
  assert.is(inside, 2, 'two served, two waiting for a slot');
  gate.send();
  for (const c of cs) assert.is((await c.response()).status, 200);
  assert.is(most, 2);
  for (const c of cs) c.close();
  await srv.stop();
  const pool = new GreenPool(5);
  let running = -1;
  const srv2 = serveApp((_env, start) => {
    running = pool.running();
    start('200 OK', []);
    return [];
  }, { customPool: pool });
  await once(srv2.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.is(running, 1);
  await srv2.stop();
});

test('closing the listener: idle connections close, a busy one finishes its response first', async () => {
  const entered = new Event<void>();
  const release = new Event<void>();
  const srv = serveApp(async (env, start) => {
    if (env.PATH_INFO === '/slow') {
      entered.send();
      await release.wait();
    }
    start('200 OK', [['Content-Length', '2']]);
    return ['ok'];
  });
  const idle = await open(srv.port);
  await idle.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await idle.response();
  const busy = await open(srv.port);
  await busy.send('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
  await entered.wait();
  srv.sock.close();
  assert.ok(await idle.closed(), 'the idle keep-alive connection is closed');
  assert.not.ok(srv.gt.dead, 'the server waits for the busy one');
  release.send();
  assert.is((await busy.response()).body.toString(), 'ok');
  assert.ok(await busy.closed());
  await withTimeout(5, () => srv.gt.wait());
  idle.close();
  busy.close();
});

test('closing the listener: a connection accepted before it gets its first request answered, with Connection: close', async () => {
  let served = 0;
  const srv = serveApp((_env, start) => {
    served++;
    start('200 OK', [['Content-Length', '2']]);
    return ['ok'];
  });
  const fds = socketFds();
  const c = await open(srv.port);
  await withTimeout(5, async () => {
    while (socketFds() < fds + 2) await sleep(0.005); // ours, and the one the server accepted
  });
  await settle(); // its thread runs and waits for the request head
  srv.sock.close();
  await c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const r = await c.response();
  assert.is(r.body.toString(), 'ok');
  assert.is(r.headers.connection, 'close');
  assert.ok(await c.closed());
  await withTimeout(5, () => srv.gt.wait());
  assert.is(served, 1);
  c.close();
});

test('StopServe, kill and Timeout stop the server and close the listener', async () => {
  // StopServe: a clean return
  let srv = serveApp(hello);
  await settle(); // started: a thread killed before it runs never runs at all
  kill(srv.gt, new StopServe());
  await withTimeout(5, () => srv.gt.wait());
  assert.ok(srv.sock.closed);
  // kill: the listener and every connection close, busy or not
  const stuck = new Event<void>();
  srv = serveApp(async (_env, start) => {
    await stuck.wait();
    start('200 OK', []);
    return [];
  });
  const c = await open(srv.port);
  await c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await sleep(0.02);
  kill(srv.gt);
  await withTimeout(5, () => srv.gt.wait());
  assert.ok(srv.sock.closed);
  assert.ok(await c.closed());
  c.close();
  // Timeout around server()
  const sock = own(listen(['127.0.0.1', 0]));
  const t = new Timeout(0.05);
  try {
    await server(sock, hello, { log: null });
    assert.unreachable('server() returned');
  } catch (err) {
    assert.is(err, t);
  } finally {
    t.cancel();
  }
  assert.ok(sock.closed);
  // an app throwing StopServe stops the server too
  srv = serveApp(() => {
    throw new StopServe();
  });
  const r = await once(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.is(r.status, 503);
  await withTimeout(5, () => srv.gt.wait());
  assert.ok(srv.sock.closed);
});

test('bad arguments name the problem', async () => {
  const sock = own(listen(['127.0.0.1', 0]));
  const fails = async (p: Promise<unknown>, re: RegExp) => {
    try {
      await p;
      assert.unreachable('no error');
    } catch (err) {
      assert.match(String(err), re);
    }
  };
  await fails(server(null as unknown as GreenSocket, hello), /listening GreenSocket/);
  await fails(server(sock, 'app' as unknown as WsgiApp), /application function/);
  await fails(server(sock, hello, { maxSize: 0 }), /maxSize must be a number/);
  await fails(server(sock, hello, { log: {} as LogStream }), /write\(\) method/);
  await fails(server(sock, hello, { customPool: {} as GreenPool }), /customPool must be a GreenPool/);
  sock.close();
});

suite.run();
