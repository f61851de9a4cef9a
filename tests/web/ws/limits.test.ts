// evy/web/websocket's limits against hostile or vanished peers: declared
// lengths that never arrive, ping floods from a peer that does not read,
// silent connections (pingInterval), prompt closing of a failed connection,
// garbage refused on its first two bytes, refused upgrades closing their
// HTTP connection.
import { test as suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Event, GreenSocket, Timeout, connect as tcpConnect, getHub, listen, sleep, spawn, withTimeout } from 'evy';
import { MAX_PENDING_PONGS, WebSocket, WebSocketWSGI, connect } from 'evy/web/websocket';
import { server } from 'evy/web/wsgi';
import { IPPROTO_TCP, SOL_SOCKET, SO_RCVBUF, TCP_NODELAY } from 'evy/patched/socket';
import { rejection } from '../../helpers';
import { finish, safetyNet } from '../../safety';
import { Raw, closeCodeOf, closePayload, echoApp, frame, peers, upgradeRequest } from './peer';

const net = safetyNet(suite, { limit: 30 });
const { test, own, go } = net;
const { rawUpgrade, serveApp } = peers(net);

const MiB = 1024 * 1024;

function memory(): number {
  const m = process.memoryUsage();
  return Math.max(m.arrayBuffers, m.rss);
}

test('a 16 MiB payload declared and never sent costs nothing: 200 connections grow memory by well under 64 MiB', async () => {
  const srv = serveApp(echoApp());
  const before = process.memoryUsage();
  const raws: Raw[] = [];
  // A ping, then a header declaring 16 MiB (the default maxMessageSize), in
  // one write: the pong comes back after the server parsed the header in the
  // same turn, so when every pong is in, every server sits on its header.
  const header = Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0x01, 0, 0, 0, 1, 2, 3, 4]);
  for (let i = 0; i < 200; i++) {
    const raw = await rawUpgrade(srv.port);
    await raw.sock.sendall(Buffer.concat([frame(0x9, 'p'), header, Buffer.from([0xaa])]));
    raws.push(raw);
  }
  for (const raw of raws) assert.is((await raw.frame())!.opcode, 0xa);
  const after = process.memoryUsage();
  const grew = Math.max(after.arrayBuffers - before.arrayBuffers, after.rss - before.rss);
  assert.ok(grew < 64 * MiB, `memory grew by ${(grew / MiB).toFixed(1)} MiB for 200 headers of 16 MiB`);
  for (const raw of raws) raw.sock.close();
  await srv.stop();
  assert.equal(srv.errors, []);
});

test('a ping flood from a peer that never reads ends the connection with 1008, memory bounded', async () => {
  const seen: { code?: number | null; reason?: string } = {};
  const srv = serveApp(echoApp(seen));
  // A small receive buffer on our side, so the server's pongs back up soon.
  const sock = own(new GreenSocket());
  sock.setsockopt(SOL_SOCKET, SO_RCVBUF, 4096);
  sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
  await sock.connect(['127.0.0.1', srv.port]);
  await sock.sendall(upgradeRequest({}));
  const batch = Buffer.concat(Array.from({ length: 500 }, () => frame(0x9, Buffer.alloc(125, 1))));
  const before = memory();
  let sent = 0;
  let peak = 0;
  const ended = await rejection(
    withTimeout(20, async () => {
      for (;;) {
        await sock.sendall(batch); // fails once the server has closed (EPIPE or ECONNRESET)
        sent += batch.length;
        peak = Math.max(peak, memory() - before);
      }
    }),
  );
  assert.not.instance(ended, Timeout, `the flood went on: ${(sent / MiB).toFixed(1)} MiB sent`);
  assert.match(String((ended as NodeJS.ErrnoException).code), /^(EPIPE|ECONNRESET)$/);
  await srv.stop();
  assert.is(seen.code, 1008);
  assert.match(seen.reason!, new RegExp(`${MAX_PENDING_PONGS} pongs left unwritten`));
  assert.ok(peak < 64 * MiB, `memory grew by ${(peak / MiB).toFixed(1)} MiB while ${(sent / MiB).toFixed(1)} MiB of pings came in`);
});

// ---- pingInterval ----------------------------------------------------------------------

test('pingInterval: a silent peer that answers pings stays connected; the server sees its pongs', async () => {
  const entered = new Event<WebSocket>();
  const srv = serveApp(
    WebSocketWSGI(
      async (ws) => {
        entered.send(ws);
        await ws.wait();
      },
      { pingInterval: 0.02 },
    ),
  );
  const c = await connect(srv.url, { pingInterval: null });
  const s = await entered.wait();
  // 25 intervals of silence from the client's side: its wait() answers the pings.
  assert.instance(await rejection(withTimeout(0.5, () => c.wait())), Timeout);
  assert.not.ok(c.closed);
  assert.not.ok(s.closed);
  assert.ok(s.lastPong !== null, 'the server pinged and got its pong');
  await c.close();
  await srv.stop();
});

test('pingInterval: a peer that stops answering is dropped (1006) after a ping and another interval', async () => {
  const seen: { code?: number | null; reason?: string } = {};
  const srv = serveApp(echoApp(seen, { pingInterval: 0.05 }));
  const raw = await rawUpgrade(srv.port);
  await raw.sock.sendall(frame(0x1, 'alive'));
  assert.is((await raw.frame())!.payload.toString(), 'alive');
  const ping = await withTimeout(5, () => raw.frame());
  assert.is(ping!.opcode, 0x9, 'first a ping');
  assert.is(await withTimeout(5, () => raw.frame()), null, 'then EOF: the server hung up');
  await srv.stop();
  assert.is(seen.code, 1006);
  assert.match(seen.reason!, /nothing from the peer within 0\.05 s of our ping/);
});

test('pingInterval: a connection nobody reads is pinged but not dropped (its pongs could sit unread)', async () => {
  const release = new Event<void>();
  let closedWhileUnread: boolean | null = null;
  const srv = serveApp(
    WebSocketWSGI(
      async (ws) => {
        await release.wait();
        closedWhileUnread = ws.closed;
      },
      { pingInterval: 0.02 },
    ),
  );
  const raw = await rawUpgrade(srv.port);
  assert.is((await withTimeout(5, () => raw.frame()))!.opcode, 0x9, 'pinged');
  await sleep(0.3); // 15 intervals without a pong and without a reader
  release.send();
  assert.is(closeCodeOf(await raw.frame()), 1000, 'the handler ended and closed normally');
  await raw.sock.sendall(frame(0x8, closePayload(1000)));
  await raw.eof();
  await srv.stop();
  assert.is(closedWhileUnread, false);
});

test('pingInterval on the client: a server that never answers is dropped; null and bad values', async () => {
  const lsock = own(listen(['127.0.0.1', 0]));
  const port = (lsock.getsockname() as [string, number])[1];
  const done = new Event<void>();
  const srv = go(async () => {
    const [s] = await lsock.accept();
    own(s);
    const raw = await Raw.accept(s);
    const ping = await raw.frame();
    await done.wait();
    s.close();
    return ping!.opcode;
  });
  const c = await connect(`ws://127.0.0.1:${port}/`, { pingInterval: 0.05 });
  assert.is(await withTimeout(5, () => c.wait()), null);
  assert.is(c.closeCode, 1006);
  assert.not.ok(c.wasClean);
  done.send();
  assert.is(await finish(srv), 0x9, 'the client pinged first');
  lsock.close();
  for (const [bad, kind] of [[0, RangeError], [-1, RangeError], [Infinity, RangeError], ['1', TypeError]] as const) {
    const err = await rejection(connect(`ws://127.0.0.1:${port}/`, { pingInterval: bad as number }));
    assert.instance(err, kind, String(bad));
  }
  assert.throws(() => WebSocketWSGI(() => undefined, { pingInterval: 0 }), (e: unknown) => e instanceof RangeError);
});

test('pingInterval: null: no timer at all', async () => {
  const srv = serveApp(echoApp({}, { pingInterval: null }));
  const base = getHub().counts().timers;
  const c = await connect(srv.url, { pingInterval: null });
  await c.send('x');
  assert.is(await c.wait(), 'x');
  assert.is(getHub().counts().timers, base, 'neither end scheduled a liveness timer');
  await c.close();
  await srv.stop();
});

// ---- failing promptly -----------------------------------------------------------------------

test('a failed connection (1002) closes at once, not after closeTimeout: the peer reads EOF right after the close frame', async () => {
  const seen: { code?: number | null } = {};
  const srv = serveApp(echoApp(seen, { closeTimeout: 30 }));
  const raw = await rawUpgrade(srv.port);
  await raw.sock.sendall(frame(0x1, 'x', { mask: false }));
  assert.is(closeCodeOf(await raw.frame()), 1002);
  // We neither answer nor hang up: the server's writing side is already shut.
  assert.is(await withTimeout(3, () => raw.frame()), null, 'EOF well under the 30 s closeTimeout');
  // And it lets go of the connection within its short linger.
  for (const gt of srv.conns) await finish(gt, 3);
  assert.is(seen.code, 1002);
  await srv.stop();
});

test('a truncated garbage frame (07 ff) fails with 1002 at once instead of waiting for its length', async () => {
  const seen: { code?: number | null; reason?: string } = {};
  const srv = serveApp(echoApp(seen, { closeTimeout: 30 }));
  const raw = await rawUpgrade(srv.port);
  await raw.sock.sendall(Buffer.from([0x07, 0xff]));
  const f = await withTimeout(3, () => raw.frame());
  assert.is(closeCodeOf(f), 1002);
  assert.match(f!.payload.subarray(2).toString(), /unknown opcode 7/);
  assert.is(await withTimeout(3, () => raw.frame()), null);
  await srv.stop();
  assert.is(seen.code, 1002);
});

test('the client, failing a server, also closes promptly', async () => {
  const lsock = own(listen(['127.0.0.1', 0]));
  const port = (lsock.getsockname() as [string, number])[1];
  const srv = go(async () => {
    const [s] = await lsock.accept();
    own(s);
    const raw = await Raw.accept(s);
    await s.sendall(frame(0x1, Buffer.from([0xff]), { mask: false })); // not UTF-8
    const code = closeCodeOf(await raw.frame());
    const eof = await raw.frame(); // no close frame from us: the client hangs up anyway
    s.close();
    return [code, eof];
  });
  const c = await connect(`ws://127.0.0.1:${port}/`, { closeTimeout: 30 });
  assert.is(await withTimeout(3, () => c.wait()), null);
  assert.is(c.closeCode, 1007);
  assert.equal(await finish(srv, 3), [1007, null]);
  lsock.close();
});

// ---- refused upgrades ------------------------------------------------------------------------

test('a refused upgrade answers with Connection: close, and evy/web/wsgi closes the connection after it', async () => {
  const lsock = own(listen(['127.0.0.1', 0]));
  const port = (lsock.getsockname() as [string, number])[1];
  const srv = spawn(() => server(lsock, WebSocketWSGI(() => undefined, { origins: ['http://good.example'] }), { log: null }));
  for (const [req, status] of [
    ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', '400'],
    [upgradeRequest({ Origin: 'http://evil.example' }), '403'],
    [upgradeRequest({ Origin: 'http://good.example', 'Sec-WebSocket-Version': '8' }), '426'],
  ]) {
    const c = own(await tcpConnect(['127.0.0.1', port]));
    await c.sendall(req); // HTTP/1.1: keep-alive unless told otherwise
    let text = '';
    await withTimeout(5, async () => {
      for (let d; (d = await c.recv()).length > 0; ) text += d.toString();
    });
    assert.match(text, new RegExp(`^HTTP/1\\.1 ${status} `));
    assert.match(text, /\r\nConnection: close\r\n/i);
    c.close();
  }
  lsock.close();
  await finish(srv);
});

suite.run();
