// permessage-deflate on the wire, differentially against the `ws` package
// (both directions, with and without context takeover, window bits), raw
// frames (RSV1 on the first fragment only, a fragmented compressed message, a
// zip bomb), the client refusing answers it did not offer, and interrupts
// while a large message is compressed.
import { test as suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import WsClient, { WebSocketServer, type PerMessageDeflateOptions as WsDeflate } from 'ws';
import { Queue, Timeout, listen, sleep, wait } from 'evy';
import { WebSocketWSGI, WebSocketError, connect, type Message, type WebSocket } from 'evy/web/websocket';
import { rejection } from '../../helpers';
import { finish, safetyNet } from '../../safety';
import { Raw, closeCodeOf, closePayload, echoApp, frame, peers } from './peer';

const net = safetyNet(suite, { limit: 30 });
const { test, own, go } = net;
const { rawUpgrade, serveApp } = peers(net);
/** `ws` clients to terminate after a failing test, so the safety net's mop-up can judge the hub. */
const wsClients: WsClient[] = [];
suite.after.each(() => {
  for (const c of wsClients.splice(0)) c.terminate();
});
/** An evy WebSocket closed by the mop-up if a test fails with it open. */
const opened: WebSocket[] = [];
suite.after.each(() => {
  for (const w of opened.splice(0)) w.terminate();
});
function own_(w: WebSocket): WebSocket {
  opened.push(w);
  return w;
}

const SYNC = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
const TRAILER = Buffer.from([0, 0, 0xff, 0xff]);

/** Messages that exercise the compressor: small, compressible text, repeats (for context takeover), binary past a slice. */
function messages(): Message[] {
  const json = JSON.stringify({ users: Array.from({ length: 60 }, (_, i) => ({ id: i, name: `user ${i}`, online: i % 3 === 0 })) });
  const big = Buffer.alloc(300 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 253;
  return ['hi', json, json, 'é✓'.repeat(2000), randomBytes(5000), big, Buffer.alloc(0), json];
}

function same(a: Message | null, b: Message): boolean {
  if (typeof b === 'string') return a === b;
  return Buffer.isBuffer(a) && a.equals(b);
}

/** A `ws` client: its messages in a queue, its open and close as evy waits, the extensions the server answered. */
async function wsClient(url: string, perMessageDeflate: WsDeflate | false) {
  const client = new WsClient(url, { perMessageDeflate });
  const got = new Queue<Message>();
  let answered = '';
  client.on('upgrade', (res) => (answered = String(res.headers['sec-websocket-extensions'] ?? '')));
  client.on('message', (data: Buffer, binary: boolean) => got.putNowait(binary ? Buffer.from(data) : data.toString()));
  const closed = new Promise<number>((res) => client.once('close', (code: number) => res(code)));
  await wait(new Promise((res, rej) => (client.once('open', res), client.once('error', rej))));
  return { client, got, closed, answered: () => answered };
}

/** A `ws` server echoing, with `perMessageDeflate`; its port. */
async function wsServer(perMessageDeflate: WsDeflate): Promise<[WebSocketServer, number]> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate });
  wss.on('connection', (ws) => ws.on('message', (data: Buffer, binary: boolean) => ws.send(data, { binary })));
  await wait(new Promise((res) => wss.once('listening', res)));
  return [wss, (wss.address() as { port: number }).port];
}

async function closeServer(wss: WebSocketServer): Promise<void> {
  for (const c of wss.clients) c.terminate();
  await wait(new Promise((res) => wss.close(res)));
}

// ---- the ws package against evy --------------------------------------------------------

const serverCases: Array<[string, WsDeflate, object, string]> = [
  ['context takeover', { threshold: 0 }, { threshold: 0 }, 'permessage-deflate'],
  ['no context takeover either way', { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true }, { threshold: 0 },
    'permessage-deflate; server_no_context_takeover'],
  ['window bits asked by the client', { threshold: 0, serverMaxWindowBits: 10, clientMaxWindowBits: 9 }, { threshold: 0, clientMaxWindowBits: 11 },
    'permessage-deflate; server_max_window_bits=10; client_max_window_bits=9'],
  ['window bits set by the server', { threshold: 0 }, { threshold: 0, serverMaxWindowBits: 9, clientMaxWindowBits: 12, serverNoContextTakeover: true },
    'permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=12'],
];

for (const [what, wsOpts, evyOpts, agreed] of serverCases) {
  test(`the ws client against WebSocketWSGI with permessage-deflate (${what})`, async () => {
    const seen: { ws?: WebSocket; code?: number | null } = {};
    const srv = serveApp(echoApp(seen, { perMessageDeflate: evyOpts }));
    const c = await wsClient(srv.url, wsOpts);
    wsClients.push(c.client);
    assert.is(c.answered(), agreed);
    for (const m of messages()) {
      c.client.send(m, { binary: typeof m !== 'string' });
      const back = await c.got.get();
      assert.ok(same(back, m), `the echo of a ${typeof m === 'string' ? 'text' : 'binary'} message of ${m.length}`);
    }
    assert.is(seen.ws!.extensions, agreed);
    c.client.close(1000);
    assert.is(await wait(c.closed), 1000);
    await srv.stop();
    assert.is(seen.code, 1000);
    assert.equal(srv.errors, []);
  });
}

const clientCases: Array<[string, WsDeflate, object, string]> = [
  ['context takeover', { threshold: 0 }, { threshold: 0 }, 'permessage-deflate'],
  ['no context takeover asked by the client', { threshold: 0 }, { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true },
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover'],
  ['window bits', { threshold: 0, serverMaxWindowBits: 11, clientMaxWindowBits: 10 }, { threshold: 0, serverMaxWindowBits: 12 },
    'permessage-deflate; server_max_window_bits=11; client_max_window_bits=10'],
];

for (const [what, wsOpts, evyOpts, agreed] of clientCases) {
  test(`connect() against the ws server with permessage-deflate (${what})`, async () => {
    const [wss, port] = await wsServer(wsOpts);
    try {
      const c = own_(await connect(`ws://127.0.0.1:${port}/`, { perMessageDeflate: evyOpts }));
      assert.is(c.extensions, agreed);
      for (const m of messages()) {
        await c.send(m);
        assert.ok(same(await c.wait(), m), `the echo of a message of ${m.length}`);
      }
      await c.close();
      assert.ok(c.wasClean);
    } finally {
      await closeServer(wss);
    }
  });
}

test('the ws client sending a fragmented compressed message: evy reassembles and inflates it', async () => {
  const srv = serveApp(echoApp({}, { perMessageDeflate: { threshold: 0 } }));
  const c = await wsClient(srv.url, { threshold: 0 });
  wsClients.push(c.client);
  const parts = ['first part ✓ '.repeat(200), 'second part '.repeat(300), '', 'last'];
  parts.forEach((p, i) => c.client.send(p, { fin: i === parts.length - 1, compress: true }));
  assert.is(await c.got.get(), parts.join(''));
  c.client.close(1000);
  assert.is(await wait(c.closed), 1000);
  await srv.stop();
  assert.equal(srv.errors, []);
});

test('evy to evy with permessage-deflate; without the option on either side nothing is negotiated', async () => {
  const srv = serveApp(echoApp({}, { perMessageDeflate: { threshold: 0 } }));
  const c = await connect(srv.url, { perMessageDeflate: { threshold: 0 } });
  assert.is(c.extensions, 'permessage-deflate');
  for (const m of messages()) {
    await c.send(m);
    assert.ok(same(await c.wait(), m));
  }
  await c.close();
  const plain = await connect(srv.url);
  assert.is(plain.extensions, '');
  await plain.close();
  await srv.stop();
  const off = serveApp(echoApp());
  const offered = await connect(off.url, { perMessageDeflate: true });
  assert.is(offered.extensions, '', 'a server without the option declines');
  await offered.send('x'.repeat(5000));
  assert.is(await offered.wait(), 'x'.repeat(5000));
  await offered.close();
  await off.stop();
});

// ---- raw frames ---------------------------------------------------------------------------

test('on the wire: RSV1 on a message\'s first frame only; a fragmented compressed message with a ping inside; the reply compressed', async () => {
  const srv = serveApp(echoApp({}, { perMessageDeflate: { threshold: 0 } }));
  const raw = await rawUpgrade(srv.port, '/', 'Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n');
  assert.match(raw.head, /\r\nSec-WebSocket-Extensions: permessage-deflate\r\n|\r\nSec-WebSocket-Extensions: permessage-deflate$/);
  const text = 'a fragmented, compressed message ✓ '.repeat(40);
  const z = zlib.deflateRawSync(Buffer.from(text), SYNC).subarray(0, -4);
  const a = Math.floor(z.length / 3);
  await raw.sock.sendall(
    Buffer.concat([
      frame(0x1, z.subarray(0, a), { fin: false, rsv: 4 }),
      frame(0x9, 'between'),
      frame(0x0, z.subarray(a, 2 * a), { fin: false }),
      frame(0x0, z.subarray(2 * a)),
    ]),
  );
  const pong = await raw.frame();
  assert.is(pong!.opcode, 0xa);
  assert.is(pong!.rsv, 0, 'control frames are never compressed');
  const reply = await raw.frame();
  assert.is(reply!.opcode, 0x1);
  assert.is(reply!.rsv, 4, 'the echo is compressed (RSV1)');
  assert.is(zlib.inflateRawSync(Buffer.concat([reply!.payload, TRAILER]), SYNC).toString(), text);
  // An uncompressed message on the same connection is fine too (compressing is per message).
  await raw.sock.sendall(frame(0x2, Buffer.from([1, 2, 3])));
  const r2 = await raw.frame();
  assert.is(r2!.rsv, 4);
  assert.equal([...zlib.inflateRawSync(Buffer.concat([r2!.payload, TRAILER]), SYNC)], [1, 2, 3]);
  // RSV1 on a continuation frame is a protocol error.
  await raw.sock.sendall(Buffer.concat([frame(0x1, z.subarray(0, a), { fin: false, rsv: 4 }), frame(0x0, z.subarray(a), { rsv: 4 })]));
  assert.is(closeCodeOf(await raw.frame()), 1002);
  await raw.sock.sendall(frame(0x8, closePayload(1002)));
  await raw.eof();
  await srv.stop();
});

test('a zip bomb (a 64 KiB frame inflating to 64 MiB) fails with 1009 without inflating it all', async () => {
  const seen: { code?: number | null; reason?: string } = {};
  const srv = serveApp(echoApp(seen, { perMessageDeflate: true, maxMessageSize: 1024 * 1024 }));
  const bomb = zlib.deflateRawSync(Buffer.alloc(64 * 1024 * 1024), SYNC).subarray(0, -4);
  assert.ok(bomb.length < 100 * 1024 && bomb.length < 1024 * 1024, 'the frame itself is within maxMessageSize');
  const raw = await rawUpgrade(srv.port, '/', 'Sec-WebSocket-Extensions: permessage-deflate\r\n');
  const before = process.memoryUsage().arrayBuffers;
  await raw.sock.sendall(frame(0x2, bomb, { rsv: 4 }));
  const f = await raw.frame();
  assert.is(closeCodeOf(f), 1009);
  assert.match(f!.payload.subarray(2).toString(), /inflating past 1048576 bytes/);
  assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024, 'at most about maxMessageSize was inflated');
  await raw.eof();
  await srv.stop();
  assert.is(seen.code, 1009);
});

test('a zip bomb from the ws server: connect() fails it with 1009', async () => {
  const [wss, port] = await wsServer({ threshold: 0 });
  try {
    wss.on('connection', (ws) => ws.send(Buffer.alloc(32 * 1024 * 1024)));
    const c = own_(await connect(`ws://127.0.0.1:${port}/`, { perMessageDeflate: true, maxMessageSize: 1024 * 1024 }));
    assert.is(await c.wait(), null);
    assert.is(c.closeCode, 1009);
  } finally {
    await closeServer(wss);
  }
});

// ---- the client's checks ---------------------------------------------------------------------

test('connect() refuses extensions it did not offer and answers its offer does not allow', async () => {
  const lsock = own(listen(['127.0.0.1', 0]));
  const port = (lsock.getsockname() as [string, number])[1];
  const answers = [
    'permessage-deflate',
    'permessage-deflate; client_max_window_bits=12',
    'permessage-deflate; server_max_window_bits=15',
    'permessage-deflate; bogus',
    'x-other-extension',
  ];
  const srv = go(async () => {
    for (const answer of answers) {
      const [s] = await lsock.accept();
      own(s);
      const raw = await Raw.accept(s, `Sec-WebSocket-Extensions: ${answer}\r\n`);
      await raw.eof();
      s.close();
    }
  });
  const url = `ws://127.0.0.1:${port}/`;
  const expect: Array<[object | undefined, RegExp]> = [
    [undefined, /chose extensions "permessage-deflate"; this client offered none/],
    [{ clientMaxWindowBits: 10 }, /client_max_window_bits=12, more than the 10 offered/],
    [{ serverMaxWindowBits: 10 }, /server_max_window_bits=15, more than the 10 asked for/],
    [{}, /unknown parameter bogus/],
    [{}, /only permessage-deflate was offered/],
  ];
  for (const [perMessageDeflate, why] of expect) {
    const err = await rejection(connect(url, { perMessageDeflate }));
    assert.instance(err, WebSocketError);
    assert.match((err as Error).message, why);
  }
  await finish(srv);
  lsock.close();
});

// ---- interrupts ---------------------------------------------------------------------------

test('kill and Timeout while a large message is compressed: the message is not sent, the connection goes on', async () => {
  const srv = serveApp(echoApp({}, { perMessageDeflate: { threshold: 0 } }));
  const c = await connect(srv.url, { perMessageDeflate: { threshold: 0 } });
  const big = randomBytes(1024 * 1024);
  const sender = go(() => c.send(big));
  await sleep(0); // the sender compresses its first slice and cedes: the kill lands there
  const stop = new Error('stop'); // not GreenletExit, which ends a thread as if it returned
  sender.kill(stop);
  assert.is(await rejection(finish(sender)), stop, 'the kill landed inside send()');
  const t = new Timeout(0);
  const err = await rejection(c.send(big));
  t.cancel();
  assert.is(err, t);
  assert.not.ok(c.closed);
  await c.send('after the interrupted ones');
  assert.is(await c.wait(), 'after the interrupted ones', 'nothing of the interrupted messages reached the server');
  const whole = Buffer.concat([big, big]);
  await c.send(whole);
  assert.ok(same(await c.wait(), whole), 'and a large message still goes through whole');
  await c.close();
  await srv.stop();
  assert.equal(srv.errors, []);
});

test('a send waiting behind a large compression is interrupted without harm; messages stay in order', async () => {
  const srv = serveApp(echoApp({}, { perMessageDeflate: { threshold: 0 } }));
  const c = await connect(srv.url, { perMessageDeflate: { threshold: 0 } });
  const big = Buffer.alloc(512 * 1024, 'a');
  const first = go(() => c.send(big));
  await sleep(0); // the first send is mid-compression
  const second = go(() => c.send('second'));
  const third = go(() => c.send('third'));
  await sleep(0);
  const stop = new Error('stop');
  second.kill(stop); // it waits for the compressor: killed there, nothing sent
  await finish(first);
  await finish(third);
  assert.is(await rejection(finish(second)), stop);
  assert.ok(same(await c.wait(), big));
  assert.is(await c.wait(), 'third');
  await c.close();
  await srv.stop();
});

// The close from the ws client arrives while evy's echo is blocked behind nothing: a sanity check of wait() and close.
test('the ws client closing while evy waits: the close code reaches the handler', async () => {
  const seen: { code?: number | null } = {};
  const srv = serveApp(
    WebSocketWSGI(
      async (ws) => {
        for (let m; (m = await ws.wait()) !== null; ) await ws.send(m);
        seen.code = ws.closeCode;
      },
      { perMessageDeflate: true },
    ),
  );
  const c = await wsClient(srv.url, {});
  c.client.close(4000, 'bye');
  assert.is(await wait(c.closed), 4000);
  await srv.stop();
  assert.is(seen.code, 4000);
});

suite.run();
