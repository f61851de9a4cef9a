import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Event, Timeout, connect, listen, sleep, spawn, wrapSsl, GreenSocket } from 'evy';
import { assertClean, rejection, localhostCert } from '../helpers';

// A self-signed certificate for localhost / 127.0.0.1, made by this test.
const { key, cert } = localhostCert();

test.after.each(assertClean);

/** A TLS echo server for one connection; resolves when it is done. */
function tlsEcho(server: GreenSocket) {
  return spawn(async () => {
    const [conn] = await server.accept();
    const s = await wrapSsl(conn, { serverSide: true, key, cert });
    try {
      for (;;) {
        const d = await s.recv();
        if (d.length === 0) break;
        await s.sendall(d);
      }
    } finally {
      s.close();
    }
  });
}

test('TLS round trip with a self-signed certificate the client trusts', async () => {
  const server = listen(['127.0.0.1', 0]);
  const srv = tlsEcho(server);
  const raw = await connect(server.getsockname());
  const c = await wrapSsl(raw, { ca: cert, serverHostname: 'localhost' });
  assert.match(c.version() ?? '', /^TLSv1\.[23]$/);
  assert.is(c.getpeercert().subject.CN, 'localhost');
  await c.sendall('over tls\n');
  assert.is(await c.makefile('r').readline(), 'over tls\n');
  const big = Buffer.alloc(1 << 20, 5);
  const reader = spawn(async () => {
    let n = 0;
    while (n < big.length) n += (await c.recv()).length;
    return n;
  });
  await c.sendall(big);
  assert.is(await reader.wait(), big.length);
  c.shutdown();
  assert.is((await c.recv()).length, 0, 'EOF after the server closed');
  c.close();
  await srv.wait();
  server.close();
});

test('verification is on by default: an untrusted certificate is a clear error', async () => {
  const server = listen(['127.0.0.1', 0]);
  const srv = spawn(async () => {
    const [conn] = await server.accept();
    await wrapSsl(conn, { serverSide: true, key, cert }).catch(() => {});
    conn.close();
  });
  const raw = await connect(server.getsockname());
  const err = (await rejection(wrapSsl(raw, { serverHostname: 'localhost' }))) as NodeJS.ErrnoException;
  assert.is(err.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  assert.ok(raw.closed, 'the failed connection is closed');
  await srv.wait();
  server.close();
});

test('a wrong host name fails verification', async () => {
  const server = listen(['127.0.0.1', 0]);
  const srv = spawn(async () => {
    const [conn] = await server.accept();
    await wrapSsl(conn, { serverSide: true, key, cert }).catch(() => {});
    conn.close();
  });
  const raw = await connect(server.getsockname());
  const err = (await rejection(wrapSsl(raw, { ca: cert, serverHostname: 'example.com' }))) as NodeJS.ErrnoException;
  assert.is(err.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  await srv.wait();
  server.close();
});

test('a Timeout interrupts a handshake the peer never answers, and closes the socket', async () => {
  const server = listen(['127.0.0.1', 0]);
  const accepted = new Event<GreenSocket>();
  const srv = spawn(async () => accepted.send((await server.accept())[0]));
  const raw = await connect(server.getsockname());
  const t = new Timeout(0.05);
  assert.is(await rejection(wrapSsl(raw, { ca: cert, serverHostname: 'localhost' })), t);
  await sleep(0);
  assert.ok(raw.closed);
  (await accepted.wait()).close();
  await srv.wait();
  server.close();
});

test('bad input: a server side without key and cert, a non-socket, a listener', async () => {
  const raw = new GreenSocket();
  assert.match(String(await rejection(wrapSsl(raw, { serverSide: true }))), /needs key and cert/);
  assert.match(String(await rejection(wrapSsl({} as GreenSocket))), /needs a connected GreenSocket/);
  raw.close();
  const listener = listen(['127.0.0.1', 0]);
  const { key, cert } = localhostCert();
  assert.match(String(await rejection(wrapSsl(listener, { serverSide: true, key, cert }))), /not a listener: wrap each accepted connection/);
  listener.close();
});

test.run();
