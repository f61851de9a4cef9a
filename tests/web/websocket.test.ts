// evy/web/websocket: echo (text, binary, every length form), fragmentation with
// interleaved control frames, ping/pong, the close handshake from either side,
// protocol failures (1002/1007/1009), handler errors (1011) and kills (1001),
// Timeout and kill in wait(), handshake refusals, 100 connections at once, and
// interop with other implementations (the `ws` package, Node's own client).
// The limits against hostile peers are in ./ws/limits, permessage-deflate in
// ./ws/permessage, wss:// in ./ws/wss, the frame codec's unit tests in ./ws/frame.
// The WSGI server is not part of this module: a tiny HTTP upgrade server
// (./ws/peer) gives the app the environ keys evy/web/wsgi provides.
import { test as suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn as spawnProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { Event, GreenletExit, Timeout, listen, wait, withTimeout } from 'evy';
import {
  WebSocket,
  WebSocketError,
  WebSocketWSGI,
  acceptKey,
  connect,
  type Environ,
} from 'evy/web/websocket';
import { SHUT_WR } from 'evy/patched/socket';
import { rejection, settle } from '../helpers';
import { finish, safetyNet } from '../safety';
import { KEY, Raw, closeCodeOf, closePayload, echoApp, frame, peers, sha1, upgradeRequest } from './ws/peer';

// A failing test must not leave sockets or threads behind (see ../safety).
const net = safetyNet(suite, { limit: 20 });
const { test, own, go } = net;
const { rawUpgrade, httpRequest, serveApp } = peers(net);

// ---- tests -------------------------------------------------------------------------------

test('Sec-WebSocket-Accept is the RFC 6455 example value', async () => {
  assert.is(acceptKey(KEY), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

test('echo text and binary; path, query, origin and subprotocol', async () => {
  let info = '';
  const srv = serveApp(
    WebSocketWSGI(
      async (ws) => {
        info = `${ws.path} ${ws.origin} ${ws.protocol} ${String(ws.environ.HTTP_X_EXTRA)}`;
        for (let m = await ws.wait(); m !== null; m = await ws.wait()) await ws.send(m);
      },
      { protocols: ['chat', 'superchat'] },
    ),
  );
  const c = await connect(`${srv.url}/room/1?x=2`, { protocols: ['superchat', 'chat'], origin: 'http://o.example', headers: { 'X-Extra': 'yes' } });
  assert.is(c.protocol, 'chat', 'the server preference wins among the offered subprotocols');
  await c.send('héllo wörld ✓');
  assert.is(await c.wait(), 'héllo wörld ✓');
  const bin = Buffer.from([0, 1, 2, 255, 254, 0x80]);
  await c.send(bin);
  const back = await c.wait();
  assert.ok(Buffer.isBuffer(back), 'a binary frame comes back as a Buffer');
  assert.equal(back, bin);
  await c.send('');
  assert.is(await c.wait(), '', 'an empty text message');
  await c.send(new Uint8Array([7, 8, 9]));
  assert.equal(await c.wait(), Buffer.from([7, 8, 9]));
  assert.is(info, '/room/1?x=2 http://o.example chat yes');
  await c.close();
  assert.ok(c.closed);
  assert.is(c.closeCode, 1000);
  await srv.stop();
  assert.equal(srv.errors, []);
});

test('no shared subprotocol: none is chosen', async () => {
  const srv = serveApp(WebSocketWSGI(async () => undefined, { protocols: ['a'] }));
  const c = await connect(srv.url, { protocols: ['b'] });
  assert.is(c.protocol, '');
  assert.is(await c.wait(), null, 'the handler returned: closed');
  assert.is(c.closeCode, 1000);
  await srv.stop();
});

test('every length form: 0, 125, 126, 65535, 65536 and 1 MiB (64-bit), text and binary', async () => {
  const srv = serveApp(echoApp());
  const c = await connect(srv.url);
  for (const n of [0, 1, 125, 126, 127, 65535, 65536, 1024 * 1024]) {
    const b = randomBytes(n);
    await c.send(b);
    const back = await c.wait();
    assert.ok(Buffer.isBuffer(back));
    assert.is(sha1(back), sha1(b), `binary ${n} bytes`);
    const s = 'é'.repeat(Math.floor(n / 2)) + (n % 2 ? 'x' : '');
    await c.send(s);
    assert.is(await c.wait(), s, `text ${n} bytes`);
  }
  await c.close();
  await srv.stop();
});

test('the server writes unmasked frames with the shortest length form; 64-bit lengths from the client are read', async () => {
  const srv = serveApp(echoApp());
  const raw = await rawUpgrade(srv.port);
  const big = randomBytes(70000);
  await raw.sock.sendall(frame(0x2, big, { len64: true }));
  let f = await raw.frame();
  assert.ok(f !== null && !f.masked && f.lengthBits === 64 && f.opcode === 0x2);
  assert.is(sha1(f.payload), sha1(big));
  await raw.sock.sendall(frame(0x1, 'x'.repeat(200), { len64: true }));
  f = await raw.frame();
  assert.ok(f !== null && !f.masked && f.lengthBits === 16);
  assert.is(f.payload.toString(), 'x'.repeat(200));
  await raw.sock.sendall(frame(0x8, closePayload(1000)));
  assert.is(closeCodeOf(await raw.frame()), 1000);
  await raw.eof();
  await srv.stop();
});

test('fragmented client messages are reassembled, with pings and pongs between the fragments', async () => {
  const seen: { code?: number | null } = {};
  const srv = serveApp(echoApp(seen));
  const raw = await rawUpgrade(srv.port);
  await raw.sock.sendall(
    Buffer.concat([
      frame(0x1, 'frag', { fin: false }),
      frame(0x9, 'p1'),
      frame(0x0, 'men', { fin: false }),
      frame(0xa, 'unsolicited pong'),
      frame(0x0, 'ted ✓', { fin: true }),
    ]),
  );
  const pong = await raw.frame();
  assert.ok(pong !== null && pong.opcode === 0xa, 'the ping is answered at once');
  assert.is(pong.payload.toString(), 'p1');
  const msg = await raw.frame();
  assert.ok(msg !== null && msg.opcode === 0x1 && msg.fin);
  assert.is(msg.payload.toString(), 'fragmented ✓');
  // A multi-byte character split across fragments, binary in many pieces.
  const euro = Buffer.from('€');
  await raw.sock.sendall(Buffer.concat([frame(0x1, euro.subarray(0, 1), { fin: false }), frame(0x0, euro.subarray(1), { fin: true })]));
  assert.is((await raw.frame())!.payload.toString(), '€');
  const pieces = [randomBytes(10), randomBytes(0), randomBytes(70000), randomBytes(3)];
  await raw.sock.sendall(Buffer.concat(pieces.map((p, i) => frame(i === 0 ? 0x2 : 0x0, p, { fin: i === pieces.length - 1 }))));
  const whole = await raw.frame();
  assert.ok(whole !== null && whole.opcode === 0x2);
  assert.equal(whole.payload, Buffer.concat(pieces));
  await raw.sock.sendall(frame(0x8, closePayload(1000, 'done')));
  const echo = await raw.frame();
  assert.is(closeCodeOf(echo), 1000);
  assert.is(echo!.payload.subarray(2).toString(), 'done', 'the close reason is echoed');
  await raw.eof();
  await srv.stop();
  assert.is(seen.code, 1000);
});

test('ping/pong: the client answers the server ping while waiting; the server records the pong', async () => {
  const srv = serveApp(
    WebSocketWSGI(async (ws) => {
      await ws.ping('hi');
      await ws.send('pinged');
      assert.is(await ws.wait(), 'x');
      await ws.send(`pong=${ws.lastPong?.toString()}`);
      await ws.wait();
    }),
  );
  const c = await connect(srv.url);
  assert.is(await c.wait(), 'pinged');
  await c.send('x');
  assert.is(await c.wait(), 'pong=hi');
  await c.ping(Buffer.from('from the client'));
  await c.close();
  assert.is(c.lastPong?.toString(), 'from the client', 'close() read the pong before the close reply');
  await rejection(c.ping('x'));
  await rejection(c.ping('y'.repeat(126)));
  await srv.stop();
  assert.equal(srv.errors, []);
});

test('close from the client with a code and reason: the server sees both', async () => {
  const seen: { code?: number | null; reason?: string } = {};
  const srv = serveApp(echoApp(seen));
  const c = await connect(srv.url);
  await c.send('one');
  assert.is(await c.wait(), 'one');
  await c.close(4001, 'bye now');
  assert.ok(c.closed);
  assert.is(c.closeCode, 4001);
  assert.is(c.closeReason, 'bye now');
  assert.is(await c.wait(), null, 'wait() after close is null');
  await rejection(c.send('late'));
  await srv.stop();
  assert.is(seen.code, 4001);
  assert.is(seen.reason, 'bye now');
  await c.close(); // harmless twice
});

test('close from the server with a code and reason: the client wait() returns null with them', async () => {
  let serverSide: WebSocket | undefined;
  const srv = serveApp(
    WebSocketWSGI(async (ws) => {
      serverSide = ws;
      await ws.send('last words');
      await ws.close(4002, 'done here');
    }),
  );
  const c = await connect(srv.url);
  assert.is(await c.wait(), 'last words');
  assert.is(await c.wait(), null);
  assert.is(c.closeCode, 4002);
  assert.is(c.closeReason, 'done here');
  assert.ok(c.closed);
  await srv.stop();
  assert.ok(serverSide!.closed);
  assert.is(serverSide!.closeCode, 4002);
});

test('close() while another thread waits: the reader gets null, nothing is left', async () => {
  const srv = serveApp(echoApp());
  const c = await connect(srv.url);
  const reader = go(() => c.wait());
  await settle();
  await c.close(1000, 'from another thread');
  assert.is(await finish(reader), null);
  assert.ok(c.closed);
  await srv.stop();
});

test('close() arguments are checked', async () => {
  const srv = serveApp(echoApp());
  const c = await connect(srv.url);
  for (const bad of [999, 1004, 1005, 1006, 1015, 2000, 5000, 1000.5]) {
    const err = await rejection(c.close(bad));
    assert.instance(err, RangeError, `code ${bad}`);
  }
  assert.instance(await rejection(c.close(1000, 'x'.repeat(124))), RangeError);
  assert.not.ok(c.closed);
  await c.close();
  await srv.stop();
});

const failures: Array<[string, number, (raw: Raw) => Promise<void>]> = [
  ['an unmasked client frame', 1002, (r) => r.sock.sendall(frame(0x1, 'hi', { mask: false }))],
  ['a reserved bit', 1002, (r) => r.sock.sendall(frame(0x1, 'hi', { rsv: 4 }))],
  ['an unknown data opcode', 1002, (r) => r.sock.sendall(frame(0x3, 'hi'))],
  ['an unknown control opcode', 1002, (r) => r.sock.sendall(frame(0xb, 'hi'))],
  ['a fragmented ping', 1002, (r) => r.sock.sendall(frame(0x9, 'hi', { fin: false }))],
  ['a 126-byte ping', 1002, (r) => r.sock.sendall(frame(0x9, Buffer.alloc(126)))],
  ['a continuation without a message', 1002, (r) => r.sock.sendall(frame(0x0, 'hi'))],
  ['a new message inside a fragmented one', 1002, (r) => r.sock.sendall(Buffer.concat([frame(0x1, 'a', { fin: false }), frame(0x1, 'b')]))],
  ['close code 1005 on the wire', 1002, (r) => r.sock.sendall(frame(0x8, closePayload(1005)))],
  ['close code 999', 1002, (r) => r.sock.sendall(frame(0x8, closePayload(999)))],
  ['close code 2999', 1002, (r) => r.sock.sendall(frame(0x8, closePayload(2999)))],
  ['a 1-byte close payload', 1002, (r) => r.sock.sendall(frame(0x8, Buffer.from([3])))],
  ['invalid UTF-8 in a text message', 1007, (r) => r.sock.sendall(frame(0x1, Buffer.from([0x68, 0xc3, 0x28])))],
  ['invalid UTF-8 across fragments', 1007, (r) => r.sock.sendall(Buffer.concat([frame(0x1, Buffer.from([0xe2, 0x82]), { fin: false }), frame(0x0, Buffer.from([0x41]))]))],
  ['invalid UTF-8 in a close reason', 1007, (r) => r.sock.sendall(frame(0x8, closePayload(1000, Buffer.from([0xff, 0xfe]))))],
  ['a message over maxMessageSize', 1009, (r) => r.sock.sendall(frame(0x2, Buffer.alloc(1025)))],
  ['fragments adding up over maxMessageSize', 1009, (r) => r.sock.sendall(Buffer.concat([frame(0x2, Buffer.alloc(600), { fin: false }), frame(0x0, Buffer.alloc(600))]))],
  ['a 64-bit length over maxMessageSize (its payload never sent; the peer half-closes)', 1009, (r) => r.sock.sendall(Buffer.from([0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4]))],
  ['a 64-bit length with the top bit set (the framing is lost; the peer half-closes)', 1002, (r) => r.sock.sendall(Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]))],
];

for (const [what, code, send] of failures) {
  test(`${what} fails the connection with ${code}`, async () => {
    const seen: { code?: number | null; reason?: string } = {};
    const srv = serveApp(echoApp(seen, { maxMessageSize: 1024, closeTimeout: 10 }));
    const raw = await rawUpgrade(srv.port);
    await raw.sock.sendall(frame(0x1, 'before'));
    assert.is((await raw.frame())!.payload.toString(), 'before');
    await send(raw);
    const f = await raw.frame();
    assert.is(closeCodeOf(f), code);
    assert.ok(f!.payload.length > 2, 'the close frame names the problem');
    await raw.sock.sendall(frame(0x8, closePayload(code)));
    if (what.includes('half-closes')) raw.sock.shutdown(SHUT_WR);
    // The server skips the bad frame and sees our close frame: it closes at once,
    // not after its closeTimeout (10 s).
    await withTimeout(2, () => raw.eof());
    await srv.stop();
    assert.is(seen.code, code);
    assert.is(seen.reason, f!.payload.subarray(2).toString());
    assert.equal(srv.errors, []);
  });
}

test('a peer that never answers the failure close frame is cut off (a closeTimeout shorter than the linger bounds it)', async () => {
  const seen: { code?: number | null } = {};
  const srv = serveApp(echoApp(seen, { closeTimeout: 0.05 }));
  const raw = await rawUpgrade(srv.port);
  await raw.sock.sendall(frame(0x1, 'x', { mask: false }));
  assert.is(closeCodeOf(await raw.frame()), 1002);
  await raw.eof(); // the server closed without our close frame
  await srv.stop();
  assert.is(seen.code, 1002);
});

test('the client fails a masked server frame with 1002', async () => {
  const lsock = own(listen(['127.0.0.1', 0]));
  const port = (lsock.getsockname() as [string, number])[1];
  const server = go(async () => {
    const [s] = await lsock.accept();
    own(s);
    const raw = await Raw.accept(s);
    await s.sendall(frame(0x1, 'masked', { mask: true }));
    const code = closeCodeOf(await raw.frame());
    await s.sendall(frame(0x8, closePayload(code), { mask: false }));
    s.close();
    return code;
  });
  const c = await connect(`ws://127.0.0.1:${port}/`);
  assert.is(await c.wait(), null);
  assert.is(c.closeCode, 1002);
  assert.ok(c.closed);
  assert.is(await finish(server), 1002);
  lsock.close();
});

test('a handler that throws closes with 1011; the error reaches the server', async () => {
  const boom = new Error('boom');
  const srv = serveApp(
    WebSocketWSGI(async (ws) => {
      await ws.wait();
      throw boom;
    }),
  );
  const c = await connect(srv.url);
  await c.send('trigger');
  assert.is(await c.wait(), null);
  assert.is(c.closeCode, 1011);
  await srv.stop();
  assert.equal(srv.errors, [boom]);
});

test('Timeout in the handler blocked in wait(): 1011 to the client, the server socket closed', async () => {
  let serverSide: WebSocket | undefined;
  const srv = serveApp(
    WebSocketWSGI(async (ws) => {
      serverSide = ws;
      const t = new Timeout(0.05);
      try {
        await ws.wait(); // the client sends nothing
      } finally {
        t.cancel();
      }
    }),
  );
  const c = await connect(srv.url);
  assert.is(await c.wait(), null);
  assert.is(c.closeCode, 1011);
  await srv.stop();
  assert.is(srv.errors.length, 1);
  assert.instance(srv.errors[0], Timeout);
  assert.ok(serverSide!.closed);
});

test('kill of the handler blocked in wait(): 1001 to the client at once, the server socket closed', async () => {
  const entered = new Event<WebSocket>();
  const srv = serveApp(
    WebSocketWSGI(async (ws) => {
      entered.send(ws);
      await ws.wait();
    }),
  );
  const c = await connect(srv.url);
  const serverSide = await entered.wait();
  srv.conns[0].kill();
  assert.is(await c.wait(), null);
  assert.is(c.closeCode, 1001);
  assert.ok(serverSide.closed);
  await srv.stop();
  assert.is(srv.errors.length, 1);
  assert.instance(srv.errors[0], GreenletExit);
});

test('Timeout and kill in the client wait() between frames leave the connection usable', async () => {
  const srv = serveApp(echoApp());
  const c = await connect(srv.url);
  const err = await rejection(withTimeout(0.02, () => c.wait()));
  assert.instance(err, Timeout);
  assert.not.ok(c.closed);
  const reader = go(() => c.wait());
  await settle();
  reader.kill();
  await finish(reader).catch(() => undefined);
  assert.ok(reader.dead);
  assert.not.ok(c.closed);
  await c.send('still here');
  assert.is(await c.wait(), 'still here');
  await c.close();
  await srv.stop();
});

test('Timeout in the middle of a frame closes the connection (1006): nothing is left open', async () => {
  const lsock = own(listen(['127.0.0.1', 0]));
  const port = (lsock.getsockname() as [string, number])[1];
  const done = new Event<void>();
  const server = go(async () => {
    const [s] = await lsock.accept();
    own(s);
    await Raw.accept(s);
    // Half a 1000-byte frame, then silence.
    await s.sendall(frame(0x2, Buffer.alloc(1000), { mask: false }).subarray(0, 504));
    await done.wait();
    s.close();
  });
  const c = await connect(`ws://127.0.0.1:${port}/`);
  assert.instance(await rejection(withTimeout(0.05, () => c.wait())), Timeout);
  assert.ok(c.closed, 'the stream is lost mid-frame: the socket is closed');
  assert.is(c.closeCode, 1006);
  assert.is(await c.wait(), null);
  done.send();
  await finish(server);
  lsock.close();
});

test('a dropped connection ends wait() with null and 1006', async () => {
  const entered = new Event<void>();
  const srv = serveApp(
    WebSocketWSGI(async (ws) => {
      entered.send();
      await ws.wait();
    }),
  );
  const c = await connect(srv.url);
  await entered.wait();
  srv.conns[0].kill(new Error('dropped')); // not GreenletExit: the 1011 close
  assert.is(await c.wait(), null);
  assert.is(c.closeCode, 1011);
  await srv.stop();
  // And a real drop: the raw peer closes without a close frame.
  const seen: { code?: number | null } = {};
  const srv2 = serveApp(echoApp(seen));
  const raw = await rawUpgrade(srv2.port);
  raw.sock.close();
  await srv2.stop();
  assert.is(seen.code, 1006);
});

test('bytes sent along with the handshake (evy.rest) are the first frames', async () => {
  let rest = -1;
  const srv = serveApp(
    WebSocketWSGI(async (ws) => {
      rest = (ws.environ['evy.rest'] as Buffer).length;
      for (let m = await ws.wait(); m !== null; m = await ws.wait()) await ws.send(m);
    }),
  );
  const first = Buffer.concat([frame(0x1, 'early'), frame(0x1, 'bird')]);
  const raw = await rawUpgrade(srv.port, '/', '', first);
  assert.is((await raw.frame())!.payload.toString(), 'early');
  assert.is((await raw.frame())!.payload.toString(), 'bird');
  await raw.sock.sendall(frame(0x8, closePayload(1000)));
  assert.is(closeCodeOf(await raw.frame()), 1000);
  await raw.eof();
  await srv.stop();
  assert.is(rest, first.length);
});

test('requests that are not valid upgrades get 400 (403 for an origin not allowed, 426 for another version) with a reason and Connection: close', async () => {
  let ran = false;
  const srv = serveApp(
    WebSocketWSGI(
      () => {
        ran = true;
      },
      { origins: ['http://good.example'] },
    ),
  );
  const cases: Array<[string, string, RegExp]> = [
    ['GET /plain HTTP/1.1\r\nHost: x\r\n\r\n', '400', /WebSocket connections only/],
    [upgradeRequest({ Origin: 'http://good.example' }, 'POST'), '400', /must be a GET, not POST/],
    [upgradeRequest({ Origin: 'http://good.example', Connection: 'keep-alive' }), '400', /Connection: Upgrade/],
    [upgradeRequest({ Origin: 'http://good.example', 'Sec-WebSocket-Version': '8' }), '426', /Sec-WebSocket-Version "8"/],
    [upgradeRequest({ Origin: 'http://good.example', 'Sec-WebSocket-Key': 'c2hvcnQ=' }), '400', /16 bytes in base64/],
    [upgradeRequest({ Origin: 'http://good.example', 'Sec-WebSocket-Key': '' }), '400', /got none/],
    [upgradeRequest({ Origin: 'http://evil.example' }), '403', /origin "http:\/\/evil.example" is not allowed/],
  ];
  for (const [req, code, reason] of cases) {
    const r = await httpRequest(srv.port, req);
    assert.match(r.status, new RegExp(`^HTTP/1.1 ${code} `), req);
    assert.match(r.body, reason);
    assert.match(r.head, /\r\nConnection: close(\r\n|$)/, 'the refusal closes the connection');
  }
  const r = await httpRequest(srv.port, upgradeRequest({ Origin: 'http://good.example', 'Sec-WebSocket-Version': '12' }));
  assert.match(r.head, /\r\nSec-WebSocket-Version: 13/);
  assert.not.ok(ran, 'the handler never ran');
  await srv.stop();
  assert.equal(srv.errors, []);
});

test('WebSocketWSGI without evy.socket/evy.hijack answers 500 naming them; its options are checked', async () => {
  const app = WebSocketWSGI(() => undefined);
  let status = '';
  const body = await app(
    { REQUEST_METHOD: 'GET', HTTP_UPGRADE: 'websocket', HTTP_CONNECTION: 'Upgrade', HTTP_SEC_WEBSOCKET_VERSION: '13', HTTP_SEC_WEBSOCKET_KEY: KEY } as unknown as Environ,
    (s) => {
      status = s;
      return async () => undefined;
    },
  );
  assert.match(status, /^500 /);
  assert.match(Buffer.concat(body as Buffer[]).toString(), /evy\.socket.*evy\.hijack/);
  assert.throws(() => WebSocketWSGI(null as unknown as () => void), /handler function/);
  assert.throws(() => WebSocketWSGI(() => undefined, { protocols: 'chat' as unknown as string[] }), (e: unknown) => e instanceof TypeError);
  assert.throws(() => WebSocketWSGI(() => undefined, { protocols: ['a b'] }), (e: unknown) => e instanceof RangeError);
  assert.throws(() => WebSocketWSGI(() => undefined, { origins: [1 as unknown as string] }), (e: unknown) => e instanceof TypeError);
  assert.throws(() => WebSocketWSGI(() => undefined, { maxMessageSize: '1' as unknown as number }), (e: unknown) => e instanceof TypeError);
  assert.throws(() => WebSocketWSGI(() => undefined, { closeTimeout: -1 }), (e: unknown) => e instanceof RangeError);
  assert.throws(() => WebSocketWSGI(() => undefined, { perMessageDeflate: { serverMaxWindowBits: 16 } }), (e: unknown) => e instanceof RangeError);
});

test('client handshake failures throw WebSocketError naming the problem and close the socket', async () => {
  const srv = serveApp(WebSocketWSGI(() => undefined, { origins: ['http://good.example'] }));
  const e1 = await rejection(connect(srv.url, { origin: 'http://bad.example' }));
  assert.instance(e1, WebSocketError);
  assert.match((e1 as Error).message, /403 Forbidden/);
  await srv.stop();
  assert.match(((await rejection(connect('http://127.0.0.1:1/'))) as Error).message, /starts with ws:\/\/ or wss:\/\//);
  assert.match(((await rejection(connect('nonsense'))) as Error).message, /not a URL/);
  // A server answering 101 with a wrong accept value, one choosing an unoffered protocol, one hanging up.
  const lsock = own(listen(['127.0.0.1', 0]));
  const port = (lsock.getsockname() as [string, number])[1];
  const replies = [
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n',
    null, // the right accept, with a subprotocol that was not offered
    '',
  ];
  const server = go(async () => {
    for (const reply of replies) {
      const [s] = await lsock.accept();
      own(s);
      let head = '';
      while (!head.includes('\r\n\r\n')) head += (await s.recv()).toString();
      const key = /Sec-WebSocket-Key: (\S+)/i.exec(head)![1];
      await s.sendall(reply ?? `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\nSec-WebSocket-Protocol: other\r\n\r\n`);
      s.close();
    }
  });
  const url = `ws://127.0.0.1:${port}/`;
  assert.match(((await rejection(connect(url))) as Error).message, /wrong Sec-WebSocket-Accept "AAAA"/);
  assert.match(((await rejection(connect(url, { protocols: ['mine'] }))) as Error).message, /subprotocol "other", which was not offered/);
  assert.match(((await rejection(connect(url))) as Error).message, /closed the connection during the handshake/);
  await finish(server);
  lsock.close();
});

test('100 concurrent connections echoing', async () => {
  const srv = serveApp(echoApp());
  const clients = Array.from({ length: 100 }, (_, i) =>
    go(async () => {
      const c = await connect(`${srv.url}/c${i}`);
      for (let k = 0; k < 20; k++) {
        const msg = `client ${i} message ${k}`;
        await c.send(msg);
        if ((await c.wait()) !== msg) throw new Error(`client ${i}: wrong echo for message ${k}`);
      }
      await c.close(1000, `client ${i} done`);
      return c.closeCode;
    }),
  );
  for (const gt of clients) assert.is(await finish(gt, 15), 1000);
  await srv.stop();
  assert.is(srv.conns.length, 100);
  assert.equal(srv.errors, []);
});

// ---- interop ---------------------------------------------------------------------------------

const require = createRequire(import.meta.url);
let wsPackage: string | null = null;
try {
  wsPackage = require.resolve('ws');
} catch {
  console.log('note: the `ws` package is not in node_modules: the ws interop tests are skipped (not installed on purpose)');
}

if (wsPackage !== null) {
  test('interop: the `ws` package client against WebSocketWSGI (child process)', async () => {
    const srv = serveApp(echoApp());
    const script = `
      const WebSocket = require(${JSON.stringify(wsPackage)});
      const ws = new WebSocket(process.argv[1] + '/ws');
      const out = [];
      ws.on('open', () => { ws.send('text ✓'); ws.send(Buffer.alloc(70000, 7)); });
      ws.on('message', (m, binary) => { out.push(binary ? 'bin:' + m.length : 'text:' + m.toString());
        if (out.length === 2) ws.close(4005, 'ws done'); });
      ws.on('close', (code, reason) => { console.log(JSON.stringify({ out, code, reason: reason.toString() })); });
      ws.on('error', (e) => { console.log(JSON.stringify({ error: e.message })); });`;
    const out = await runNode(['-e', script, srv.url]);
    assert.equal(JSON.parse(out), { out: ['text:text ✓', 'bin:70000'], code: 4005, reason: 'ws done' });
    await srv.stop();
  });
}

/** Runs a node child process, waiting for it as an evy operation; its stdout. */
async function runNode(args: string[]): Promise<string> {
  const child = spawnProcess(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let errOut = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (errOut += d.toString()));
  const code = await wait(new Promise<number | null>((resolve) => child.on('close', resolve)));
  if (code !== 0) throw new Error(`node ${args[0]} exited with ${code}: ${errOut}`);
  return out.trim();
}

test("interop: Node's own WebSocket client (undici, --experimental-websocket) against WebSocketWSGI", async () => {
  const srv = serveApp(echoApp({}, { protocols: ['p1', 'p2'] }));
  const script = `
    const ws = new WebSocket(process.argv[1] + '/undici', ['p2']);
    ws.binaryType = 'arraybuffer';
    const out = [];
    ws.onopen = () => { ws.send('text ✓'); ws.send(new Uint8Array(100000).fill(9)); };
    ws.onmessage = (e) => { out.push(typeof e.data === 'string' ? 'text:' + e.data : 'bin:' + e.data.byteLength + ':' + new Uint8Array(e.data)[99999]);
      if (out.length === 2) ws.close(4006, 'undici done'); };
    ws.onclose = (e) => console.log(JSON.stringify({ out, code: e.code, reason: e.reason, protocol: ws.protocol }));
    ws.onerror = (e) => console.log(JSON.stringify({ error: String(e.message || e) }));`;
  const help = await runNode(['--experimental-websocket', '-e', 'console.log(typeof WebSocket)']).catch(() => 'undefined');
  if (help !== 'function') {
    console.log("note: this Node has no WebSocket client (--experimental-websocket): the undici interop test is skipped");
    await srv.stop();
    return;
  }
  const out = await runNode(['--experimental-websocket', '-e', script, srv.url]);
  assert.equal(JSON.parse(out), { out: ['text:text ✓', 'bin:100000:9'], code: 4006, reason: 'undici done', protocol: 'p2' });
  await srv.stop();
  assert.equal(srv.errors, []);
});

suite.run();
