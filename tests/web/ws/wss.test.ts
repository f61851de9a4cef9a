// wss://: connect() over TLS (wrapSsl) to evy's WSGI server with its `ssl`
// option and to the `ws` package's server on https; certificate checks
// (ca, rejectUnauthorized, servername); Timeout and kill in the TLS handshake.
import { test as suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as https from 'node:https';
import { WebSocketServer } from 'ws';
import { Queue, Timeout, listen, spawn, wait, withTimeout, type GreenSocket } from 'evy';
import { server } from 'evy/web/wsgi';
import { WebSocketWSGI, connect, type WebSocket } from 'evy/web/websocket';
import { localhostCert, rejection } from '../../helpers';
import { finish, safetyNet } from '../../safety';

const { test, own, go } = safetyNet(suite, { limit: 30 });

// A self-signed certificate for localhost / 127.0.0.1, made by this test.
const { key, cert } = localhostCert();

const echo = WebSocketWSGI(
  async (ws: WebSocket) => {
    for (let m; (m = await ws.wait()) !== null; ) await ws.send(typeof m === 'string' ? `${ws.environ['wsgi.url_scheme']} ${m}` : m);
  },
  { perMessageDeflate: true },
);

/** evy's WSGI server with `ssl`, serving `echo`; its port and a stop(). */
function serveTls(): [number, () => Promise<void>] {
  const lsock = own(listen(['127.0.0.1', 0]));
  const gt = go(() => server(lsock, echo, { log: null, ssl: { key, cert } }));
  return [(lsock.getsockname() as [string, number])[1], async () => {
    lsock.close();
    await finish(gt);
  }];
}

test("wss:// to evy's WSGI server with ssl: echo over TLS, the server's certificate checked against ca", async () => {
  const [port, stop] = serveTls();
  const c = await connect(`wss://127.0.0.1:${port}/tls?x=1`, { ca: cert });
  await c.send('hello');
  assert.is(await c.wait(), 'https hello');
  const big = Buffer.alloc(200_000, 7);
  await c.send(big);
  assert.equal(await c.wait(), big);
  await c.close(4000, 'done');
  assert.ok(c.wasClean);
  // servername: the name checked (and sent as SNI) when the URL holds an address.
  const named = await connect(`wss://127.0.0.1:${port}/`, { ca: cert, servername: 'localhost', perMessageDeflate: true });
  assert.is(named.extensions, 'permessage-deflate');
  await named.send('x'.repeat(4000));
  assert.is(await named.wait(), `https ${'x'.repeat(4000)}`);
  await named.close();
  await stop();
});

test('wss:// verifies the certificate by default; rejectUnauthorized: false skips it; a wrong servername fails', async () => {
  const [port, stop] = serveTls();
  const url = `wss://127.0.0.1:${port}/`;
  const untrusted = await rejection(connect(url));
  assert.match(String((untrusted as NodeJS.ErrnoException).code), /SELF_SIGNED/);
  const wrongName = await rejection(connect(url, { ca: cert, servername: 'example.com' }));
  assert.is((wrongName as NodeJS.ErrnoException).code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  const trusting = await connect(url, { rejectUnauthorized: false });
  await trusting.send('anyway');
  assert.is(await trusting.wait(), 'https anyway');
  await trusting.close();
  await stop();
});

test("wss:// to the ws package's server on https, with permessage-deflate", async () => {
  const httpsServer = https.createServer({ key, cert });
  const wss = new WebSocketServer({ server: httpsServer, perMessageDeflate: { threshold: 0 } });
  wss.on('connection', (ws) => ws.on('message', (data: Buffer, binary: boolean) => ws.send(data, { binary })));
  await wait(new Promise<void>((res) => httpsServer.listen(0, '127.0.0.1', res)));
  const port = (httpsServer.address() as { port: number }).port;
  try {
    const c = await connect(`wss://127.0.0.1:${port}/`, { ca: cert, perMessageDeflate: { threshold: 0 } });
    assert.is(c.extensions, 'permessage-deflate');
    for (const m of ['short', 'long '.repeat(3000), Buffer.alloc(100_000, 3)]) {
      await c.send(m);
      assert.equal(await c.wait(), m);
    }
    await c.close();
    assert.ok(c.wasClean);
  } finally {
    for (const ws of wss.clients) ws.terminate();
    await wait(new Promise((res) => wss.close(res)));
    await wait(new Promise((res) => httpsServer.close(res)));
  }
});

test('Timeout and kill in the TLS handshake of connect(wss://): the connection is closed', async () => {
  // A server that accepts and never speaks.
  const lsock = own(listen(['127.0.0.1', 0]));
  const port = (lsock.getsockname() as [string, number])[1];
  const accepted = new Queue<GreenSocket>();
  const acceptor = go(async () => {
    for (;;) accepted.putNowait(own((await lsock.accept())[0]));
  });
  const url = `wss://127.0.0.1:${port}/`;
  assert.instance(await rejection(withTimeout(0.1, () => connect(url, { ca: cert }))), Timeout);
  const gt = spawn(() => connect(url, { ca: cert }));
  const first = await accepted.get();
  const second = await accepted.get();
  // Its ClientHello: gt is parked in the handshake, waiting for our answer.
  assert.ok((await second.recv()).length > 0);
  const stop = new Error('stop');
  gt.kill(stop);
  assert.is(await rejection(finish(gt)), stop);
  // Both clients hung up: the server's side of each reads EOF.
  for (const s of [first, second]) {
    await withTimeout(5, async () => {
      while ((await s.recv()).length > 0);
    });
    s.close();
  }
  acceptor.kill();
  await finish(acceptor);
  lsock.close();
});

suite.run();
