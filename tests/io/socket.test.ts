// Green TCP / Unix / IPv6 sockets: round trips, partial reads and writes,
// back-pressure, EOF and shutdown, resets and refusals, the socket timeout,
// Timeout and kill interrupting every blocking call, closed sockets, bad input,
// names and options, serve(), and file descriptors given back.
import { test as suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  Event,
  GreenSocket,
  GreenletExit,
  Queue,
  SocketTimeout,
  StopServe,
  Timeout,
  connect,
  getHub,
  kill,
  listen,
  serve,
  sleep,
  spawn,
  waitall,
  withTimeout,
  type Address,
  type GreenThread,
} from 'evy';
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  IPPROTO_TCP,
  SHUT_WR,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  SO_KEEPALIVE,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  TCP_NODELAY,
  socket,
} from 'evy/patched/socket';
import { captureStderr, hangingAddress, rejection, releaseHangingAddress, settle, socketFds, tick } from '../helpers';
import { finish, safetyNet } from '../safety';
import { typeErrors } from '../typecheck';

// A failing test must not leave sockets or threads behind (see ../safety).
const { test, own, go, closeOwned } = safetyNet(suite, { limit: 15 });

const dir = mkdtempSync(join(tmpdir(), 'evy-sock-'));
suite.after(() => rmSync(dir, { recursive: true, force: true }));

// ---- helpers -----------------------------------------------------------------------

const LOCAL: Address = ['127.0.0.1', 0];

/** A connected pair over a fresh listener: [client, server side, listener]. */
async function pair(addr: Address = LOCAL): Promise<[GreenSocket, GreenSocket, GreenSocket]> {
  const srv = own(listen(addr));
  const acc = go(() => srv.accept());
  const c = own(await connect(srv.getsockname()));
  const [s] = await acc.wait();
  own(s);
  return [c, s, srv];
}

/** Waits for a thread expected to fail; what it threw is read with caught(). */
function ended(gt: GreenThread<unknown>): Promise<unknown> {
  return finish(gt).catch((err) => {
    if (err instanceof Timeout) throw new Error('the thread is still parked after 10 s');
  });
}

function closeAll(...socks: GreenSocket[]): void {
  for (const s of socks) s.close();
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Reads until EOF. */
async function readAll(s: GreenSocket): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (;;) {
    const d = await s.recv();
    if (d.length === 0) return Buffer.concat(parts);
    parts.push(d);
  }
}

let v6: boolean | undefined;
/** ::1 can be bound here (decided by trying). */
function ipv6Available(): boolean {
  if (v6 === undefined) {
    try {
      const s = new GreenSocket(AF_INET6);
      try {
        s.bind(['::1', 0]);
        v6 = true;
      } finally {
        s.close();
      }
    } catch {
      v6 = false;
    }
  }
  return v6;
}

/** Runs `fn` in a thread, records what it threw, and rethrows it. */
function blocked<T>(fn: () => Promise<T>): { gt: GreenThread<Awaited<T> | undefined>; caught: () => unknown } {
  let caught: unknown = undefined;
  const gt = go(async () => {
    try {
      return await fn();
    } catch (err) {
      caught = err;
      throw err;
    }
  });
  return { gt, caught: () => caught };
}

/** Fills the peer's kernel buffers: `c` sends, `s` never reads. The data is 64 MiB. */
const HUGE = Buffer.alloc(64 * 1024 * 1024, 0x61);

suite.after(releaseHangingAddress);

// ---- round trips ---------------------------------------------------------------------

/** An echo server for one connection; a client sends a word and 300 kB and checks what comes back. */
async function echoRoundTrip(addr: Address, family: number): Promise<void> {
  const srv = own(listen(addr));
  assert.is(srv.family, family);
  const echo = go(async () => {
    const [conn] = await srv.accept();
    try {
      for (;;) {
        const d = await conn.recv();
        if (d.length === 0) break;
        await conn.sendall(d);
      }
    } finally {
      conn.close();
    }
  });
  const c = own(await connect(srv.getsockname()));
  assert.is(c.family, family);
  await c.sendall('ping');
  assert.is((await c.recv()).toString(), 'ping');
  const payload = Buffer.alloc(300_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
  const reader = go(async () => {
    const parts: Buffer[] = [];
    let n = 0;
    while (n < payload.length) {
      const d = await c.recv();
      if (d.length === 0) break;
      parts.push(d);
      n += d.length;
    }
    return Buffer.concat(parts);
  });
  await c.sendall(payload);
  assert.ok((await finish(reader)).equals(payload), 'the echo is byte for byte what was sent');
  c.shutdown(SHUT_WR);
  await finish(echo);
  assert.is((await c.recv()).length, 0, 'EOF once the server closed');
  closeAll(c, srv);
}

test('round trip over IPv4 127.0.0.1', async () => {
  await echoRoundTrip(['127.0.0.1', 0], AF_INET);
});

test('round trip over IPv6 ::1 (skipped where ::1 cannot be bound)', async () => {
  if (!ipv6Available()) {
    console.log('  (skipped: ::1 is not available here)');
    return;
  }
  await echoRoundTrip(['::1', 0], AF_INET6);
});

test('round trip over a Unix socket in a temporary directory', async () => {
  const sub = mkdtempSync(join(dir, 'unix-'));
  try {
    await echoRoundTrip(join(sub, 'echo.sock'), AF_UNIX);
  } finally {
    rmSync(sub, { recursive: true, force: true });
  }
});

// ---- partial reads and writes, back-pressure --------------------------------------------

test('1,000 one-byte sendall calls arrive whole and in order, read with recvInto into a total', async () => {
  const [c, s, srv] = await pair();
  const N = 1000;
  const total = Buffer.alloc(N);
  const reader = go(async () => {
    let n = 0;
    while (n < N) {
      const got = await s.recvInto(total.subarray(n));
      if (got === 0) break;
      n += got;
    }
    return n;
  });
  for (let i = 0; i < N; i++) {
    await c.sendall(Buffer.from([i & 0xff]));
    if (i % 100 === 99) await sleep(0); // let the reader take part of it
  }
  assert.is(await finish(reader), N);
  for (let i = 0; i < N; i++) if (total[i] !== (i & 0xff)) assert.unreachable(`byte ${i} is ${total[i]}, not ${i & 0xff}`);
  closeAll(c, s, srv);
});

test('16 MiB sendall to a slow reader (recv(4096) pieces): same bytes, and reading pauses at a high-water mark', async () => {
  const [c, s, srv] = await pair();
  const size = 16 * 1024 * 1024;
  const payload = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
  const sender = go(async () => {
    await c.sendall(payload);
    c.shutdown(SHUT_WR);
  });
  const hash = createHash('sha256');
  let got = 0;
  let maxPending = 0;
  let pieces = 0;
  for (;;) {
    const d = await s.recv(4096);
    maxPending = Math.max(maxPending, s.pendingBytes);
    if (d.length === 0) break;
    assert.ok(d.length <= 4096, `recv(4096) returned ${d.length} bytes`);
    hash.update(d);
    got += d.length;
    pieces++;
    await sleep(0); // slow: one small piece per loop turn
    maxPending = Math.max(maxPending, s.pendingBytes);
  }
  await finish(sender, 30);
  assert.is(got, size);
  assert.ok(pieces >= size / 4096);
  assert.is(hash.digest('hex'), sha256(payload), 'byte-for-byte equal');
  assert.ok(maxPending > 128 * 1024, `the reader was slow enough to let data pile up (max ${maxPending})`);
  assert.ok(maxPending <= 512 * 1024, `pendingBytes stayed under ~512 KiB (max ${maxPending}): reading pauses`);
  closeAll(c, s, srv);
});

// ---- recvInto, recv(0), EOF, shutdown ------------------------------------------------------

test('recvInto with nbytes fills only that much; without it, the whole buffer', async () => {
  const [c, s, srv] = await pair();
  await c.sendall('abcdefgh');
  const buf = Buffer.alloc(10, 0xee);
  assert.is(await s.recvInto(buf, 4), 4);
  assert.is(buf.subarray(0, 4).toString(), 'abcd');
  assert.ok(buf.subarray(4).every((b) => b === 0xee), 'nothing written past nbytes');
  const rest = new Uint8Array(10);
  let n = 0;
  while (n < 4) n += await s.recvInto(rest.subarray(n));
  assert.is(Buffer.from(rest.subarray(0, 4)).toString(), 'efgh');
  closeAll(c, s, srv);
});

test('recv(0) and recvInto(empty) wait for readability (so the socket timeout applies), then take nothing', async () => {
  const [c, s, srv] = await pair();
  s.timeout = 0.05;
  assert.instance(await rejection(s.recv(0)), SocketTimeout, 'recv(0) with nothing to read times out, as in Evy');
  assert.instance(await rejection(s.recvInto(Buffer.alloc(0))), SocketTimeout, 'recvInto into an empty buffer too');
  s.timeout = null;
  const parked = go(() => s.recv(0));
  await settle();
  assert.not.ok(parked.dead, 'recv(0) parks until there is data');
  await c.sendall('abc');
  const none = await finish(parked);
  assert.ok(Buffer.isBuffer(none));
  assert.is(none.length, 0);
  assert.is((await s.recv(1)).toString(), 'a'); // 'bc' stays buffered
  const zero = await withTimeout(2, () => s.recv(0));
  assert.is(zero.length, 0, 'data buffered: recv(0) resolves at once');
  assert.is(await withTimeout(2, () => s.recvInto(Buffer.alloc(0))), 0);
  assert.is(s.pendingBytes, 2, 'recv(0) took nothing');
  assert.is((await s.recv()).toString(), 'bc');
  s.timeout = 0;
  assert.is((await s.recv(0)).length, 0, 'non-blocking recv(0): empty, no EAGAIN (recv(2) of 0 bytes)');
  closeAll(c, s, srv);
});

test('recv at EOF resolves an empty Buffer, again on a second call; recvInto resolves 0', async () => {
  const [c, s, srv] = await pair();
  const parked = go(() => s.recv());
  await settle();
  c.close();
  const first = await finish(parked);
  assert.ok(Buffer.isBuffer(first));
  assert.is(first.length, 0);
  const second = await s.recv();
  assert.ok(Buffer.isBuffer(second));
  assert.is(second.length, 0);
  assert.is(await s.recvInto(Buffer.alloc(8)), 0);
  closeAll(s, srv);
});

test('shutdown(SHUT_WR): the peer sees EOF, the other direction still works', async () => {
  const [c, s, srv] = await pair();
  await c.sendall('last words');
  c.shutdown(SHUT_WR);
  assert.is((await readAll(s)).toString(), 'last words');
  await s.sendall('reply after EOF');
  s.shutdown(SHUT_WR);
  assert.is((await readAll(c)).toString(), 'reply after EOF');
  closeAll(c, s, srv);
});

// ---- resets and refusals -------------------------------------------------------------------

test('peer reset: a peer closing with unread data sends RST; recv, then sendall, fail with a system error', async () => {
  const [c, s, srv] = await pair();
  // s never reads, so this stays in its kernel receive buffer; closing it then
  // makes the kernel answer with RST instead of FIN.
  await c.sendall(Buffer.alloc(1000, 1));
  await settle();
  const reader = blocked(() => c.recv());
  await settle();
  s.close();
  await ended(reader.gt);
  const err = reader.caught() as NodeJS.ErrnoException;
  assert.instance(err, Error);
  assert.ok(err.code === 'ECONNRESET' || err.code === 'EPIPE', `code ${err.code}`);
  assert.type(err.syscall, 'string');
  assert.ok(err.syscall!.length > 0);
  const werr = (await rejection(c.sendall('more'))) as NodeJS.ErrnoException;
  assert.ok(werr.code === 'ECONNRESET' || werr.code === 'EPIPE', `code ${werr.code}`);
  assert.type(werr.syscall, 'string');
  closeAll(c, srv);
});

test('connection refused: ECONNREFUSED with syscall, address and port; connectEx returns the errno', async () => {
  const gone = new GreenSocket(AF_INET);
  gone.bind(LOCAL);
  const [host, port] = gone.getsockname() as [string, number];
  gone.close();
  await settle();
  const c = own(new GreenSocket(AF_INET));
  const err = (await rejection(c.connect([host, port]))) as NodeJS.ErrnoException & { address?: string; port?: number };
  assert.is(err.code, 'ECONNREFUSED');
  assert.is(err.syscall, 'connect');
  assert.is(err.address, '127.0.0.1');
  assert.is(err.port, port);
  c.close();
  const viaHelper = (await rejection(connect([host, port]))) as NodeJS.ErrnoException;
  assert.is(viaHelper.code, 'ECONNREFUSED');
  const d = own(new GreenSocket(AF_INET));
  const errno = await d.connectEx([host, port]);
  assert.is(errno, osConstants.errno.ECONNREFUSED);
  assert.ok(errno > 0);
  d.close();
  // and 0 on success
  const srv = own(listen(LOCAL));
  const e = own(new GreenSocket(AF_INET));
  assert.is(await e.connectEx(srv.getsockname()), 0);
  const [conn] = await srv.accept();
  closeAll(conn, e, srv);
});

test('listen EADDRINUSE names the address and port as node:net does, with code, errno, syscall, address, port', async () => {
  const srv = own(listen(LOCAL, { reusePort: false }));
  const port = (srv.getsockname() as [string, number])[1];
  const expected = `listen EADDRINUSE: address already in use 127.0.0.1:${port}`;
  // node:net's own error for the same port, side by side.
  const net = await import('node:net');
  const stock = net.createServer();
  const nodeErr = await new Promise<NodeJS.ErrnoException>((resolve) => {
    stock.once('error', resolve);
    stock.listen(port, '127.0.0.1');
  });
  stock.close();
  assert.is(nodeErr.message, expected, 'what node:net says');
  const check = (err: unknown): void => {
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
    assert.instance(e, Error);
    assert.is(e.message, nodeErr.message);
    assert.equal(
      [e.code, e.errno, e.syscall, e.address, e.port],
      [nodeErr.code, nodeErr.errno, nodeErr.syscall, (nodeErr as { address?: string }).address, (nodeErr as { port?: number }).port],
    );
    assert.match(e.stack!, /socket\.test\.ts/, 'the stack has the caller\'s frame');
  };
  let thrown: unknown = null;
  try {
    listen(['127.0.0.1', port], { reusePort: false });
  } catch (err) {
    thrown = err;
  }
  check(thrown);
  const raw = own(new GreenSocket(AF_INET));
  raw.bind(['127.0.0.1', port]);
  thrown = null;
  try {
    raw.listen();
  } catch (err) {
    thrown = err;
  }
  check(thrown);
  closeAll(raw, srv);
});

test('a network error made in a hub callback carries the stack of the call that waited: connect, recv, sendall, socket timeout', async () => {
  const gone = new GreenSocket(AF_INET);
  gone.bind(LOCAL);
  const deadAddr = gone.getsockname();
  gone.close();
  await settle();
  async function dialTheDeadPort(): Promise<void> {
    const c = own(new GreenSocket(AF_INET));
    await c.connect(deadAddr);
  }
  const refused = (await rejection(dialTheDeadPort())) as Error;
  assert.is((refused as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  assert.match(refused.stack!, /^Error: connect ECONNREFUSED 127\.0\.0\.1:\d+\n/);
  assert.match(refused.stack!, /at async dialTheDeadPort \(.*socket\.test\.ts:\d+:\d+\)/, refused.stack);
  assert.not.match(refused.stack!, /onConnect|deliver/, 'not only evy\'s internals');

  const [c, s, srv] = await pair();
  await c.sendall(Buffer.alloc(1000, 1)); // unread when s closes: an RST
  await settle();
  async function readTheResetSocket(): Promise<Buffer> {
    const data = await c.recv(); // V8 follows awaits, not returned promises
    return data;
  }
  const reading = readTheResetSocket();
  await settle();
  s.close();
  const reset = (await rejection(reading)) as Error;
  assert.ok(['ECONNRESET', 'EPIPE'].includes((reset as NodeJS.ErrnoException).code!), String(reset));
  assert.match(reset.stack!, /at async readTheResetSocket \(.*socket\.test\.ts/, reset.stack);
  assert.not.match(reset.stack!, /onRead|deliver/);
  closeAll(c, srv);

  const [a, b, srv2] = await pair();
  a.settimeout(0.05);
  async function waitForNothing(): Promise<Buffer> {
    const data = await a.recv(); // V8 follows awaits, not returned promises
    return data;
  }
  const timeout = await rejection(waitForNothing());
  assertSocketTimeout(timeout, 'recv');
  assert.match((timeout as Error).stack!, /at async waitForNothing \(.*socket\.test\.ts/, (timeout as Error).stack);
  a.settimeout(null);
  async function sendIntoTheVoid(): Promise<void> {
    await a.sendall(HUGE); // b never reads: parks until b is closed under it
  }
  const sending = sendIntoTheVoid();
  await settle();
  a.close();
  const closed = (await rejection(sending)) as Error;
  assert.is((closed as NodeJS.ErrnoException).code, 'EBADF');
  assert.match(closed.stack!, /at async sendIntoTheVoid \(.*socket\.test\.ts/, closed.stack);
  closeAll(b, srv2);
});

// ---- the socket timeout ----------------------------------------------------------------------

function assertSocketTimeout(err: unknown, what: string): void {
  assert.instance(err, SocketTimeout);
  const e = err as SocketTimeout;
  assert.is(e.name, 'SocketTimeout');
  assert.is(e.code, 'ETIMEDOUT');
  assert.match(e.message, new RegExp(`^${what}\\b`));
}

/**
 * What `op()` rejected with and the seconds that took (wide margins only). The
 * clock starts before the call: the OS may preempt us between the call's timer
 * being set and any line after it.
 */
async function timed(op: () => Promise<unknown>): Promise<[unknown, number]> {
  const t0 = performance.now();
  const err = await rejection(withTimeout(5, op)); // 5 s: a timeout that never fires fails the test
  return [err, (performance.now() - t0) / 1000];
}

test('socket timeout: accept raises SocketTimeout; the listener still accepts afterwards', async () => {
  const srv = own(listen(LOCAL));
  srv.timeout = 0.05;
  assert.is(srv.gettimeout(), 0.05);
  const [err, took] = await timed(() => srv.accept());
  assertSocketTimeout(err, 'accept');
  assert.ok(took >= 0.04 && took < 5, `took ${took}s`);
  srv.timeout = null;
  const c = own(await connect(srv.getsockname()));
  const [conn] = await srv.accept();
  closeAll(conn, c, srv);
});

test('socket timeout: recv raises SocketTimeout; data sent later is still read', async () => {
  const [c, s, srv] = await pair();
  s.settimeout(0.05);
  const [err, took] = await timed(() => s.recv());
  assertSocketTimeout(err, 'recv');
  assert.ok(took >= 0.04 && took < 5, `took ${took}s`);
  s.timeout = null;
  await c.sendall('late');
  assert.is((await s.recv()).toString(), 'late');
  closeAll(c, s, srv);
});

test('socket timeout: recvInto raises SocketTimeout', async () => {
  const [c, s, srv] = await pair();
  s.timeout = 0.05;
  const buf = Buffer.alloc(16, 0xee);
  const [err] = await timed(() => s.recvInto(buf));
  assertSocketTimeout(err, 'recvInto');
  assert.ok(buf.every((b) => b === 0xee));
  s.timeout = null;
  await c.sendall('late');
  assert.is(await s.recvInto(buf), 4);
  assert.is(buf.subarray(0, 4).toString(), 'late');
  closeAll(c, s, srv);
});

test('socket timeout: sendall to a peer that never reads raises SocketTimeout', async () => {
  const [c, s, srv] = await pair();
  c.timeout = 0.2;
  const [err, took] = await timed(() => c.sendall(HUGE));
  assertSocketTimeout(err, 'sendall');
  assert.ok(took >= 0.15 && took < 10, `took ${took}s`);
  closeAll(c, s, srv);
});

test('socket timeout: connect that cannot complete raises SocketTimeout and closes the socket', async () => {
  const addr = await hangingAddress();
  const c = own(new GreenSocket(AF_INET));
  c.timeout = 0.05;
  const [err, took] = await timed(() => c.connect(addr));
  assertSocketTimeout(err, 'connect');
  assert.ok(took >= 0.04 && took < 5, `took ${took}s`);
  assert.ok(c.closed, 'an interrupted connect leaves the socket closed');
});

test('socket timeout: calls that succeed in time leave no timer behind', async () => {
  const T = 3;
  const leaks: string[] = [];
  const baseline = getHub().counts().timers; // this test's own time limit
  /** Runs `op`; notes `name` if it left more timers pending than there were before. */
  const check = async (name: string, op: () => Promise<unknown>): Promise<void> => {
    const before = getHub().counts().timers;
    await op();
    await settle();
    if (getHub().counts().timers > before) leaks.push(name);
  };
  try {
    const srv = own(listen(LOCAL));
    srv.timeout = T;
    let c!: GreenSocket;
    let conn!: GreenSocket;
    await check('accept', async () => {
      const acc = go(() => srv.accept());
      await settle(); // parked in accept
      c = own(await connect(srv.getsockname()));
      conn = own((await acc.wait())[0]);
    });
    c.timeout = T;
    conn.timeout = T;
    await check('recv', async () => {
      const r = go(() => conn.recv());
      await settle(); // parked in recv
      await c.sendall('x');
      assert.is((await finish(r)).toString(), 'x');
    });
    await check('recvInto', async () => {
      const r = go(() => conn.recvInto(Buffer.alloc(4)));
      await settle();
      await c.sendall('y');
      assert.is(await finish(r), 1);
    });
    srv.timeout = null;
    await check('connect', async () => {
      const d = own(new GreenSocket(AF_INET));
      d.timeout = T;
      await d.connect(srv.getsockname()); // always parks: a TCP connect completes in a callback
      own((await srv.accept())[0]);
    });
    conn.timeout = null;
    const big = Buffer.alloc(16 * 1024 * 1024, 3); // more than loopback's kernel buffers hold
    await check('sendall', async () => {
      const sender = go(() => c.sendall(big));
      await settle();
      assert.not.ok(sender.dead, 'sendall parked: the peer has not read yet');
      let n = 0;
      while (n < big.length) n += (await conn.recv()).length;
      await finish(sender);
      assert.is(n, big.length);
    });
  } finally {
    closeOwned();
    // Let leaked timers run out so that the tests after this one start clean.
    if (getHub().counts().timers > baseline) await sleep(T + 0.2);
  }
  assert.equal(leaks, [], `a call that succeeded left its timeout timer pending: ${leaks.join(', ')}`);
});

// ---- Timeout (evy's) interrupting blocking calls -----------------------------------------------

test('Timeout interrupts accept; the listener still works', async () => {
  const srv = own(listen(LOCAL));
  const t = new Timeout(0.05);
  let err: unknown;
  try {
    err = await rejection(srv.accept());
  } finally {
    t.cancel();
  }
  assert.is(err, t);
  const c = own(await connect(srv.getsockname()));
  const [conn] = await srv.accept();
  closeAll(conn, c, srv);
});

test('Timeout (withTimeout) interrupts recv; the socket still works', async () => {
  const [c, s, srv] = await pair();
  const err = await rejection(withTimeout(0.05, () => s.recv()));
  assert.instance(err, Timeout);
  await c.sendall('after');
  assert.is((await s.recv()).toString(), 'after');
  closeAll(c, s, srv);
});

test('Timeout interrupts sendall to a peer that never reads', async () => {
  const [c, s, srv] = await pair();
  const t = new Timeout(0.1);
  let err: unknown;
  try {
    err = await rejection(c.sendall(HUGE));
  } finally {
    t.cancel();
  }
  assert.is(err, t);
  assert.not.ok(c.closed);
  closeAll(c, s, srv);
});

test('Timeout interrupts connect; the socket is closed', async () => {
  const addr = await hangingAddress();
  const c = own(new GreenSocket(AF_INET));
  const err = await rejection(withTimeout(0.05, () => c.connect(addr)));
  assert.instance(err, Timeout);
  assert.ok(c.closed);
});

// ---- kill while blocked -------------------------------------------------------------------------

async function killParked(b: { gt: GreenThread<unknown>; caught: () => unknown }, how: 'kill' | 'method'): Promise<void> {
  await settle();
  assert.not.ok(b.gt.dead, 'the thread is parked, not finished');
  if (how === 'kill') kill(b.gt);
  else b.gt.kill();
  assert.is(await finish(b.gt), undefined, 'a GreenletExit is a clean exit');
  assert.ok(b.gt.dead);
  assert.instance(b.caught(), GreenletExit);
}

test('kill while parked in accept: GreenletExit, and the listener accepts afterwards', async () => {
  const srv = own(listen(LOCAL));
  await killParked(blocked(() => srv.accept()), 'kill');
  const c = own(await connect(srv.getsockname()));
  const [conn] = await withTimeout(5, () => srv.accept());
  await c.sendall('hi');
  assert.is((await conn.recv()).toString(), 'hi');
  closeAll(conn, c, srv);
});

test('kill while parked in recv: GreenletExit, and the next recv gets the data', async () => {
  const [c, s, srv] = await pair();
  await killParked(blocked(() => s.recv()), 'method');
  await c.sendall('still here');
  assert.is((await withTimeout(5, () => s.recv())).toString(), 'still here');
  closeAll(c, s, srv);
});

test('a recv closed under by another thread, then killed before it resumes: EBADF with its own stack first, the kill at its next suspension point', async () => {
  const [c, s, srv] = await pair();
  let first: unknown = null;
  async function readUntilClosed(): Promise<void> {
    try {
      await s.recv();
    } catch (err) {
      first = err;
    }
    await sleep(0); // where the kill lands
    throw new Error('the kill did not come');
  }
  const gt = go(readUntilClosed);
  await settle();
  assert.not.ok(gt.dead, 'parked in recv');
  s.close();
  kill(gt); // s.close() already handed the reader its error
  assert.is(await finish(gt), undefined, 'a GreenletExit is a clean exit');
  assert.is((first as NodeJS.ErrnoException).code, 'EBADF', String(first));
  assert.match((first as Error).message, /^recv: the socket was closed while this green thread waited on it/);
  assert.match((first as Error).stack!, /at async readUntilClosed \(.*socket\.test\.ts/, (first as Error).stack);
  assert.not.match((first as Error).stack!, /closeHandle|Failure/, 'not only evy\'s internals');
  closeAll(c, srv);
});

test('kill while parked in recvInto: GreenletExit, and the buffer it had is left alone', async () => {
  const [c, s, srv] = await pair();
  const old = Buffer.alloc(8, 0xee);
  await killParked(blocked(() => s.recvInto(old)), 'kill');
  await c.sendall('new');
  const buf = Buffer.alloc(8);
  assert.is(await withTimeout(5, () => s.recvInto(buf)), 3);
  assert.is(buf.subarray(0, 3).toString(), 'new');
  assert.ok(old.every((b) => b === 0xee), 'the killed reader\'s buffer was not written');
  closeAll(c, s, srv);
});

test('kill while parked in sendall: GreenletExit; the connection stays usable', async () => {
  const [c, s, srv] = await pair();
  await killParked(blocked(() => c.sendall(HUGE)), 'method');
  assert.not.ok(c.closed);
  assert.equal(c.getpeername(), s.getsockname());
  const d = await withTimeout(5, () => s.recv());
  assert.ok(d.length > 0 && d.every((b) => b === 0x61), 'the peer reads what was sent');
  closeAll(c, s, srv);
});

test('kill while parked in connect: GreenletExit, and the socket is closed cleanly', async () => {
  const addr = await hangingAddress();
  const c = own(new GreenSocket(AF_INET));
  await killParked(blocked(() => c.connect(addr)), 'kill');
  assert.ok(c.closed);
  const err = (await rejection(c.recv())) as NodeJS.ErrnoException;
  assert.is(err.code, 'EBADF');
});

// ---- non-blocking mode -------------------------------------------------------------------------

test('setblocking(false): recv and accept with nothing ready reject with EAGAIN at once', async () => {
  const [c, s, srv] = await pair();
  s.setblocking(false);
  srv.setblocking(false);
  assert.is(s.gettimeout(), 0);
  const rerr = (await rejection(s.recv())) as NodeJS.ErrnoException;
  assert.is(rerr.code, 'EAGAIN');
  assert.is(rerr.syscall, 'recv');
  const ierr = (await rejection(s.recvInto(Buffer.alloc(4)))) as NodeJS.ErrnoException;
  assert.is(ierr.code, 'EAGAIN');
  const aerr = (await rejection(srv.accept())) as NodeJS.ErrnoException;
  assert.is(aerr.code, 'EAGAIN');
  assert.is(aerr.syscall, 'accept');
  s.setblocking(true);
  assert.is(s.gettimeout(), null);
  closeAll(c, s, srv);
});

test('setblocking(false): once data or a connection has arrived, recv and accept return it', async () => {
  const [c, s, srv] = await pair();
  s.setblocking(false);
  srv.setblocking(false);
  await c.sendall('ready');
  const late = own(await connect(srv.getsockname()));
  // Poll, as a non-blocking caller does: whatever turn it becomes ready on, within
  // 100 loop turns the data that is already in the kernel must come out.
  let got: Buffer | null = null;
  let recvErr: unknown = null;
  for (let i = 0; i < 100 && got === null; i++) {
    got = await s.recv().catch((e) => ((recvErr = e), null));
    if (got === null) await sleep(0);
  }
  assert.is(got?.toString(), 'ready', `recv kept failing with ${String(recvErr)}`);
  let accepted: [GreenSocket, Address] | null = null;
  for (let i = 0; i < 100 && accepted === null; i++) {
    accepted = await srv.accept().catch(() => null);
    if (accepted === null) await sleep(0);
  }
  assert.ok(accepted !== null, 'the pending connection was accepted');
  own(accepted![0]);
  assert.equal(accepted![1], late.getsockname());
  closeAll(c, s, srv, late, accepted![0]);
});

// ---- closed sockets ------------------------------------------------------------------------------

function assertEBADF(err: unknown, what: string): void {
  assert.instance(err, Error, `${what}: an Error`);
  assert.is((err as NodeJS.ErrnoException).code, 'EBADF', `${what}: EBADF`);
}

test('a closed socket: every call is EBADF, never a crash; close twice is harmless', async () => {
  const [c, s, srv] = await pair();
  c.close();
  assert.ok(c.closed);
  c.close(); // harmless
  assertEBADF(await rejection(c.recv()), 'recv');
  assertEBADF(await rejection(c.recvInto(Buffer.alloc(4))), 'recvInto');
  assertEBADF(await rejection(c.send('x')), 'send');
  assertEBADF(await rejection(c.sendall('x')), 'sendall');
  assertEBADF(await rejection(c.connect(srv.getsockname())), 'connect');
  for (const [what, fn] of [
    ['bind', () => c.bind(LOCAL)],
    ['listen', () => c.listen()],
    ['getsockname', () => c.getsockname()],
    ['getpeername', () => c.getpeername()],
    ['fileno', () => c.fileno()],
    ['shutdown', () => c.shutdown()],
    ['setsockopt', () => c.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)],
    ['getsockopt', () => c.getsockopt(IPPROTO_TCP, TCP_NODELAY)],
  ] as [string, () => unknown][]) {
    let err: unknown = null;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    assertEBADF(err, what);
  }
  srv.close();
  srv.close();
  assertEBADF(await rejection(srv.accept()), 'accept');
  s.close();
});

test('a thread parked in recv gets EBADF when another thread closes the socket', async () => {
  const [c, s, srv] = await pair();
  const r = blocked(() => s.recv());
  await settle();
  const closer = go(async () => s.close());
  await finish(closer);
  await ended(r.gt);
  assertEBADF(r.caught(), 'recv');
  await c.sendall('into the void').catch(() => {}); // whatever happens, no crash
  closeAll(c, srv);
});

test('a thread parked in sendall gets EBADF when another thread closes the socket', async () => {
  const [c, s, srv] = await pair();
  const w = blocked(() => c.sendall(HUGE));
  await settle();
  assert.not.ok(w.gt.dead, 'parked in sendall');
  c.close();
  await ended(w.gt);
  assertEBADF(w.caught(), 'sendall');
  closeAll(s, srv);
});

test('a thread parked in connect gets EBADF when another thread closes the socket', async () => {
  const addr = await hangingAddress();
  const c = own(new GreenSocket(AF_INET));
  const w = blocked(() => c.connect(addr));
  await settle();
  assert.not.ok(w.gt.dead, 'parked in connect');
  c.close();
  await ended(w.gt);
  assertEBADF(w.caught(), 'connect');
});

test('a thread parked in accept gets EBADF when the listener is closed', async () => {
  const srv = own(listen(LOCAL));
  const a = blocked(() => srv.accept());
  await settle();
  srv.close();
  await ended(a.gt);
  assertEBADF(a.caught(), 'accept');
});

// ---- bad input ------------------------------------------------------------------------------------

test('bad input: errors that name the problem', async () => {
  assert.throws(() => socket(12345), (e: Error) => e instanceof RangeError && /address family/.test(e.message));
  assert.throws(() => new GreenSocket(AF_INET, 3 /* SOCK_RAW */), (e: Error) => e instanceof RangeError && /socket type 3/.test(e.message));
  assert.throws(() => new GreenSocket(AF_UNIX, SOCK_DGRAM), (e: Error) => e instanceof RangeError && /AF_UNIX/.test(e.message));
  const s = own(socket(AF_INET, SOCK_STREAM));
  assert.throws(() => s.bind('127.0.0.1' as unknown as Address), /\[host, port\]/);
  assert.throws(() => s.bind(['127.0.0.1'] as unknown as Address), /\[host, port\]/);
  assert.throws(() => s.bind([80, '127.0.0.1'] as unknown as Address), /\[host, port\]/);
  assert.throws(() => s.bind(['127.0.0.1', 70000]), (e: Error) => e instanceof RangeError && /port/.test(e.message) && /70000/.test(e.message));
  assert.throws(() => s.bind(['127.0.0.1', -1]), /port/);
  assert.match(String(await rejection(s.connect(['127.0.0.1', 70000]))), /port.*70000/);
  const u = own(socket(AF_UNIX));
  assert.throws(() => u.bind(['127.0.0.1', 0]), /path/);
  assert.throws(() => { s.timeout = -1; }, /timeout/);
  assert.throws(() => s.listen(-1), /backlog/);
  closeAll(s, u);
  const [c, p, srv] = await pair();
  const rerr = await rejection(c.recv(-1));
  assert.instance(rerr, RangeError);
  assert.match(String(rerr), /bufsize/);
  assert.match(String(rerr), /-1/);
  const serr = await rejection(c.sendall(123 as unknown as string));
  assert.instance(serr, TypeError);
  assert.match(String(serr), /data must be a Buffer/);
  assert.match(String(serr), /number/);
  assert.match(String(await rejection(c.recvInto('nope' as unknown as Buffer))), /recvInto: buf must be a Buffer/);
  assert.match(String(await rejection(c.accept())), /not listening/);
  assert.throws(() => c.shutdown(7), /SHUT_RD, SHUT_WR or SHUT_RDWR/);
  closeAll(c, p, srv);
});

// ---- names and options ----------------------------------------------------------------------------

async function checkNames(addr: Address, host: string): Promise<void> {
  const srv = own(listen(addr));
  const [shost, sport] = srv.getsockname() as [string, number];
  assert.is(shost, host);
  assert.ok(Number.isInteger(sport) && sport > 0 && sport < 65536);
  const acc = go(() => srv.accept());
  const c = own(await connect([shost, sport]));
  const [conn, peer] = await acc.wait();
  own(conn);
  const cname = c.getsockname() as [string, number];
  assert.is(cname.length, 2);
  assert.is(cname[0], host);
  assert.ok(cname[1] > 0 && cname[1] !== sport);
  assert.equal(c.getpeername(), [shost, sport]);
  assert.equal(peer, cname, 'accept() gives the peer address');
  assert.equal(conn.getpeername(), cname);
  assert.equal(conn.getsockname(), [shost, sport]);
  closeAll(conn, c, srv);
}

test('getsockname / getpeername are typed by the address a socket was made for (tsc over fixtures/address.types.ts)', () => {
  assert.equal(typeErrors(join(__dirname, 'fixtures', 'address.types.ts')), []);
});

test('getsockname / getpeername over IPv4: [host, port] pairs that match up', async () => {
  await checkNames(['127.0.0.1', 0], '127.0.0.1');
});

test('getsockname / getpeername over IPv6: [::1, port] (skipped where ::1 cannot be bound)', async () => {
  if (!ipv6Available()) {
    console.log('  (skipped: ::1 is not available here)');
    return;
  }
  await checkNames(['::1', 0], '::1');
});

test('getsockname / getpeername over a Unix socket: the path', async () => {
  const path = join(dir, 'names.sock');
  const srv = own(listen(path));
  assert.is(srv.getsockname(), path);
  const acc = go(() => srv.accept());
  const c = own(await connect(path));
  const [conn, peer] = await acc.wait();
  own(conn);
  assert.type(peer, 'string', 'a Unix peer address is a string');
  assert.is(c.getpeername(), path);
  assert.is(conn.getsockname(), path);
  assert.type(c.getsockname(), 'string');
  closeAll(conn, c, srv);
  rmSync(path, { force: true });
});

test('setsockopt / getsockopt: TCP_NODELAY, SO_KEEPALIVE, SO_REUSEADDR, SO_RCVBUF', async () => {
  const [c, s, srv] = await pair();
  c.setsockopt(IPPROTO_TCP, TCP_NODELAY, true);
  assert.ok(c.getsockopt(IPPROTO_TCP, TCP_NODELAY) !== 0);
  c.setsockopt(IPPROTO_TCP, TCP_NODELAY, 0);
  assert.is(c.getsockopt(IPPROTO_TCP, TCP_NODELAY), 0);
  c.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1);
  assert.ok(c.getsockopt(SOL_SOCKET, SO_KEEPALIVE) !== 0);
  c.setsockopt(SOL_SOCKET, SO_KEEPALIVE, false);
  assert.is(c.getsockopt(SOL_SOCKET, SO_KEEPALIVE), 0);
  assert.ok(srv.getsockopt(SOL_SOCKET, SO_REUSEADDR) !== 0, 'listen() sets SO_REUSEADDR');
  s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 0);
  assert.is(s.getsockopt(SOL_SOCKET, SO_REUSEADDR), 0);
  const rcv = s.getsockopt(SOL_SOCKET, SO_RCVBUF);
  assert.type(rcv, 'number');
  assert.ok(rcv > 0);
  s.setsockopt(SOL_SOCKET, SO_RCVBUF, 65536);
  assert.ok(s.getsockopt(SOL_SOCKET, SO_RCVBUF) >= 65536);
  // a bad option is a system error, not a crash
  const err = (() => {
    try {
      c.setsockopt(SOL_SOCKET, 9999, 1);
    } catch (e) {
      return e as NodeJS.ErrnoException;
    }
  })();
  assert.ok(err !== undefined && typeof err.code === 'string', 'an unknown option throws a system error');
  // the connection still works
  await c.sendall('ok');
  assert.is((await s.recv()).toString(), 'ok');
  closeAll(c, s, srv);
});

// ---- one reader at a time ----------------------------------------------------------------------

test('two threads recv on one socket at once: the second gets a clear error, the first the data', async () => {
  const [c, s, srv] = await pair();
  const first = go(() => s.recv());
  await settle();
  const second = blocked(() => s.recv());
  const third = blocked(() => s.recvInto(Buffer.alloc(4)));
  await ended(second.gt);
  await ended(third.gt);
  assert.match(String(second.caught()), /another green thread is already reading/);
  assert.match(String(third.caught()), /another green thread is already reading/);
  await c.sendall('for the first');
  assert.is((await finish(first)).toString(), 'for the first');
  // and two acceptors
  const a1 = go(() => srv.accept());
  await settle();
  assert.match(String(await rejection(srv.accept())), /already accepting/);
  a1.kill();
  await finish(a1);
  closeAll(c, s, srv);
});

// ---- serve() -----------------------------------------------------------------------------------------

test('serve(): 1,000 concurrent connections with concurrency 1000, each echoed; StopServe ends serve', async () => {
  const N = 1000;
  const srv = own(listen(LOCAL, { backlog: 1024 }));
  const addr = srv.getsockname();
  let active = 0;
  let most = 0;
  const allIn = new Event<void>();
  const server = go(() =>
    serve(
      srv,
      async (conn) => {
        const line = await conn.makefile('r').readline();
        if (line === 'stop\n') throw new StopServe();
        active++;
        most = Math.max(most, active);
        if (active === N) allIn.send();
        await allIn.wait(); // every handler is running at once before any answers
        await conn.sendall(line);
        active--;
      },
      { concurrency: N },
    ),
  );
  const clients: GreenThread<string>[] = [];
  for (let i = 0; i < N; i++) {
    clients.push(
      go(async () => {
        const c = own(await connect(addr));
        const f = c.makefile('r');
        try {
          await c.sendall(`client ${i}\n`);
          return await f.readline();
        } finally {
          await f.close(); // the connection lasts until the socket and its files are closed
          c.close();
        }
      }),
    );
  }
  const echoes = await withTimeout(30, () => waitall(...clients));
  assert.is(most, N, 'all the handlers ran concurrently');
  for (let i = 0; i < N; i++) if (echoes[i] !== `client ${i}\n`) assert.unreachable(`client ${i} got ${JSON.stringify(echoes[i])}`);
  const stopper = own(await connect(addr));
  await stopper.sendall('stop\n');
  assert.is(await withTimeout(5, () => server.wait()), undefined, 'serve() returned');
  assert.is((await stopper.recv()).length, 0, 'the stopping connection was closed');
  // serve() stopped accepting: a new connection is left waiting in the backlog
  const late = own(await connect(addr));
  await late.sendall('anyone?\n');
  assert.is(await withTimeout(0.2, () => late.recv(), { timeoutValue: null }), null);
  closeAll(stopper, late, srv);
});

test('serve(): a handler that throws is printed, the connection closed, and serving goes on', async () => {
  const srv = own(listen(LOCAL));
  const addr = srv.getsockname();
  const [, printed] = await captureStderr(async () => {
    const server = go(() =>
      serve(srv, async (conn) => {
        const line = await conn.makefile('r').readline();
        if (line === 'boom\n') throw new Error('handler exploded: marker-7f3a');
        if (line === 'stop\n') throw new StopServe();
        await conn.sendall(line);
      }),
    );
    const bad = own(await connect(addr));
    await bad.sendall('boom\n');
    assert.is((await withTimeout(5, () => bad.recv())).length, 0, 'the failed handler\'s connection was closed');
    for (let i = 0; i < 3; i++) {
      const good = own(await connect(addr));
      await good.sendall(`still serving ${i}\n`);
      const f = good.makefile('r');
      assert.is(await withTimeout(5, () => f.readline()), `still serving ${i}\n`);
      await f.close();
      good.close();
    }
    const stop = own(await connect(addr));
    await stop.sendall('stop\n');
    await withTimeout(5, () => server.wait());
    closeAll(bad, stop);
  });
  assert.match(printed, /marker-7f3a/);
  assert.is(printed.split('marker-7f3a').length - 1, 1, 'printed once');
  assert.not.match(printed, /StopServe/, 'StopServe is not an error to print');
  srv.close();
});

// ---- file descriptors ------------------------------------------------------------------------------

test('no socket fd left open after 50 connections are opened and closed', async () => {
  await settle();
  const before = socketFds();
  const srv = own(listen(LOCAL));
  const addr = srv.getsockname();
  const conns: GreenSocket[] = [];
  for (let i = 0; i < 50; i++) {
    const acc = go(() => srv.accept());
    const c = own(await connect(addr));
    const [s] = await acc.wait();
    own(s);
    await c.sendall('x');
    assert.is((await s.recv()).toString(), 'x');
    conns.push(c, s);
  }
  const during = socketFds();
  assert.ok(during >= before + 101, `the fds are counted: ${before} before, ${during} with 101 sockets open`);
  closeAll(...conns, srv);
  let after = socketFds();
  for (let i = 0; i < 20 && after !== before; i++) {
    await settle();
    after = socketFds();
  }
  assert.is(after, before, `socket fds: ${before} before, ${after} after`);
});

test('a socket dropped without close() is collected and its handle and fd closed', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  await settle();
  const before = socketFds();
  const srv = own(listen(LOCAL));
  const addr = srv.getsockname();
  // Twenty client sockets, connected and used once, then dropped. They are
  // held until counted: a GC the loop's garbage brings on may not close them
  // before the count (a loaded run saw that).
  let held: GreenSocket[] | null = [];
  await (async (into: GreenSocket[]) => {
    // in a frame of its own, which ends: the test's frame keeps none of them
    for (let i = 0; i < 20; i++) {
      const acc = go(() => srv.accept());
      const c = await connect(addr);
      const [s] = await acc.wait();
      await c.sendall('x');
      assert.is((await s.recv()).toString(), 'x');
      s.close();
      into.push(c);
    }
  })(held);
  assert.ok(socketFds() >= before + 21, 'the sockets are open while held');
  held = null; // dropped without close()
  srv.close();
  let after = socketFds();
  for (let i = 0; i < 20 && after !== before; i++) {
    gc();
    await settle();
    after = socketFds();
  }
  assert.is(after, before, `socket fds: ${before} before, ${after} after the GC`);
});

// ---- makefile over real packets -----------------------------------------------------------------

test('makefile readline over a socket: lines split across separate TCP segments', async () => {
  const [c, s, srv] = await pair();
  c.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
  // Watch what each recv() of the file returns, so the writer sends the next
  // piece only once the previous one was read on its own.
  const seen = new Queue<string>();
  const recv = s.recv.bind(s);
  s.recv = async (n?: number) => {
    const d = await recv(n);
    seen.putNowait(d.toString());
    return d;
  };
  const f = s.makefile('r');
  const reader = go(async () => [await f.readline(), await f.readline(), await f.readline()]);
  const chunks: string[] = [];
  for (const piece of ['hel', 'lo\nwor', 'ld\n']) {
    await c.sendall(piece);
    chunks.push(await withTimeout(5, () => seen.get()));
  }
  c.shutdown(SHUT_WR);
  const lines = await withTimeout(5, () => reader.wait());
  assert.equal(chunks, ['hel', 'lo\nwor', 'ld\n'], 'each piece arrived on its own');
  assert.equal(lines, ['hello\n', 'world\n', '']);
  closeAll(c, s, srv);
});

// ---- issue 10: Evy's rules for makefile(), connectEx, close under a waiter, listen, serve -------

test('close() with a makefile() open: the file goes on, the fd closes with the last of them', async () => {
  await settle();
  const before = socketFds();
  const [c, s, srv] = await pair();
  srv.close();
  const rf = c.makefile('rb');
  const wf = s.makefile('wb');
  c.close(); // f = s.makefile(); s.close(): the common idiom
  s.close();
  assert.ok(c.closed && s.closed, 'the sockets themselves are closed');
  assertEBADF(await rejection(c.recv()), 'recv on the closed socket');
  assertEBADF(await rejection(s.send('x')), 'send on the closed socket');
  await wf.write(Buffer.from('hello\n'));
  await wf.flush();
  assert.is((await rf.readline()).toString(), 'hello\n', 'both files still work');
  assert.is(socketFds(), before + 2, 'the two connections are still open');
  await wf.close(); // the last file of s: its connection closes, so c's file sees EOF
  assert.is((await withTimeout(5, () => rf.read())).length, 0);
  await rf.close();
  await settle();
  assert.is(socketFds(), before, 'every fd closed');
});

test('the file closed first, the socket goes on; serve() closes a connection whose handler left a file open', async () => {
  const [c, s, srv] = await pair();
  const f = s.makefile('wb');
  await f.write(Buffer.from('a'));
  await f.close();
  await s.sendall('b');
  s.close();
  assert.is((await readAll(c)).toString(), 'ab');
  c.close();
  const server = go(() =>
    serve(srv, async (conn) => {
      conn.makefile('r'); // dropped without close()
    }),
  );
  const d = own(await connect(srv.getsockname()));
  assert.is((await withTimeout(5, () => d.recv())).length, 0, 'serve() closed it when the handler returned');
  d.close();
  server.kill();
  await ended(server);
  srv.close();
});

test('connectEx returns EAGAIN when the socket timeout expires (as Evy), and EBADF on a closed socket', async () => {
  const addr = await hangingAddress();
  const c = own(new GreenSocket(AF_INET));
  c.timeout = 0.05;
  assert.is(await c.connectEx(addr), 11);
  const d = new GreenSocket(AF_INET);
  d.close();
  assert.is(await d.connectEx(addr), 9);
});

test('a thread parked on a socket that another closes gets EBADF naming its own call', async () => {
  const [c, s, srv] = await pair();
  const r = blocked(() => c.recv()); // s never sends
  const w = blocked(() => c.sendall(HUGE)); // s never reads
  await settle();
  assert.not.ok(r.gt.dead || w.gt.dead, 'both parked');
  c.close();
  await ended(r.gt);
  await ended(w.gt);
  for (const [err, call] of [[r.caught(), 'recv'], [w.caught(), 'sendall']] as const) {
    assertEBADF(err, call);
    assert.is((err as NodeJS.ErrnoException).syscall, call);
    assert.not.match(String(err), /close on a closed socket/);
  }
  closeAll(s, srv);
});

test('listen(): SO_REUSEPORT on by default for an explicit port, not for port 0; asked for on port 0, a warning', async () => {
  const warnings: Error[] = [];
  const onWarning = (e: Error): void => {
    warnings.push(e);
  };
  process.on('warning', onWarning);
  try {
    const a = listen(LOCAL);
    assert.is(a.getsockopt(SOL_SOCKET, SO_REUSEPORT), 0, 'port 0: no SO_REUSEPORT');
    const addr = a.getsockname();
    a.close();
    const b = listen(addr);
    assert.is(b.getsockopt(SOL_SOCKET, SO_REUSEPORT), 1, 'an explicit port: SO_REUSEPORT');
    const b2 = listen(addr); // a second listener on the same port
    b2.close();
    b.close();
    const e = listen(addr, { reusePort: false });
    assert.is(e.getsockopt(SOL_SOCKET, SO_REUSEPORT), 0);
    e.close();
    await tick();
    assert.is(warnings.length, 0);
    const d = listen(LOCAL, { reusePort: true });
    assert.is(d.getsockopt(SOL_SOCKET, SO_REUSEPORT), 1, 'set anyway, as Evy does');
    d.close();
    await tick();
    assert.equal(warnings.map((w) => w.name), ['ReuseRandomPortWarning']);
  } finally {
    process.off('warning', onWarning);
  }
});

test('closing the listener under spawn(serve, ...) ends serve() cleanly, nothing reported', async () => {
  const srv = listen(LOCAL);
  const [, printed] = await captureStderr(async () => {
    const server = spawn(serve, srv, () => {});
    await settle();
    srv.close();
    await settle();
    assert.ok(server.dead, 'serve() returned');
    assert.is(await server.wait(), undefined);
  });
  assert.is(printed, '');
});

suite.run();
