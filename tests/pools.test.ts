import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Event, sleep, spawn } from 'evy';
import { Pool, Token, TokenPool } from 'evy/pools';
import { assertClean, settle, rejection } from './helpers';

test.after.each(assertClean);

/** A pool of numbered items that counts its create() calls. */
function numbered(opts: { minSize?: number; maxSize?: number; orderAsStack?: boolean } = {}): Pool<number> & { made: number } {
  const count = { made: 0 };
  const pool = new Pool<number>({ ...opts, create: () => ++count.made });
  return Object.defineProperty(pool, 'made', { get: () => count.made }) as Pool<number> & { made: number };
}

test('items are created on demand, up to maxSize', async () => {
  let made = 0;
  const pool = new Pool<string>({ maxSize: 3, create: () => `item${++made}` });
  assert.is(made, 0, 'nothing made up front');
  assert.is(pool.free(), 3);
  assert.is(await pool.get(), 'item1');
  assert.is(await pool.get(), 'item2');
  assert.is(made, 2);
  assert.is(pool.free(), 1);
  pool.put('item1');
  assert.is(await pool.get(), 'item1', 'a free item is reused before a new one is made');
  assert.is(made, 2);
  assert.is(await pool.get(), 'item3');
  assert.is(pool.free(), 0);
  assert.is(pool.currentSize, 3);
});

test('get waits when the pool is exhausted; put hands the item to the waiter', async () => {
  const pool = numbered({ maxSize: 1 });
  const item = await pool.get();
  const got: number[] = [];
  const waiter = spawn(async () => {
    got.push(await pool.get());
  });
  await settle();
  assert.is(pool.waiting(), 1);
  assert.equal(got, []);
  pool.put(item);
  assert.is(pool.waiting(), 0);
  await waiter.wait();
  assert.equal(got, [item]);
  assert.is(pool.made, 1, 'no extra item was made');
  assert.is(pool.free(), 0, 'the item went to the waiter, not the free list');
});

test('waiters are served in arrival order', async () => {
  const pool = numbered({ maxSize: 1 });
  const item = await pool.get();
  const order: string[] = [];
  const ws = ['a', 'b', 'c'].map((name) => spawn(async () => {
    const it = await pool.get();
    order.push(name);
    await sleep(0);
    pool.put(it);
  }));
  await settle();
  assert.is(pool.waiting(), 3);
  pool.put(item);
  for (const w of ws) await w.wait();
  assert.equal(order, ['a', 'b', 'c']);
  assert.is(pool.free(), 1);
});

test('minSize creates items up front', () => {
  const pool = numbered({ minSize: 2, maxSize: 4 });
  assert.is(pool.made, 2);
  assert.is(pool.currentSize, 2);
  assert.is(pool.free(), 4);
  assert.throws(() => numbered({ minSize: 3, maxSize: 2 }), RangeError);
  assert.throws(() => numbered({ maxSize: -1 }), RangeError);
  assert.throws(() => numbered({ maxSize: 'foo' as unknown as number }), TypeError, 'not a number: a TypeError');
});

test('orderAsStack hands out the most recently returned item; the default is oldest first', async () => {
  for (const [stack, expected] of [[true, [3, 3, 2, 1]], [false, [1, 2, 3, 1]]] as const) {
    const pool = numbered({ maxSize: 3, orderAsStack: stack });
    const [a, b, c] = [await pool.get(), await pool.get(), await pool.get()];
    pool.put(a);
    pool.put(b);
    pool.put(c);
    const first = await pool.get();
    pool.put(first);
    const out = [first, await pool.get(), await pool.get(), await pool.get()];
    assert.equal(out, [...expected], `orderAsStack: ${stack}`);
  }
});

test('item(fn) lends an item and returns it even when fn throws', async () => {
  const pool = numbered({ maxSize: 1 });
  assert.is(await pool.item(async (it) => {
    assert.is(pool.free(), 0);
    await sleep(0);
    return it * 100;
  }), 100);
  assert.is(pool.free(), 1);
  const err = new Error('inside');
  assert.is(await rejection(pool.item(() => {
    throw err;
  })), err);
  assert.is(pool.free(), 1, 'the item came back');
  assert.is(await pool.get(), 1, 'the same item, not a new one');
  assert.is(pool.made, 1);
  pool.put(1);
});

test('an async create is waited for', async () => {
  const pool = new Pool<string>({
    maxSize: 2,
    create: async () => {
      await sleep(0.005);
      return 'made';
    },
  });
  const gt = spawn(() => pool.get());
  await settle(1);
  assert.is(pool.currentSize, 1, 'counted while being made');
  assert.is(pool.free(), 1);
  assert.is(await gt.wait(), 'made');
  const pre = new Pool<number>({ minSize: 2, maxSize: 2, create: () => Promise.resolve(7) });
  assert.is(await pre.get(), 7, 'pre-created async items are waited for too');
});

test('a failed create frees its slot, sync or async', async () => {
  let fail = true;
  const sync = new Pool<string>({
    maxSize: 1,
    create: () => {
      if (fail) throw new Error('sync create failed');
      return 'ok';
    },
  });
  assert.match(((await rejection(sync.get())) as Error).message, /sync create failed/);
  assert.is(sync.currentSize, 0);
  assert.is(sync.free(), 1);
  fail = false;
  assert.is(await sync.get(), 'ok');

  let failAsync = true;
  const async_ = new Pool<string>({
    maxSize: 1,
    create: async () => {
      await sleep(0);
      if (failAsync) throw new Error('async create failed');
      return 'ok';
    },
  });
  assert.match(((await rejection(async_.get())) as Error).message, /async create failed/);
  assert.is(async_.currentSize, 0);
  failAsync = false;
  assert.is(await async_.get(), 'ok');
});

test('a pool without create() says how to give it one', async () => {
  const pool = new Pool<number>({ maxSize: 1 });
  assert.match(((await rejection(pool.get())) as Error).message, /pass `create`/);
  assert.is(pool.currentSize, 0);
});

test('resize up serves waiters with new items at once; resize down drops returned extras', async () => {
  const pool = numbered({ maxSize: 1 });
  const first = await pool.get();
  const ws = [spawn(() => pool.get()), spawn(() => pool.get())];
  await settle();
  assert.is(pool.waiting(), 2);
  pool.resize(3);
  assert.is(pool.maxSize, 3);
  const got = [await ws[0].wait(), await ws[1].wait()];
  assert.equal(got.sort(), [2, 3]);
  assert.is(pool.currentSize, 3);
  pool.resize(1);
  pool.put(first);
  pool.put(got[0]);
  assert.is(pool.currentSize, 1, 'two returned items were dropped');
  assert.is(pool.free(), 0);
  pool.put(got[1]);
  assert.is(pool.free(), 1);
  assert.throws(() => pool.resize(-2), RangeError);
});

test('get(timeout) throws when no item comes in time; the waiter leaves', async () => {
  const pool = numbered({ maxSize: 1 });
  const item = await pool.get();
  const t0 = performance.now();
  const err = (await rejection(pool.get(0.02))) as Error;
  assert.instance(err, Error);
  assert.match(err.message, /timed out/);
  assert.ok(performance.now() - t0 >= 15);
  assert.is(pool.waiting(), 0);
  pool.put(item);
  assert.is(pool.free(), 1, 'the item was not handed to the timed-out waiter');
  assert.is(await pool.get(0.02), item);
  assert.instance(await rejection(pool.get(-1)), RangeError);
});

test('kill while waiting in get: the waiter leaves and the next put is not lost', async () => {
  const pool = numbered({ maxSize: 1 });
  const item = await pool.get();
  const gt = spawn(() => pool.get());
  await settle();
  assert.is(pool.waiting(), 1);
  gt.kill();
  assert.is(pool.waiting(), 0);
  assert.is(await gt.wait(), undefined);
  pool.put(item);
  assert.is(pool.free(), 1);
  assert.is(await pool.get(), item);
});

test('kill while a create is in progress: the item joins the pool when it is ready', async () => {
  let finish!: (v: string) => void;
  const pool = new Pool<string>({
    maxSize: 1,
    create: () => new Promise<string>((res) => (finish = res)), // not an evy wait: runs on
  });
  const gt = spawn(() => pool.get());
  await settle();
  assert.is(pool.currentSize, 1);
  gt.kill();
  assert.is(await gt.wait(), undefined);
  finish('late item');
  await settle();
  assert.is(pool.currentSize, 1);
  assert.is(pool.free(), 1);
  assert.is(await pool.get(), 'late item');
});

test('kill while create is parked on an evy wait: the create is interrupted too and its slot is freed', async () => {
  const never = new Event();
  const pool = new Pool<string>({ maxSize: 1, create: async () => (await never.wait(), 'never') });
  const gt = spawn(() => pool.get());
  await settle();
  assert.is(never.waiting, 1, 'create runs in the getter\'s thread');
  gt.kill();
  assert.is(never.waiting, 0);
  assert.is(await gt.wait(), undefined);
  await settle();
  assert.is(pool.currentSize, 0);
  assert.is(pool.free(), 1);
});

test('TokenPool hands out Tokens, bounded by maxSize', async () => {
  const pool = new TokenPool({ maxSize: 2 });
  const a = await pool.get();
  const b = await pool.get();
  assert.instance(a, Token);
  assert.instance(b, Token);
  assert.ok(a !== b);
  assert.is(pool.free(), 0);
  const gt = spawn(() => pool.get());
  await settle();
  assert.is(pool.waiting(), 1);
  pool.put(a);
  assert.is(await gt.wait(), a);
  pool.put(a);
  pool.put(b);
  assert.is(pool.free(), 2);
  const pre = new TokenPool({ minSize: 2, maxSize: 2 });
  assert.is(pre.currentSize, 2);
});

test.run();
