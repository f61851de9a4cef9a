// Native TLS (src/tls.c under wrapSsl): interop with node:tls both ways,
// verification against a private CA and its failures, SNI, ALPN, session
// resumption, renegotiation refused, 16 MiB both ways, records cut anywhere
// by TCP, handshakes cut by Timeout, kill, garbage and half-open peers, reads
// after the handshake (src/stream.c decrypts them) cut by Timeout and kill or
// failing on garbage, and nothing left behind (fds, native SSL objects)
// afterwards.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { Event, GreenSocket, Timeout, connect, listen, sleep, spawn, wrapSsl, type GreenSSLSocket, type WrapSslOptions } from 'evy';
import { liveTlsSessions } from '../../dist/io/tls_native.js';
import { assertClean, socketFds, rejection } from '../helpers';

// A private CA, a leaf for localhost / 127.0.0.1 it signed, a client
// certificate it signed, and an expired leaf: made with the openssl CLI.
function makeCerts() {
  const dir = mkdtempSync(join(tmpdir(), 'evy-ca-'));
  const f = (n: string) => join(dir, n);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  try {
    writeFileSync(f('index.txt'), '');
    writeFileSync(f('serial'), '01\n');
    writeFileSync(f('ca.cnf'), [
      '[ca]', 'default_ca = d', '[d]', `database = ${f('index.txt')}`, `new_certs_dir = ${dir}`, `serial = ${f('serial')}`,
      'default_md = sha256', 'policy = p', 'copy_extensions = copy', 'unique_subject = no', '[p]', 'commonName = supplied', '',
    ].join('\n'));
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ossl('req', '-x509', ...ec, '-days', '2', '-subj', '/CN=evy test CA', '-keyout', f('ca.key'), '-out', f('ca.pem'));
    const leaf = (name: string, cn: string, san: string | null, dates: string[]) => {
      ossl('req', '-new', ...ec, '-subj', `/CN=${cn}`, ...(san ? ['-addext', `subjectAltName=${san}`] : []), '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
      ossl('ca', '-batch', '-config', f('ca.cnf'), '-cert', f('ca.pem'), '-keyfile', f('ca.key'), '-in', f(`${name}.csr`), '-out', f(`${name}.pem`), ...dates);
      return { key: readFileSync(f(`${name}.key`)), cert: readFileSync(f(`${name}.pem`)) };
    };
    const server = leaf('server', 'localhost', 'DNS:localhost,IP:127.0.0.1', ['-days', '1']);
    const client = leaf('client', 'evy client', null, ['-days', '1']);
    const expired = leaf('expired', 'localhost', 'DNS:localhost,IP:127.0.0.1', ['-startdate', '20200101000000Z', '-enddate', '20200102000000Z']);
    ossl('pkey', '-in', f('server.key'), '-aes256', '-passout', 'pass:sesame', '-out', f('enc.key'));
    return { ca: readFileSync(f('ca.pem')), server, client, expired, encryptedKey: readFileSync(f('enc.key')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const certs = makeCerts();
const { ca, server: srvCert } = certs;
const serverOpts: WrapSslOptions = { serverSide: true, key: srvCert.key, cert: srvCert.cert };

const baseline = { fds: 0, ssl: 0 };
test.before.each(() => {
  baseline.fds = socketFds();
  baseline.ssl = liveTlsSessions();
});
test.after.each(async () => {
  try {
    await assertClean();
    // Sockets close on the loop's next turns (their close callbacks): wait for them, boundedly.
    // Fewer socket fds than before the test is no leak: the runner's own may
    // close meanwhile (under tsx on Node 24, two socket fds of a bare script
    // close a few seconds after start; a clean clone's run saw 7 before, 5 after).
    for (let i = 0; i < 200 && (socketFds() > baseline.fds || liveTlsSessions() !== baseline.ssl); i++) await sleep(0.01);
    assert.is(liveTlsSessions(), baseline.ssl, 'every native SSL object is freed');
    const fds = socketFds();
    assert.ok(fds <= baseline.fds, `no socket fd left open (${fds} now, ${baseline.fds} before the test)`);
  } catch (err) {
    console.error('after.each:', err); // uvu reports nothing of a hook's failure
    throw err;
  }
});

/** Accepts one connection, wraps it, hands it to `body`, closes it. Resolves body's result (or its error). */
function serveOne<T>(listener: GreenSocket, opts: WrapSslOptions, body: (s: GreenSSLSocket) => Promise<T>) {
  return spawn(async () => {
    const [conn] = await listener.accept();
    let s: GreenSSLSocket;
    try {
      s = await wrapSsl(conn, opts);
    } catch (err) {
      conn.close();
      return err as Error;
    }
    try {
      return await body(s);
    } finally {
      s.close();
    }
  });
}

async function echo(s: GreenSSLSocket): Promise<number> {
  let n = 0;
  for (let d; (d = await s.recv()).length > 0; n += d.length) await s.sendall(d);
  return n;
}

test('a client verifies the server against a private CA: peer chain, cipher, version, SNI', async () => {
  const l = listen(['127.0.0.1', 0]);
  const srv = serveOne(l, serverOpts, async (s) => {
    const name = s.servername;
    await echo(s);
    return name;
  });
  const c = await wrapSsl(await connect(l.getsockname()), { ca, serverHostname: 'localhost' });
  assert.is(c.version(), 'TLSv1.3');
  assert.is(c.cipher().version, 'TLSv1.3');
  assert.match(c.cipher().name, /^TLS_/);
  const peer = c.getpeercert(true) as tls.DetailedPeerCertificate;
  assert.is(peer.subject.CN, 'localhost');
  assert.is(peer.issuer.CN, 'evy test CA');
  assert.is(peer.subjectaltname, 'DNS:localhost, IP Address:127.0.0.1');
  assert.ok(Buffer.isBuffer(peer.raw) && peer.fingerprint256.length > 0);
  assert.is(peer.issuerCertificate.subject.CN, 'evy test CA');
  await c.sendall('ping');
  assert.is(String(await c.recv()), 'ping');
  c.shutdown();
  assert.is((await c.recv()).length, 0);
  c.close();
  assert.is(await srv.wait(), 'localhost', 'the server saw the SNI name');
  l.close();
});

test('verification failures carry node:tls codes: unknown CA, expired, wrong host; rejectUnauthorized: false skips them', async () => {
  const l = listen(['127.0.0.1', 0]);
  const cases: [WrapSslOptions, WrapSslOptions, string][] = [
    [serverOpts, { serverHostname: 'localhost' }, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    [{ serverSide: true, ...certs.expired }, { ca, serverHostname: 'localhost' }, 'CERT_HAS_EXPIRED'],
    [serverOpts, { ca, serverHostname: 'example.com' }, 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ];
  for (const [so, co, code] of cases) {
    const srv = serveOne(l, so, echo);
    const raw = await connect(l.getsockname());
    const err = (await rejection(wrapSsl(raw, co))) as NodeJS.ErrnoException;
    assert.is(err.code, code);
    assert.ok(raw.closed, 'the failed connection is closed');
    await srv.wait();
  }
  const srv = serveOne(l, { serverSide: true, ...certs.expired }, echo);
  const c = await wrapSsl(await connect(l.getsockname()), { rejectUnauthorized: false });
  await c.sendall('x');
  assert.is(String(await c.recv()), 'x');
  c.close();
  await srv.wait();
  l.close();
});

test('node:tls clients and servers talk to native TLS both ways, with ALPN', async () => {
  const l = listen(['127.0.0.1', 0]);
  const srv = serveOne(l, { ...serverOpts, alpnProtocols: ['h2', 'http/1.1'] }, async (s) => {
    const p = s.selectedAlpnProtocol();
    await echo(s);
    return p;
  });
  const [, port] = l.getsockname() as [string, number];
  const nc = tls.connect({ port, host: '127.0.0.1', ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
  await new Promise<void>((res, rej) => nc.once('secureConnect', res).once('error', rej));
  assert.is(nc.alpnProtocol, 'http/1.1');
  nc.write('from node');
  assert.is(String(await new Promise<Buffer>((res) => nc.once('data', res))), 'from node');
  nc.end();
  await new Promise((res) => nc.once('close', res));
  assert.is(await srv.wait(), 'http/1.1');
  l.close();

  const ns = tls.createServer({ ...srvCert, ALPNProtocols: ['h2'] }, (s) => s.pipe(s));
  await new Promise<void>((res) => ns.listen(0, '127.0.0.1', res));
  const c = await wrapSsl(await connect(['127.0.0.1', (ns.address() as { port: number }).port]), { ca, alpnProtocols: ['h2'] });
  assert.is(c.selectedAlpnProtocol(), 'h2');
  await c.sendall('to node');
  assert.is(String(await c.recv()), 'to node');
  c.close();
  await new Promise((res) => ns.close(res));
});

/** Counts the writes a GreenSocket makes from now on (sendall and writeThen, the two ways native TLS sends). */
function countWrites(raw: GreenSocket): { n: number } {
  const count = { n: 0 };
  const sendall = raw.sendall.bind(raw);
  const writeThen = raw.writeThen.bind(raw);
  raw.sendall = (data) => (count.n++, sendall(data));
  raw.writeThen = (data, done) => (count.n++, writeThen(data, done));
  return count;
}

/**
 * A node:tls client's transport over a plain net socket (tls.connect({ socket })):
 * `chunks` counts what the server's writes arrive in; with `trickle` the
 * client's writes go out 1 to 7 bytes a segment, so the server's reads cut
 * records anywhere, the handshake's included.
 */
function wire(port: number, trickle = false): { duplex: Duplex; sock: net.Socket; chunks: number[] } {
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  const chunks: number[] = [];
  let k = 0;
  const duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      if (!trickle) return void sock.write(chunk, cb);
      let off = 0;
      const next = (err?: Error | null): void => {
        if (err) return cb(err);
        if (off >= chunk.length) return cb();
        const piece = chunk.subarray(off, (off += 1 + (k++ % 7)));
        sock.write(piece, (e) => setImmediate(next, e));
      };
      next();
    },
    final(cb) {
      sock.end();
      cb();
    },
    destroy(err, cb) {
      sock.destroy();
      cb(err);
    },
  });
  sock.on('data', (b: Buffer) => {
    chunks.push(b.length);
    duplex.push(b);
  });
  sock.on('end', () => duplex.push(null));
  sock.on('error', (err) => duplex.destroy(err));
  return { duplex, sock, chunks };
}

test("a server's session tickets go out with its first answer, in one write, as node:tls sends them (alone, the answer waited for the peer's delayed ACK)", async () => {
  const l = listen(['127.0.0.1', 0]);
  const srv = spawn(async () => {
    const [raw] = await l.accept();
    const writes = countWrites(raw);
    const s = await wrapSsl(raw, serverOpts);
    const d = await s.recv();
    await s.sendall(d);
    const n = writes.n; // the server's flight (ServerHello to Finished), then tickets and answer
    assert.is(String(await s.recv()), '', 'the client ends');
    s.close();
    return n;
  });
  const [, port] = l.getsockname() as [string, number];
  const w = wire(port);
  const nc = tls.connect({ socket: w.duplex, ca, servername: 'localhost' });
  const tickets: Buffer[] = [];
  nc.on('session', (t: Buffer) => tickets.push(t));
  await new Promise<void>((res, rej) => nc.once('secureConnect', res).once('error', rej));
  nc.write('x');
  assert.is(String(await new Promise<Buffer>((res) => nc.once('data', res))), 'x');
  assert.ok(tickets.length > 0, 'the client got its session tickets');
  nc.end();
  await new Promise((res) => nc.once('close', res));
  assert.is(await srv.wait(), 2, 'the handshake flight, then tickets and answer in one write');
  // On the wire: the server's flight, then one segment with the tickets and the
  // answer (tickets sent alone would hold the answer back for the client's delayed ACK).
  assert.is(w.chunks.length, 2, `the server's writes came in ${w.chunks.join(', ')} bytes`);
  l.close();
});

test('a server that only reads still sends its session tickets (at the end of the loop turn)', async () => {
  const l = listen(['127.0.0.1', 0]);
  const srv = serveOne(l, serverOpts, async (s) => String(await s.recv()) + String(await s.recv()));
  const [, port] = l.getsockname() as [string, number];
  const nc = tls.connect({ port, host: '127.0.0.1', ca, servername: 'localhost' });
  const ticket = new Promise<Buffer>((res) => nc.once('session', res));
  await new Promise<void>((res, rej) => nc.once('secureConnect', res).once('error', rej));
  nc.write('a');
  assert.ok((await ticket).length > 0, 'a ticket came with no answer to carry it');
  // Not from the 'session' event's own turn: node:tls's client writing there
  // (inside its read of the ticket) sends a record its peer cannot decrypt,
  // a node:tls server included (bad record mac).
  await new Promise((res) => setImmediate(res));
  nc.end('b');
  await new Promise((res) => nc.once('close', res));
  assert.is(await srv.wait(), 'ab');
  l.close();
});

test('sessions resume: the server context is shared, the client passes getSession()', async () => {
  const l = listen(['127.0.0.1', 0]);
  const once = async (session?: Buffer) => {
    const srv = serveOne(l, serverOpts, async (s) => {
      await echo(s);
      return s.sessionReused();
    });
    const c = await wrapSsl(await connect(l.getsockname()), { ca, serverHostname: 'localhost', session });
    await c.sendall('x');
    await c.recv(); // the TLS 1.3 tickets came before the echo
    const reused = c.sessionReused();
    const next = c.getSession();
    c.close();
    assert.is(await srv.wait(), reused, 'both sides agree');
    return { reused, next };
  };
  const first = await once();
  assert.is(first.reused, false);
  assert.ok(first.next instanceof Buffer && first.next.length > 0);
  const second = await once(first.next);
  assert.is(second.reused, true);
  l.close();
});

test('a client certificate from the CA: requestCert and rejectUnauthorized on the server', async () => {
  const l = listen(['127.0.0.1', 0]);
  const mtls: WrapSslOptions = { ...serverOpts, ca, requestCert: true, rejectUnauthorized: true };
  const srv = serveOne(l, mtls, async (s) => s.getpeercert().subject.CN);
  const c = await wrapSsl(await connect(l.getsockname()), { ca, ...certs.client });
  assert.is((await c.recv()).length, 0);
  c.close();
  assert.is(await srv.wait(), 'evy client');
  const refused = serveOne(l, mtls, echo);
  const c2 = await wrapSsl(await connect(l.getsockname()), { ca }).catch((e: Error) => e);
  // TLS 1.3: the client finishes first and hears of the refusal on its first read.
  if (!(c2 instanceof Error)) {
    await rejection(c2.recv());
    c2.close();
  }
  assert.instance(await refused.wait(), Error);
  l.close();
});

test('renegotiation is refused (a TLS 1.2 node:tls client asking for it fails, the server goes on)', async () => {
  const l = listen(['127.0.0.1', 0]);
  const srv = serveOne(l, serverOpts, (s) => echo(s).catch((e: Error) => e));
  const [, port] = l.getsockname() as [string, number];
  const nc = tls.connect({ port, host: '127.0.0.1', ca, servername: 'localhost', maxVersion: 'TLSv1.2' });
  await new Promise<void>((res, rej) => nc.once('secureConnect', res).once('error', rej));
  assert.is(nc.getProtocol(), 'TLSv1.2');
  const failed = new Promise<Error>((res) => {
    nc.once('error', res);
    nc.renegotiate({}, (err) => err && res(err));
  });
  assert.match(String(await failed), /renegotiation|handshake failure/i);
  nc.destroy();
  await srv.wait();
  l.close();
});

test('16 MiB each way at once', async () => {
  const l = listen(['127.0.0.1', 0]);
  const size = 16 << 20;
  const srv = serveOne(l, serverOpts, async (s) => {
    const blob = Buffer.alloc(size, 7);
    const w = spawn(() => s.sendall(blob));
    let n = 0;
    for (let d; n < size && (d = await s.recv()).length > 0; ) n += d.length;
    await w.wait();
    return n;
  });
  const c = await wrapSsl(await connect(l.getsockname()), { ca, serverHostname: 'localhost' });
  const w = spawn(() => c.sendall(Buffer.alloc(size, 9)));
  let n = 0;
  let sum = 0;
  while (n < size) {
    const d = await c.recv();
    n += d.length;
    sum += d.reduce((a, b) => a + b, 0);
  }
  await w.wait();
  assert.is(n, size);
  assert.is(sum, size * 7);
  assert.is(await srv.wait(), size);
  c.close();
  l.close();
});

test('records cut anywhere by TCP, the handshake and 40 KB of data a few bytes a segment, arrive whole', async () => {
  const l = listen(['127.0.0.1', 0]);
  const srv = serveOne(l, serverOpts, echo);
  const [, port] = l.getsockname() as [string, number];
  const w = wire(port, true);
  const nc = tls.connect({ socket: w.duplex, ca, servername: 'localhost' });
  await new Promise<void>((res, rej) => nc.once('secureConnect', res).once('error', rej));
  const msg = Buffer.alloc(40_000);
  for (let i = 0; i < msg.length; i++) msg[i] = (i * 7919) & 0xff;
  const back: Buffer[] = [];
  let got = 0;
  const all = new Promise<void>((res) => nc.on('data', (d: Buffer) => {
    back.push(d);
    if ((got += d.length) >= msg.length) res();
  }));
  nc.write(msg);
  await all;
  assert.ok(Buffer.concat(back).equals(msg), 'the echo is the message, byte for byte');
  nc.end();
  await new Promise((res) => nc.once('close', res));
  assert.is(await srv.wait(), msg.length);
  l.close();
});

test('a recv after the handshake: a Timeout leaves the connection usable, a kill ends only the reader, a peer\'s close_notify is EOF', async () => {
  const l = listen(['127.0.0.1', 0]);
  const waited = new Event<boolean>();
  const srv = serveOne(l, serverOpts, async (s) => {
    const t = new Timeout(0.05);
    const timedOut = await rejection(s.recv()).finally(() => t.cancel());
    const reader = spawn(() => s.recv());
    await sleep(0.02);
    reader.kill();
    await reader.wait().catch(() => {}); // killed: a GreenletExit, or nothing
    waited.send(true);
    const late = String(await s.recv());
    await s.sendall(`got ${late}`);
    const end = await s.recv();
    return [timedOut === t, late, end.length];
  });
  const [, port] = l.getsockname() as [string, number];
  const nc = tls.connect({ port, host: '127.0.0.1', ca, servername: 'localhost' });
  await new Promise<void>((res, rej) => nc.once('secureConnect', res).once('error', rej));
  await waited.wait();
  nc.write('late');
  assert.is(String(await new Promise<Buffer>((res) => nc.once('data', res))), 'got late');
  nc.end();
  assert.equal(await srv.wait(), [true, 'late', 0]);
  await new Promise((res) => nc.once('close', res));
  l.close();
});

test('a record that does not decrypt after the handshake: recv throws OpenSSL\'s error the way node:tls names it; nothing left', async () => {
  const l = listen(['127.0.0.1', 0]);
  const srv = serveOne(l, serverOpts, async (s) => {
    const first = String(await s.recv());
    return [first, await rejection(s.recv())];
  });
  const [, port] = l.getsockname() as [string, number];
  const w = wire(port);
  const nc = tls.connect({ socket: w.duplex, ca, servername: 'localhost' });
  nc.on('error', () => {}); // the server's alert
  await new Promise<void>((res, rej) => nc.once('secureConnect', res).once('error', rej));
  nc.write('fine');
  await sleep(0.02);
  w.sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'); // under the TLS layer: not a record
  const [first, err] = (await srv.wait()) as [string, NodeJS.ErrnoException];
  assert.is(first, 'fine');
  assert.match(String(err.code), /^ERR_SSL_/, `a TLS error, not the transport's: ${err.code} ${err.message}`);
  assert.match(err.message, /^error:/);
  nc.destroy();
  l.close();
});

test('a Timeout and a kill interrupt a handshake the peer never answers; the socket is closed', async () => {
  const l = listen(['127.0.0.1', 0]);
  const accepted = new Event<GreenSocket[]>();
  const srv = spawn(async () => accepted.send([(await l.accept())[0], (await l.accept())[0]]));
  const raw = await connect(l.getsockname());
  const t = new Timeout(0.05);
  assert.is(await rejection(wrapSsl(raw, { ca, serverHostname: 'localhost' })), t);
  assert.ok(raw.closed);
  const raw2 = await connect(l.getsockname());
  const hs = spawn(() => wrapSsl(raw2, { ca, serverHostname: 'localhost' }));
  await sleep(0.01);
  hs.kill();
  await hs.wait().catch(() => {}); // killed: a GreenletExit, or nothing
  assert.ok(raw2.closed);
  for (const s of await accepted.wait()) s.close();
  await srv.wait();
  l.close();
});

test('a server handshake cut by a Timeout, by kill, by garbage and by a half-open peer: clear errors, nothing left', async () => {
  const l = listen(['127.0.0.1', 0]);
  const attempt = async (client: (raw: GreenSocket) => Promise<void>, interrupt?: 'timeout' | 'kill') => {
    const srv = spawn(async () => {
      const [conn] = await l.accept();
      if (interrupt === 'timeout') {
        const t = new Timeout(0.05);
        try {
          return await rejection(wrapSsl(conn, serverOpts));
        } finally {
          t.cancel();
        }
      }
      return rejection(wrapSsl(conn, serverOpts));
    });
    const raw = await connect(l.getsockname());
    await client(raw);
    if (interrupt === 'kill') {
      await sleep(0.02);
      srv.kill();
      await srv.wait().catch(() => {});
      assert.is((await raw.recv()).length, 0, 'the killed handshake closed its socket');
      raw.close();
      return null;
    }
    const err = await srv.wait();
    raw.close();
    return err as NodeJS.ErrnoException;
  };
  const garbage = await attempt(async (raw) => raw.sendall('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  assert.match(String(garbage.code), /^ERR_SSL_/);
  // The first bytes of a ClientHello, then the write side ends.
  const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
  const half = await attempt(async (raw) => {
    await raw.sendall(hello);
    raw.shutdown(1);
  });
  assert.match(half.message, /peer closed the connection during the TLS handshake/);
  const silent = await attempt(async (raw) => raw.sendall(hello), 'timeout');
  assert.instance(silent, Timeout);
  await attempt(async (raw) => raw.sendall(hello), 'kill');
  l.close();
});

test('bad input: an unreadable key, an ALPN name too long, a closed socket after close()', async () => {
  const l = listen(['127.0.0.1', 0]);
  const srv = spawn(async () => (await l.accept())[0].close());
  const raw = await connect(l.getsockname());
  const err = (await rejection(wrapSsl(raw, { serverSide: true, key: 'not a key', cert: srvCert.cert }))) as NodeJS.ErrnoException;
  assert.match(String(err.code), /^ERR_OSSL_/);
  assert.ok(raw.closed);
  await srv.wait();
  const srv1 = spawn(async () => (await l.accept())[0].close());
  const raw2 = await connect(l.getsockname());
  assert.match(String(await rejection(wrapSsl(raw2, { alpnProtocols: ['x'.repeat(300)] }))), /ALPN protocol name is 1 to 255 bytes/);
  assert.ok(raw2.closed);
  await srv1.wait();
  const srv2 = serveOne(l, serverOpts, echo);
  const c = await wrapSsl(await connect(l.getsockname()), { ca, serverHostname: 'localhost' });
  c.close();
  c.close();
  assert.is((await rejection(c.recv()) as NodeJS.ErrnoException).code, 'EBADF');
  assert.is((await rejection(c.sendall('x')) as NodeJS.ErrnoException).code, 'EBADF');
  await srv2.wait();
  l.close();
});

test('an encrypted key with its passphrase; without it a clear error, no prompt', async () => {
  const l = listen(['127.0.0.1', 0]);
  const srv = serveOne(l, { serverSide: true, key: certs.encryptedKey, passphrase: 'sesame', cert: srvCert.cert }, echo);
  const c = await wrapSsl(await connect(l.getsockname()), { ca, serverHostname: 'localhost' });
  await c.sendall('k');
  assert.is(String(await c.recv()), 'k');
  c.close();
  await srv.wait();
  const srv2 = spawn(async () => (await l.accept())[0].close());
  const raw = await connect(l.getsockname());
  const err = (await rejection(wrapSsl(raw, { serverSide: true, key: certs.encryptedKey, cert: srvCert.cert }))) as NodeJS.ErrnoException;
  assert.match(String(err.code), /^ERR_OSSL_/);
  await srv2.wait();
  l.close();
});

test('a secureContext still runs on node:tls', async () => {
  const l = listen(['127.0.0.1', 0]);
  const secureContext = tls.createSecureContext({ ...srvCert });
  const srv = serveOne(l, { serverSide: true, secureContext }, echo);
  const c = await wrapSsl(await connect(l.getsockname()), { ca, serverHostname: 'localhost' });
  await c.sendall('ctx');
  assert.is(String(await c.recv()), 'ctx');
  c.close();
  await srv.wait();
  l.close();
});

test('on node:tls, a handshake that fails verification fails cleanly on both sides: the reader that fed it is not killed from inside itself', async () => {
  const l = listen(['127.0.0.1', 0]);
  const secureContext = tls.createSecureContext({ ...srvCert });
  const srv = serveOne(l, { serverSide: true, secureContext }, echo);
  const raw = await connect(l.getsockname());
  // a secureContext with no CA: the client runs on node:tls too, and refuses the certificate
  const err = (await rejection(wrapSsl(raw, { secureContext: tls.createSecureContext({}), serverHostname: 'localhost' }))) as NodeJS.ErrnoException;
  assert.is(err.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  const got = await srv.wait();
  assert.instance(got, Error, 'the server side reports the failed handshake');
  assert.match(String((got as Error).message), /alert|socket|closed|hang up|ECONNRESET/i);
  l.close();
});

test.run();
