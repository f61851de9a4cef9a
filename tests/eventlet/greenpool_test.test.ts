// eventlet's tests/greenpool_test.py, ported test by test to evy's API.
// Differences and skips: tests/eventlet/README.md.
import { test as uvu } from 'uvu';
import * as assert from 'uvu/assert';
import { Event, getHub, GreenletExit, GreenPile, GreenPool, GreenThread, sleep, spawn, Timeout, withTimeout } from 'evy';
import { Pool, TokenPool } from 'evy/pools';
import { captureStderr, rejection } from '../helpers';
import { collect, range, seeded, suite } from './common';

const test = suite();
const hub = getHub();

let r = seeded(0);

/** Sleeps a random number of times (each under 1 ms), then returns its argument. */
async function passthru<T>(arg: T): Promise<T> {
  while (r() < 0.5) await sleep(r() * 0.001);
  return arg;
}

async function passthru2<A, B>(a: A, b: B): Promise<[A, B]> {
  await sleep(0.01);
  return [a, b];
}

function raiser(exc: unknown): never {
  throw exc;
}

class RuntimeError extends Error {
  override name = 'RuntimeError';
}

/** eventlet's assert_pool_has_free: exactly `numFree` spawns go through without waiting. */
async function assertPoolHasFree(pool: GreenPool, numFree: number): Promise<void> {
  assert.is(pool.free(), numFree);
  const waitLongTime = (e: Event<unknown>) => e.wait();
  const evt = new Event<unknown>();
  {
    // a pool with fewer free slots than expected makes this time out
    const timer = new Timeout(1);
    try {
      for (let x = 0; x < numFree; x++) await pool.spawn(waitLongTime, evt);
    } finally {
      timer.cancel();
    }
  }
  {
    // and one more must wait: the zero timeout interrupts it
    const timer = new Timeout(0, RuntimeError);
    try {
      assert.instance(await rejection(pool.spawn(waitLongTime, evt)), RuntimeError);
    } finally {
      timer.cancel();
    }
  }
  evt.send(null);
  await sleep(0);
  await sleep(0);
}

// ---- GreenPool -----------------------------------------------------------------------

test('greenpool_test.GreenPool.test_spawn', async () => {
  const p = new GreenPool(4);
  const waiters: GreenThread<number>[] = [];
  for (let i = 0; i < 10; i++) waiters.push(await p.spawn(passthru, i));
  const results: number[] = [];
  for (const w of waiters) results.push(await w.wait());
  assert.equal(results, range(10));
});

test('greenpool_test.GreenPool.test_spawn_n', async () => {
  const p = new GreenPool(4);
  const resultsClosure: number[] = [];
  const doSomething = async (a: number) => {
    await sleep(0.01);
    resultsClosure.push(a);
  };
  for (let i = 0; i < 10; i++) await p.spawn(doSomething, i);
  await p.waitall();
  assert.equal(resultsClosure, range(10));
});

test('greenpool_test.GreenPool.test_waiting', async () => {
  const pool = new GreenPool(1);
  const done = new Event();
  const consume = () => done.wait();
  const waiter = async (pl: GreenPool) => {
    const gt = await pl.spawn(consume);
    await gt.wait();
  };
  const waiters: GreenThread<void>[] = [];
  assert.is(pool.running(), 0);
  waiters.push(spawn(waiter, pool));
  await sleep(0);
  assert.is(pool.waiting(), 0);
  waiters.push(spawn(waiter, pool));
  await sleep(0);
  assert.is(pool.waiting(), 1);
  waiters.push(spawn(waiter, pool));
  await sleep(0);
  assert.is(pool.waiting(), 2);
  assert.is(pool.running(), 1);
  done.send();
  for (const w of waiters) await w.wait();
  assert.is(pool.waiting(), 0);
  assert.is(pool.running(), 0);
});

test('greenpool_test.GreenPool.test_multiple_coros', async () => {
  const evt = new Event();
  const results: string[] = [];
  const producer = () => {
    results.push('prod');
    evt.send();
  };
  const consumer = async () => {
    results.push('cons1');
    await evt.wait();
    results.push('cons2');
  };
  const pool = new GreenPool(2);
  const done = await pool.spawn(consumer);
  await pool.spawnN(producer);
  await done.wait();
  assert.equal(results, ['cons1', 'prod', 'cons2']);
});

test('greenpool_test.GreenPool.test_timer_cancel', async () => {
  // a local timer must not fire once the thread that scheduled it is gone
  const timerFired: boolean[] = [];
  const fireTimer = () => timerFired.push(true);
  const someWork = () => {
    hub.scheduleCallLocal(0, fireTimer);
  };
  const pool = new GreenPool(2);
  const worker = await pool.spawn(someWork);
  await worker.wait();
  await sleep(0);
  await sleep(0);
  assert.equal(timerFired, []);
});

test('greenpool_test.GreenPool.test_reentrant', async () => {
  const pool = new GreenPool(1);
  const reenter = async () => {
    const waiter = await pool.spawn((a: string) => a, 'reenter');
    assert.is(await waiter.wait(), 'reenter');
  };
  const outerWaiter = await pool.spawn(reenter);
  await outerWaiter.wait();

  const evt = new Event<string>();
  const reenterAsync = async () => {
    await pool.spawnN((a: string) => a, 'reenter');
    evt.send('done');
  };
  await pool.spawnN(reenterAsync);
  assert.is(await evt.wait(), 'done');
});

test('greenpool_test.GreenPool.test_resize', async () => {
  const pool = new GreenPool(2);
  const evt = new Event();
  const waitLongTime = (e: Event) => e.wait();
  await pool.spawn(waitLongTime, evt);
  await pool.spawn(waitLongTime, evt);
  assert.is(pool.free(), 0);
  assert.is(pool.running(), 2);
  await assertPoolHasFree(pool, 0);

  // the pool drops the slots above its new size as they come back
  pool.resize(1);
  evt.send();
  await sleep(0);
  await sleep(0);
  assert.is(pool.free(), 1);
  assert.is(pool.running(), 0);
  await assertPoolHasFree(pool, 1);

  pool.resize(2);
  assert.is(pool.free(), 2);
  assert.is(pool.running(), 0);
  await assertPoolHasFree(pool, 2);
});

test('greenpool_test.GreenPool.test_pool_smash', async () => {
  // A pool thread times out waiting for a token: neither pool may suffer.
  const pool = new GreenPool(1);
  const tp = new TokenPool({ maxSize: 1 });
  await tp.get(); // empty it
  const doReceive = async (t: Pool<unknown>) => {
    new Timeout(0, new RuntimeError());
    try {
      await t.get();
      assert.unreachable('should not have received anything from the pool');
    } catch (e) {
      if (e instanceof RuntimeError) return 'timed out';
      throw e;
    }
  };
  const e1 = await pool.spawn(doReceive, tp);
  assert.is(await e1.wait(), 'timed out');

  const sendWakeup = (t: Pool<unknown>) => t.put('wakeup');
  const gt = spawn(sendWakeup, tp);
  const e2 = await pool.spawn(() => 'resumed');
  assert.is(await e2.wait(), 'resumed');
  assert.is(await tp.get(), 'wakeup');
  await gt.wait();
});

test('greenpool_test.GreenPool.test_spawn_n_2', async () => {
  const p = new GreenPool(2);
  assert.is(p.free(), 2);
  const rr: number[] = [];
  const foo = (a: number) => {
    rr.push(a);
  };
  const gt = await p.spawn(foo, 1);
  assert.is(p.free(), 1);
  await gt.wait();
  assert.equal(rr, [1]);
  await sleep(0);
  assert.is(p.free(), 2);

  // once the pool is full, a spawn yields until a slot is free
  await p.spawnN(foo, 2);
  assert.is(p.free(), 1);
  assert.equal(rr, [1]);

  await p.spawnN(foo, 3);
  assert.is(p.free(), 0);
  assert.equal(rr, [1]);

  await p.spawnN(foo, 4);
  assert.equal(new Set(rr), new Set([1, 2, 3]));
  await sleep(0);
  assert.equal(new Set(rr), new Set([1, 2, 3, 4]));
});

test('greenpool_test.GreenPool.test_exceptions', async () => {
  const p = new GreenPool(2);
  // both spawn flavours: the errors are printed (spawnN) or reported as never waited for (spawn)
  await captureStderr(async () => {
    for (const m of [p.spawn.bind(p), p.spawnN.bind(p)] as ((fn: (e: unknown) => never, e: unknown) => Promise<unknown>)[]) {
      await assertPoolHasFree(p, 2);
      await m(raiser, new RuntimeError());
      await assertPoolHasFree(p, 1);
      await p.waitall();
      await assertPoolHasFree(p, 2);
      await m(raiser, new GreenletExit());
      await assertPoolHasFree(p, 1);
      await p.waitall();
      await assertPoolHasFree(p, 2);
    }
    await sleep(0.01); // let the never-waited-for reports print while captured
  });
});

test('greenpool_test.GreenPool.test_imap', async () => {
  const p = new GreenPool(4);
  assert.equal(await collect(p.imap(passthru, range(10))), range(10));
});

test('greenpool_test.GreenPool.test_empty_imap', async () => {
  const p = new GreenPool(4);
  const it = p.imap(passthru, []);
  assert.equal(await it.next(), { done: true, value: undefined });
});

test('greenpool_test.GreenPool.test_imap_multi_args', async () => {
  const p = new GreenPool(4);
  const out = await collect(p.imap(passthru2, range(10), range(10, 20)));
  assert.equal(out, range(10).map((i) => [i, i + 10]));
});

test('greenpool_test.GreenPool.test_imap_raises', async () => {
  // the caller sees the error, and the iterator goes on with the rest
  const p = new GreenPool(4);
  const raiser1 = (item: number) => {
    if (item === 1 || item === 7) throw new RuntimeError('intentional error');
    return item;
  };
  const it = p.imap(raiser1, range(10));
  const results: (number | string)[] = [];
  for (;;) {
    try {
      const n = await it.next();
      if (n.done) break;
      results.push(n.value);
    } catch (e) {
      if (!(e instanceof RuntimeError)) throw e;
      results.push('r');
    }
  }
  assert.equal(results, [0, 'r', 2, 3, 4, 5, 6, 'r', 8, 9]);
});

test('greenpool_test.GreenPool.test_starmap', async () => {
  const p = new GreenPool(4);
  assert.equal(await collect(p.starmap(passthru, range(10).map((x) => [x] as [number]))), range(10));
});

test('greenpool_test.GreenPool.test_waitall_on_nothing', async () => {
  const p = new GreenPool();
  await p.waitall();
});

test('greenpool_test.GreenPool.test_recursive_waitall', async () => {
  const p = new GreenPool();
  const gt = await p.spawn(() => p.waitall());
  // eventlet: AssertionError; evy: an Error saying it would never return
  const err = await rejection(gt.wait());
  assert.instance(err, Error);
  assert.match((err as Error).message, /never return/);
});

// ---- GreenPile -----------------------------------------------------------------------

test('greenpool_test.GreenPile.test_pile', async () => {
  const p = new GreenPile<number>(4);
  for (let i = 0; i < 10; i++) await p.spawn(passthru, i);
  assert.equal(await collect(p), range(10));
});

test('greenpool_test.GreenPile.test_pile_spawn_times_out', async () => {
  const p = new GreenPile<number | string>(4);
  for (let i = 0; i < 4; i++) await p.spawn(passthru, i);
  // now it is full: this spawn waits, and the zero timeout interrupts it
  const t = new Timeout(0);
  try {
    assert.is(await rejection(p.spawn(passthru, 'time out')), t);
  } finally {
    t.cancel(); // fired already when evy agrees; a stray one would hit a later test
  }
  // the failed spawn did not break the sequence
  for (let i = 4; i < 10; i++) await p.spawn(passthru, i);
  assert.equal(await collect(p), range(10));
});

test('greenpool_test.GreenPile.test_empty_pile', async () => {
  const p = new GreenPile<number>(4);
  assert.equal(await collect(p), []);
});

test('greenpool_test.GreenPile.test_constructing_from_pool', async () => {
  const pool = new GreenPool(2);
  const pile1 = new GreenPile<number>(pool);
  const pile2 = new GreenPile<number>(pool);
  const bunchOfWork = async (pile: GreenPile<number>, unique: number) => {
    for (let i = 0; i < 10; i++) await pile.spawn(passthru, i + unique);
  };
  const w1 = spawn(bunchOfWork, pile1, 0);
  const w2 = spawn(bunchOfWork, pile2, 100);
  await sleep(0);
  assert.equal(await collect(pile2), range(100, 110));
  assert.equal(await collect(pile1), range(10));
  await w1.wait();
  await w2.wait();
});

// ---- module level --------------------------------------------------------------------

test('greenpool_test.test_greenpool_type_check', () => {
  new GreenPool(0);
  new GreenPool(1);
  new GreenPool(1e3);
  assert.throws(() => new GreenPool('foo' as unknown as number), TypeError);
  // Python's ValueError is JavaScript's RangeError
  assert.throws(() => new GreenPool(-1), RangeError);
});

// ---- Stress --------------------------------------------------------------------------

class StressException extends Error {
  constructor(readonly arg: unknown) {
    super('stress');
  }
}

async function pressure<T>(arg: T): Promise<T> {
  while (r() < 0.5) await sleep(r() * 0.001);
  if (r() < 0.8) return arg;
  throw new StressException(arg);
}

/** The pile gives results strictly in spawn order, whatever order they finish in. */
async function spawnOrderCheck(concurrency: number): Promise<void> {
  const p = new GreenPile<[number, number]>(concurrency);
  const makework = async (count: number, unique: number) => {
    for (let i = 0; i < count; i++) await p.spawn(pressure, [unique, i] as [number, number]);
  };
  const iters = 1000;
  const workers = [spawn(makework, iters, 1), spawn(makework, iters, 2), spawn(makework, iters, 3)];
  await p.spawn(pressure, [0, 0] as [number, number]);
  const latest = [-1, -1, -1, -1];
  let received = 0;
  for (;;) {
    let i: [number, number];
    try {
      const n = await p.next();
      if (n.done) break;
      i = n.value;
    } catch (e) {
      if (!(e instanceof StressException)) throw e;
      i = e.arg as [number, number];
    }
    received++;
    if (received % 5 === 0) await sleep(0.0001);
    const [unique, order] = i;
    if (!(latest[unique] < order)) assert.unreachable(`out of order: ${unique} ${order} after ${latest[unique]}`);
    latest[unique] = order;
  }
  for (const l of latest.slice(1)) assert.is(l, iters - 1);
  for (const w of workers) await w.wait();
}

test('greenpool_test.Stress.test_ordering_5', () => spawnOrderCheck(5));

test('greenpool_test.Stress.test_ordering_50', () => spawnOrderCheck(50));

/**
 * imap is strictly ordered and runs in bounded memory. eventlet counts the
 * objects gc finds; evy counts calls started and not yet consumed instead
 * (the README's bound: at most the pool size).
 */
async function imapMemoryCheck(concurrency: number): Promise<void> {
  const p = new GreenPool(concurrency);
  const count = 1000;
  let started = 0;
  const counted = (arg: number) => {
    started++;
    return passthru(arg);
  };
  const it = p.imap(counted, range(count));
  let latest = -1;
  for (;;) {
    const n = await it.next();
    if (n.done) break;
    const i = n.value;
    assert.ok(i > latest);
    latest = i;
    if (latest % 5 === 0) await sleep(0.001);
    if (latest % 10 === 0) {
      const outstanding = started - (latest + 1);
      if (outstanding >= concurrency) assert.unreachable(`${outstanding} calls started ahead of the consumer`);
    }
  }
  assert.is(latest, count - 1);
}

test('greenpool_test.Stress.test_imap_50', () => imapMemoryCheck(50));

test('greenpool_test.Stress.test_imap_500', () => imapMemoryCheck(500));

test('greenpool_test.Stress.test_with_intpool', async () => {
  class IntPool extends Pool<number> {
    currentInteger?: number;
    override create(): number {
      this.currentInteger = (this.currentInteger ?? 0) + 1;
      return this.currentInteger;
    }
  }
  const subtest = async (intpoolSize: number, poolSize: number, numExecutes: number) => {
    const run = async (intPool: IntPool) => {
      const token = await intPool.get();
      await sleep(0.0001);
      intPool.put(token);
      return token;
    };
    const intPool = new IntPool({ maxSize: intpoolSize });
    const pool = new GreenPool(poolSize);
    for (let ix = 0; ix < numExecutes; ix++) await pool.spawn(run, intPool);
    await pool.waitall();
  };
  await withTimeout(60, async () => {
    await subtest(4, 7, 7);
    await subtest(50, 75, 100);
    for (const isize of [10, 20, 30, 40, 50]) {
      for (const psize of [5, 25, 35, 50]) await subtest(isize, psize, psize);
    }
  });
});

uvu.before.each(() => {
  r = seeded(0);
});
uvu.run();
