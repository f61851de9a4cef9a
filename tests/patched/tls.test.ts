import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as stockTls from 'node:tls';
import { SocketTimeout, Timeout, connect as evyConnect, listen as evyListen, sleep, spawn, wrapSsl } from 'evy';
import * as gtls from 'evy/patched/tls';
import { assertClean, rejection, localhostCert } from '../helpers';

// A self-signed certificate for localhost / 127.0.0.1, made by this test.
const { key, cert } = localhostCert();

test.after.each(assertClean);

async function listen(server: stockTls.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function closeAll(server: stockTls.Server, ...socks: stockTls.TLSSocket[]): Promise<void> {
  for (const s of socks) s.destroy();
  const closed = once(server, 'close');
  server.close();
  await closed;
}

/** A green TLS server, a client that finished its handshake, and the accepted side. */
async function pair(): Promise<{ server: gtls.Server; client: gtls.TLSSocket; conn: gtls.TLSSocket }> {
  const server = gtls.createServer({ key, cert });
  const port = await listen(server);
  const client = gtls.connect({ port, host: '127.0.0.1', ca: cert, servername: 'localhost' });
  await client.connected();
  const [conn] = await server.accept();
  return { server, client, conn };
}

test('every node:tls export is there (TLSSocket and connect node\'s own); wrapSocket is evy wrapSsl', () => {
  const green = new Set(['Server', 'createServer']);
  for (const key of Object.keys(stockTls)) {
    if (key === 'default') continue;
    const ours = (gtls as Record<string, unknown>)[key];
    if (green.has(key)) assert.is.not(ours, (stockTls as Record<string, unknown>)[key], key);
    else assert.is(ours, (stockTls as Record<string, unknown>)[key], key);
  }
  assert.is(gtls.wrapSocket, wrapSsl);
});

test('connect + accept: green round trip over TLS, makefile, EOF', async () => {
  const { server, client, conn } = await pair();
  assert.instance(client, gtls.TLSSocket);
  assert.instance(client, stockTls.TLSSocket);
  assert.instance(conn, gtls.TLSSocket);
  assert.ok(client.authorized, 'the client verified the certificate');
  assert.match(client.getProtocol() ?? '', /^TLSv1\.[23]$/);
  await client.sendall('over tls\n');
  assert.is(await conn.makefile('r').readline(), 'over tls\n');
  const big = Buffer.alloc(1 << 20, 9);
  const reader = spawn(async () => {
    let n = 0;
    while (n < big.length) n += (await client.recv()).length;
    return n;
  });
  await conn.sendall(big);
  assert.is(await reader.wait(), big.length);
  client.end();
  assert.is((await conn.recv()).length, 0, 'EOF after the close_notify');
  await closeAll(server, client, conn);
});

test('connected() rejects with the verification error, leaving no listener', async () => {
  const server = gtls.createServer({ key, cert });
  const port = await listen(server);
  server.on('tlsClientError', () => {}); // the server side of the failed handshake
  const client = gtls.connect({ port, host: '127.0.0.1', servername: 'localhost' });
  const err = (await rejection(client.connected())) as NodeJS.ErrnoException;
  assert.is(err.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  assert.is(client.listenerCount('secureConnect'), 0);
  await closeAll(server, client);
});

test('socket timeout, Timeout and kill in a TLS recv: raised, no listener left, the connection stays usable', async () => {
  const { server, client, conn } = await pair();
  await client.sendall('a');
  assert.is(String(await conn.recv()), 'a');
  const before = ['readable', 'end', 'close', 'error'].map((e) => conn.listenerCount(e));
  conn.settimeout(0.02);
  assert.instance(await rejection(conn.recv()), SocketTimeout);
  conn.settimeout(null);
  const t = new Timeout(0.02);
  assert.is(await rejection(conn.recv()), t);
  const reader = spawn(() => conn.recv());
  await sleep(0.01);
  reader.kill();
  assert.is(await reader.wait(), undefined);
  assert.equal(['readable', 'end', 'close', 'error'].map((e) => conn.listenerCount(e)), before);
  await client.sendall('b');
  assert.is(String(await conn.recv()), 'b');
  await closeAll(server, client, conn);
});

test('accept queues finished handshakes; a server with a listener queues nothing', async () => {
  const server = gtls.createServer({ key, cert });
  const port = await listen(server);
  const clients = [0, 1].map(() => gtls.connect({ port, host: '127.0.0.1', ca: cert, servername: 'localhost' }));
  for (const [i, c] of clients.entries()) {
    await c.connected();
    await c.sendall(`tls ${i}`);
  }
  const conns: gtls.TLSSocket[] = [];
  for (let i = 0; i < 2; i++) {
    const [conn, addr] = await server.accept();
    assert.equal(addr, ['127.0.0.1', clients[i].localPort]);
    assert.is(String(await conn.recv()), `tls ${i}`);
    conns.push(conn);
  }
  await closeAll(server, ...clients, ...conns);

  const seen: gtls.TLSSocket[] = [];
  const withListener = gtls.createServer({ key, cert }, (s) => seen.push(s));
  const port2 = await listen(withListener);
  const c = gtls.connect({ port: port2, host: '127.0.0.1', ca: cert, servername: 'localhost' });
  await c.connected();
  await sleep(0.01);
  assert.is(seen.length, 1);
  assert.instance(seen[0], gtls.TLSSocket);
  const t = new Timeout(0.02);
  assert.is(await rejection(withListener.accept()), t);
  await closeAll(withListener, c, ...seen);
});

test('wrapSocket: TLS over an evy GreenSocket', async () => {
  const listener = evyListen(['127.0.0.1', 0]);
  const srv = spawn(async () => {
    const [raw] = await listener.accept();
    const s = await gtls.wrapSocket(raw, { serverSide: true, key, cert });
    await s.sendall(await s.recv());
    s.close();
  });
  const c = await gtls.wrapSocket(await evyConnect(listener.getsockname()), { ca: cert, serverHostname: 'localhost' });
  await c.sendall('wrapped');
  assert.is(String(await c.recv()), 'wrapped');
  assert.is((await c.recv()).length, 0);
  c.close();
  await srv.wait();
  listener.close();
});

test('__evyPatch leaves the builtin its classes; TLS sockets node:tls makes have the green calls', async () => {
  const mod = { ...stockTls } as typeof stockTls;
  gtls.__evyPatch(mod);
  assert.is(mod.connect, stockTls.connect);
  assert.is(mod.TLSSocket, stockTls.TLSSocket);
  const server = stockTls.createServer({ key, cert }, (s) => {
    spawn(async () => {
      const g = s as unknown as gtls.TLSSocket;
      await g.sendall(await g.recv());
      g.end();
    });
  });
  const port = await listen(server);
  const c = stockTls.connect({ port, host: '127.0.0.1', ca: cert, servername: 'localhost' });
  assert.ok(c instanceof gtls.TLSSocket, 'a stock TLSSocket is an evy one');
  const g = c as unknown as gtls.TLSSocket;
  await g.connected();
  await g.sendall('patched');
  assert.is(String(await g.recv()), 'patched');
  assert.is((await g.recv()).length, 0);
  await closeAll(server, c);
});

test.run();
