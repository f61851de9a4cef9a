// evy/web/wsgi serving evy/web/websocket: an upgrade and plain requests on one
// server, with evy's client, the `ws` package and frames sent with the upgrade.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WsClient from 'ws';
import { Event, connect as tcpConnect, listen, spawn, wait, type GreenSocket, type GreenThread } from 'evy';
import { server, type Environ, type StartResponse } from 'evy/web/wsgi';
import { WebSocketWSGI, connect, type WebSocket } from 'evy/web/websocket';
import { assertClean } from '../helpers';

test.after.each(assertClean);

const echo = WebSocketWSGI(async (ws: WebSocket) => {
  for (let m; (m = await ws.wait()) !== null; ) await ws.send(typeof m === 'string' ? `${ws.path} ${m}` : m);
});

/** /ws upgrades; everything else is a plain page: two apps on one server. */
function app(environ: Environ, startResponse: StartResponse) {
  if (environ.PATH_INFO === '/ws') return echo(environ, startResponse);
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [`page ${String(environ.PATH_INFO)}`];
}

async function start(): Promise<[GreenSocket, GreenThread<void>, number]> {
  const sock = listen(['127.0.0.1', 0]);
  const gt = spawn(() => server(sock, app, { log: null }));
  return [sock, gt, (sock.getsockname() as [string, number])[1]];
}

async function stopServer(sock: GreenSocket, gt: GreenThread<void>): Promise<void> {
  sock.close();
  await gt.wait();
}

test('a websocket and a plain request on one server', async () => {
  const [sock, gt, port] = await start();
  const ws = await connect(`ws://127.0.0.1:${port}/ws?x=1`);
  await ws.send('hi');
  assert.is(await ws.wait(), '/ws?x=1 hi');
  const c = await tcpConnect(['127.0.0.1', port]);
  await c.sendall('GET /plain HTTP/1.0\r\n\r\n');
  let text = '';
  for (let d; (d = await c.recv()).length > 0; ) text += d;
  assert.match(text, /^HTTP\/1\.[01] 200 OK\r\n/);
  assert.match(text, /\r\n\r\npage \/plain$/);
  c.close();
  await ws.close();
  await stopServer(sock, gt);
});

test('a frame sent in the same packet as the upgrade request reaches the handler', async () => {
  const [sock, gt, port] = await start();
  const c = await tcpConnect(['127.0.0.1', port]);
  const payload = Buffer.from('early');
  const mask = Buffer.from([1, 2, 3, 4]);
  const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]))]);
  await c.sendall(
    Buffer.concat([
      Buffer.from(
        'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      ),
      frame,
    ]),
  );
  let got = Buffer.alloc(0);
  while (!got.includes(Buffer.from('/ws early'))) {
    const d = await c.recv();
    if (d.length === 0) break;
    got = Buffer.concat([got, d]);
  }
  assert.match(got.toString('latin1'), /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.ok(got.includes(Buffer.from('/ws early')), 'the echo of the early frame');
  c.close();
  await stopServer(sock, gt);
});

test('the ws package as a client', async () => {
  const [sock, gt, port] = await start();
  const client = new WsClient(`ws://127.0.0.1:${port}/ws`);
  const got = new Event<string>();
  client.on('message', (data) => got.send(String(data)));
  await wait(new Promise((res, rej) => (client.once('open', res), client.once('error', rej))));
  client.send('from ws');
  assert.is(await got.wait(), '/ws from ws');
  const closed = new Promise<number>((res) => client.once('close', (code) => res(code)));
  client.close(1000);
  assert.is(await wait(closed), 1000);
  await stopServer(sock, gt);
});

test.run();
