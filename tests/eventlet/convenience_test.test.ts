// eventlet's tests/convenience_test.py, test by test, in evy's API: listen,
// connect, serve, StopServe, wrapSsl. Skips and deliberate differences are
// listed in README.md.
import { test as suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Event,
  GreenSocket,
  StopServe,
  connect,
  listen,
  serve,
  withTimeout,
  wrapSsl,
  type Address,
} from 'evy';
import { SOL_SOCKET, SO_REUSEPORT } from 'evy/patched/socket';
import { captureStderr, localhostCert, rejection } from '../helpers';
import { finish, safetyNet } from '../safety';

const { test, own, go } = safetyNet(suite, { limit: 20 });
const LOCAL: Address = ['127.0.0.1', 0];

/** The warnings emitted while `fn` runs (process.emitWarning delivers them on the next tick). */
async function warningsDuring(fn: () => unknown): Promise<Error[]> {
  const seen: Error[] = [];
  const onWarning = (w: Error): void => {
    seen.push(w);
  };
  process.on('warning', onWarning);
  try {
    await fn();
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', onWarning);
  }
  return seen;
}

// ---- TestServe ------------------------------------------------------------------------

// Deliberate difference (README, Differences worth knowing: "`recv` reports a
// connection reset as ECONNRESET"): the handler closes with the client's 'a'
// unread, the kernel resets the connection, and evy's recv says so where Evy's
// returns b''.
test('convenience_test.TestServe.test_exiting_server', async () => {
  const l = own(listen(LOCAL));
  const gt = go(() => serve(l, () => {}));
  const client = own(await connect(l.getsockname()));
  await client.sendall('a');
  const got = await client.recv(100).catch((e: NodeJS.ErrnoException) => e.code);
  assert.ok(got === 'ECONNRESET' || (Buffer.isBuffer(got) && got.length === 0), `the connection is closed once the handler returns: ${String(got)}`);
  gt.kill(); // Evy's kill switches to the thread at once; evy's runs it at the next turn
  await finish(gt);
  client.close();
  l.close();
});

// Deliberate difference: in Evy serve() raises the handler's error; evy's README
// ("other handler errors are printed and serving goes on") keeps serving.
test('convenience_test.TestServe.test_excepting_server', async () => {
  const l = own(listen(LOCAL));
  const [, printed] = await captureStderr(async () => {
    const gt = go(() =>
      serve(l, async (sock) => {
        await sock.recv(1024);
        throw new RangeError('division by zero');
      }),
    );
    const client = own(await connect(l.getsockname()));
    await client.sendall('a');
    assert.is((await client.recv(100)).length, 0, 'the crashed handler\'s connection is closed');
    assert.not.ok(gt.dead, 'serve() goes on after a handler error');
    gt.kill();
    await finish(gt);
    client.close();
  });
  assert.match(printed, /division by zero/);
  l.close();
});

test('convenience_test.TestServe.test_excepting_server_already_closed', async () => {
  const l = own(listen(LOCAL));
  const [, printed] = await captureStderr(async () => {
    const gt = go(() =>
      serve(l, async (sock) => {
        await sock.recv(1024);
        sock.close();
        throw new RangeError('division by zero');
      }),
    );
    const client = own(await connect(l.getsockname()));
    await client.sendall('a');
    assert.is((await client.recv(100)).length, 0);
    assert.not.ok(gt.dead, 'serve() goes on after a handler error');
    gt.kill();
    await finish(gt);
    client.close();
  });
  assert.match(printed, /division by zero/);
  l.close();
});

test('convenience_test.TestServe.test_called_for_each_connection', async () => {
  let hits = 0;
  const l = own(listen(LOCAL));
  const gt = go(() =>
    serve(l, () => {
      hits++;
    }),
  );
  for (let i = 0; i < 100; i++) {
    const client = await connect(l.getsockname());
    assert.is((await client.recv(100)).length, 0);
    client.close();
  }
  gt.kill();
  await finish(gt);
  assert.is(hits, 100);
  l.close();
});

test('convenience_test.TestServe.test_blocking', async () => {
  const l = own(listen(LOCAL));
  const x = await withTimeout(0.01, () => serve(l, () => {}), { timeoutValue: 'timeout' });
  assert.is(x, 'timeout');
  l.close();
});

test('convenience_test.TestServe.test_raising_stopserve', async () => {
  const l = own(listen(LOCAL));
  const gt = go(async () => own(await connect(l.getsockname())));
  await serve(l, () => {
    throw new StopServe();
  });
  (await finish(gt)).close();
  l.close();
});

test('convenience_test.TestServe.test_concurrency', async () => {
  const evt = new Event<void>();
  const l = own(listen(LOCAL));
  const server = go(() =>
    serve(
      l,
      async (sock) => {
        await sock.sendall('hi');
        await evt.wait();
      },
      { concurrency: 5 },
    ),
  );
  const clients: GreenSocket[] = [];
  const testClient = async (): Promise<GreenSocket> => {
    const c = own(await connect(l.getsockname()));
    clients.push(c);
    assert.is((await c.recv(2)).toString(), 'hi', 'the client is served');
    return c;
  };
  for (let i = 0; i < 5; i++) await testClient();
  const x = await withTimeout(0.01, testClient, { timeoutValue: 'timed out' });
  assert.is(x, 'timed out', 'the sixth client waits for a free slot');
  evt.send();
  for (const c of clients) c.close();
  server.kill();
  await finish(server);
  l.close();
});

// Deliberate difference (README, Differences worth knowing: "`wrapSsl` wraps a
// connected socket"): wrapping the listener is refused with a clear error, and
// the server wraps each accepted connection in its handler instead.
test('convenience_test.TestServe.test_wrap_ssl', async () => {
  const { key, cert } = localhostCert();
  const listener = own(listen(LOCAL));
  assert.match(String(await rejection(wrapSsl(listener, { serverSide: true, key, cert }))), /wrap each accepted connection/);
  const port = (listener.getsockname() as [string, number])[1];
  const gt = go(() =>
    serve(listener, async (raw) => {
      const sock = await wrapSsl(raw, { serverSide: true, key, cert });
      await sock.sendall(await sock.recv(1024));
      sock.close();
      throw new StopServe();
    }),
  );
  const client = await wrapSsl(own(await connect(['127.0.0.1', port])), { rejectUnauthorized: false });
  await client.sendall('echo');
  assert.is((await client.recv(1024)).toString(), 'echo');
  await finish(gt);
  client.close();
  listener.close();
});

// ---- module-level tests ------------------------------------------------------------------

test('convenience_test.test_socket_reuse', async () => {
  let addr: Address | null = null;
  let lsock1: GreenSocket | null = null;
  const errors: unknown[] = [];
  for (let i = 0; i < 5 && lsock1 === null; i++) {
    const probe = listen(LOCAL);
    addr = probe.getsockname();
    probe.close();
    try {
      lsock1 = own(listen(addr));
    } catch (err) {
      errors.push(err);
    }
  }
  assert.ok(lsock1 !== null, `no port could be listened on again: ${errors.map(String).join('; ')}`);
  // SO_REUSEPORT is on by default for an explicit port: a second listener binds it too.
  const lsock2 = own(listen(addr!));
  assert.is(lsock2.getsockopt(SOL_SOCKET, SO_REUSEPORT), 1);
  lsock2.close();
  lsock1!.close();
});

test('convenience_test.test_reuse_random_port_warning', async () => {
  const seen = await warningsDuring(() => listen(LOCAL, { reusePort: true }).close());
  assert.is(seen.length, 1, 'one warning');
  assert.is(seen[0].name, 'ReuseRandomPortWarning');
});

test('convenience_test.test_reuseport_oserror', async () => {
  const probe = listen(LOCAL);
  const addr = probe.getsockname();
  probe.close();
  const original = GreenSocket.prototype.setsockopt;
  let seen: Error[];
  try {
    GreenSocket.prototype.setsockopt = function (): void {
      // EINVAL: the option is defined but refused
      throw Object.assign(new Error('setsockopt EINVAL'), { code: 'EINVAL', errno: -22, syscall: 'setsockopt' });
    };
    seen = await warningsDuring(() => listen(addr, { reuseAddr: false, reusePort: true }).close());
  } finally {
    GreenSocket.prototype.setsockopt = original;
  }
  assert.is(seen.length, 1, 'one warning');
  assert.is(seen[0].name, 'ReusePortUnavailableWarning');
});

suite.run();
