import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { Event, getHub, sleep, spawn, Timeout } from 'evy';
import { IOClosed, trampoline, useHub } from 'evy/hubs';
import { binding } from '../../dist/hub/binding';
import { assertClean, captureStderr, openFds, rejection, settle } from '../helpers';

const hub = getHub();

test.after.each(assertClean);

/** Runs `fn` with a fresh non-blocking pipe [r, w], closing both ends after. */
async function withPipe<T>(fn: (r: number, w: number) => Promise<T>): Promise<T> {
  const [r, w] = binding.pipe();
  try {
    return await fn(r, w);
  } finally {
    hub.removeDescriptor(r);
    hub.removeDescriptor(w);
    fs.closeSync(r);
    fs.closeSync(w);
  }
}

function readAll(fd: number): string {
  const buf = Buffer.alloc(1024);
  const n = fs.readSync(fd, buf);
  return buf.toString('utf8', 0, n);
}

test('addReader fires when the pipe has data, with the fd, and not before', () =>
  withPipe(async (r, w) => {
    const calls: number[] = [];
    const got = new Event<string>();
    const l = hub.addReader(r, (fd) => {
      calls.push(fd);
      got.send(readAll(fd));
      hub.remove(l);
    });
    assert.is(l.fd, r);
    assert.is(l.kind, 'read');
    assert.is(hub.counts().listeners, 1);
    await settle(5);
    assert.equal(calls, [], 'no data, no call');
    fs.writeSync(w, 'ping');
    assert.is(await got.wait(), 'ping');
    assert.equal(calls, [r]);
    assert.is(hub.counts().listeners, 0);
  }));

test('addWriter fires on a writable pipe', () =>
  withPipe(async (_r, w) => {
    const got = new Event<number>();
    const l = hub.addWriter(w, (fd) => {
      hub.remove(l);
      got.send(fd);
    });
    assert.is(l.kind, 'write');
    assert.is(await got.wait(), w);
    assert.is(hub.counts().listeners, 0);
  }));

test('a second reader (or writer) on the same fd is a clear error; a reader and a writer coexist', () =>
  withPipe(async (r, w) => {
    const a = hub.addReader(r, () => {});
    assert.throws(() => hub.addReader(r, () => {}), /second simultaneous read on fd \d+/);
    const b = hub.addWriter(w, () => hub.remove(b));
    assert.throws(() => hub.addWriter(w, () => {}), /second simultaneous write on fd \d+/);
    const c = hub.addWriter(r, () => {}); // never writable, but allowed beside the reader
    assert.is(hub.counts().listeners, 3);
    hub.remove(a);
    hub.remove(c);
    await settle();
    assert.is(hub.counts().listeners, 0);
  }));

test('remove() stops the callbacks, is harmless twice, and counts().listeners returns to 0', () =>
  withPipe(async (r, w) => {
    let calls = 0;
    const first = new Event();
    const l = hub.addReader(r, () => {
      calls++;
      if (calls === 1) first.send();
    });
    fs.writeSync(w, 'x'); // never read: level-triggered, it would fire every turn
    await first.wait();
    hub.remove(l);
    hub.remove(l);
    const seen = calls;
    await settle(5);
    await sleep(0.01);
    assert.is(calls, seen, 'no call after remove()');
    assert.is(hub.counts().listeners, 0);
    assert.equal(hub.listeners(), []);
  }));

test('trampoline(read) parks until the fd has data', () =>
  withPipe(async (r, w) => {
    const gt = spawn(async () => {
      await trampoline(r, { read: true });
      return readAll(r);
    });
    await settle();
    assert.not.ok(gt.dead);
    assert.is(hub.counts().listeners, 1);
    fs.writeSync(w, 'hello');
    assert.is(await gt.wait(), 'hello');
    assert.is(hub.counts().listeners, 0);
  }));

test('trampoline(write) returns once the fd is writable; trampoline(read) wakes at EOF', async () => {
  const [r, w] = binding.pipe();
  let wOpen = true;
  try {
    await trampoline(w, { write: true });
    assert.is(hub.counts().listeners, 0);
    const gt = spawn(async () => {
      await trampoline(r, { read: true });
      return fs.readSync(r, Buffer.alloc(8));
    });
    await settle();
    assert.not.ok(gt.dead);
    fs.closeSync(w);
    wOpen = false;
    assert.is(await gt.wait(), 0, 'end of file');
  } finally {
    hub.removeDescriptor(r);
    fs.closeSync(r);
    if (wOpen) fs.closeSync(w);
  }
});

test('trampoline with a timeout throws a Timeout when the fd stays idle', () =>
  withPipe(async (r) => {
    const t0 = hub.clock();
    const err = (await rejection(trampoline(r, { read: true, timeout: 0.02 }))) as Timeout;
    assert.instance(err, Timeout);
    assert.is(err.seconds, 0.02);
    assert.not.ok(err.pending);
    assert.ok(hub.clock() - t0 >= 0.015);
    assert.is(hub.counts().listeners, 0);
    assert.is(hub.counts().timers, 0);
  }));

test('trampoline with a custom timeoutError throws that instead', () =>
  withPipe(async (r) => {
    const mine = new Error('custom idle');
    assert.is(await rejection(trampoline(r, { read: true, timeout: 0.01, timeoutError: mine })), mine);
    assert.is(hub.counts().listeners, 0);
  }));

test('data before the timeout: the timer is cancelled', () =>
  withPipe(async (r, w) => {
    const gt = spawn(() => trampoline(r, { read: true, timeout: 5 }));
    await settle();
    assert.is(hub.counts().timers, 1);
    fs.writeSync(w, 'x');
    await gt.wait();
    assert.is(hub.counts().timers, 0);
    assert.is(hub.counts().listeners, 0);
  }));

test('a Timeout interrupts a trampoline and removes its listener', () =>
  withPipe(async (r) => {
    // 0.5 s: the listener is counted after a few hub rounds, which a loaded
    // machine can stretch past a short Timeout.
    const gt = spawn(async () => {
      const t = new Timeout(0.5);
      try {
        await trampoline(r, { read: true });
        return 'woke';
      } catch (e) {
        return e === t ? 'timed out' : e;
      } finally {
        t.cancel();
      }
    });
    await settle();
    assert.is(hub.counts().listeners, 1);
    assert.is(await gt.wait(), 'timed out');
    assert.is(hub.counts().listeners, 0);
  }));

test('kill interrupts a trampoline and removes its listener at once', () =>
  withPipe(async (r, w) => {
    const gt = spawn(() => trampoline(r, { read: true, timeout: 10 }));
    await settle();
    assert.equal(hub.counts(), { timers: 1, listeners: 1, runnable: 0, threads: 1 });
    gt.kill();
    assert.is(hub.counts().listeners, 0);
    assert.is(hub.counts().timers, 0);
    assert.is(await gt.wait(), undefined);
    // The fd can be waited on again.
    fs.writeSync(w, 'x');
    await trampoline(r, { read: true });
  }));

test('removeDescriptor wakes a waiting trampoline with IOClosed and drops plain listeners', () =>
  withPipe(async (r, w) => {
    const gt = spawn(async () => rejection(trampoline(r, { read: true, timeout: 10 })));
    let writerCalls = 0;
    hub.addWriter(r, () => writerCalls++);
    await settle();
    assert.is(hub.counts().listeners, 2);
    hub.removeDescriptor(r);
    assert.is(hub.counts().listeners, 0);
    assert.is(hub.counts().timers, 0);
    const err = (await gt.wait()) as IOClosed;
    assert.instance(err, IOClosed);
    assert.is(err.code, 'EBADF');
    assert.match(err.message, new RegExp(`fd ${r}`));
    hub.removeDescriptor(r); // nothing left: harmless
    hub.removeDescriptor(w);
    assert.is(writerCalls, 0);
  }));

test('a second trampoline on an fd another thread waits on is refused', () =>
  withPipe(async (r, w) => {
    const first = spawn(() => trampoline(r, { read: true }));
    await settle();
    const err = (await rejection(trampoline(r, { read: true }))) as Error;
    assert.match(err.message, /second simultaneous read/);
    assert.is(hub.counts().listeners, 1);
    fs.writeSync(w, 'x');
    await first.wait();
  }));

test('trampoline needs exactly one of read or write', () =>
  withPipe(async (r) => {
    const isType = (e: Error) => e instanceof TypeError && /exactly one of read or write/.test(e.message);
    assert.throws(() => trampoline(r, {}), isType);
    assert.throws(() => trampoline(r, { read: true, write: true }), isType);
    assert.throws(() => trampoline(r, { read: false, write: false }), isType);
    assert.is(hub.counts().listeners, 0);
  }));

test('bad descriptors: a negative fd is a TypeError, a closed one an EBADF error; nothing is left', async () => {
  assert.throws(() => hub.addReader(-1, () => {}), (e: Error) => e instanceof TypeError);
  assert.throws(() => hub.addReader(1.5, () => {}), (e: Error) => e instanceof TypeError);
  assert.throws(() => hub.addReader(0, null as unknown as () => void), (e: Error) => e instanceof TypeError);
  const [r, w] = binding.pipe();
  fs.closeSync(r);
  fs.closeSync(w);
  assert.throws(() => hub.addReader(r, () => {}), (e: NodeJS.ErrnoException) => e.code === 'EBADF');
  assert.is(hub.counts().listeners, 0);
  const err = (await rejection(trampoline(r, { read: true, timeout: 1 }))) as NodeJS.ErrnoException;
  assert.is(err.code, 'EBADF');
  assert.is(hub.counts().listeners, 0);
  assert.is(hub.counts().timers, 0);
});

test('a throwing listener callback is reported, and the hub goes on', () =>
  withPipe(async (r, w) => {
    const [, printed] = await captureStderr(async () => {
      const l = hub.addReader(r, () => {
        hub.remove(l);
        throw new Error('listener blew up');
      });
      fs.writeSync(w, 'x');
      while (hub.counts().listeners > 0) await sleep(0.001);
    });
    assert.match(printed, /listener blew up/);
    readAll(r);
    fs.writeSync(w, 'again');
    await trampoline(r, { read: true });
    assert.is(readAll(r), 'again');
  }));

test('useHub: the uv hub (also the default) is the one hub; other names are errors', () => {
  assert.is(useHub('uv'), hub);
  assert.is(useHub(), hub);
  assert.is(useHub('default'), hub);
  assert.throws(() => useHub('epoll'), /no hub named 'epoll'/);
  assert.throws(() => useHub('selects'), /evy has one hub/);
});

test('an fd number reused after close can be listened on again', async () => {
  const [r1, w1] = binding.pipe();
  hub.addReader(r1, () => {});
  hub.removeDescriptor(r1);
  fs.closeSync(r1);
  fs.closeSync(w1);
  const [r2, w2] = binding.pipe();
  assert.is(r2, r1, 'the kernel reused the number');
  try {
    fs.writeSync(w2, 'x');
    await trampoline(r2, { read: true, timeout: 5 });
    assert.is(readAll(r2), 'x');
  } finally {
    fs.closeSync(r2);
    fs.closeSync(w2);
  }
});

test('no descriptor leaks: pipes, listeners and trampolines, all closed again', async () => {
  // Warm up whatever Node opens lazily.
  await withPipe(async (r, w) => {
    fs.writeSync(w, 'x');
    await trampoline(r, { read: true });
  });
  const before = openFds();
  for (let i = 0; i < 50; i++) {
    await withPipe(async (r, w) => {
      const l = hub.addWriter(w, () => {});
      const gt = spawn(() => trampoline(r, { read: true, timeout: 5 }));
      await sleep(0);
      if (i % 3 === 0) {
        fs.writeSync(w, 'x');
        await gt.wait();
      } else if (i % 3 === 1) {
        gt.kill();
      } else {
        hub.removeDescriptor(r);
        await gt.wait().catch(() => undefined);
      }
      hub.remove(l);
    });
  }
  await settle();
  assert.is(openFds(), before);
});

test.run();
