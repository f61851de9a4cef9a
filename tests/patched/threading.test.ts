import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Event as EvyEvent, GreenletExit, Timeout, getCurrent, sleep, spawn } from 'evy';
import * as threading from 'evy/patched/threading';
import { assertClean, captureStderr, rejection } from '../helpers';

const { BoundedSemaphore, Condition, Event, Lock, RLock, RuntimeError, Semaphore, Thread } = threading;

test.after.each(assertClean);

// ---- Lock -------------------------------------------------------------------

test('Lock: acquire, locked, release; releasing an unlocked lock throws RuntimeError', async () => {
  const l = new Lock();
  assert.not.ok(l.locked());
  assert.is(await l.acquire(), true);
  assert.ok(l.locked());
  l.release();
  assert.not.ok(l.locked());
  const e = (() => {
    try {
      l.release();
    } catch (err) {
      return err;
    }
  })();
  assert.instance(e, RuntimeError);
  assert.match(String(e), /release unlocked lock/);
});

test('Lock: non-blocking and timed acquire resolve false; bad arguments are refused', async () => {
  const l = new Lock();
  await l.acquire();
  assert.is(await l.acquire(false), false);
  assert.is(await l.acquire(true, 0.01), false);
  assert.throws(() => l.acquire(false, 1), /non-blocking call cannot have a timeout/);
  assert.throws(() => l.acquire(true, -2), /timeout must be a non-negative number or -1/);
  l.release();
  assert.is(await l.acquire(false), true);
  l.release();
});

test('Lock: waiters get it in FIFO order; any thread may release it', async () => {
  const l = new Lock();
  await l.acquire();
  const order: number[] = [];
  const gts = [1, 2, 3].map((i) =>
    spawn(async () => {
      await l.acquire();
      order.push(i);
      await sleep(0);
      l.release();
    }),
  );
  await sleep(0);
  spawn(() => l.release()); // another green thread releases the main one's lock
  for (const gt of gts) await gt.wait();
  assert.equal(order, [1, 2, 3]);
  assert.not.ok(l.locked());
});

test('Lock.run releases on a throw; hold() releases when disposed', async () => {
  const l = new Lock();
  const boom = new Error('boom');
  assert.is(await rejection(l.run(() => Promise.reject(boom))), boom);
  assert.not.ok(l.locked());
  assert.is(await l.run(() => 7), 7);
  {
    using _h = await l.hold();
    assert.ok(l.locked());
  }
  assert.not.ok(l.locked());
});

test('a Timeout interrupts Lock.acquire; the lock is not taken', async () => {
  const l = new Lock();
  await l.acquire();
  const gt = spawn(async () => {
    const t = new Timeout(0.01);
    try {
      await l.acquire();
      return 'acquired';
    } catch (e) {
      return e === t ? 'timeout' : 'other';
    }
  });
  assert.is(await gt.wait(), 'timeout');
  l.release();
  assert.not.ok(l.locked(), 'the slot was not handed to the interrupted waiter');
});

// ---- RLock ------------------------------------------------------------------

test('RLock: re-entrant for its owner, released as many times as acquired', async () => {
  const r = new RLock();
  assert.is(await r.acquire(), true);
  assert.is(await r.acquire(), true);
  const other = spawn(() => r.acquire(false));
  assert.is(await other.wait(), false, 'another thread cannot take it');
  r.release();
  assert.ok(r.locked(), 'one level is still held');
  r.release();
  assert.not.ok(r.locked());
  assert.throws(() => r.release(), (e: unknown) => e instanceof RuntimeError && /un-acquired/.test(String(e)));
});

test('RLock: a non-owner cannot release it; a waiter gets it once fully released', async () => {
  const r = new RLock();
  await r.acquire();
  await r.acquire();
  const thief = spawn(() => r.release());
  assert.instance(await rejection(thief.wait()), RuntimeError);
  const order: string[] = [];
  const waiter = spawn(async () => {
    await r.acquire();
    order.push('waiter got it');
    r.release();
  });
  await sleep(0);
  r.release();
  await sleep(0);
  assert.equal(order, [], 'still held at one level');
  r.release();
  await waiter.wait();
  assert.equal(order, ['waiter got it']);
});

// ---- Condition --------------------------------------------------------------

test('Condition: wait and notify need the lock', async () => {
  const c = new Condition();
  assert.instance(await rejection(c.wait()), RuntimeError);
  assert.throws(() => c.notify(), /cannot notify on un-acquired lock/);
  assert.throws(() => c.notifyAll(), /cannot notify on un-acquired lock/);
  const held = new Condition(new RLock());
  await held.acquire();
  const other = spawn(() => held.notify());
  assert.instance(await rejection(other.wait()), RuntimeError, "an RLock held by another thread is not this thread's");
  held.release();
});

test('Condition.wait releases the lock and takes it back; notify wakes in FIFO order', async () => {
  const c = new Condition();
  const order: number[] = [];
  const ready = new threading.Semaphore(0);
  const gts = [1, 2, 3].map((i) =>
    spawn(async () => {
      await c.acquire();
      ready.release();
      assert.is(await c.wait(), true);
      assert.ok(c.lock.locked(), 'the lock is held again after wait');
      order.push(i);
      c.release();
    }),
  );
  for (let i = 0; i < 3; i++) await ready.acquire();
  assert.is(c.waiting, 3);
  for (let i = 0; i < 3; i++) {
    await c.run(() => c.notify());
    await sleep(0);
  }
  for (const gt of gts) await gt.wait();
  assert.equal(order, [1, 2, 3]);
});

test('Condition.notify(n) and notifyAll', async () => {
  const c = new Condition(new Lock());
  let woken = 0;
  const gts = [1, 2, 3, 4].map(() =>
    spawn(() =>
      c.run(async () => {
        await c.wait();
        woken++;
      }),
    ),
  );
  while (c.waiting < 4) await sleep(0); // they take the lock one after the other
  await c.run(() => c.notify(2));
  while (woken < 2) await sleep(0);
  await sleep(0);
  assert.is(woken, 2);
  assert.is(c.waiting, 2, 'two still wait');
  await c.run(() => c.notifyAll());
  for (const gt of gts) await gt.wait();
  assert.is(woken, 4);
  assert.is(c.waiting, 0);
});

test('Condition.wait(timeout): false, with the lock held again and the waiter gone', async () => {
  const c = new Condition();
  await c.acquire();
  assert.is(await c.wait(0.01), false);
  assert.ok((c.lock as threading.RLock).isOwned());
  assert.is(c.waiting, 0);
  assert.is(await c.wait(0), false);
  c.release();
});

test('Condition.waitFor: the predicate value, or its last value on timeout', async () => {
  const c = new Condition();
  let n = 0;
  const producer = spawn(async () => {
    for (let i = 0; i < 3; i++) {
      await sleep(0);
      await c.run(() => {
        n++;
        c.notifyAll();
      });
    }
  });
  const got = await c.run(() => c.waitFor(() => (n >= 3 ? `n=${n}` : '')));
  assert.is(got, 'n=3');
  await producer.wait();
  assert.is(await c.run(() => c.waitFor(() => n > 10, 0.02)), false);
});

test('an interrupted Condition.wait takes the RLock back at its recursion level', async () => {
  const c = new Condition(new RLock());
  const r = c.lock as threading.RLock;
  await r.acquire();
  await r.acquire(); // two levels
  const t = new Timeout(0.01);
  assert.is(await rejection(c.wait()), t);
  assert.ok(r.isOwned(), 'held again');
  assert.is(c.waiting, 0);
  r.release();
  assert.ok(r.locked(), 'still one level left: the recursion level was restored');
  r.release();
  assert.not.ok(r.locked());
});

test('an interrupted Condition.wait waits for the lock before the error goes on', async () => {
  const c = new Condition(new Lock());
  const log: string[] = [];
  const gt = spawn(async () => {
    await c.acquire();
    try {
      await c.wait();
    } catch (e) {
      log.push(`caught ${(e as Error).message}, locked: ${c.lock.locked()}`);
    } finally {
      c.release();
    }
  });
  await sleep(0);
  await c.acquire(); // gt is waiting: the lock is free
  gt.kill(new Error('stop'));
  await sleep(0.01);
  assert.equal(log, [], 'gt cannot go on while the lock is held by another thread');
  c.release();
  await gt.wait();
  assert.equal(log, ['caught stop, locked: true']);
  assert.not.ok(c.lock.locked());
});

test('killed after notify, before it resumes: the lock is still taken back', async () => {
  const c = new Condition();
  let ownedInFinally: boolean | null = null;
  const gt = spawn(async () => {
    await c.acquire();
    try {
      await c.wait();
      return 'not killed';
    } finally {
      ownedInFinally = (c.lock as threading.RLock).isOwned();
      c.release();
    }
  });
  await sleep(0);
  await c.acquire();
  c.notify(); // its waiter is handed the wakeup...
  gt.kill(); // ...and the kill lands at its next suspension point: the re-acquire
  c.release();
  assert.is(await gt.wait(), undefined, 'a clean GreenletExit');
  assert.is(ownedInFinally, true);
  assert.not.ok(c.lock.locked());
});

// ---- Semaphore, BoundedSemaphore, Event --------------------------------------

test('Semaphore: Python-style acquire and release(n)', async () => {
  const s = new Semaphore(2);
  assert.is(await s.acquire(), true);
  assert.is(await s.acquire(false), true);
  assert.is(await s.acquire(false), false);
  assert.is(await s.acquire(true, 0.01), false);
  assert.is(s.value, 0);
  const gts = [1, 2].map(() => spawn(() => s.acquire()));
  await sleep(0);
  s.release(3);
  for (const gt of gts) assert.is(await gt.wait(), true);
  assert.is(s.value, 1);
  assert.throws(() => new Semaphore(-1), /initial value must be an integer >= 0/);
  assert.throws(() => s.release(0), /n must be an integer >= 1/);
});

test('BoundedSemaphore: releasing above the initial value throws', async () => {
  const s = new BoundedSemaphore(2);
  await s.acquire();
  assert.throws(() => s.release(2), /released too many times/);
  assert.is(s.value, 1, 'nothing was released');
  s.release();
  assert.throws(() => s.release(), /released too many times/);
  assert.is(await s.run(() => 'ran'), 'ran');
});

test('Event: set, clear, isSet, wait(timeout)', async () => {
  const e = new Event();
  assert.not.ok(e.isSet());
  assert.is(await e.wait(0.01), false);
  assert.is(await e.wait(0), false);
  const gts = [1, 2].map(() => spawn(() => e.wait()));
  await sleep(0);
  e.set();
  for (const gt of gts) assert.is(await gt.wait(), true);
  assert.ok(e.isSet());
  assert.is(await e.wait(), true);
  e.clear();
  assert.not.ok(e.isSet());
  const t = new Timeout(0.01);
  assert.is(await rejection(e.wait()), t);
});

// ---- local, currentThread, Thread ----------------------------------------------

test('local is per green thread', async () => {
  const l = new threading.local();
  l.x = 'main';
  const gt = spawn(async () => {
    const before = l.x;
    l.x = 'other';
    return [before, l.x];
  });
  assert.equal(await gt.wait(), [undefined, 'other']);
  assert.is(l.x, 'main');
});

test('currentThread and getIdent', async () => {
  const main = threading.currentThread();
  assert.is(main.name, 'MainThread');
  assert.is(main, threading.mainThread());
  assert.is(main, threading.currentThread(), 'the same object each time');
  assert.is(threading.getIdent(), getCurrent().id);
  assert.is(main.ident, getCurrent().id);
  assert.ok(main.isAlive());
  const gt = spawn(() => {
    const t = threading.currentThread();
    return [t.name, t.ident, threading.getIdent(), t.daemon] as const;
  });
  const [name, ident, id, daemon] = await gt.wait();
  assert.match(name, /^Dummy-\d+$/);
  assert.is(ident, gt.id);
  assert.is(id, gt.id);
  assert.is(daemon, true);
});

test('Thread: start runs target(...args) in a green thread; join waits for it', async () => {
  const seen: unknown[] = [];
  const t = new Thread({
    target: async (a: number, b: string) => {
      await sleep(0);
      seen.push(a, b, threading.currentThread());
    },
    args: [1, 'b'],
  });
  assert.match(t.name, /^Thread-\d+ \(target\)$/);
  assert.not.ok(t.isAlive());
  assert.is(t.ident, null);
  t.start();
  assert.ok(t.isAlive());
  assert.type(t.ident, 'number');
  await t.join();
  assert.not.ok(t.isAlive());
  assert.equal(seen.slice(0, 2), [1, 'b']);
  assert.is(seen[2], t, 'currentThread() inside is the Thread');
  assert.throws(() => t.start(), /threads can only be started once/);
});

test('Thread.join(timeout) returns with the thread still alive', async () => {
  const go = new EvyEvent();
  const t = new Thread({ target: () => go.wait(), name: 'sleeper', daemon: true });
  assert.is(t.name, 'sleeper');
  assert.ok(t.daemon);
  t.start();
  await t.join(0.02);
  assert.ok(t.isAlive(), 'join timed out');
  go.send();
  await t.join();
  assert.not.ok(t.isAlive());
});

test('Thread: join before start and join of itself are refused', async () => {
  const t = new Thread();
  assert.instance(await rejection(t.join()), RuntimeError);
  const self = new Thread({ target: () => threading.currentThread().join() });
  const [, printed] = await captureStderr(async () => {
    self.start();
    await self.join();
  });
  assert.match(printed, /Exception in thread Thread-\d+ \(target\):\nRuntimeError: cannot join current thread/);
});

test('Thread: an error in run() is printed, and join still returns', async () => {
  class Failing extends Thread {
    override run(): void {
      throw new Error('run failed');
    }
  }
  const t = new Failing({ name: 'failing' });
  const [, printed] = await captureStderr(async () => {
    t.start();
    await t.join();
  });
  assert.match(printed, /^Exception in thread failing:\nError: run failed/);
  assert.not.ok(t.isAlive());
});

test('Thread: killing its green thread ends it cleanly; join returns', async () => {
  const t = new Thread({ target: () => sleep(60) });
  t.start();
  await sleep(0);
  const [, printed] = await captureStderr(async () => {
    t.greenThread!.kill(new GreenletExit());
    await t.join();
  });
  assert.is(printed, '');
  assert.not.ok(t.isAlive());
});

test.run();
