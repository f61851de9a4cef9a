// eventlet's tests/greenio_test.py, test by test, in evy's API: GreenSocket,
// listen/connect/serve, makefile() and GreenFile, select from
// evy/patched/select, Timeout, spawn. eventlet's GreenPipe (a file over an fd)
// is a GreenFile over a pipe through evy/patched/os. Skips and deliberate
// differences are listed in README.md.
import { test as suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import {
  Event,
  GreenFile,
  GreenSocket,
  SocketTimeout,
  StopServe,
  Timeout,
  connect,
  listen,
  serve,
  sleep,
  spawnN,
  withTimeout,
  type Address,
  type RawStream,
} from 'evy';
import { AF_INET, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, SO_RCVBUF, SO_REUSEADDR, SO_SNDBUF, socket } from 'evy/patched/socket';
import { select } from 'evy/patched/select';
import * as os from 'evy/patched/os';
import { hangingAddress, rejection, releaseHangingAddress } from '../helpers';
import { finish, safetyNet } from '../safety';

const { test, own, go } = safetyNet(suite, { limit: 30 });
const LOCAL: Address = ['127.0.0.1', 0];
const EAGAIN = 11;

// ---- helpers (eventlet's own, translated) ------------------------------------------------

/** Shrinks both kernel buffers of `sock` (to the platform's minimum). */
function bufsized<S extends GreenSocket>(sock: S, size = 1): S {
  sock.setsockopt(SOL_SOCKET, SO_SNDBUF, size);
  sock.setsockopt(SOL_SOCKET, SO_RCVBUF, size);
  return sock;
}

/** `p` fails with a socket timeout ("timed out"). */
async function expectSocketTimeout(p: Promise<unknown>): Promise<void> {
  const err = await rejection(p);
  assert.instance(err, SocketTimeout, `a SocketTimeout, got ${String(err)}`);
  assert.match((err as Error).message, /timed out/);
}

/** The smallest send buffer the platform gives. */
function minBufSize(): number {
  const s = new GreenSocket(AF_INET, SOCK_STREAM);
  try {
    s.setsockopt(SOL_SOCKET, SO_SNDBUF, 1);
    return s.getsockopt(SOL_SOCKET, SO_SNDBUF);
  } finally {
    s.close();
  }
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

// eventlet's 192.0.2.1 (TEST-NET, never answers) is hangingAddress() of tests/helpers.ts.
suite.after(releaseHangingAddress);

/** A listener as eventlet's tests make one by hand: SO_REUSEADDR, bound, listening. */
function server(host = '127.0.0.1'): GreenSocket {
  const s = own(socket(AF_INET, SOCK_STREAM));
  s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  s.bind([host, 0]);
  s.listen(50);
  return s;
}

function port(s: GreenSocket): number {
  return (s.getsockname() as [string, number])[1];
}

/** eventlet's GreenPipe: a GreenFile over a pipe fd (closing the file closes the fd). */
function greenPipe(fd: number, mode: 'rb' | 'wb' | 'r' | 'w', bufsize?: number): GreenFile<Buffer> {
  const raw: RawStream = {
    recv: (n) => os.read(fd, n),
    sendall: async (data) => {
      await os.write(fd, data);
    },
    release: () => os.close(fd),
  };
  // eventlet's bufsize 0 (unbuffered) is GreenFile's smallest buffer, 1 byte.
  return new GreenFile<Buffer>(raw, mode, bufsize === undefined ? {} : { bufsize: Math.max(1, bufsize) });
}

/** Python 3's write to a closed file: ValueError('I/O operation on closed file'). */
async function assertWriteToClosedFileRaises(f: GreenFile<Buffer>): Promise<void> {
  const err = await rejection(f.write(Buffer.from('a')));
  assert.match(String(err), /I\/O operation on a closed file/);
}

// ---- TestGreenSocket ------------------------------------------------------------------------

test('greenio_test.TestGreenSocket.test_connect_timeout', async () => {
  const addr = await hangingAddress();
  const gs = own(socket(AF_INET, SOCK_STREAM));
  gs.timeout = 0.1;
  await expectSocketTimeout(gs.connect(addr));
});

test('greenio_test.TestGreenSocket.test_accept_timeout', async () => {
  const s = own(socket(AF_INET, SOCK_STREAM));
  s.bind(['127.0.0.1', 0]);
  s.listen(50);
  s.timeout = 0.1;
  await expectSocketTimeout(s.accept());
  s.close();
});

test('greenio_test.TestGreenSocket.test_connect_ex_timeout', async () => {
  const addr = await hangingAddress();
  const gs = own(socket(AF_INET, SOCK_STREAM));
  gs.timeout = 0.1;
  assert.is(await gs.connectEx(addr), EAGAIN, 'a timed-out connectEx returns EAGAIN');
});

/** eventlet's shape of the recv timeout tests: a server thread accepts and waits. */
async function acceptedAndWaiting(): Promise<{ client: GreenSocket; done: () => Promise<void> }> {
  const listener = own(socket(AF_INET, SOCK_STREAM));
  listener.bind(['127.0.0.1', 0]);
  listener.listen(50);
  const evt = new Event<void>();
  const gt = go(async () => {
    const [sock] = await listener.accept();
    own(sock);
    await evt.wait();
  });
  const client = own(socket(AF_INET, SOCK_STREAM));
  client.timeout = 0.1;
  await client.connect(listener.getsockname());
  return {
    client,
    done: async () => {
      evt.send();
      await finish(gt);
    },
  };
}

test('greenio_test.TestGreenSocket.test_recv_timeout', async () => {
  const { client, done } = await acceptedAndWaiting();
  await expectSocketTimeout(client.recv(0));
  await expectSocketTimeout(client.recv(8192));
  await done();
});

test('greenio_test.TestGreenSocket.test_recvfrom_timeout', async () => {
  const gs = own(socket(AF_INET, SOCK_DGRAM));
  gs.timeout = 0.1;
  gs.bind(['127.0.0.1', 0]);
  await expectSocketTimeout(gs.recvfrom(0));
  await expectSocketTimeout(gs.recvfrom(8192));
});

test('greenio_test.TestGreenSocket.test_recvfrom_into_timeout', async () => {
  const buf = new Uint8Array(0);
  const gs = own(socket(AF_INET, SOCK_DGRAM));
  gs.timeout = 0.1;
  gs.bind(['127.0.0.1', 0]);
  await expectSocketTimeout(gs.recvfromInto(buf));
});

test('greenio_test.TestGreenSocket.test_recv_into_timeout', async () => {
  const buf = new Uint8Array(0);
  const { client, done } = await acceptedAndWaiting();
  await expectSocketTimeout(client.recvInto(buf));
  await done();
});

test('greenio_test.TestGreenSocket.test_send_timeout', async () => {
  const listener = bufsized(own(listen(LOCAL)));
  const evt = new Event<void>();
  const gt = go(async () => {
    const [sock] = await listener.accept();
    bufsized(own(sock));
    await evt.wait();
  });
  const client = bufsized(own(socket(AF_INET, SOCK_STREAM)));
  await client.connect(listener.getsockname());
  client.timeout = 0.00001;
  const msg = Buffer.alloc(100000, 0x41); // more than the kernel buffers take
  await expectSocketTimeout(
    (async () => {
      for (let i = 0; i < 10; i++) await client.send(msg);
    })(),
  );
  evt.send();
  await finish(gt);
});

test('greenio_test.TestGreenSocket.test_sendall_timeout', async () => {
  const { client, done } = await acceptedAndWaiting();
  const msg = Buffer.alloc(8 << 20, 0x41); // more than the kernel buffers take
  await expectSocketTimeout(client.sendall(msg));
  await done();
});

test('greenio_test.TestGreenSocket.test_close_with_makefile', async () => {
  // The socket and its file are independent: closing the socket first...
  const acceptCloseEarly = async (listener: GreenSocket): Promise<void> => {
    try {
      const [conn] = await listener.accept();
      const fd = conn.makefile('wb');
      conn.close();
      await fd.write(Buffer.from('hello\n'));
      await fd.close();
      await assertWriteToClosedFileRaises(fd);
      assert.is(errno(await rejection(conn.send('b'))), 'EBADF');
    } finally {
      listener.close();
    }
  };
  // ... or the file first, then sending on the socket.
  const acceptCloseLate = async (listener: GreenSocket): Promise<void> => {
    try {
      const [conn] = await listener.accept();
      const fd = conn.makefile('wb');
      await fd.write(Buffer.from('hello'));
      await fd.close();
      await conn.send('\n');
      conn.close();
      await assertWriteToClosedFileRaises(fd);
      assert.is(errno(await rejection(conn.send('b'))), 'EBADF');
    } finally {
      listener.close();
    }
  };
  const didItWork = async (srv: GreenSocket): Promise<void> => {
    const client = own(socket(AF_INET, SOCK_STREAM));
    await client.connect(['127.0.0.1', port(srv)]);
    const fd = client.makefile('rb');
    client.close();
    assert.is((await fd.readline()).toString(), 'hello\n');
    assert.is((await fd.read()).length, 0);
    await fd.close();
  };
  for (const acceptor of [acceptCloseEarly, acceptCloseLate]) {
    const srv = server('0.0.0.0');
    const killer = go(() => acceptor(srv));
    await didItWork(srv);
    await finish(killer);
  }
});

test('greenio_test.TestGreenSocket.test_full_duplex', async () => {
  const largeData = Buffer.alloc(10 * minBufSize(), 0x2a);
  const listener = bufsized(server());
  const sendLarge = (sock: GreenSocket): Promise<void> => sock.sendall(largeData);
  const readLarge = async (sock: GreenSocket): Promise<void> => {
    let result = await sock.recv(largeData.length);
    while (result.length < largeData.length) result = Buffer.concat([result, await sock.recv(largeData.length)]);
    assert.ok(result.equals(largeData));
  };
  const serverEvt = go(async () => {
    const [sock] = await listener.accept();
    bufsized(own(sock));
    const sendLargeCoro = go(() => sendLarge(sock));
    await sleep(0);
    let result = await sock.recv(10);
    const expected = 'hello world';
    while (result.length < expected.length) result = Buffer.concat([result, await sock.recv(10)]);
    assert.is(result.toString(), expected);
    await finish(sendLargeCoro);
  });
  const client = bufsized(own(socket(AF_INET, SOCK_STREAM)));
  await client.connect(['127.0.0.1', port(listener)]);
  const largeEvt = go(() => readLarge(client));
  await sleep(0);
  await client.sendall('hello world');
  await finish(serverEvt);
  await finish(largeEvt);
  client.close();
});

test('greenio_test.TestGreenSocket.test_sendall', async () => {
  const secondBytes = 10;
  const impl = async (manyBytes: number): Promise<void> => {
    const bufsize = Math.max(Math.floor(manyBytes / 15), 2);
    const listener = server('0.0.0.0');
    const senderCoro = go(async () => {
      const [sock] = await listener.accept();
      bufsized(own(sock), bufsize);
      await sock.sendall(Buffer.alloc(manyBytes, 0x78));
      await sock.sendall(Buffer.alloc(secondBytes, 0x79));
    });
    const client = own(socket(AF_INET, SOCK_STREAM));
    await client.connect(['127.0.0.1', port(listener)]);
    bufsized(client, bufsize);
    let total = 0;
    while (total < manyBytes) {
      const data = await client.recv(Math.min(manyBytes - total, Math.floor(manyBytes / 10)));
      if (data.length === 0) break;
      total += data.length;
    }
    let total2 = 0;
    while (total2 < secondBytes) {
      const data = await client.recv(secondBytes);
      if (data.length === 0) break;
      total2 += data.length;
    }
    await finish(senderCoro);
    client.close();
    listener.close();
  };
  for (const howMany of [1000, 10000, 100000, 1000000]) await impl(howMany);
});

test('greenio_test.TestGreenSocket.test_timeout_and_final_write', async () => {
  // A write on a socket nobody listens on any more must not resume anyone by mistake.
  const srv = server();
  const boundPort = port(srv);
  let wrapWfile: GreenFile<Buffer> | null = null;
  const sender = async (evt: Event<string>): Promise<void> => {
    const [s2] = await srv.accept();
    own(s2);
    wrapWfile = s2.makefile('wb');
    await sleep(0.02);
    await wrapWfile.write(Buffer.from('hi'));
    s2.close();
    evt.send('sent via event');
  };
  const evt = new Event<string>();
  go(() => sender(evt));
  await sleep(0); // lets the acceptor start
  let client: GreenSocket | null = null;
  let wrapRfile: GreenFile<string> | null = null;
  try {
    new Timeout(0.01);
    client = own(socket(AF_INET, SOCK_STREAM));
    await client.connect(['127.0.0.1', boundPort]);
    wrapRfile = client.makefile('r');
    await wrapRfile.read(1);
    assert.unreachable('read(1) returned before the Timeout');
  } catch (err) {
    if (!(err instanceof Timeout)) throw err;
  }
  assert.is(await evt.wait(), 'sent via event');
  srv.close();
  client?.close();
  // (evy: the files hold their connections open until closed)
  await (wrapRfile as GreenFile<string> | null)?.close();
  await (wrapWfile as GreenFile<Buffer> | null)?.close();
});

test('greenio_test.TestGreenSocket.test_raised_multiple_readers', async () => {
  const listener = own(listen(LOCAL));
  const srvGt = go(() =>
    serve(listener, async (sock) => {
      await sock.recv(1);
      await sock.sendall('a');
      throw new StopServe();
    }),
  );
  const s = own(await connect(['127.0.0.1', port(listener)]));
  const a = go(() => s.recv(1));
  await sleep(0);
  // Evy's RuntimeError for a second reader: evy's Error of the same meaning.
  assert.match(String(await rejection(s.recv(1))), /another green thread is already reading/);
  await s.sendall('b');
  await finish(a);
  await finish(srvGt);
});

// eventlet skips this test on its epoll and kqueue hubs; evy's hub is libuv's
// epoll on Linux, where the sender's first write after the reset is ECONNRESET
// (EPIPE only after). Kept, skipped as eventlet skips it.
suite.skip('greenio_test.TestGreenSocket.test_closure', async () => {
  const spamToMe = async (address: Address): Promise<void> => {
    const sock = own(await connect(address));
    for (;;) {
      try {
        await sock.sendall('hello world');
        await sleep(0.001);
      } catch (err) {
        if (errno(err) === 'EPIPE') return;
        throw err;
      }
    }
  };
  const srv = own(listen(LOCAL));
  const sender = go(() => spamToMe(srv.getsockname()));
  const [client] = await srv.accept();
  own(client);
  srv.close();
  const reader = go(async () => {
    try {
      for (;;) {
        const data = await client.recv(1024);
        assert.ok(data.length > 0);
        await sleep(0.001);
      }
    } catch (err) {
      // EBADF: the socket was closed by another thread of this process
      if (errno(err) !== 'EBADF') throw err;
    }
  });
  spawnN(() => client.close());
  await finish(reader);
  await finish(sender);
});

test('greenio_test.TestGreenSocket.test_invalid_connection', async () => {
  const l = listen(LOCAL);
  const addr = l.getsockname();
  l.close();
  assert.is(errno(await rejection(connect(addr))), 'ECONNREFUSED');
});

test('greenio_test.TestGreenSocket.test_zero_timeout_and_back', async () => {
  const l = own(listen(LOCAL));
  const srv = go(async () => own((await l.accept())[0]));
  const client = own(await connect(l.getsockname()));
  client.timeout = 0.05;
  assert.instance(await rejection(client.recv(1)), SocketTimeout);
  client.timeout = 0;
  assert.is(errno(await rejection(client.recv(1))), 'EAGAIN');
  client.timeout = 0.05;
  assert.instance(await rejection(client.recv(1)), SocketTimeout);
  await finish(srv);
});

/** O_NONBLOCK of an fd, from /proc/self/fdinfo (Linux: the flags in octal). */
function nonblocking(fd: number): boolean {
  const m = /^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  return m !== null && (parseInt(m[1], 8) & 0o4000) !== 0;
}

test('greenio_test.TestGreenSocket.test_default_nonblocking', async () => {
  const sock1 = own(socket(AF_INET, SOCK_STREAM));
  assert.ok(nonblocking(sock1.fileno()), 'a green socket\'s fd is non-blocking');
  // (socket(sock1.fd), wrapping an existing fd, has no evy counterpart)
  sock1.close();
});

test('greenio_test.TestGreenSocket.test_sockopt_interface', async () => {
  const sock = own(socket(AF_INET, SOCK_DGRAM));
  assert.is(sock.getsockopt(SOL_SOCKET, SO_REUSEADDR), 0);
  // (getsockopt with a buffer length, returning bytes, has no evy counterpart: int options only)
  sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  sock.close();
});

test('greenio_test.TestGreenSocket.test_socketpair_select', async () => {
  // evy has no socketpair(): a connected pair over loopback
  const l = own(listen(LOCAL));
  const acc = go(() => l.accept());
  const s1 = own(await connect(l.getsockname()));
  const [s2] = await finish(acc);
  own(s2);
  assert.equal(await select([], [s1], [], 0), [[], [s1], []]);
  assert.equal(await select([], [s1], [], 0), [[], [s1], []]);
  s1.close();
  s2.close();
  l.close();
});

test('greenio_test.TestGreenSocket.test_datagram_socket_operations_work', async () => {
  const receiver = own(new GreenSocket(AF_INET, SOCK_DGRAM));
  receiver.bind(['127.0.0.1', 0]);
  const address = receiver.getsockname();
  const sender = own(new GreenSocket(AF_INET, SOCK_DGRAM));
  // (eventlet's second form, sendto(data, flags, address), has no evy counterpart)
  await sender.sendto('first', address);
  await sender.sendto('second', address);
  const senderAddress = ['127.0.0.1', (sender.getsockname() as [string, number])[1]];
  const [d1, a1] = await receiver.recvfrom(1024);
  assert.equal([d1.toString(), a1], ['first', senderAddress]);
  const [d2, a2] = await receiver.recvfrom(1024);
  assert.equal([d2.toString(), a2], ['second', senderAddress]);
  receiver.close();
  sender.close();
});

// ---- select's get_fileno (through select(), which takes the same items) ---------------------

test('greenio_test.test_get_fileno_of_a_socket_works', async () => {
  const [r, w] = os.pipe();
  try {
    const item = { fileno: () => w };
    assert.equal(await select([], [item], [], 0), [[], [item], []]);
  } finally {
    os.close(r);
    os.close(w);
  }
});

test('greenio_test.test_get_fileno_of_an_int_works', async () => {
  const [r, w] = os.pipe();
  try {
    assert.equal(await select([], [w], [], 0), [[], [w], []]);
  } finally {
    os.close(r);
    os.close(w);
  }
});

test('greenio_test.test_get_fileno_of_wrong_type_fails', async () => {
  const err = await rejection(select(['foo' as unknown as number], [], [], 0));
  assert.instance(err, TypeError);
});

test('greenio_test.test_get_fileno_of_a_socket_with_fileno_returning_wrong_type_fails', async () => {
  const err = await rejection(select([{ fileno: () => 'foo' as unknown as number }], [], [], 0));
  assert.instance(err, TypeError);
});

// ---- TestGreenPipe --------------------------------------------------------------------------

test('greenio_test.TestGreenPipe.test_pipe', async () => {
  const [r, w] = os.pipe();
  const rf = greenPipe(r, 'rb');
  const wf = greenPipe(w, 'wb', 0);
  const oneLine = Buffer.from('12345\n');
  const sender = go(async () => {
    for (const ch of Buffer.concat(Array(5).fill(oneLine))) {
      await sleep(0.0001);
      await wf.write(Buffer.from([ch]));
    }
    await wf.close();
  });
  for (let i = 0; i < 5; i++) {
    const line = await rf.readline();
    await sleep(0.01);
    assert.is(line.toString(), oneLine.toString());
  }
  assert.is((await rf.readline()).length, 0);
  await finish(sender);
  await rf.close();
});

test('greenio_test.TestGreenPipe.test_pipe_read', async () => {
  // readline when the data is not there yet, ending at '\n' (a '\r\n' line too)
  const [rfd, wfd] = os.pipe();
  const r = greenPipe(rfd, 'rb');
  const w = greenPipe(wfd, 'wb');
  const gt = go(async () => {
    await sleep(0.1);
    await w.write(Buffer.from('line\n'));
    await w.flush();
    await w.write(Buffer.from('line\r\n'));
    await w.flush();
  });
  await sleep(0);
  assert.is((await r.readline()).toString(), 'line\n');
  assert.is((await r.readline()).toString(), 'line\r\n');
  await finish(gt);
  await r.close();
  await w.close();
});

test('greenio_test.TestGreenPipe.test_pip_read_until_end', async () => {
  const [rfd, wfd] = os.pipe();
  const r = greenPipe(rfd, 'rb');
  const w = greenPipe(wfd, 'wb');
  const data = Buffer.from('abcd'.repeat(8192 / 2)); // DEFAULT_BUFFER_SIZE // 2 times
  const gt = go(async () => {
    await w.write(data);
    await w.close();
  });
  const buf = await r.read(); // no size: until EOF
  assert.ok(buf.equals(data));
  await finish(gt);
  await r.close();
});

test('greenio_test.TestGreenPipe.test_pipe_read_unbuffered', async () => {
  const [rfd, wfd] = os.pipe();
  const r = greenPipe(rfd, 'rb', 0);
  const w = greenPipe(wfd, 'wb', 0);
  await w.write(Buffer.from('line\n'));
  assert.is((await withTimeout(5, () => r.readline())).toString(), 'line\n');
  await r.close();
  await w.close();
});

test('greenio_test.TestGreenPipe.test_pipe_writes_large_messages', async () => {
  const [rfd, wfd] = os.pipe();
  const r = greenPipe(rfd, 'rb');
  const w = greenPipe(wfd, 'wb');
  const large = Buffer.concat(Array.from({ length: 65 }, (_, i) => Buffer.alloc(1024, i)));
  const gt = go(async () => {
    await w.write(large);
    await w.close();
  });
  for (let i = 0; i < 65; i++) {
    const buf = await r.read(1024);
    assert.ok(buf.equals(Buffer.alloc(1024, i)), `block ${i}: ${buf.subarray(0, 4).toString('hex')}..`);
  }
  await finish(gt);
  await r.close();
});

// ---- TestGreenIoLong ------------------------------------------------------------------------

// Evy's default (and its asyncio hub's only) rule: one reader per socket. evy has
// no switch to allow several, so the port checks the refusal, as eventlet's
// asyncio-hub branch of this test does.
test('greenio_test.TestGreenIoLong.test_multiple_readers', async () => {
  const listener = server();
  const acc = go(() => listener.accept());
  const client = own(await connect(['127.0.0.1', port(listener)]));
  const [sock] = await finish(acc);
  own(sock);
  const c1 = go(() => sock.recv(1024));
  await sleep(0);
  const err = await rejection(sock.recv(1024));
  assert.match(String(err), /another green thread is already reading/);
  await client.sendall('*');
  assert.is((await finish(c1)).toString(), '*');
  client.close();
  sock.close();
  listener.close();
});

// ---- module-level tests ---------------------------------------------------------------------

test('greenio_test.test_partial_write_295', async () => {
  // writelines() on makefile('wb') sends all of it, despite partial writes
  // underneath (here: the smallest send buffer, so the kernel takes a little at a time)
  const listenSocket = own(listen(LOCAL));
  const talker = go(async () => {
    const [conn] = await listenSocket.accept();
    own(conn);
    bufsized(conn);
    const f = conn.makefile('wb');
    const line = Buffer.alloc(2140, 0x2a);
    await f.writelines(Array(10000).fill(line));
    await f.close();
    conn.close();
  });
  const sock = own(await connect(listenSocket.getsockname()));
  const rf = sock.makefile('rb');
  let bs: Buffer;
  {
    using _t = new Timeout(10);
    bs = await rf.read();
  }
  await rf.close();
  assert.is(bs.length, 21400000);
  assert.ok(bs.equals(Buffer.alloc(21400000, 0x2a)));
  await finish(talker);
  sock.close();
});

test('greenio_test.test_socket_file_read_non_int', async () => {
  const listenSocket = own(listen(LOCAL));
  const srv = go(async () => {
    const [conn] = await listenSocket.accept();
    await conn.recv(1);
    await conn.sendall('response');
    conn.close();
  });
  const sock = own(await connect(listenSocket.getsockname()));
  const fd = sock.makefile('rwb');
  await fd.write(Buffer.from('?'));
  await fd.flush();
  {
    using _t = new Timeout(1);
    const err = await rejection(fd.read("This shouldn't work" as unknown as number));
    assert.instance(err, TypeError);
  }
  await finish(srv);
  await fd.close();
  sock.close();
});

test('greenio_test.test_pipe_context', async () => {
  const [rfd, wfd] = os.pipe();
  const r = greenPipe(rfd, 'rb');
  const w = greenPipe(wfd, 'w');
  {
    await using _r = r;
  }
  assert.ok(r.closed && !w.closed);
  {
    await using f = w;
    assert.is(f, w);
  }
  assert.ok(r.closed && w.closed);
});

suite.run();
