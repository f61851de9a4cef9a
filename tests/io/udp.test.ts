import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Event, Timeout, sleep, spawn } from 'evy';
import { AF_INET, AF_INET6, AF_UNIX, SOCK_DGRAM, SocketTimeout, socket, type GreenSocket } from 'evy/patched/socket';
import { assertClean, rejection, settle, socketFds } from '../helpers';

test.after.each(assertClean);

function udp(family = AF_INET, host = '127.0.0.1'): GreenSocket {
  const s = socket(family, SOCK_DGRAM);
  s.bind([host, 0]);
  return s;
}

function hasIPv6(): boolean {
  try {
    udp(AF_INET6, '::1').close();
    return true;
  } catch {
    return false;
  }
}

test('sendto / recvfrom round trip: the reply goes to the sender', async () => {
  const server = udp();
  const client = udp();
  const echo = spawn(async () => {
    const [data, from] = await server.recvfrom(1024);
    await server.sendto(Buffer.concat([Buffer.from('re: '), data]), from);
  });
  assert.is(await client.sendto('ping', server.getsockname()), 4);
  const [reply, from] = await client.recvfrom(1024);
  assert.is(reply.toString(), 're: ping');
  assert.equal(from, server.getsockname());
  await echo.wait();
  server.close();
  client.close();
});

test('datagram boundaries are kept, in order, and queued while nobody reads', async () => {
  const a = udp();
  const b = udp();
  // The first recv starts receiving; later datagrams queue in the socket.
  const first = spawn(() => b.recv());
  for (const m of ['one', 'two', 'three', '']) await a.sendto(m, b.getsockname());
  assert.is((await first.wait()).toString(), 'one');
  await settle();
  assert.is((await b.recv()).toString(), 'two');
  assert.is((await b.recv()).toString(), 'three');
  assert.is((await b.recv()).length, 0, 'an empty datagram is a datagram');
  a.close();
  b.close();
});

test('a datagram longer than bufsize is cut; recvInto and recvfromInto fill a buffer', async () => {
  const a = udp();
  const b = udp();
  await a.sendto('abcdefgh', b.getsockname());
  assert.is((await b.recv(3)).toString(), 'abc');
  await a.sendto('0123456789', b.getsockname());
  const buf = Buffer.alloc(4);
  assert.is(await b.recvInto(buf), 4);
  assert.is(buf.toString(), '0123');
  await a.sendto('xy', b.getsockname());
  const big = Buffer.alloc(16);
  const [n, from] = await b.recvfromInto(big);
  assert.is(n, 2);
  assert.is(big.subarray(0, n).toString(), 'xy');
  assert.equal(from, a.getsockname());
  a.close();
  b.close();
});

test('a 60 KiB datagram arrives whole', async () => {
  const a = udp();
  const b = udp();
  const payload = Buffer.alloc(60 * 1024, 7);
  payload[0] = 1;
  payload[payload.length - 1] = 2;
  await a.sendto(payload, b.getsockname());
  const got = await b.recv(65536);
  assert.is(got.length, payload.length);
  assert.ok(got.equals(payload));
  a.close();
  b.close();
});

test('connect() sets the peer: send/recv without addresses, and only that peer is heard', async () => {
  const server = udp();
  const stranger = udp();
  const client = udp();
  await client.connect(server.getsockname());
  assert.equal(client.getpeername(), server.getsockname());
  assert.is(await client.send('hello'), 5);
  await client.sendall('again');
  const [d1, from] = await server.recvfrom();
  assert.is(d1.toString(), 'hello');
  assert.equal(from, client.getsockname());
  assert.is((await server.recv()).toString(), 'again');
  // A connected socket drops datagrams from anyone but its peer.
  await stranger.sendto('noise', client.getsockname());
  await server.sendto('reply', client.getsockname());
  assert.is((await client.recv()).toString(), 'reply');
  server.close();
  stranger.close();
  client.close();
});

test('reconnecting a UDP socket moves it to the new peer', async () => {
  const p1 = udp();
  const p2 = udp();
  const c = udp();
  await c.connect(p1.getsockname());
  await c.connect(p2.getsockname());
  await c.send('to p2');
  assert.is((await p2.recv()).toString(), 'to p2');
  p1.close();
  p2.close();
  c.close();
});

test('send on an unconnected UDP socket is EDESTADDRREQ; ICMP refusal reaches a connected one', async () => {
  const c = udp();
  const err = (await rejection(c.send('x'))) as NodeJS.ErrnoException;
  assert.is(err.code, 'EDESTADDRREQ');
  // A port nobody listens on: Linux reports the ICMP port-unreachable as ECONNREFUSED.
  const gone = udp();
  const addr = gone.getsockname();
  gone.close();
  await c.connect(addr);
  await c.send('anyone?');
  const refused = (await rejection(c.recv())) as NodeJS.ErrnoException;
  assert.is(refused.code, 'ECONNREFUSED');
  c.close();
});

test('IPv6 round trip on ::1', async () => {
  if (!hasIPv6()) return;
  const a = udp(AF_INET6, '::1');
  const b = udp(AF_INET6, '::1');
  await a.sendto('six', b.getsockname());
  const [data, from] = await b.recvfrom();
  assert.is(data.toString(), 'six');
  assert.is((from as [string, number])[0], '::1');
  a.close();
  b.close();
});

test('host names are resolved for sendto', async () => {
  const a = udp();
  const b = udp();
  await a.sendto('by name', ['localhost', (b.getsockname() as [string, number])[1]]);
  assert.is((await b.recv()).toString(), 'by name');
  a.close();
  b.close();
});

test('recvfrom timeout: the socket timeout raises SocketTimeout', async () => {
  const s = udp();
  s.timeout = 0.05;
  const err = await rejection(s.recvfrom());
  assert.instance(err, SocketTimeout);
  assert.is((err as SocketTimeout).code, 'ETIMEDOUT');
  // still usable afterwards
  s.timeout = null;
  const a = udp();
  await a.sendto('after', s.getsockname());
  assert.is((await s.recv()).toString(), 'after');
  a.close();
  s.close();
});

test('non-blocking recv with nothing queued is EAGAIN', async () => {
  const s = udp();
  s.setblocking(false);
  const err = (await rejection(s.recv())) as NodeJS.ErrnoException;
  assert.is(err.code, 'EAGAIN');
  s.close();
});

test('Timeout interrupts recvfrom, and the next datagram is not lost', async () => {
  const s = udp();
  const t = new Timeout(0.05);
  try {
    await s.recvfrom();
    assert.unreachable('recvfrom returned');
  } catch (err) {
    assert.is(err, t);
  } finally {
    t.cancel();
  }
  const a = udp();
  await a.sendto('kept', s.getsockname());
  assert.is((await s.recv()).toString(), 'kept');
  a.close();
  s.close();
});

test('kill while blocked in recvfrom', async () => {
  const s = udp();
  const parked = new Event<void>();
  const gt = spawn(async () => {
    parked.send();
    return s.recvfrom();
  });
  await parked.wait();
  await settle();
  gt.kill();
  assert.is(await gt.wait(), undefined, 'GreenletExit ended it quietly');
  assert.ok(gt.dead);
  // the socket still works for the next reader
  const a = udp();
  await a.sendto('next', s.getsockname());
  assert.is((await s.recv()).toString(), 'next');
  a.close();
  s.close();
});

test('close() wakes a thread blocked in recvfrom with EBADF; using a closed socket is EBADF', async () => {
  const s = udp();
  const gt = spawn(() => s.recvfrom());
  await settle();
  s.close();
  const err = (await rejection(gt.wait())) as NodeJS.ErrnoException;
  assert.is(err.code, 'EBADF');
  assert.is(((await rejection(s.sendto('x', ['127.0.0.1', 9]))) as NodeJS.ErrnoException).code, 'EBADF');
  assert.is(((await rejection(s.recv())) as NodeJS.ErrnoException).code, 'EBADF');
  s.close(); // twice is harmless
});

test('stream-only calls on a UDP socket are clear errors', async () => {
  const s = udp();
  assert.throws(() => s.listen(), (e: NodeJS.ErrnoException) => e.code === 'ENOTSUP');
  assert.is(((await rejection(s.accept())) as NodeJS.ErrnoException).code, 'ENOTSUP');
  assert.throws(() => s.shutdown(), (e: NodeJS.ErrnoException) => e.code === 'ENOTSUP');
  assert.throws(() => s.makefile('rb'), /SOCK_DGRAM/);
  assert.throws(() => socket(AF_UNIX, SOCK_DGRAM), /AF_UNIX/);
  assert.throws(() => socket(AF_INET, 99), /socket type 99/);
  await rejection(s.sendto('x', ['127.0.0.1', 70000])).then((e) => assert.instance(e, RangeError));
  await rejection(s.sendto('x', 'nope' as never)).then((e) => assert.instance(e, TypeError));
  s.close();
});

test('two readers on one UDP socket: the second gets a clear error', async () => {
  const s = udp();
  const first = spawn(() => s.recv());
  await settle();
  const err = (await rejection(s.recv())) as Error;
  assert.match(err.message, /already reading/);
  first.kill();
  await first.wait();
  s.close();
});

test('a flood nobody reads is bounded: receiving pauses and the process keeps at most the queue', async () => {
  const s = udp();
  const a = udp();
  const first = spawn(() => s.recv());
  await a.sendto('start', s.getsockname());
  await first.wait();
  // 5,000 datagrams with nobody reading: the socket queues at most 1,024 of them.
  for (let i = 0; i < 5000; i++) {
    await a.sendto(Buffer.alloc(100, i & 0xff), s.getsockname());
    if (i % 500 === 0) await sleep(0);
  }
  await settle(5);
  assert.ok(s.pendingBytes <= 1024 * 100, `queued ${s.pendingBytes} bytes`);
  // and what is queued reads back in order
  const d = await s.recv();
  assert.is(d.length, 100);
  a.close();
  s.close();
});

test('no socket fd is left open after UDP sockets are closed', async () => {
  await settle();
  const before = socketFds();
  for (let i = 0; i < 20; i++) {
    const a = udp();
    const b = udp();
    await a.sendto('x', b.getsockname());
    await b.recv();
    a.close();
    b.close();
  }
  await settle(5);
  assert.is(socketFds(), before);
});

test.run();
