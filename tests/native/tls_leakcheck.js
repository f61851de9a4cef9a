// Native TLS (src/tls.c) under valgrind (`make leakcheck`): handshakes that
// succeed, fail verification, meet garbage or a peer that goes away; bulk
// transfers; connections closed mid-transfer and dropped without close() (the
// finalizer frees the SSL); contexts made and collected; and a worker thread
// that ends with TLS connections open. Run by Makefile, not by uvu.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const dist = path.join(__dirname, '..', '..', 'dist');
const evy = require(path.join(dist, 'index.js'));
const { liveTlsSessions } = require(path.join(dist, 'io', 'tls_native.js'));

function cert() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evy-tlsleak-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', path.join(dir, 'k'), '-out', path.join(dir, 'c')], { stdio: 'ignore' });
    return { key: fs.readFileSync(path.join(dir, 'k')), cert: fs.readFileSync(path.join(dir, 'c')) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const { listen, connect, spawn, sleep, wrapSsl } = evy;
  const { key, cert: crt } = cert();
  const server = listen(['127.0.0.1', 0]);
  const handlers = [];
  const acceptor = spawn(async () => {
    for (;;) {
      const [conn] = await server.accept();
      handlers.push(spawn(async () => {
        let s;
        try {
          s = await wrapSsl(conn, { serverSide: true, key, cert: crt, alpnProtocols: ['x'] });
          for (let d; (d = await s.recv()).length > 0; ) await s.sendall(d);
        } catch {
          // garbage, a failed verification, a peer gone
        } finally {
          if (s) s.close();
          conn.close();
        }
      }));
    }
  });
  const addr = server.getsockname();
  const big = Buffer.alloc(2 << 20, 3);
  let session;
  for (let i = 0; i < 10; i++) {
    const c = await wrapSsl(await connect(addr), { ca: crt, serverHostname: 'localhost', alpnProtocols: ['x'], session });
    await c.sendall('ping');
    if (String(await c.recv()) !== 'ping') throw new Error('bad echo');
    c.getpeercert(true);
    c.cipher();
    session = c.getSession();
    const [, got] = await Promise.all([c.sendall(big), spawn(readBytes, c, big.length).wait()]);
    if (got !== big.length) throw new Error('short bulk echo');
    if (i % 2) c.shutdown();
    c.close();
  }
  for (let i = 0; i < 5; i++) {
    // verification fails (no ca), garbage, a peer gone mid-handshake
    await wrapSsl(await connect(addr), { serverHostname: 'localhost' }).catch(() => {});
    const g = await connect(addr);
    await g.sendall('GET / HTTP/1.0\r\n\r\n');
    await g.recv().catch(() => {});
    g.close();
    const h = await connect(addr);
    await h.sendall(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    h.close();
    // closed with a transfer under way, and dropped without close()
    const c = await wrapSsl(await connect(addr), { ca: crt, serverHostname: 'localhost' });
    c.sendall(big).catch(() => {});
    await sleep(0);
    c.close();
    const d = await wrapSsl(await connect(addr), { ca: crt, serverHostname: 'localhost' });
    d.sendall('x').catch(() => {});
    global.gc();
    await sleep(0.01);
  }
  // Contexts beyond the cache's 64: the older ones are collected.
  for (let i = 0; i < 70; i++) {
    const c = await wrapSsl(await connect(addr), { ca: Buffer.from(crt), serverHostname: 'localhost' });
    c.close();
  }
  await sleep(0.1);
  acceptor.kill();
  for (const h of handlers) h.kill();
  server.close();
  for (let i = 0; i < 5; i++) {
    global.gc();
    await sleep(0.05);
  }
  await worker(key, crt);
  console.log(`tls leakcheck: ok (${liveTlsSessions()} SSL objects not yet collected)`);
}

async function readBytes(c, want) {
  let n = 0;
  while (n < want) n += (await c.recv()).length;
  return n;
}

// A worker's hub torn down with a TLS server and client connected.
async function worker(key, crt) {
  const { Worker } = require('node:worker_threads');
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const evy = require(${JSON.stringify(path.join(dist, 'index.js'))});
    (async () => {
      const server = evy.listen(['127.0.0.1', 0]);
      evy.spawn(async () => {
        const [conn] = await server.accept();
        const s = await evy.wrapSsl(conn, { serverSide: true, key: workerData.key, cert: workerData.crt });
        await s.recv();
      });
      const c = await evy.wrapSsl(await evy.connect(server.getsockname()), { ca: workerData.crt, serverHostname: 'localhost' });
      evy.spawn(() => c.sendall(Buffer.alloc(4 << 20)));
      parentPort.postMessage('up');
    })();`;
  const w = new Worker(code, { eval: true, workerData: { key, crt } });
  await new Promise((resolve) => w.once('message', resolve));
  await w.terminate();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
