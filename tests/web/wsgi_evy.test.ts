// evy/web/wsgi against Evy's own wsgi tests (eventlet's tests/wsgi_test.py),
// their intent ported: generator results chunked and arrays counted, HTTP/1.0
// streaming, keepalive 0/false, the Connection and Keep-Alive headers, 100
// Continue with headers and sent more than once, response header
// capitalisation and latin-1 headers, X-Forwarded-For in the access log, the
// per-request minimum chunk size, the header line limit, headers_raw, the
// start-up line, Unix socket servers, and control bytes escaped in the log.
// curl and Python's http.client check the chunked, keep-alive and 100
// Continue behaviour as real clients see it.
import { test as suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Event, GreenSocket, listen, sleep, wait, withTimeout } from 'evy';
import { server, type Environ, type StartResponse, type WsgiApp } from 'evy/web/wsgi';
import { safetyNet } from '../safety';
import { Lines, wsgiHelpers } from './wsgi_client';

// A failing test must not leave sockets or threads behind (see ../safety).
// WSGI_ONLY=substring runs the matching tests only.
const { test, own, go } = safetyNet(suite, { limit: 30, only: process.env.WSGI_ONLY });

// ---- helpers -------------------------------------------------------------------------

const { serveApp, open, once } = wsgiHelpers({ own, go }, false);

/** Evy's chunked_app: three small pieces from a generator. */
function* chunkedApp(_env: Environ, start: StartResponse): Generator<string> {
  start('200 OK', [['Content-type', 'text/plain']]);
  yield 'this';
  yield 'is';
  yield 'chunked';
}

const hello: WsgiApp = (_env, start) => {
  start('200 OK', [['Content-type', 'text/plain']]);
  return ['hello world'];
};

function run(cmd: string, args: string[], input?: string): Promise<[string, string]> {
  return wait(
    new Promise<[string, string]>((resolve, reject) => {
      const child = execFile(cmd, args, { timeout: 20_000, maxBuffer: 1 << 24 }, (err, out, errOut) => {
        if (err) reject(new Error(`${cmd} failed: ${err.message}\n${errOut}`));
        else resolve([out, errOut]);
      });
      if (input !== undefined) child.stdin!.end(input);
    }),
  );
}

/** Python's http.client running `lines` (a script) against the server. */
async function python(lines: string[]): Promise<string> {
  return (await run('python3', ['-c', lines.join('\n')]))[0];
}

// ---- framing the body: chunked, counted, until close ---------------------------------------

test('a generator result without Content-Length is sent chunked, however small (test_009, test_011)', async () => {
  const srv = serveApp((env, start) => {
    if (env.PATH_INFO === '/async') {
      start('200 OK', []);
      return (async function* () {
        yield 'a';
        await sleep(0);
        yield Buffer.from('b');
      })();
    }
    if (env.PATH_INFO === '/big') {
      // Evy's big_chunks: ten 8 KiB lines, more than one chunk
      start('200 OK', [['Content-type', 'text/plain']]);
      return (function* () {
        for (let i = 0; i < 10; i++) yield 'a'.repeat(8192);
      })();
    }
    return chunkedApp(env, start);
  });
  const c = await open(srv.port);
  await c.send('GET / HTTP/1.1\r\nHost: localhost\r\n\r\nGET /async HTTP/1.1\r\nHost: localhost\r\n\r\n');
  const r = await c.response();
  assert.is(r.headers['transfer-encoding'], 'chunked');
  assert.is(r.headers['content-length'], undefined);
  assert.is(r.body.toString(), 'thisischunked');
  assert.equal(r.chunks, [13], 'the small pieces gathered into one chunk');
  const r2 = await c.response();
  assert.is(r2.headers['transfer-encoding'], 'chunked', 'an async generator too');
  assert.is(r2.body.toString(), 'ab');
  // the connection goes on after a chunked response
  await c.send('GET /big HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  const [status, raw] = await c.head();
  assert.is(status, 'HTTP/1.1 200 OK');
  assert.ok(raw.some(([n, v]) => n === 'Transfer-Encoding' && v === 'chunked'));
  let chunks = 0;
  let total = 0;
  for (let size = parseInt(await c.line(), 16); size !== 0; size = parseInt(await c.line(), 16)) {
    chunks++;
    total += (await c.bytes(size)).length;
    assert.is(await c.line(), '');
  }
  assert.ok(chunks > 1, `${chunks} chunk(s)`);
  assert.is(total, 81920);
  assert.is((await c.rest()).toString(), '\r\n', 'the last chunk ends with its CRLF, then the close');
  c.close();
  await srv.stop();
});

test('an empty generator is an empty chunked body; empty pieces never end the body early', async () => {
  const srv = serveApp((env, start) => {
    if (env.PATH_INFO === '/none') {
      start('200 OK', [['Content-type', 'text/plain']]);
      return (function* () {})();
    }
    // Evy's empty_string_chunked_app: no buffering, an empty piece in the middle
    env['evy.minimum_write_chunk_size'] = 0;
    start('200 OK', [['Content-type', 'text/plain']]);
    return ['stuff', '', 'more stuff'][Symbol.iterator]();
  });
  const c = await open(srv.port);
  await c.send('GET /none HTTP/1.1\r\nHost: localhost\r\n\r\nGET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  const [, raw] = await c.head();
  assert.ok(raw.some(([n, v]) => n === 'Transfer-Encoding' && v === 'chunked'));
  assert.is((await c.bytes(5)).toString(), '0\r\n\r\n');
  const [, raw2] = await c.head();
  assert.ok(raw2.some(([n, v]) => n === 'Transfer-Encoding' && v === 'chunked'));
  assert.is((await c.rest()).toString(), '5\r\nstuff\r\na\r\nmore stuff\r\n0\r\n\r\n');
  c.close();
  await srv.stop();
});

test('an array result without Content-Length gets one, and the connection stays open', async () => {
  const srv = serveApp((env, start) => {
    start('200 OK', [['Content-type', 'text/plain']]);
    return env.PATH_INFO === '/empty' ? [] : ['hello', ' ', Buffer.from('world')];
  });
  const c = await open(srv.port);
  await c.send('GET / HTTP/1.1\r\nHost: localhost\r\n\r\nGET /empty HTTP/1.1\r\nHost: localhost\r\n\r\n');
  const r = await c.response();
  assert.is(r.headers['content-length'], '11');
  assert.is(r.headers['transfer-encoding'], undefined);
  assert.is(r.body.toString(), 'hello world');
  const r2 = await c.response();
  assert.is(r2.headers['content-length'], '0');
  assert.is(r2.headers.connection, undefined);
  await c.send('GET / HTTP/1.0\r\n\r\n');
  const r3 = await c.response();
  assert.is(r3.headers['content-length'], '11', 'HTTP/1.0 too');
  assert.ok(await c.closed());
  c.close();
  await srv.stop();
});

test('HTTP/1.0: a generator body is streamed unchunked and the connection closed, keep-alive or not (test_010, test_close_chunked_with_1_0_client)', async () => {
  const srv = serveApp(chunkedApp);
  for (const conn of ['', 'Connection: keep-alive\r\n', 'Connection: close\r\n']) {
    const c = await open(srv.port);
    await c.send(`GET / HTTP/1.0\r\nHost: localhost\r\n${conn}\r\n`);
    const [status, raw] = await c.head();
    assert.is(status, 'HTTP/1.1 200 OK');
    const names = raw.map(([n]) => n.toLowerCase());
    assert.not.ok(names.includes('transfer-encoding'), conn);
    assert.not.ok(names.includes('content-length'), conn);
    assert.ok(raw.some(([n, v]) => n === 'Connection' && v === 'close'), conn);
    assert.is((await c.rest()).toString(), 'thisischunked', 'the bytes as yielded, ended by the close');
    c.close();
  }
  await srv.stop();
});

// ---- keep-alive ----------------------------------------------------------------------------

test('keepalive: 0 and keepalive: false answer every request with Connection: close (test_026_http_10_nokeepalive, test_026b)', async () => {
  for (const keepalive of [0, false]) {
    const srv = serveApp(hello, { keepalive });
    // a client slow to send its first request is still answered
    const slow = await open(srv.port);
    await sleep(0.05);
    await slow.send('GET /1 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /2 HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const r = await slow.response();
    assert.is(r.status, 200, String(keepalive));
    assert.is(r.body.toString(), 'hello world');
    assert.is(r.headers.connection, 'close');
    assert.is(r.headers['keep-alive'], undefined);
    assert.ok(await slow.closed(), 'the pipelined second request is not served');
    slow.close();
    for (const req of [
      'GET / HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n',
      'GET / HTTP/1.0\r\n\r\n',
    ]) {
      const r2 = await once(srv.port, req);
      assert.is(r2.status, 200, req);
      assert.is(r2.headers.connection, 'close', req);
      assert.is(r2.headers['keep-alive'], undefined, req);
      assert.ok(r2.closedAfter, req);
    }
    await srv.stop();
    assert.is(srv.log.lines.length, 4, 'one log line per answered request');
  }
});

test('Connection: keep-alive and Keep-Alive: timeout=N only for clients that asked (test_018, test_server_keepalive_sent_in_headers)', async () => {
  const srv = serveApp(hello);
  const c = await open(srv.port);
  // HTTP/1.1, asked: both headers, the default keepalive being 5 seconds
  await c.send('GET / HTTP/1.1\r\nConnection: keep-alive\r\nHost: localhost\r\n\r\n');
  let r = await c.response();
  assert.is(r.headers.connection, 'keep-alive');
  assert.is(r.headers['keep-alive'], 'timeout=5');
  // HTTP/1.1, not asked: neither (keep-alive is the default there)
  await c.send('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  r = await c.response();
  assert.is(r.headers.connection, undefined);
  assert.is(r.headers['keep-alive'], undefined);
  c.close();
  // HTTP/1.0 asking twice: the connection stays open (test_018_http_10_keepalive)
  const c10 = await open(srv.port);
  for (let i = 0; i < 2; i++) {
    await c10.send('GET / HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n');
    r = await c10.response();
    assert.is(r.body.toString(), 'hello world');
    assert.is(r.raw.find(([n]) => n === 'Connection')?.[1], 'keep-alive', 'sent as Connection: keep-alive');
    assert.is(r.headers['keep-alive'], 'timeout=5');
  }
  c10.close();
  // bodiless responses keep the connection too (test_no_transfer_encoding_in_empty_response)
  const empty = serveApp(async (env, start) => {
    const write = start(env.PATH_INFO === '/304' ? '304 Not Modified' : '204 OK', []);
    await write('');
    return [];
  });
  const ce = await open(empty.port);
  await ce.send('DELETE /foo HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n');
  r = await ce.response();
  assert.is(r.statusLine, 'HTTP/1.1 204 OK');
  assert.is(r.headers['transfer-encoding'], undefined);
  assert.is(r.headers['content-length'], undefined);
  assert.is(r.headers.connection, 'keep-alive');
  await ce.send('GET /304 HTTP/1.1\r\nHost: localhost\r\n\r\n');
  r = await ce.response();
  assert.is(r.statusLine, 'HTTP/1.1 304 Not Modified');
  assert.is(r.headers['transfer-encoding'], undefined);
  assert.is(r.headers['content-length'], undefined);
  assert.is(r.headers.connection, undefined);
  ce.close();
  await empty.stop();
  await srv.stop();
  // the timeout's whole seconds; none when it has none (Infinity) or they round to 0
  const asked = 'GET / HTTP/1.1\r\nConnection: keep-alive\r\nHost: localhost\r\n\r\n';
  for (const [keepalive, header] of [[2.5, 'timeout=2'], [true, 'timeout=5'], [60, 'timeout=60'], [Infinity, undefined], [0.5, undefined]] as const) {
    const s = serveApp(hello, { keepalive });
    const k = await open(s.port);
    await k.send(asked);
    r = await k.response();
    assert.is(r.headers.connection, 'keep-alive', String(keepalive));
    assert.is(r.headers['keep-alive'], header, String(keepalive));
    k.close();
    await s.stop();
  }
});

// ---- 100 Continue --------------------------------------------------------------------------

test('100 Continue carries the headers set with setHundredContinueResponseHeaders, capitalised (test_024a)', async () => {
  const refused: string[] = [];
  const srv = serveApp(async (env, start) => {
    if (Number(env.CONTENT_LENGTH) > 1024) {
      start('417 Expectation Failed', [['Content-Length', '7']]);
      return ['failure'];
    }
    const input = env['wsgi.input'];
    const headers: [string, string][] = [
      ['Hundred-Continue-Header-1', 'H1'],
      ['Hundred-Continue-Header-2', 'H2'],
      ['Hundred-Continue-Header-k', 'Hk'],
    ];
    input.setHundredContinueResponseHeaders(headers);
    // checked when set, and copied: a later change cannot slip in an unchecked header
    headers.push(['X-Evil', 'a\r\nSet-Cookie: x=1']);
    for (const bad of [[['X-Evil', 'a\r\nb']], [['X-\u20ac', 'v']], [['X-A']], 'X-A: b', null]) {
      try {
        input.setHundredContinueResponseHeaders(bad as [string, string][]);
        refused.push('accepted');
      } catch (err) {
        refused.push((err as Error).name);
      }
    }
    const text = await env['wsgi.input'].read();
    start('200 OK', [['Content-Length', String(text.length)]]);
    return [text];
  });
  const big = await once(srv.port, 'PUT / HTTP/1.1\r\nHost: localhost\r\nContent-length: 1025\r\nExpect: 100-continue\r\n\r\n');
  assert.is(big.statusLine, 'HTTP/1.1 417 Expectation Failed', 'straight to the final response');
  assert.is(big.body.toString(), 'failure');
  assert.is(big.headers.connection, 'close');
  const c = await open(srv.port);
  // the body right behind the head, not waiting for the 100: it is sent all the same
  await c.send('PUT / HTTP/1.1\r\nHost: localhost\r\nContent-length: 7\r\nExpect: 100-continue\r\n\r\ntesting');
  assert.equal(await c.hundredContinue(), [
    ['Hundred-Continue-Header-1', 'H1'],
    ['Hundred-Continue-Header-2', 'H2'],
    ['Hundred-Continue-Header-K', 'Hk'],
  ]);
  const r = await c.response();
  assert.is(r.status, 200);
  assert.is(r.body.toString(), 'testing');
  assert.equal(refused, ['TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError']);
  c.close();
  await srv.stop();
});

// Evy's test_024b reads a whole chunked body, then a second one after the
// second 100 Continue; here a chunked body ends at its last chunk (what
// follows is the next request), so the chunked case splits one body instead.
test('sendHundredContinueResponse sends a further 100 Continue, each with the headers set then (test_024c, test_024b in one body)', async () => {
  const srv = serveApp(async (env, start) => {
    const input = env['wsgi.input'];
    input.setHundredContinueResponseHeaders([
      ['Hundred-Continue-Header-1', 'H1'],
      ['Hundred-Continue-Header-2', 'H2'],
    ]);
    let text = await input.read(13);
    input.setHundredContinueResponseHeaders([['Hundred-Continue-Header-3', 'H3']]);
    await input.sendHundredContinueResponse();
    text = Buffer.concat([text, await input.read(16)]);
    start('200 OK', [['Content-Length', String(text.length)]]);
    return [text];
  });
  for (const framing of ['Content-Length: 29', 'Transfer-Encoding: chunked']) {
    const chunked = framing.startsWith('Transfer');
    const c = await open(srv.port);
    await c.send(`PUT /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${framing}\r\nExpect: 100-continue\r\n\r\n`);
    assert.equal(await c.hundredContinue(), [
      ['Hundred-Continue-Header-1', 'H1'],
      ['Hundred-Continue-Header-2', 'H2'],
    ]);
    await c.send(chunked ? '5\r\nfirst\r\n8\r\n message\r\n' : 'first message');
    // the server asks for more only once it read the first part: each 100 is read before the next part goes
    assert.equal(await c.hundredContinue(), [['Hundred-Continue-Header-3', 'H3']]);
    await c.send(chunked ? '8\r\n, second\r\n8\r\n message\r\n0\r\n\r\n' : ', second message');
    const r = await c.response();
    assert.is(r.statusLine, 'HTTP/1.1 200 OK', framing);
    assert.is(r.body.toString(), 'first message, second message', framing);
    assert.ok(await c.closed());
    c.close();
  }
  await srv.stop();
});

test('after sendHundredContinueResponse the first read sends none; too late once the response started', async () => {
  const lateErrors: string[] = [];
  const srv = serveApp(async (env, start) => {
    const input = env['wsgi.input'];
    const times = Number(env.QUERY_STRING);
    for (let i = 0; i < times; i++) await input.sendHundredContinueResponse();
    const body = await input.read();
    const write = start('200 OK', [['Content-Length', String(body.length)]]);
    await write(body);
    try {
      await input.sendHundredContinueResponse();
    } catch (err) {
      lateErrors.push(String(err));
    }
    return [];
  });
  const c = await open(srv.port);
  for (const times of [1, 2, 3]) {
    await c.send(`PUT /?${times} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n`);
    for (let i = 0; i < times; i++) assert.equal(await c.hundredContinue(), [], `interim response ${i + 1} of ${times}`);
    await c.send('data');
    const r = await c.response(); // a fourth 100 would fail here
    assert.is(r.body.toString(), 'data');
    assert.is(r.headers.connection, undefined, 'the body came: the connection goes on');
  }
  assert.is(lateErrors.length, 3);
  assert.match(lateErrors[0], /already started/);
  c.close();
  await srv.stop();
});

test('sendHundredContinueResponse sends nothing to a client that did not ask, nor to an HTTP/1.0 one', async () => {
  const srv = serveApp(async (env, start) => {
    await env['wsgi.input'].sendHundredContinueResponse();
    const body = await env['wsgi.input'].read();
    start('200 OK', []);
    return [body];
  });
  for (const req of [
    'PUT / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n\r\ndata',
    'PUT / HTTP/1.0\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\ndata',
  ]) {
    const r = await once(srv.port, req); // an interim 100 would fail here
    assert.is(r.status, 200, req);
    assert.is(r.body.toString(), 'data', req);
  }
  await srv.stop();
});

test('no 100 Continue when the app answers without reading, and then the connection closes (test_024)', async () => {
  const srv = serveApp(async (env, start) => {
    if (Number(env.CONTENT_LENGTH) > 1024) {
      start('417 Expectation Failed', [['Content-Length', '7']]);
      return ['failure'];
    }
    const text = await env['wsgi.input'].read();
    start('200 OK', [['Content-Length', String(text.length)]]);
    return [text];
  });
  const c = await open(srv.port);
  await c.send('PUT / HTTP/1.1\r\nHost: localhost\r\nContent-length: 1025\r\nExpect: 100-continue\r\n\r\n');
  const r = await c.response(); // an interim 100 would fail here
  assert.is(r.statusLine, 'HTTP/1.1 417 Expectation Failed');
  assert.is(r.body.toString(), 'failure');
  assert.is(r.headers.connection, 'close');
  // the client may still start on the body; the server is gone all the same
  try {
    await c.send('x'.repeat(25));
  } catch (err) {
    assert.ok(['EPIPE', 'ECONNRESET'].includes((err as NodeJS.ErrnoException).code ?? ''), String(err));
  }
  assert.ok(await c.closed());
  c.close();
  // With the 100 sent, requests can be pipelined through one connection (either case of the expectation).
  const p = await open(srv.port);
  for (const expect of ['100-continue', '100-Continue']) {
    await p.send(`PUT / HTTP/1.1\r\nHost: localhost\r\nContent-length: 7\r\nExpect: ${expect}\r\n\r\ntesting`);
    await p.hundredContinue();
    const ok = await p.response();
    assert.is(ok.statusLine, 'HTTP/1.1 200 OK', expect);
    assert.is(ok.headers.connection, undefined, expect);
    assert.is(ok.body.toString(), 'testing');
  }
  p.close();
  await srv.stop();
});

test('an eager app that answers before reading the body sends no 100 Continue, its pieces at once (test_024d)', async () => {
  const srv = serveApp((env, start) => {
    // its protocol: a success status now, whitespace while it works, the real status in the body
    env['evy.minimum_write_chunk_size'] = 0;
    start('202 Accepted', []);
    return (async function* () {
      yield ' ';
      await env['wsgi.input'].read();
      yield ' ';
      yield '\n503 Service Unavailable\n\nOops!\n';
    })();
  });
  const c = await open(srv.port);
  await c.send('PUT /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n');
  const [status] = await c.head();
  assert.is(status, 'HTTP/1.1 202 Accepted', 'the optimistic response, no 100 before it');
  const chunk = (s: string) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;
  assert.is((await c.bytes(chunk(' ').length)).toString(), chunk(' '), 'the first piece before the body was sent');
  await c.send(chunk('some data') + chunk(''));
  const rest = chunk(' ') + chunk('\n503 Service Unavailable\n\nOops!\n') + chunk('');
  assert.is((await c.bytes(rest.length)).toString(), rest);
  assert.ok(await c.closed());
  c.close();
  await srv.stop();
});

// ---- response headers ----------------------------------------------------------------------

test('response header names are capitalised as Evy does, ASCII letters only (test_header_name_capitalization)', async () => {
  const srv = serveApp((_env, start) => {
    start('200 oK', [
      ['sOMe-WEirD', 'cAsE'],
      ['x-API-key', 'k'],
      ['wiTH-\xdf-LATIN1-\xff', 'chars'],
      ['\xe9clair-\xb5-x', 'v'],
      ['content-LENGTH', '0'],
    ]);
    return [];
  });
  const r = await once(srv.port, 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  assert.is(r.statusLine, 'HTTP/1.1 200 oK', 'the status as given');
  const names = r.raw.map(([n]) => n);
  assert.ok(names.includes('Some-Weird'), names.join(' | '));
  assert.is(r.headers['some-weird'], 'cAsE', 'values as given');
  assert.ok(names.includes('X-Api-Key'), names.join(' | '));
  // Python's bytes.capitalize(): ß, ÿ, é and µ are not ASCII letters and stay as they are
  assert.ok(names.includes('With-\xdf-Latin1-\xff'), JSON.stringify(names));
  assert.ok(names.includes('\xe9clair-\xb5-X'), JSON.stringify(names));
  assert.ok(names.includes('Content-Length'), names.join(' | '));
  await srv.stop();
});

test('capitalizeResponseHeaders: false sends the names as the app spelled them (test_disable_header_name_capitalization)', async () => {
  const srv = serveApp(
    (_env, start) => {
      start('200 oK', [['eTAg', 'TAg-VAluE'], ['x-API-key', 'k']]);
      return [''];
    },
    { capitalizeResponseHeaders: false },
  );
  const r = await once(srv.port, 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  assert.is(r.statusLine, 'HTTP/1.1 200 oK');
  assert.equal(r.raw.slice(0, 2), [['eTAg', 'TAg-VAluE'], ['x-API-key', 'k']]);
  // the server's own headers keep their spelling
  assert.ok(r.raw.some(([n]) => n === 'Content-Length'));
  await srv.stop();
});

test('latin-1 header names and values go out as latin-1 bytes, in the 100 Continue too', async () => {
  const srv = serveApp(async (env, start) => {
    if (env.REQUEST_METHOD === 'PUT') {
      env['wsgi.input'].setHundredContinueResponseHeaders([['x-caf\xe9', 'M\xfcnchen']]);
      await env['wsgi.input'].read();
    }
    start('200 OK', [['X-Caf\xe9', 'M\xfcnchen \xff'], ['Content-Type', 'text/plain']]);
    return ['body after'];
  });
  const c = await open(srv.port);
  await c.send('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  const r = await c.response();
  assert.is(r.status, 200, 'not a 500');
  assert.is(r.headers['x-caf\xe9'], 'M\xfcnchen \xff');
  assert.is(r.body.toString(), 'body after', 'the head is as long as its bytes');
  await c.send('PUT / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n');
  // the 100's bytes: é and ü one byte each, not UTF-8's two
  const head = 'HTTP/1.1 100 Continue\r\nX-Caf\xe9: M\xfcnchen\r\n\r\n';
  assert.equal([...(await c.bytes(head.length))], [...Buffer.from(head, 'latin1')]);
  await c.send('ok');
  const r2 = await c.response();
  assert.is(r2.headers['x-caf\xe9'], 'M\xfcnchen \xff');
  assert.is(r2.body.toString(), 'body after');
  c.close();
  // the raw bytes of the final head
  const raw = await open(srv.port);
  await raw.send('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  const all = await raw.rest();
  assert.ok(all.includes(Buffer.from('\r\nX-Caf\xe9: M\xfcnchen \xff\r\n', 'latin1')), JSON.stringify(all.toString('latin1')));
  assert.not.ok(all.includes(Buffer.from('\xc3')), 'no UTF-8 anywhere');
  raw.close();
  await srv.stop();
});

test('a header with CR, LF or a character beyond latin-1 is a TypeError: a 500, nothing of it sent', async () => {
  const bad: Record<string, [string, string]> = {
    '/crlf': ['X-Evil', 'a\r\nSet-Cookie: x=1'],
    '/lf': ['X-Evil', 'a\nb'],
    '/cr-name': ['X-E\rvil', 'a'],
    '/euro-value': ['X-Price', '5 \u20ac'],
    '/euro-name': ['X-\u20ac', '5'],
    '/wide-value': ['X-A', '\u0100'],
  };
  const srv = serveApp((env, start) => {
    start('200 OK', [bad[env.PATH_INFO]]);
    return ['fine'];
  });
  for (const path of Object.keys(bad)) {
    const r = await once(srv.port, `GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    assert.is(r.status, 500, path);
    assert.is(r.headers['set-cookie'], undefined, path);
    assert.not.ok(r.raw.some(([n]) => /evil|price|^x-a$|\u20ac/i.test(n)), path);
    assert.ok(r.closedAfter, path);
  }
  assert.is((srv.log.text.match(/TypeError/g) ?? []).length, Object.keys(bad).length, srv.log.text);
  await srv.stop();
});

// ---- the access log ------------------------------------------------------------------------

test('logXForwardedFor: the log shows X-Forwarded-For without spaces, then the peer; false: the peer (test_020)', async () => {
  const req = 'GET / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8\r\nConnection: close\r\n\r\n';
  const srv = serveApp(hello);
  await once(srv.port, req);
  await once(srv.port, 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  // repeated headers are one chain, and what a client put in it is escaped
  await once(srv.port, 'GET / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2 \xff\r\nConnection: close\r\n\r\n');
  await srv.stop();
  const [a, b, c] = srv.log.lines;
  assert.match(a, /^1\.2\.3\.4,5\.6\.7\.8,127\.0\.0\.1 - - \[/);
  assert.match(b, /^127\.0\.0\.1 - - \[/);
  assert.match(c, /^10\.0\.0\.1,10\.0\.0\.2\\xff,127\.0\.0\.1 - - \[/);
  const off = serveApp(hello, { logXForwardedFor: false });
  await once(off.port, req);
  await off.stop();
  assert.is(off.log.lines.length, 1);
  assert.match(off.log.lines[0], /^127\.0\.0\.1 - - \[/);
  assert.not.ok(off.log.text.includes('1.2.3.4'));
  assert.not.ok(off.log.text.includes('5.6.7.8'));
});

test('control bytes in a refused request line are escaped: one log line per request, no raw control byte', async () => {
  const srv = serveApp(hello);
  const requests = [
    'GET /\x1b[31mred HTTP/1.1\r\nHost: localhost\r\n\r\n', // ESC in the target: 400
    '\x1b[2J\x1b[HGET / HTTP/1.1\r\nHost: localhost\r\n\r\n', // a terminal-clearing method: 400
    'GET /a\n127.0.0.1 - - [01/Jan/2024 00:00:00] "GET /forged HTTP/1.1" 200 0 0.0\r\nHost: localhost\r\n\r\n', // LF forging a line
    'GET /a\rb HTTP/1.1\r\nHost: localhost\r\n\r\n', // a bare CR
    'GET /\x00\x07\x7f HTTP/1.1\r\nHost: localhost\r\n\r\n', // NUL, BEL, DEL
    'GET /caf\xe9\xff HTTP/1.1\r\nHost: localhost\r\n\r\n', // high bytes: not URI characters (400, as node:http), logged escaped
    'GET /"quoted"\\ HTTP/1.1\r\nHost: localhost\r\n\r\n', // quotes and backslashes cannot end the field early
  ];
  const statuses: number[] = [];
  for (const req of requests) statuses.push((await once(srv.port, req)).status);
  await srv.stop();
  assert.equal(statuses, [400, 400, 400, 400, 400, 400, 200]);
  const lines = srv.log.lines;
  assert.is(lines.length, requests.length, lines.join('\n'));
  for (const l of lines) {
    for (const ch of l) assert.ok(ch >= ' ' && ch <= '~', `a raw ${JSON.stringify(ch)} in ${JSON.stringify(l)}`);
    assert.match(l, /^127\.0\.0\.1 - - \[[^\]]+\] "(?:[^"\\]|\\.)*" \d{3} \d+ \d+\.\d{6}$/);
  }
  assert.ok(lines[0].includes('"GET /\\x1b[31mred HTTP/1.1"'), lines[0]);
  assert.ok(lines[1].includes('\\x1b[2J\\x1b[H'), lines[1]);
  assert.ok(lines[2].includes('GET /a\\x0a127.0.0.1'), lines[2]);
  assert.not.ok(lines.some((l) => l.startsWith('127.0.0.1 - - [01/Jan/2024')), 'no forged line');
  assert.ok(lines[4].includes('GET /\\x00\\x07\\x7f'), lines[4]);
  assert.ok(lines[5].includes('"GET /caf\\xe9\\xff HTTP/1.1" 400'), lines[5]);
  assert.ok(lines[6].includes('"GET /\\"quoted\\"\\\\ HTTP/1.1" 200'), lines[6]);
});

test('the start-up line names the pid and where the server listens', async () => {
  const srv = serveApp(hello);
  await sleep(0); // the server is running: its start-up line is out
  await srv.stop();
  assert.is(srv.log.text.split('\n')[0], `(${process.pid}) wsgi starting up on http://127.0.0.1:${srv.port}`);
  let v6: GreenSocket | null = null;
  try {
    v6 = own(listen(['::1', 0]));
  } catch {
    // no IPv6 loopback here: that part is skipped
  }
  if (v6 !== null) {
    const log = new Lines();
    const gt = go(() => server(v6!, hello, { log }));
    await sleep(0);
    const port = (v6.getsockname() as [string, number])[1];
    v6.close();
    await withTimeout(10, () => gt.wait());
    assert.is(log.text.split('\n')[0], `(${process.pid}) wsgi starting up on http://[::1]:${port}`);
  }
});

// ---- Unix sockets ----------------------------------------------------------------------------

test('a Unix socket server: SERVER_NAME unix, SERVER_PORT and REMOTE_ADDR empty, "-" in the log (test_log_unix_address)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'evy-wsgi-unix-'));
  try {
    const path = join(dir, 'socket');
    let seen: Environ | null = null;
    const srv = serveApp(
      (env, start) => {
        seen = env;
        start('200 OK', []);
        return ['ok'];
      },
      {},
      path,
    );
    assert.is(srv.addr, path);
    await sleep(0); // the server is running: its start-up line is out
    assert.is(srv.log.text, `(${process.pid}) wsgi starting up on unix:${path}\n`);
    const r = await once(path, 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n');
    assert.is(r.statusLine, 'HTTP/1.1 200 OK');
    assert.is(r.body.toString(), 'ok');
    await srv.stop();
    const env = seen as unknown as Environ;
    assert.is(env.SERVER_NAME, 'unix');
    assert.is(env.SERVER_PORT, '');
    assert.is(env.REMOTE_ADDR, '');
    assert.is(env.REMOTE_PORT, '');
    assert.is(srv.log.lines.length, 1);
    assert.match(srv.log.lines[0], /^- - - \[[^\]]+\] "GET \/ HTTP\/1\.0" 200 2 /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- per-request settings ------------------------------------------------------------------

test("environ['evy.minimum_write_chunk_size'] changes how that response's pieces are gathered, and only that one's", async () => {
  const srv = serveApp((env, start) => {
    const size = env.QUERY_STRING;
    if (size !== '') env['evy.minimum_write_chunk_size'] = Number(size);
    start('200 OK', []);
    return (async function* () {
      for (let i = 0; i < 5; i++) {
        yield 'x'.repeat(100);
        await sleep(0);
      }
    })();
  });
  const c = await open(srv.port);
  const get = async (q: string) => {
    await c.send(`GET /?${q} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    return (await c.response()).chunks;
  };
  assert.equal(await get('1'), [100, 100, 100, 100, 100]);
  assert.equal(await get(''), [500], 'the next response gathers to the server default again');
  assert.equal(await get('0'), [100, 100, 100, 100, 100]);
  assert.equal(await get('250'), [300, 200]);
  assert.equal(await get(''), [500]);
  c.close();
  await srv.stop();
  // a larger size than the server's gathers more
  const fine = serveApp((env, start) => {
    if (env.PATH_INFO === '/big') env['evy.minimum_write_chunk_size'] = 1 << 20;
    start('200 OK', []);
    return (function* () {
      for (let i = 0; i < 5; i++) yield 'y'.repeat(100);
    })();
  }, { minimumChunkSize: 1 });
  const f = await open(fine.port);
  await f.send('GET /big HTTP/1.1\r\nHost: localhost\r\n\r\nGET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  assert.equal((await f.response()).chunks, [500]);
  assert.equal((await f.response()).chunks, [100, 100, 100, 100, 100]);
  f.close();
  await fine.stop();
});

test('with Content-Length, a minimum chunk size of 1 sends each piece as it comes (test_chunked_readline_wsgi_override_minimum_chunk_size)', async () => {
  let released = false;
  const gate = new Event<void>();
  const srv = serveApp((env, start) => {
    if (env.PATH_INFO.endsWith('override_min')) env['evy.minimum_write_chunk_size'] = 1;
    start('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '2']]);
    return (async function* () {
      yield ' ';
      await gate.wait();
      yield ' ';
    })();
  });
  // overridden: the first space arrives while the app still waits to yield the second
  const c = await open(srv.port);
  await c.send('POST /yield_spaces/override_min HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n');
  const [status] = await c.head();
  assert.is(status, 'HTTP/1.1 200 OK');
  assert.is((await c.bytes(1)).toString(), ' ');
  assert.not.ok(released);
  released = true;
  gate.send();
  assert.is((await c.bytes(1)).toString(), ' ');
  c.close();
  // not overridden: nothing at all until the body is complete. The gate opens
  // after a while from elsewhere; whenever the first byte comes, it must be open.
  const gate2 = new Event<void>();
  let released2 = false;
  const srv2 = serveApp((_env, start) => {
    start('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '2']]);
    return (async function* () {
      yield ' ';
      await gate2.wait();
      yield ' ';
    })();
  });
  const c2 = await open(srv2.port);
  await c2.send('POST /yield_spaces HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n');
  const opener = go(async () => {
    await sleep(0.1);
    released2 = true;
    gate2.send();
  });
  const [status2] = await c2.head();
  assert.is(status2, 'HTTP/1.1 200 OK');
  assert.ok(released2, 'the head came before the second piece was yielded');
  assert.is((await c2.bytes(2)).toString(), '  ');
  await opener.wait();
  c2.close();
  await srv.stop();
  await srv2.stop();
});

// ---- request heads -----------------------------------------------------------------------------

test('a header line over 8,192 bytes is a 400 (test_030_reject_long_header_lines), maxHeaderLine too', async () => {
  const srv = serveApp(hello);
  let r = await once(srv.port, `GET / HTTP/1.0\r\nHost: localhost\r\nLong: ${'a'.repeat(10000)}\r\n\r\n`);
  assert.is(r.status, 400);
  assert.match(r.body.toString(), /header line/);
  assert.ok(r.closedAfter);
  // the limit is on the line without its CRLF: 8,192 bytes pass, 8,193 do not
  const line = (n: number) => `X-Long: ${'b'.repeat(n - 'X-Long: '.length)}`;
  r = await once(srv.port, `GET / HTTP/1.1\r\nHost: localhost\r\n${line(8192)}\r\nConnection: close\r\n\r\n`);
  assert.is(r.status, 200);
  r = await once(srv.port, `GET / HTTP/1.1\r\nHost: localhost\r\n${line(8193)}\r\n\r\n`);
  assert.is(r.status, 400);
  // many lines under the limit are fine, up to maxHeaderSize
  r = await once(srv.port, `GET / HTTP/1.1\r\nHost: localhost\r\n${`${line(7000)}\r\n`.repeat(8)}Connection: close\r\n\r\n`);
  assert.is(r.status, 200);
  await srv.stop();
  const small = serveApp(hello, { maxHeaderLine: 100 });
  r = await once(small.port, `GET / HTTP/1.1\r\nHost: localhost\r\n${line(101)}\r\n\r\n`);
  assert.is(r.status, 400);
  r = await once(small.port, `GET / HTTP/1.1\r\nHost: localhost\r\n${line(100)}\r\nConnection: close\r\n\r\n`);
  assert.is(r.status, 200);
  await small.stop();
});

test('environ.headers_raw: the header lines in order, repeats kept, names as spelled (test_headers_raw)', async () => {
  const seen: [string, string][][] = [];
  const srv = serveApp((env, start) => {
    seen.push(env.headers_raw);
    start('200 OK', []);
    return [env.headers_raw.map(([k, v]) => `${k}: ${v}`).join('\n')];
  });
  const c = await open(srv.port);
  await c.send('GET / HTTP/1.1\r\nHost: localhost\r\nx-ANY_k: one\r\nx-ANY_k: two\r\n\r\n');
  assert.is((await c.response()).body.toString(), 'Host: localhost\nx-ANY_k: one\nx-ANY_k: two');
  // values without their surrounding whitespace (test_env_header_stripping), the bytes as latin-1 characters
  await c.send('GET / HTTP/1.1\r\nHost: localhost\r\nspaced:   o   u   t   \r\ntrailing: tab\t\r\nnull-set: \xe2\x88\x85\r\nHOST-ish: a\r\n\r\n');
  await c.response();
  c.close();
  await srv.stop();
  assert.equal(seen[0], [['Host', 'localhost'], ['x-ANY_k', 'one'], ['x-ANY_k', 'two']]);
  assert.equal(seen[1], [['Host', 'localhost'], ['spaced', 'o   u   t'], ['trailing', 'tab'], ['null-set', '\xe2\x88\x85'], ['HOST-ish', 'a']]);
  assert.is.not(seen[0], seen[1], 'a fresh list per request');
});

// ---- real clients --------------------------------------------------------------------------------

test("Python's http.client: a small generator comes chunked, an array counted; Keep-Alive only when asked", async () => {
  const srv = serveApp((env, start) => {
    start('200 OK', [['Content-Type', 'text/plain']]);
    if (env.PATH_INFO === '/gen') return (function* () {
      yield 'this';
      yield 'is';
      yield 'chunked';
    })();
    return ['an array'];
  });
  const out = await python([
    'import http.client',
    `c = http.client.HTTPConnection("127.0.0.1", ${srv.port}, timeout=10)`,
    'def show(r):',
    '    body = r.read().decode()',
    '    print(r.status, r.chunked, r.getheader("Transfer-Encoding"), r.getheader("Content-Length"), r.getheader("Connection"), r.getheader("Keep-Alive"), body)',
    'c.request("GET", "/gen"); show(c.getresponse())',
    'c.request("GET", "/arr"); show(c.getresponse())',
    'c.request("GET", "/gen", headers={"Connection": "keep-alive"}); show(c.getresponse())',
    'c.request("GET", "/arr", headers={"Connection": "keep-alive"}); show(c.getresponse())',
    'c.request("GET", "/gen", headers={"Connection": "close"}); show(c.getresponse())',
  ]);
  assert.is(
    out,
    [
      '200 True chunked None None None thisischunked',
      '200 False None 8 None None an array',
      '200 True chunked None keep-alive timeout=5 thisischunked',
      '200 False None 8 keep-alive timeout=5 an array',
      '200 True chunked None close None thisischunked',
      '',
    ].join('\n'),
  );
  await srv.stop();
  assert.is(srv.log.lines.length, 5, 'all five on one connection, each logged');
});

test("Python's http.client reads past two 100 Continues to the final response, on one connection", async () => {
  const srv = serveApp(async (env, start) => {
    const input = env['wsgi.input'];
    input.setHundredContinueResponseHeaders([['x-step', '1']]);
    let text = await input.read(13);
    input.setHundredContinueResponseHeaders([['x-step', '2']]);
    await input.sendHundredContinueResponse();
    text = Buffer.concat([text, await input.read()]);
    start('200 OK', [['Content-Length', String(text.length)]]);
    return [text];
  });
  const out = await python([
    'import http.client',
    `c = http.client.HTTPConnection("127.0.0.1", ${srv.port}, timeout=10)`,
    'for i in range(2):',
    '    c.putrequest("PUT", "/")',
    '    c.putheader("Expect", "100-continue")',
    '    c.putheader("Content-Length", "29")',
    '    c.endheaders()',
    '    c.send(b"first message, second message")',
    '    r = c.getresponse()',
    '    print(r.status, r.getheader("X-Step"), r.read().decode())',
  ]);
  assert.is(out, '200 None first message, second message\n'.repeat(2), 'the interim heads skipped, their headers not taken for the final ones');
  await srv.stop();
  assert.is(srv.log.lines.length, 2);
});

test('curl: chunked for HTTP/1.1, streamed until close for HTTP/1.0, and two 100 Continues with their headers', async () => {
  const srv = serveApp(async (env, start) => {
    if (env.REQUEST_METHOD === 'GET') return chunkedApp(env, start);
    const input = env['wsgi.input'];
    input.setHundredContinueResponseHeaders([['hundred-continue-header-1', 'H1']]);
    let text = await input.read(13);
    input.setHundredContinueResponseHeaders([['Hundred-Continue-Header-2', 'H2']]);
    await input.sendHundredContinueResponse();
    text = Buffer.concat([text, await input.read()]);
    start('200 OK', [['Content-Length', String(text.length)]]);
    return [text];
  });
  const url = `http://127.0.0.1:${srv.port}/`;
  const curl = (args: string[], input?: string) => run('/usr/bin/curl', ['-sS', '--max-time', '15', ...args, url], input);
  let [out] = await curl(['-i']);
  assert.match(out, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(out, /\r\nTransfer-Encoding: chunked\r\n/);
  assert.ok(out.endsWith('\r\n\r\nthisischunked'), out);
  [out] = await curl(['-i', '--http1.0']);
  assert.not.match(out, /Transfer-Encoding/i);
  assert.match(out, /\r\nConnection: close\r\n/);
  assert.ok(out.endsWith('\r\n\r\nthisischunked'), out);
  let err: string;
  [out, err] = await curl(['-v', '-H', 'Expect: 100-continue', '--expect100-timeout', '10', '--data-binary', '@-'], 'first message, second message');
  assert.is(out, 'first message, second message');
  // curl -v shows each response's head as '< ' lines (the 100s without their empty line)
  const heads = err.split('\n').filter((l) => l.startsWith('< ')).map((l) => l.slice(2).trimEnd());
  assert.equal(heads.slice(0, 5), ['HTTP/1.1 100 Continue', 'Hundred-Continue-Header-1: H1', 'HTTP/1.1 100 Continue', 'Hundred-Continue-Header-2: H2', 'HTTP/1.1 200 OK'], err);
  await srv.stop();
});

suite.run();
