import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Empty, Event, Full, getHub, LifoQueue, LightQueue, PriorityQueue, Queue, Timeout, sleep, spawn } from 'evy';
import { assertClean, rejection } from '../helpers';

test.after.each(assertClean);

test('FIFO order; qsize, empty, full', async () => {
  for (const q of [new Queue<number>(), new LightQueue<number>()]) {
    assert.ok(q.empty());
    for (const i of [1, 2, 3]) await q.put(i);
    assert.is(q.qsize(), 3);
    assert.not.ok(q.full());
    assert.equal([await q.get(), await q.get(), await q.get()], [1, 2, 3]);
    assert.ok(q.empty());
  }
});

test('a long queue drains in order (storage compaction)', async () => {
  const q = new LightQueue<number>();
  for (let i = 0; i < 5000; i++) q.putNowait(i);
  for (let i = 0; i < 2500; i++) assert.is(q.getNowait(), i);
  for (let i = 5000; i < 6000; i++) q.putNowait(i);
  for (let i = 2500; i < 6000; i++) assert.is(q.getNowait(), i);
});

test('get blocks until put; the item goes straight to the getter', async () => {
  const q = new Queue<string>();
  const getter = spawn(() => q.get());
  await sleep(0);
  assert.is(q.getting(), 1);
  await q.put('x');
  assert.is(q.qsize(), 0, 'handed over, not stored');
  assert.is(await getter.wait(), 'x');
});

test('put blocks while full; a get admits the waiting putter', async () => {
  const q = new Queue<number>(1);
  await q.put(1);
  assert.ok(q.full());
  const putter = spawn(() => q.put(2));
  await sleep(0);
  assert.is(q.putting(), 1);
  assert.is(await q.get(), 1);
  assert.is(q.qsize(), 1, 'the waiting item moved in');
  await putter.wait();
  assert.is(await q.get(), 2);
});

test('get(timeout) throws Empty, put(timeout) throws Full; 0 never waits', async () => {
  const q = new Queue<number>(1);
  await q.get(0.01).then(() => assert.unreachable(), (e) => assert.instance(e, Empty));
  await q.get(0).then(() => assert.unreachable(), (e) => assert.instance(e, Empty));
  assert.is(q.getting(), 0);
  await q.put(1);
  await q.put(2, 0.01).then(() => assert.unreachable(), (e) => assert.instance(e, Full));
  await q.put(2, 0).then(() => assert.unreachable(), (e) => assert.instance(e, Full));
  assert.is(q.putting(), 0);
  assert.is(q.qsize(), 1, 'timed-out items are not in the queue');
  await q.get();
  q.taskDone();
});

test('getNowait/putNowait throw Empty/Full', () => {
  const q = new LightQueue<number>(1);
  assert.throws(() => q.getNowait(), (e: unknown) => e instanceof Empty);
  q.putNowait(1);
  assert.throws(() => q.putNowait(2), (e: unknown) => e instanceof Full);
  assert.is(q.getNowait(), 1);
});

test('resize: growing admits waiting putters; null is unbounded', async () => {
  const q = new LightQueue<number>(1);
  q.putNowait(0);
  const putters = [1, 2].map((i) => spawn(() => q.put(i)));
  await sleep(0);
  assert.is(q.putting(), 2);
  q.resize(2);
  assert.is(q.putting(), 1);
  q.resize(null);
  assert.is(q.putting(), 0);
  assert.is(q.maxsize, Infinity);
  for (const p of putters) await p.wait();
  assert.equal([q.getNowait(), q.getNowait(), q.getNowait()], [0, 1, 2]);
});

test('taskDone/join: join waits for every item; too many taskDone is an error', async () => {
  const q = new Queue<number>();
  await q.join();
  for (const i of [1, 2]) await q.put(i);
  const done: number[] = [];
  const worker = spawn(async () => {
    for (let i = 0; i < 2; i++) {
      const item = await q.get();
      await sleep(0);
      done.push(item);
      q.taskDone();
    }
  });
  await q.join();
  assert.equal(done, [1, 2]);
  assert.is(q.unfinishedTasks, 0);
  assert.throws(() => q.taskDone(), /more times than there were items/);
  await worker.wait();
});

test('join(timeout) throws when tasks stay unfinished', async () => {
  const q = new Queue<number>();
  q.putNowait(1);
  await q.join(0.01).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /1 unfinished/));
  q.getNowait();
  q.taskDone();
});

test('PriorityQueue: lowest first, [priority, data] tuples, stable ties, custom compare', async () => {
  const q = new PriorityQueue<number>();
  for (const n of [5, 1, 4, 2, 3]) q.putNowait(n);
  assert.equal([1, 2, 3, 4, 5].map(() => q.getNowait()), [1, 2, 3, 4, 5]);

  const t = new PriorityQueue<[number, string]>();
  for (const e of [[2, 'b'], [1, 'z'], [2, 'a'], [1, 'y']] as [number, string][]) t.putNowait(e);
  assert.equal([t.getNowait(), t.getNowait(), t.getNowait(), t.getNowait()], [[1, 'y'], [1, 'z'], [2, 'a'], [2, 'b']]);

  const s = new PriorityQueue<{ p: number; id: string }>(null, (a, b) => a.p - b.p);
  for (const [p, id] of [[1, 'first'], [0, 'urgent'], [1, 'second'], [1, 'third']] as [number, string][]) s.putNowait({ p, id });
  assert.equal([0, 1, 2, 3].map(() => s.getNowait().id), ['urgent', 'first', 'second', 'third']);

  const bad = new PriorityQueue<unknown>();
  bad.putNowait({});
  assert.throws(() => bad.putNowait({}), /cannot order/);
});

test('LifoQueue: last in, first out', async () => {
  const q = new LifoQueue<number>();
  for (const i of [1, 2, 3]) await q.put(i);
  assert.equal([await q.get(), await q.get(), await q.get()], [3, 2, 1]);
  for (let i = 0; i < 3; i++) q.taskDone();
});

test('a Timeout interrupts get and put; the waiter leaves, the putter\'s item is not queued', async () => {
  const q = new Queue<number>(1);
  let t = new Timeout(0.01);
  await q.get().then(() => assert.unreachable(), (e) => assert.is(e, t));
  assert.is(q.getting(), 0);
  q.putNowait(1);
  t = new Timeout(0.01);
  await q.put(2).then(() => assert.unreachable(), (e) => assert.is(e, t));
  assert.is(q.putting(), 0);
  assert.is(q.qsize(), 1);
  assert.is(q.getNowait(), 1);
  q.taskDone();
});

test('kill while waiting in get and put', async () => {
  const q = new LightQueue<number>(1);
  const getter = spawn(() => q.get());
  await sleep(0);
  getter.kill();
  await getter.wait();
  assert.is(q.getting(), 0);
  q.putNowait(1);
  assert.is(q.qsize(), 1, 'a later put is stored, not handed to the dead getter');
  const putter = spawn(() => q.put(2));
  await sleep(0);
  putter.kill();
  await putter.wait();
  assert.is(q.putting(), 0);
  assert.is(q.getNowait(), 1);
  assert.ok(q.empty(), 'the killed putter\'s item never went in');
});

test('a getter handed an item and killed before it resumes: the kill wins, the item goes back first in line', async () => {
  const q = new LightQueue<string>();
  const getter = spawn(() => q.get());
  await sleep(0);
  q.putNowait('precious'); // handed to the getter...
  q.putNowait('second');
  getter.kill(); // ...which is killed before it runs again
  assert.is(await getter.wait(), undefined, 'GreenletExit: a clean exit');
  assert.is(q.getNowait(), 'precious', 'not lost, and still first');
  assert.is(q.getNowait(), 'second');
});

test('an item given back by a killed getter goes to the next getter in line', async () => {
  const q = new Queue<string>();
  const first = spawn(() => q.get());
  const second = spawn(() => q.get());
  await sleep(0);
  q.putNowait('item');
  first.kill();
  assert.is(await second.wait(), 'item');
  assert.is(await first.wait(), undefined);
  assert.is(q.qsize(), 0);
});

test('a Timeout landing right after a put, before the getter resumed, wins; the item stays queued', async () => {
  const q = new LightQueue<number>();
  const timeout = new Timeout(null);
  const getter = spawn(() => q.get());
  await sleep(0);
  // One timer callback: the item is handed over, then the timeout's throw
  // arrives before the getter resumed, as when both timers fall due together.
  getHub().scheduleCallGlobal(0.005, () => {
    q.putNowait(42);
    getter.kill(timeout);
  });
  assert.is(await rejection(getter.wait()), timeout);
  assert.is(q.getNowait(), 42, 'the item was given back');
});

test('for await over a queue consumes items as they come', async () => {
  const q = new LightQueue<number>();
  const seen: number[] = [];
  const consumer = spawn(async () => {
    for await (const n of q) {
      if (n < 0) break;
      seen.push(n);
    }
  });
  for (const n of [1, 2, 3, -1]) await q.put(n);
  await consumer.wait();
  assert.equal(seen, [1, 2, 3]);
});

test('bad input: maxsize and timeouts', () => {
  assert.throws(() => new Queue(-1), /maxsize must be a non-negative integer/);
  assert.throws(() => new Queue(1.5), /maxsize/);
  assert.throws(() => new Queue().get(-1), /must not be negative/);
  assert.throws(() => new Queue().put(1, 'x' as unknown as number), /timeout must be a number/);
});

test.run();
