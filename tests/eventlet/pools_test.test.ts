// eventlet's tests/pools_test.py, ported test by test to evy's API.
// Differences and skips: tests/eventlet/README.md.
import { test as uvu } from 'uvu';
import * as assert from 'uvu/assert';
import { getHub, GreenPool, kill, Queue, sleep, spawn, Timeout } from 'evy';
import { Pool } from 'evy/pools';
import { rejection } from '../helpers';
import { range, suite } from './common';

const test = suite();
const hub = getHub();

/** Hands out 1, 2, 3... (create() runs from Pool's constructor: no class field initialiser). */
class IntPool extends Pool<number> {
  currentInteger?: number;
  override create(): number {
    this.currentInteger = (this.currentInteger ?? 0) + 1;
    return this.currentInteger;
  }
}

class RuntimeError extends Error {
  override name = 'RuntimeError';
}

// ---- TestIntPool ---------------------------------------------------------------------

const newPool = () => new IntPool({ minSize: 0, maxSize: 4 });

test('pools_test.TestIntPool.test_integers', async () => {
  const pool = newPool();
  assert.is(await pool.get(), 1);
  assert.is(await pool.get(), 2);
  assert.is(await pool.get(), 3);
  assert.is(await pool.get(), 4);
});

test('pools_test.TestIntPool.test_free', async () => {
  const pool = newPool();
  assert.is(pool.free(), 4);
  const gotten = await pool.get();
  assert.is(pool.free(), 3);
  pool.put(gotten);
  assert.is(pool.free(), 4);
});

test('pools_test.TestIntPool.test_exhaustion', async () => {
  const pool = newPool();
  // Queue(0): eventlet's channel, evy's unbounded queue (README); the test only needs a get that waits
  const waiter = new Queue<number | null>(0);
  const consumer = async () => {
    let gotten: number | null = null;
    try {
      gotten = await pool.get();
    } finally {
      await waiter.put(gotten);
    }
  };
  spawn(consumer);
  const one = await pool.get();
  await pool.get();
  await pool.get();
  await pool.get();
  assert.is(pool.free(), 0);
  // the consumer runs and finds the pool empty: it waits
  await sleep(0);
  pool.put(one);
  assert.is(await waiter.get(), one);
});

test('pools_test.TestIntPool.test_blocks_on_pool', async () => {
  const pool = newPool();
  const waiter = new Queue<string>(0);
  let waitingBeforeFifth = -1;
  const greedy = async () => {
    await pool.get();
    await pool.get();
    await pool.get();
    await pool.get();
    waitingBeforeFifth = pool.waiting(); // nobody waits yet
    await pool.get(); // parks here for good
    await waiter.put('Failed!');
  };
  const killable = spawn(greedy);
  assert.is(pool.waiting(), 0);
  await sleep(0);
  // greedy has run up to its blocking get
  assert.is(waitingBeforeFifth, 0);
  assert.is(pool.waiting(), 1);
  // eventlet checks its channel Queue(0) is "full" (nothing was put); evy's Queue(0) is unbounded (README)
  assert.is(waiter.full(), false);
  assert.ok(waiter.empty(), 'the put after the blocking get never happened');
  kill(killable);
});

test('pools_test.TestIntPool.test_ordering', async () => {
  const pool = newPool();
  const one = await pool.get();
  const two = await pool.get();
  pool.put(one);
  pool.put(two);
  assert.is(await pool.get(), one);
  assert.is(await pool.get(), two);
});

test('pools_test.TestIntPool.test_putting_to_queue', async () => {
  const timer = new Timeout(0.1);
  try {
    const size = 2;
    const pool = new IntPool({ minSize: 0, maxSize: size });
    const queue = new Queue<number>();
    const results: number[] = [];
    const justPut = async (poolItem: number, index: number) => {
      pool.put(poolItem);
      await queue.put(index);
    };
    for (let index = 0; index < size + 1; index++) {
      const poolItem = await pool.get();
      spawn(justPut, poolItem, index);
    }
    for (let i = 0; i < size + 1; i++) results.push(await queue.get());
    assert.equal(results.sort(), range(size + 1));
  } finally {
    timer.cancel();
  }
});

test('pools_test.TestIntPool.test_resize', async () => {
  const pool = new IntPool({ maxSize: 2 });
  const a = await pool.get();
  const b = await pool.get();
  assert.is(pool.free(), 0);
  // items put back above the new size are dropped
  pool.resize(1);
  pool.put(a);
  pool.put(b);
  assert.is(pool.free(), 1);
  pool.resize(2);
  assert.is(pool.free(), 2);
});

test('pools_test.TestIntPool.test_create_contention', async () => {
  let creates = 0;
  const sleepCreate = async () => {
    creates++;
    await sleep();
    return 'slept';
  };
  const p = new Pool<string>({ maxSize: 4, create: sleepCreate });
  const doGet = async () => {
    const x = await p.get();
    assert.is(x, 'slept');
    p.put(x);
  };
  const gp = new GreenPool();
  for (let i = 0; i < 100; i++) await gp.spawnN(doGet);
  await gp.waitall();
  assert.is(creates, 4);
});

test('pools_test.TestIntPool.test_put_with_timed_out_getters', async () => {
  const p = new IntPool({ maxSize: 2 });
  await p.get();
  await p.get();
  // every getter waits, with a throw due for it that has not fired yet
  const getters = range(5).map(() => spawn(() => p.get()));
  await sleep();
  for (const getter of getters) hub.scheduleCallGlobal(0, () => getter.kill(new Timeout(null)));
  {
    using _t = new Timeout(10); // do not hang if put blocks
    p.put(0);
  }
  // Deliberate difference (README, "The green-thread model": a throw reaching a
  // waiter handed a value it has not picked up wins, and the value goes back):
  // the item goes to the first getter at once and comes back when its throw
  // arrives first, so it is counted after the throws, one sleep(0) later.
  // eventlet's len(p.free_items): free() is that plus maxSize - currentSize (0 here)
  await sleep(0);
  assert.is(p.free(), 1);
  for (const g of getters) await g.wait().catch(() => {});
});

// ---- TestAbstract --------------------------------------------------------------------

test('pools_test.TestAbstract.test_abstract', async () => {
  // a Pool needs create(): eventlet's NotImplementedError is an Error here
  const pool = new Pool();
  const err = await rejection(pool.get());
  assert.instance(err, Error);
  assert.match((err as Error).message, /no way to create items/);
});

// ---- TestIntPool2 --------------------------------------------------------------------

test('pools_test.TestIntPool2.test_something', async () => {
  const pool = new IntPool({ minSize: 3, maxSize: 3 });
  assert.is(pool.free(), 3, 'three free items made up front');
  assert.is(pool.currentSize, 3);
  // from the free list, not a new create()
  assert.is(await pool.get(), 1);
});

// ---- TestOrderAsStack ----------------------------------------------------------------

test('pools_test.TestOrderAsStack.test_ordering', async () => {
  const pool = new IntPool({ maxSize: 3, orderAsStack: true });
  const one = await pool.get();
  const two = await pool.get();
  pool.put(one);
  pool.put(two);
  assert.is(await pool.get(), two);
  assert.is(await pool.get(), one);
});

// ---- TestCreateRaises ----------------------------------------------------------------

test('pools_test.TestCreateRaises.test_it', async () => {
  class RaisePool extends Pool<never> {
    override create(): never {
      throw new RuntimeError();
    }
  }
  const pool = new RaisePool({ maxSize: 3 });
  assert.is(pool.free(), 3);
  assert.instance(await rejection(pool.get()), RuntimeError);
  assert.is(pool.free(), 3);
});

uvu.run();
