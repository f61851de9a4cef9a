import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, writeSync } from 'node:fs';
import { Event, Timeout, connect, getHub, listen, spawn, type GreenSocket } from 'evy';
import { select } from 'evy/patched/select';
import { pipe } from 'evy/patched/os';
import { assertClean, rejection, settle } from '../helpers';

test.after.each(assertClean);

async function pair(): Promise<[GreenSocket, GreenSocket, GreenSocket]> {
  const srv = listen(['127.0.0.1', 0]);
  const acc = spawn(() => srv.accept());
  const c = await connect(srv.getsockname());
  const [s] = await acc.wait();
  return [c, s, srv];
}

function closeFds(...fds: number[]): void {
  for (const fd of fds) {
    getHub().removeDescriptor(fd);
    closeSync(fd);
  }
}

test('a pipe: readable once written, writable at once; the lists keep the caller\'s items', async () => {
  const [r, w] = pipe();
  const [rr, ww, xx] = await select([r], [w], [], 5);
  assert.equal(rr, [], 'nothing to read yet');
  assert.equal(ww, [w], 'an empty pipe is writable');
  assert.equal(xx, []);
  const waiter = spawn(() => select([r], [], [], null));
  await settle();
  writeSync(w, 'x');
  assert.equal(await waiter.wait(), [[r], [], []]);
  closeFds(r, w);
});

test('green sockets: readable when data, EOF or a connection is there; writable when nothing is queued', async () => {
  const [c, s, srv] = await pair();
  assert.equal(await select([s, srv], [c], [], 0), [[], [c], []], 'timeout 0 only looks');
  const waiting = spawn(() => select([s], [], [], null));
  await settle();
  await c.sendall('hello');
  assert.equal(await waiting.wait(), [[s], [], []]);
  assert.is((await s.recv()).toString(), 'hello');
  // a pending connection makes the listening socket readable
  const late = spawn(() => connect(srv.getsockname()));
  const [[ready]] = await select([srv], [], [], 5);
  assert.is(ready, srv);
  const [conn] = await srv.accept();
  (await late.wait()).close();
  conn.close();
  // EOF is readable: recv would return at once
  c.close();
  assert.equal(await select([s], [], [], 5), [[s], [], []]);
  assert.is((await s.recv()).length, 0);
  s.close();
  srv.close();
});

test('an fd and a socket in one call: whichever is ready is reported, together when both are', async () => {
  const [r, w] = pipe();
  const [c, s, srv] = await pair();
  writeSync(w, 'x');
  await c.sendall('y');
  await settle();
  const [rr] = await select([r, s], [], [], 5);
  assert.equal(rr, [r, s]);
  c.close();
  s.close();
  srv.close();
  closeFds(r, w);
});

test('timeout: three empty lists after about that long', async () => {
  const [r, w] = pipe();
  const t0 = performance.now();
  assert.equal(await select([r], [], [], 0.05), [[], [], []]);
  assert.ok(performance.now() - t0 >= 40, 'it waited');
  closeFds(r, w);
});

test('Timeout and kill interrupt select and leave no listener behind', async () => {
  const [r, w] = pipe();
  const t = new Timeout(0.05);
  try {
    await select([r], [], [], null);
    assert.unreachable('select returned');
  } catch (err) {
    assert.is(err, t);
  } finally {
    t.cancel();
  }
  assert.is(getHub().counts().listeners, 0);
  const started = new Event<void>();
  const gt = spawn(async () => {
    started.send();
    return select([r], [], [], null);
  });
  await started.wait();
  await settle();
  assert.is(getHub().counts().listeners, 1);
  gt.kill();
  assert.is(await gt.wait(), undefined);
  assert.ok(gt.dead);
  assert.is(getHub().counts().listeners, 0);
  closeFds(r, w);
});

test('the same fd twice is one listener, reported twice', async () => {
  const [r, w] = pipe();
  writeSync(w, 'x');
  assert.equal(await select([r, r], [], [], 5), [[r, r], [], []]);
  closeFds(r, w);
});

test('closing a socket wakes a select waiting on it', async () => {
  const [c, s, srv] = await pair();
  const waiting = spawn(() => select([s], [], [], null));
  await settle();
  s.close();
  assert.equal(await waiting.wait(), [[s], [], []]);
  c.close();
  srv.close();
});

test('bad input names the problem', async () => {
  const e1 = await rejection(select([-1], [], []));
  assert.match(String(e1), /rlist items must be/);
  const e2 = await rejection(select([], ['x' as unknown as number], []));
  assert.match(String(e2), /wlist items must be/);
  const e3 = await rejection(select([], [], [], -1));
  assert.match(String(e3), /timeout/);
  const e4 = await rejection(select(5 as unknown as number[], [], []));
  assert.match(String(e4), /rlist must be an array/);
});

// Regression (issue 10, item 5): a thread that an I/O callback resumed runs in
// the poll phase; select(..., 0) must still look at its fds through a poll.
test('select(..., 0) from a thread resumed by an I/O callback sees a writable pipe end', async () => {
  const srv = listen(['127.0.0.1', 0]);
  const acc = spawn(() => srv.accept());
  const c = await connect(srv.getsockname());
  const [s] = await acc.wait();
  const [r, w] = pipe();
  try {
    for (let i = 0; i < 3; i++) {
      await c.sendall('x');
      await s.recv(); // resumed straight from the socket's read callback
      const [rr, ww] = await select([r], [w], [], 0);
      assert.equal([rr, ww], [[], [w]], `round ${i}: the write end is writable, the read end not`);
    }
    writeSync(w, 'y');
    await c.sendall('x');
    await s.recv();
    assert.equal(await select([r], [], [], 0), [[r], [], []], 'and a readable read end is seen too');
  } finally {
    closeSync(r);
    closeSync(w);
    c.close();
    s.close();
    srv.close();
  }
});

test.run();
