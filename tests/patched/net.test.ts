import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import * as http from 'node:http';
import * as stockNet from 'node:net';
import { SocketTimeout, Timeout, sleep, spawn } from 'evy';
import * as gnet from 'evy/patched/net';
import { assertClean, rejection, settle } from '../helpers';

test.after.each(assertClean);

/** Listens on a loopback port; resolves it. */
async function listen(server: stockNet.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as stockNet.AddressInfo).port;
}

/** An evy server, a connected client and the accepted server side. */
async function pair(): Promise<{ server: gnet.Server; client: gnet.Socket; conn: gnet.Socket; port: number }> {
  const server = gnet.createServer();
  const port = await listen(server);
  const client = gnet.connect(port, '127.0.0.1');
  await client.connected();
  const [conn] = await server.accept();
  return { server, client, conn, port };
}

async function closeAll(server: stockNet.Server, ...socks: stockNet.Socket[]): Promise<void> {
  for (const s of socks) s.destroy();
  const closed = once(server, 'close');
  server.close();
  await closed;
}

/** Listener counts of the events the green calls use. */
function counts(s: stockNet.Socket): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of ['readable', 'data', 'end', 'close', 'error', 'drain', 'connect']) out[e] = s.listenerCount(e);
  return out;
}

test('every node:net export is there: Socket, Stream and connect are node\'s own, Server and createServer evy\'s', () => {
  const green = new Set(['Server', 'createServer']);
  for (const key of Object.keys(stockNet)) {
    if (key === 'default') continue;
    const ours = (gnet as Record<string, unknown>)[key];
    if (green.has(key)) assert.is.not(ours, (stockNet as Record<string, unknown>)[key], key);
    else assert.is(ours, (stockNet as Record<string, unknown>)[key], key);
  }
  assert.ok(new gnet.Server() instanceof stockNet.Server, 'an evy Server is a net.Server');
  assert.ok(new stockNet.Server() instanceof gnet.Server, 'and the other way round: one prototype');
  const s = new stockNet.Socket();
  assert.type((s as unknown as { recv?: unknown }).recv, 'function', 'importing evy/patched/net gives every socket the green calls');
  assert.is(Object.keys(s).includes('recv'), false, 'as non-enumerable methods of the prototype');
});

test('round trip: connected, accept, sendall, recv, recvInto, EOF as an empty Buffer', async () => {
  const { server, client, conn, port } = await pair();
  assert.instance(conn, gnet.Socket);
  assert.type(conn.recv, 'function');
  await client.sendall('hello ');
  await client.sendall(Buffer.from('world'));
  let got = '';
  while (got.length < 11) got += String(await conn.recv());
  assert.is(got, 'hello world');
  assert.is(await conn.send('abcdef'), 6);
  assert.equal(await client.recv(3), Buffer.from('abc'), 'recv(n) returns at most n bytes');
  const buf = Buffer.alloc(10);
  assert.is(await client.recvInto(buf), 3);
  assert.is(buf.subarray(0, 3).toString(), 'def');
  client.end();
  assert.is((await conn.recv()).length, 0, 'EOF');
  assert.is((await conn.recv()).length, 0, 'EOF again');
  assert.is(await conn.recvInto(buf), 0, 'recvInto at EOF');
  assert.ok(port > 0);
  await closeAll(server, client, conn);
});

test('accept: connections queue up, in order, before anyone accepts', async () => {
  const server = gnet.createServer();
  const port = await listen(server);
  const clients: gnet.Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const c = gnet.connect(port, '127.0.0.1');
    await c.connected();
    await c.sendall(`client ${i}`);
    clients.push(c);
  }
  await sleep(0.02);
  for (let i = 0; i < 3; i++) {
    const [conn, addr] = await server.accept();
    assert.equal(addr, ['127.0.0.1', clients[i].localPort]);
    assert.is(String(await conn.recv()), `client ${i}`);
    conn.destroy();
  }
  await closeAll(server, ...clients);
});

test('accept waits; several acceptors are served in turn; a server error goes to them', async () => {
  const server = gnet.createServer();
  const port = await listen(server);
  const a = spawn(() => server.accept());
  const b = spawn(() => server.accept());
  await sleep(0);
  assert.is(server.listenerCount('error'), 1, 'one error listener while threads wait');
  const c1 = gnet.connect(port, '127.0.0.1');
  const c2 = gnet.connect(port, '127.0.0.1');
  const [[s1], [s2]] = [await a.wait(), await b.wait()];
  assert.is(server.listenerCount('error'), 0, 'no error listener once nobody waits');
  assert.equal(new Set([s1.remotePort, s2.remotePort]), new Set([c1.localPort, c2.localPort]));
  const waiting = spawn(() => server.accept());
  await sleep(0);
  server.emit('error', new Error('boom'));
  assert.is(((await rejection(waiting.wait())) as Error).message, 'boom');
  assert.is(server.listenerCount('error'), 0);
  await closeAll(server, c1, c2, s1, s2);
});

test('accept on a closed server, and close() while a thread waits: EBADF', async () => {
  const server = gnet.createServer();
  await listen(server);
  const waiting = spawn(() => server.accept());
  await sleep(0);
  server.close();
  const err = (await rejection(waiting.wait())) as NodeJS.ErrnoException;
  assert.is(err.code, 'EBADF');
  assert.match(err.message, /accept on a closed socket/);
  assert.is(((await rejection(server.accept())) as NodeJS.ErrnoException).code, 'EBADF');
  assert.is(server.listenerCount('error'), 0);
});

test('a Timeout around accept leaves no listener behind', async () => {
  const server = gnet.createServer();
  await listen(server);
  const before = server.listenerCount('error');
  const t = new Timeout(0.02);
  assert.is(await rejection(server.accept()), t);
  assert.is(server.listenerCount('error'), before);
  await closeAll(server);
});

test('the socket timeout: recv raises SocketTimeout, leaves no listener, and the socket stays usable', async () => {
  const { server, client, conn } = await pair();
  conn.settimeout(0.03);
  assert.is(conn.gettimeout(), 0.03);
  await client.sendall('x');
  assert.is(String(await conn.recv()), 'x');
  const before = counts(conn);
  const t0 = performance.now();
  const err = (await rejection(conn.recv())) as SocketTimeout;
  assert.instance(err, SocketTimeout);
  assert.is(err.code, 'ETIMEDOUT');
  assert.match(err.message, /recv timed out after 0\.03 seconds/);
  assert.ok(performance.now() - t0 >= 25);
  assert.equal(counts(conn), before, 'no listener left by the timed-out wait');
  assert.not.ok(conn.destroyed);
  await client.sendall('still here');
  assert.is(String(await conn.recv()), 'still here');
  assert.throws(() => conn.settimeout(-1), /non-negative number of seconds/);
  conn.settimeout(null);
  assert.is(conn.gettimeout(), null);
  assert.is(conn.timeout, undefined, "node's own timeout property is left alone");
  await closeAll(server, client, conn);
});

test('settimeout(0): recv with nothing there fails EAGAIN at once', async () => {
  const { server, client, conn } = await pair();
  conn.settimeout(0);
  assert.is(((await rejection(conn.recv())) as NodeJS.ErrnoException).code, 'EAGAIN');
  await closeAll(server, client, conn);
});

test('a Timeout in recv: the Timeout is raised, the socket stays usable, nothing is lost', async () => {
  const { server, client, conn } = await pair();
  await client.sendall('a');
  assert.is(String(await conn.recv()), 'a');
  const before = counts(conn);
  for (let i = 0; i < 5; i++) {
    const t = new Timeout(0.01);
    assert.is(await rejection(conn.recv()), t);
  }
  assert.equal(counts(conn), before, 'no listener piles up');
  await client.sendall('b');
  assert.is(String(await conn.recv()), 'b');
  await closeAll(server, client, conn);
});

test('kill while blocked in recv: the thread exits, the socket stays usable', async () => {
  const { server, client, conn } = await pair();
  const reader = spawn(() => conn.recv());
  await sleep(0.01);
  const before = counts(conn);
  reader.kill();
  assert.is(await reader.wait(), undefined, 'GreenletExit: a clean exit');
  assert.equal(counts(conn), before);
  assert.not.ok(conn.destroyed);
  await client.sendall('after the kill');
  assert.is(String(await conn.recv()), 'after the kill');
  await closeAll(server, client, conn);
});

test('two readers at once: the second is a clear error', async () => {
  const { server, client, conn } = await pair();
  const reader = spawn(() => conn.recv());
  await sleep(0);
  assert.match(String(await rejection(conn.recv())), /another green thread is already reading/);
  client.end();
  assert.is((await reader.wait()).length, 0);
  await closeAll(server, client, conn);
});

test('sendall: back-pressure from a peer that does not read, then the kernel takes it all', async () => {
  const { server, client, conn } = await pair();
  const big = Buffer.alloc(32 << 20, 7);
  const writer = spawn(() => client.sendall(big));
  await sleep(0.2);
  assert.not.ok(writer.dead, 'sendall waits while the peer reads nothing');
  let n = 0;
  while (n < big.length) n += (await conn.recv()).length;
  await writer.wait();
  assert.is(n, big.length);
  await closeAll(server, client, conn);
});

test('send resolves the length at once below the high-water mark, and waits for drain above it', async () => {
  const { server, client, conn } = await pair();
  assert.is(await client.send('abc'), 3);
  const big = Buffer.alloc(32 << 20, 1);
  const writer = spawn(() => client.send(big));
  await sleep(0.1);
  assert.not.ok(writer.dead, 'send waits for drain while the peer reads nothing');
  let n = 0;
  while (n < big.length + 3) n += (await conn.recv()).length;
  assert.is(await writer.wait(), big.length);
  assert.is(client.listenerCount('drain'), 1, "the socket's one drain listener");
  await closeAll(server, client, conn);
});

test('kill while blocked in sendall: the socket is not destroyed, the data still goes out', async () => {
  const { server, client, conn } = await pair();
  const big = Buffer.alloc(16 << 20, 3);
  const writer = spawn(() => client.sendall(big));
  await sleep(0.1);
  assert.not.ok(writer.dead);
  writer.kill();
  assert.is(await writer.wait(), undefined);
  assert.not.ok(client.destroyed);
  const reader = spawn(async () => {
    let n = 0;
    let tail = '';
    while (n < big.length + 3) {
      const d = await conn.recv();
      n += d.length;
      tail = (tail + d.subarray(-3).toString('latin1')).slice(-3);
    }
    return [n, tail];
  });
  await client.sendall('end'); // queued behind the killed write: it waits for that too
  assert.equal(await reader.wait(), [big.length + 3, 'end']);
  await closeAll(server, client, conn);
});

test('sendall after end() fails EPIPE (no unhandled error event); after destroy EBADF', async () => {
  const { server, client, conn } = await pair();
  client.end();
  const err = (await rejection(client.sendall('late'))) as NodeJS.ErrnoException;
  assert.is(err.code, 'EPIPE');
  client.destroy();
  assert.is(((await rejection(client.sendall('x'))) as NodeJS.ErrnoException).code, 'EBADF');
  await closeAll(server, client, conn);
});

test('a connection reset reaches the thread in recv as ECONNRESET', async () => {
  const { server, client, conn } = await pair();
  const reader = spawn(() => client.recv());
  await sleep(0.01);
  conn.resetAndDestroy();
  const err = (await rejection(reader.wait())) as NodeJS.ErrnoException;
  assert.is(err.code, 'ECONNRESET');
  assert.is(((await rejection(client.recv())) as NodeJS.ErrnoException).code, 'ECONNRESET', 'and the next recv');
  await closeAll(server, client, conn);
});

test('after a green call, a reset while nobody waits is kept for the next recv (no crash)', async () => {
  const { server, client, conn } = await pair();
  await client.sendall('x'); // the first green call
  await conn.recv();
  conn.resetAndDestroy();
  await new Promise((res) => client.once('close', res)); // (events.once would reject on the 'error')
  assert.is(((await rejection(client.recv())) as NodeJS.ErrnoException).code, 'ECONNRESET');
  await closeAll(server, client, conn);
});

test('a destroyed socket: recv EBADF, waiting reader gets EBADF', async () => {
  const { server, client, conn } = await pair();
  const reader = spawn(() => conn.recv());
  await sleep(0.01);
  conn.destroy();
  assert.is(((await rejection(reader.wait())) as NodeJS.ErrnoException).code, 'EBADF');
  assert.is(((await rejection(conn.recv())) as NodeJS.ErrnoException).code, 'EBADF');
  await closeAll(server, client, conn);
});

test('connected(): refused is the Node error; an already-connected socket resolves at once', async () => {
  const probe = gnet.createServer();
  const port = await listen(probe);
  await closeAll(probe);
  const s = gnet.connect(port, '127.0.0.1');
  const err = (await rejection(s.connected())) as NodeJS.ErrnoException;
  assert.is(err.code, 'ECONNREFUSED');
  assert.equal(counts(s).connect, 0, 'no connect listener left');
  assert.is(((await rejection(s.connected())) as NodeJS.ErrnoException).code, 'ECONNREFUSED', 'again, from socket.errored');
  assert.match(String(await rejection(new gnet.Socket().connected())), /connect\(\) was never called/);
  const { server, client, conn } = await pair();
  await client.connected();
  await closeAll(server, client, conn);
});

test('kill while connected() waits: the socket, still connecting, is destroyed (Evy closes an interrupted connect)', async () => {
  const server = stockNet.createServer((s) => s.destroy());
  const port = await listen(server);
  let s!: gnet.Socket;
  let wasConnecting = false;
  const waiter = spawn(() => {
    s = gnet.connect(port, '127.0.0.1');
    return s.connected();
  });
  // Started in the same hub batch, right after the waiter parked: before any I/O.
  const killer = spawn(() => {
    wasConnecting = s.connecting;
    waiter.kill();
  });
  assert.is(await waiter.wait(), undefined);
  await killer.wait();
  assert.ok(wasConnecting, 'still connecting when killed');
  assert.ok(s.destroyed);
  assert.equal(counts(s).connect, 0, 'no connect listener left');
  await closeAll(server);
});

test('a socket nobody calls green methods on behaves as stock: same events, same order, no extra listeners', async () => {
  async function run(mod: typeof stockNet): Promise<string[][]> {
    // One log per socket: the order of events on one object is deterministic.
    const slog: string[] = [];
    const clog: string[] = [];
    let serverSocketClosed!: Promise<unknown>;
    const server = mod.createServer((s) => {
      serverSocketClosed = new Promise((res) => s.on('close', res));
      s.on('data', (d) => {
        slog.push(`data ${d}`);
        s.end('bye');
      });
      s.on('end', () => slog.push('end'));
      s.on('finish', () => slog.push('finish'));
      s.on('close', () => slog.push(`close ${s.listenerCount('readable')} ${s.listenerCount('error')}`));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const c = mod.connect((server.address() as stockNet.AddressInfo).port, '127.0.0.1', () => clog.push('connect callback'));
    c.on('connect', () => clog.push('connect'));
    c.on('ready', () => clog.push('ready'));
    c.on('data', (d) => clog.push(`data ${d}`));
    c.on('end', () => clog.push('end'));
    c.on('finish', () => clog.push('finish'));
    const closed = once(c, 'close');
    c.write('hi', () => clog.push('write callback'));
    await closed;
    clog.push(`close ${c.listenerCount('readable')} ${c.listenerCount('error')} ${c.readableFlowing}`);
    await serverSocketClosed;
    server.close();
    await once(server, 'close');
    return [clog, slog];
  }
  const stockLog = await run(stockNet);
  const greenLog = await run(gnet as unknown as typeof stockNet);
  assert.equal(greenLog, stockLog);
  assert.ok(stockLog[0].includes('data bye'));
});

test("recv switches the socket to paused mode; 'data' listeners still see each byte once", async () => {
  const { server, client, conn } = await pair();
  const seen: string[] = [];
  conn.on('data', (d: Buffer) => seen.push(String(d)));
  assert.is(conn.readableFlowing, true, "stock: a 'data' listener makes it flow");
  await client.sendall('one');
  await sleep(0.01);
  assert.equal(seen, ['one'], 'flowing until the first recv');
  const reader = spawn(() => conn.recv());
  await sleep(0);
  assert.is(conn.readableFlowing, false, 'recv paused it');
  await client.sendall('two');
  assert.is(String(await reader.wait()), 'two');
  assert.equal(seen, ['one', 'two'], 'what recv read was emitted as data too');
  await client.sendall('three');
  await sleep(0.01);
  assert.equal(seen, ['one', 'two'], 'paused: nothing flows without a recv');
  assert.is(String(await conn.recv()), 'three');
  assert.equal(seen, ['one', 'two', 'three']);
  assert.is(conn.listenerCount('readable'), 1, 'one readable listener, for good');
  await closeAll(server, client, conn);
});

test('makefile: readline and write over a net socket', async () => {
  const { server, client, conn } = await pair();
  const f = conn.makefile('rw');
  await client.sendall('line one\nline two\n');
  assert.is(await f.readline(), 'line one\n');
  assert.is(await f.readline(), 'line two\n');
  await f.write('reply\n');
  await f.flush();
  const cf = client.makefile('rb');
  assert.equal(await cf.readline(), Buffer.from('reply\n'));
  await f.close();
  assert.not.ok(conn.destroyed, "closing the file leaves the socket open");
  await closeAll(server, client, conn);
  assert.throws(() => conn.makefile('r'), /closed socket/);
});

test('recv arguments are checked', async () => {
  const { server, client, conn } = await pair();
  assert.match(String(await rejection(conn.recv(-1))), /bufsize must be a non-negative integer/);
  assert.match(String(await rejection(conn.recvInto('x' as unknown as Buffer))), /buf must be a Buffer/);
  assert.match(String(await rejection(conn.sendall(42 as unknown as string))), /data must be a Buffer, Uint8Array or string, got number/);
  await closeAll(server, client, conn);
});

test('a server made with a connection listener hands sockets to it (evy Sockets) and queues nothing', async () => {
  const got: gnet.Socket[] = [];
  const server = gnet.createServer((s) => got.push(s));
  const port = await listen(server);
  const c = gnet.connect(port, '127.0.0.1');
  await c.connected();
  await sleep(0.01);
  assert.is(got.length, 1);
  assert.instance(got[0], gnet.Socket);
  const t = new Timeout(0.02);
  assert.is(await rejection(server.accept()), t, 'the connection was not queued');
  await closeAll(server, c, ...got);
});

test('__evyPatch leaves the builtin its classes and functions; http\'s sockets have the green calls', async () => {
  const mod = { ...stockNet } as typeof stockNet;
  gnet.__evyPatch(mod);
  // Node calls net.Socket / net.Server as functions (net.Socket.call(this)): they must stay Node's.
  assert.is(mod.Socket, stockNet.Socket);
  assert.is(mod.Server, stockNet.Server);
  assert.is(mod.connect, stockNet.connect);
  assert.type((new stockNet.Server() as unknown as gnet.Server).accept, 'function');

  // An http server's request socket can be read and written green.
  const server = http.createServer((req, res) => {
    const sock = req.socket as unknown as gnet.Socket;
    spawn(async () => {
      await sock.sendall('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\ngreen');
      sock.end();
    });
    void res;
  });
  const port = await listen(server);
  const c = gnet.connect(port, '127.0.0.1');
  await c.sendall('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  let text = '';
  for (;;) {
    const d = await c.recv();
    if (d.length === 0) break;
    text += d;
  }
  assert.match(text, /\r\n\r\ngreen$/);
  c.destroy();
  server.close();
  await once(server, 'close');
  await settle();
});


test.run();
