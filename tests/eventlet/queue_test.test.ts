// eventlet's tests/queue_test.py, ported test by test (see README.md).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Empty, Event, Full, Queue, Timeout, getHub, sleep, spawn, withTimeout } from 'evy';
import { rejection } from '../helpers';
import { limited, RuntimeError } from './limited';

const hub = getHub();

/** A getter that gives up at once: a Timeout(0) that raises a RuntimeError. */
async function doBail(q: Queue<unknown>): Promise<unknown> {
  new Timeout(0, new RuntimeError('bail'));
  try {
    return await q.get();
  } catch (err) {
    if (err instanceof RuntimeError) return 'timed out';
    throw err;
  }
}

test('queue_test.TestQueue.test_send_first', limited(async () => {
  const q = new Queue<string>();
  await q.put('hi');
  assert.is(await q.get(), 'hi');
}));

test('queue_test.TestQueue.test_send_last', limited(async () => {
  const q = new Queue<string>();
  const waiter = async (qq: Queue<string>) => {
    assert.is(await qq.get(), 'hi2');
  };
  const gt = spawn(() => withTimeout(0.1, () => waiter(q)));
  await sleep(0);
  await sleep(0);
  await q.put('hi2');
  await gt.wait();
}));

test('queue_test.TestQueue.test_max_size', limited(async () => {
  const q = new Queue<string>(2);
  const results: string[] = [];
  const putter = async (qq: Queue<string>) => {
    await qq.put('a');
    results.push('a');
    await qq.put('b');
    results.push('b');
    await qq.put('c');
    results.push('c');
  };
  const gt = spawn(putter, q);
  await sleep(0);
  assert.equal(results, ['a', 'b']);
  assert.is(await q.get(), 'a');
  await sleep(0);
  assert.equal(results, ['a', 'b', 'c']);
  assert.is(await q.get(), 'b');
  assert.is(await q.get(), 'c');
  await gt.wait();
}));

/** Puts 'hi', then says so (test_zero_max_size, test_resize_up). */
async function sender(evt: Event<string>, qq: Queue<string>): Promise<void> {
  await qq.put('hi');
  evt.send('done');
}

// Deliberate difference: Queue(0) is unbounded (README, Differences worth knowing: "`Queue(0)` and `Queue()` are unbounded"), so the sender's
// put does not wait for a receiver.
test('queue_test.TestQueue.test_zero_max_size', limited(async () => {
  const q = new Queue<string>(0);
  const receiver = (qq: Queue<string>) => qq.get();
  const evt = new Event<string>();
  const gt = spawn(sender, evt, q);
  await sleep(0);
  assert.ok(evt.ready(), 'evy: a put into Queue(0) never waits');
  const gt2 = spawn(receiver, q);
  assert.is(await gt2.wait(), 'hi');
  assert.is(await evt.wait(), 'done');
  await gt.wait();
}));

// Deliberate difference: Queue(0) is unbounded (README, Differences worth knowing: "`Queue(0)` and `Queue()` are unbounded"); resize(1) then
// bounds a queue that already holds the item.
test('queue_test.TestQueue.test_resize_up', limited(async () => {
  const q = new Queue<string>(0);
  const evt = new Event<string>();
  const gt = spawn(sender, evt, q);
  await sleep(0);
  assert.ok(evt.ready(), 'evy: a put into Queue(0) never waits');
  q.resize(1);
  await sleep(0);
  assert.ok(evt.ready());
  assert.is(q.qsize(), 1);
  assert.ok(q.full());
  await gt.wait();
}));

test('queue_test.TestQueue.test_resize_down', limited(async () => {
  const q = new Queue<number>(5);
  for (let i = 0; i < 5; i++) await q.put(i);
  assert.is(q.qsize(), 5);
  q.resize(1);
  await sleep(0);
  // evy has no `q.queue` view: the items are counted, then drained in order.
  assert.is(q.qsize(), 5);
  const items: number[] = [];
  while (!q.empty()) items.push(q.getNowait());
  assert.equal(items, [0, 1, 2, 3, 4]);
}));

// Deliberate difference: Queue(0) is already unbounded (README, Differences worth knowing: "`Queue(0)` and `Queue()` are unbounded").
test('queue_test.TestQueue.test_resize_to_Unlimited', limited(async () => {
  const q = new Queue<string>(0);
  const evt = new Event<string>();
  const gt = spawn(sender, evt, q);
  await sleep();
  assert.ok(evt.ready(), 'evy: a put into Queue(0) never waits');
  q.resize(null);
  await sleep();
  assert.ok(evt.ready());
  await gt.wait();
}));

test('queue_test.TestQueue.test_multiple_waiters', limited(async () => {
  const q = new Queue<string>();
  const sendings = ['1', '2', '3', '4'];
  const gts = sendings.map(() => spawn(() => q.get()));
  await sleep(0.01);
  for (const s of sendings) await q.put(s);
  const results = new Set<string>();
  for (const gt of gts) results.add(await gt.wait());
  assert.equal(results, new Set(sendings));
}));

test('queue_test.TestQueue.test_waiters_that_cancel', limited(async () => {
  const q = new Queue<unknown>();
  const gt = spawn(doBail, q);
  assert.is(await gt.wait(), 'timed out');
  await q.put('hi');
  assert.is(await q.get(), 'hi');
}));

test('queue_test.TestQueue.test_getting_before_sending', limited(async () => {
  const q = new Queue<string>();
  const gt = spawn(() => q.put('sent'));
  assert.is(await q.get(), 'sent');
  await gt.wait();
}));

test('queue_test.TestQueue.test_two_waiters_one_dies', limited(async () => {
  const q = new Queue<unknown>();
  const dying = spawn(doBail, q);
  const waiting = spawn(() => q.get());
  await sleep(0);
  await q.put('hi');
  assert.is(await dying.wait(), 'timed out');
  assert.is(await waiting.wait(), 'hi');
}));

test('queue_test.TestQueue.test_two_bogus_waiters', limited(async () => {
  const q = new Queue<unknown>();
  const gt1 = spawn(doBail, q);
  const gt2 = spawn(doBail, q);
  await sleep(0);
  await q.put('sent');
  assert.is(await gt1.wait(), 'timed out');
  assert.is(await gt2.wait(), 'timed out');
  assert.is(await q.get(), 'sent');
}));

test('queue_test.TestQueue.test_waiting', limited(async () => {
  const q = new Queue<string>();
  const gt1 = spawn(() => q.get());
  await sleep(0);
  assert.is(q.getting(), 1);
  await q.put('hi');
  await sleep(0);
  assert.is(q.getting(), 0);
  assert.is(await gt1.wait(), 'hi');
  assert.is(q.getting(), 0);
}));

// Deliberate difference: Queue(0) is unbounded (README, Differences worth knowing: "`Queue(0)` and `Queue()` are unbounded"), so the puts do
// not wait for the other thread to take each item.
test('queue_test.TestQueue.test_channel_send', limited(async () => {
  const channel = new Queue<string>(0);
  const events: string[] = [];
  const gt = spawn(async () => {
    events.push(await channel.get());
    events.push(await channel.get());
  });
  events.push('sending');
  await channel.put('hello');
  events.push('sent hello');
  await channel.put('world');
  events.push('sent world');
  assert.equal(events, ['sending', 'sent hello', 'sent world']);
  await gt.wait();
  assert.equal(events, ['sending', 'sent hello', 'sent world', 'hello', 'world']);
}));

// Deliberate difference: Queue(0) is unbounded (README, Differences worth knowing: "`Queue(0)` and `Queue()` are unbounded"), so the sender
// does not wait for each get: it runs to its end before the getter resumes.
test('queue_test.TestQueue.test_channel_wait', limited(async () => {
  const channel = new Queue<string>(0);
  const events: string[] = [];
  spawn(async () => {
    events.push('sending hello');
    await channel.put('hello');
    events.push('sending world');
    await channel.put('world');
    events.push('sent world');
  });
  events.push('waiting');
  events.push(await channel.get());
  events.push(await channel.get());
  assert.equal(events, ['waiting', 'sending hello', 'sending world', 'sent world', 'hello', 'world']);
}));

test('queue_test.TestQueue.test_channel_waiters', limited(async () => {
  const c = new Queue<number>(0);
  const w1 = spawn(() => c.get());
  const w2 = spawn(() => c.get());
  const w3 = spawn(() => c.get());
  await sleep(0);
  assert.is(c.getting(), 3);
  const s1 = spawn(() => c.put(1));
  const s2 = spawn(() => c.put(2));
  const s3 = spawn(() => c.put(3));
  await s1.wait();
  await s2.wait();
  await s3.wait();
  assert.is(c.getting(), 0);
  const results = [await w1.wait(), await w2.wait(), await w3.wait()].sort();
  assert.equal(results, [1, 2, 3]);
}));

// Deliberate difference: Queue(0) is unbounded (README, Differences worth knowing: "`Queue(0)` and `Queue()` are unbounded"): the put goes in
// instead of timing out with Full, and getNowait then finds the item.
test('queue_test.TestQueue.test_channel_sender_timing_out', limited(async () => {
  const c = new Queue<string>(0);
  await c.put('hi', 0.001);
  assert.is(c.getNowait(), 'hi');
  assert.throws(() => c.getNowait(), (e: unknown) => e instanceof Empty);
}));

test('queue_test.TestQueue.test_task_done', limited(async () => {
  const channel = new Queue<object>(0);
  const X = {};
  const gt = spawn(() => channel.put(X));
  const result = await channel.get();
  assert.ok(result === X);
  assert.is(channel.unfinishedTasks, 1);
  channel.taskDone();
  assert.is(channel.unfinishedTasks, 0);
  await gt.wait();
}));

test('queue_test.TestQueue.test_join_doesnt_block_when_queue_is_already_empty', limited(async () => {
  const queue = new Queue<unknown>();
  await queue.join();
}));

test('queue_test.TestQueue.test_zero_length_queue_nonblocking_put', limited(async () => {
  const queue = new Queue<number>(0);
  const got: number[] = [];
  const fetchItem = async () => {
    got.push(await queue.get());
  };
  for (let i = 0; i < 10; i++) {
    spawn(fetchItem);
    const badGetter = spawn(fetchItem);
    hub.scheduleCallGlobal(0, () => badGetter.kill(new Error('kaboom')));
  }
  await sleep(0);
  for (let i = 0; i < 10; i++) await queue.put(i);
  // Deliberate difference: Queue(0) is unbounded (README, Differences worth knowing: "`Queue(0)` and `Queue()` are unbounded"), so the puts
  // do not wait for the getters; they have the items once this thread yields.
  await sleep(0);
  assert.equal(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
}));

function storeResult(result: unknown[], fn: () => unknown): void {
  try {
    result.push(fn());
  } catch (err) {
    result.push(err);
  }
}

test('queue_test.TestNoWait.test_put_nowait_simple', limited(async () => {
  const result: unknown[] = [];
  const q = new Queue<number>(1);
  hub.scheduleCallGlobal(0, () => storeResult(result, () => q.putNowait(2)));
  hub.scheduleCallGlobal(0, () => storeResult(result, () => q.putNowait(3)));
  await sleep(0);
  await sleep(0);
  assert.is(result.length, 2, `result: ${String(result)}`);
  assert.is(result[0], undefined);
  assert.instance(result[1], Full);
}));

test('queue_test.TestNoWait.test_get_nowait_simple', limited(async () => {
  const result: unknown[] = [];
  const q = new Queue<number>(1);
  await q.put(4);
  hub.scheduleCallGlobal(0, () => storeResult(result, () => q.getNowait()));
  hub.scheduleCallGlobal(0, () => storeResult(result, () => q.getNowait()));
  await sleep(0);
  assert.is(result.length, 2, `result: ${String(result)}`);
  assert.is(result[0], 4);
  assert.instance(result[1], Empty);
}));

// Deliberate difference: Queue(0) is unbounded (README, Differences worth knowing: "`Queue(0)` and `Queue()` are unbounded"): it is never
// full(), and the spawned put has gone in after sleep(0).
test('queue_test.TestNoWait.test_get_nowait_unlock', limited(async () => {
  const result: unknown[] = [];
  const q = new Queue<number>(0);
  const p = spawn(() => q.put(5));
  assert.ok(q.empty());
  assert.not.ok(q.full());
  await sleep(0);
  assert.not.ok(q.empty(), 'evy: the put went in');
  assert.not.ok(q.full());
  hub.scheduleCallGlobal(0, () => storeResult(result, () => q.getNowait()));
  await sleep(0);
  assert.ok(q.empty());
  assert.not.ok(q.full());
  assert.equal(result, [5]);
  assert.ok(p.dead);
  assert.ok(q.empty());
}));

// Deliberate difference: Queue(0) is unbounded (README, Differences worth knowing: "`Queue(0)` and `Queue()` are unbounded"): never full().
test('queue_test.TestNoWait.test_put_nowait_unlock', limited(async () => {
  const result: unknown[] = [];
  const q = new Queue<number>(0);
  const g = spawn(() => q.get());
  assert.ok(q.empty());
  assert.not.ok(q.full());
  await sleep(0);
  assert.ok(q.empty());
  assert.not.ok(q.full());
  hub.scheduleCallGlobal(0, () => storeResult(result, () => q.putNowait(10)));
  await sleep(0);
  assert.equal(result, [undefined]);
  assert.not.ok(q.full());
  assert.ok(q.empty());
  assert.is(await g.wait(), 10);
}));

// Deliberate difference: a spawned thread's error is kept for wait()
// (README, The green-thread model: "a `spawn`ed thread's error is kept for `wait()`"); it does not escape into the thread that put the item, as
// KeyboardInterrupt (a BaseException) escapes to eventlet's main greenlet.
test('queue_test.TestNoWait.test_wait_except', limited(async () => {
  const q = new Queue<null>();
  class KeyboardInterrupt extends Error {}
  const gt = spawn(async () => {
    await q.get();
    throw new KeyboardInterrupt();
  });
  await sleep();
  await q.put(null);
  await sleep();
  assert.instance(await rejection(gt.wait()), KeyboardInterrupt);
}));

test.run();
