// Exercises the native hub under valgrind (`make leakcheck`): poll handles
// (listeners added and removed, trampolines woken and timed out, polls dropped
// without pollClose() so their finalizer path runs) and sockets (TCP echo with
// small and bulk transfers through the event batches, queued writes, UDP,
// sockets closed with events pending, sockets dropped without close()), and
// hubs in worker threads torn down with handles open.
// Run by Makefile, not by uvu.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const dist = path.join(__dirname, '..', '..', 'dist');
const evy = require(path.join(dist, 'index.js'));
const { trampoline } = require(path.join(dist, 'hubs.js'));
const { binding } = require(path.join(dist, 'hub', 'binding.js'));

async function main() {
  const hub = evy.getHub();
  for (let i = 0; i < 100; i++) {
    const [r, w] = binding.pipe();
    const writer = hub.addWriter(w, () => {});
    const reader = evy.spawn(async () => {
      await trampoline(r, { read: true });
      return fs.readSync(r, Buffer.alloc(16));
    });
    await evy.sleep(0);
    fs.writeSync(w, 'hello');
    if ((await reader.wait()) !== 5) throw new Error('short read');
    hub.remove(writer);
    await trampoline(r, { read: true, timeout: 0.001 }).catch((e) => {
      if (!(e instanceof evy.Timeout)) throw e;
    });
    // Dropped without pollClose(): collected, its finalizer closes it. The fds
    // stay open until then (closing a polled fd first is a libuv error).
    binding.pollOpen(r, () => {});
    global.gc();
    await evy.sleep(0.001);
    fs.closeSync(r);
    fs.closeSync(w);
  }
  await sockets();
  await workers();
  const counts = hub.counts();
  if (counts.timers || counts.listeners || counts.threads) throw new Error(`leftovers: ${JSON.stringify(counts)}`);
  console.log('leakcheck: ok');
}

async function sockets() {
  const { listen, connect, GreenSocket, spawn, sleep } = evy;
  const { AF_INET, SOCK_DGRAM } = require(path.join(dist, 'patched', 'socket.js'));
  const server = listen(['127.0.0.1', 0]);
  const handlers = [];
  const echo = spawn(async () => {
    for (;;) {
      const [conn] = await server.accept();
      handlers.push(
        spawn(async () => {
          try {
            for (let d; (d = await conn.recv()).length > 0; ) await conn.sendall(d);
          } catch {
            // reset by a client dropped without close()
          } finally {
            conn.close();
          }
        }),
      );
    }
  });
  const big = Buffer.alloc(3 * 1024 * 1024, 7);
  for (let i = 0; i < 20; i++) {
    const c = await connect(server.getsockname());
    await c.sendall('ping');
    if ((await c.recv()).toString() !== 'ping') throw new Error('bad echo');
    // bulk: the slab fills, batches flush early, writes queue natively
    const reader = spawn(async () => {
      let n = 0;
      while (n < big.length) n += (await c.recv()).length;
      return n;
    });
    await c.sendall(big);
    if ((await reader.wait()) !== big.length) throw new Error('short bulk echo');
    c.close();
  }
  for (let i = 0; i < 20; i++) {
    // dropped without close(), with a write queued: the finalizer closes it
    const c = await connect(server.getsockname());
    c.sendall(big).catch(() => {});
    global.gc();
    await sleep(0.001);
  }
  await sleep(0.05);
  global.gc();
  await sleep(0.05);
  for (let i = 0; i < 50; i++) {
    const a = new GreenSocket(AF_INET, SOCK_DGRAM);
    const b = new GreenSocket(AF_INET, SOCK_DGRAM);
    a.bind(['127.0.0.1', 0]);
    b.bind(['127.0.0.1', 0]);
    await a.sendto('x', b.getsockname());
    const [d] = await b.recvfrom();
    if (d.toString() !== 'x') throw new Error('bad datagram');
    await a.sendto('pending', b.getsockname());
    await sleep(0);
    a.close();
    b.close(); // with a datagram received and unread
  }
  echo.kill();
  for (const h of handlers) h.kill();
  server.close();
  global.gc();
  await sleep(0.05);
}

// evy in worker threads: each worker's hub is torn down when it ends, with
// sockets, a queued write and a poll still open (the fixture leaves them).
async function workers() {
  const { Worker } = require('node:worker_threads');
  const world = path.join(__dirname, '..', 'hub', 'fixtures', 'world.js');
  for (const [i, end] of ['terminate', 'exit', 'terminate'].entries()) {
    const w = new Worker(world, { workerData: { name: `w${i}`, leave: 'everything' } });
    const report = await new Promise((resolve) => w.once('message', resolve));
    if (report.error) throw new Error(report.error);
    const exited = new Promise((resolve) => w.once('exit', resolve));
    if (end === 'exit') w.postMessage('exit');
    else await w.terminate();
    await exited;
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
