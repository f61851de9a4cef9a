import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BoundedSemaphore, CappedSemaphore, Event, Semaphore, Timeout, sleep, spawn } from 'evy';
import { assertClean } from '../helpers';

test.after.each(assertClean);

test('acquire takes a slot, release gives it back', async () => {
  const s = new Semaphore(2);
  assert.is(await s.acquire(), true);
  assert.is(await s.acquire(), true);
  assert.ok(s.locked());
  assert.is(s.balance, 0);
  s.release();
  assert.not.ok(s.locked());
  assert.is(s.balance, 1);
  s.release();
});

test('waiters get slots in FIFO order; balance counts them', async () => {
  const s = new Semaphore(0);
  const order: number[] = [];
  const gts = [1, 2, 3].map((i) =>
    spawn(async () => {
      await s.acquire();
      order.push(i);
    }),
  );
  await sleep(0);
  assert.is(s.balance, -3);
  assert.is(s.waiting(), 3);
  for (let i = 0; i < 3; i++) s.release();
  for (const gt of gts) await gt.wait();
  assert.equal(order, [1, 2, 3]);
  assert.is(s.balance, 0);
});

test('acquire(timeout) resolves false; acquire(0) never waits; tryAcquire', async () => {
  const s = new Semaphore(0);
  assert.is(await s.acquire(0.01), false);
  assert.is(s.waiting(), 0);
  assert.is(await s.acquire(0), false);
  assert.not.ok(s.tryAcquire());
  s.release();
  assert.ok(s.tryAcquire());
  assert.is(s.balance, 0);
});

test('a Timeout interrupts acquire and restores the balance', async () => {
  const s = new Semaphore(0);
  const t = new Timeout(0.01);
  await s.acquire().then(() => assert.unreachable(), (e) => assert.is(e, t));
  assert.is(s.balance, 0);
  assert.is(s.waiting(), 0);
});

test('kill while waiting: the waiter leaves, a later release keeps its slot', async () => {
  const s = new Semaphore(0);
  const gt = spawn(() => s.acquire());
  await sleep(0);
  gt.kill();
  await gt.wait();
  assert.is(s.waiting(), 0);
  s.release();
  assert.is(s.balance, 1, 'the slot was not handed to the dead waiter');
});

test('a slot handed to a waiter that is killed before it resumes: the kill wins, the slot comes back', async () => {
  const s = new Semaphore(0);
  const gt = spawn(() => s.acquire());
  await sleep(0);
  // Same synchronous block: the slot is handed over, then the kill arrives
  // before the waiter could resume.
  s.release();
  gt.kill();
  assert.is(await gt.wait(), undefined, 'GreenletExit: a clean exit');
  assert.is(s.balance, 1, 'the slot came back');
});

test('run() acquires, runs, and releases even on throw', async () => {
  const s = new Semaphore(1);
  assert.is(await s.run(async () => 7), 7);
  await s.run(async () => {
    assert.ok(s.locked());
    throw new Error('inside');
  }).then(() => assert.unreachable(), (e: Error) => assert.is(e.message, 'inside'));
  assert.is(s.balance, 1);
});

test('BoundedSemaphore refuses over-release with a clear error', async () => {
  const s = new BoundedSemaphore(1);
  assert.throws(() => s.release(), /released too many times/);
  await s.acquire();
  s.release();
  assert.throws(() => s.release(), /limit is 1/);
});

test('CappedSemaphore: acquire waits at 0, release waits at the limit', async () => {
  const s = new CappedSemaphore(1, 2);
  assert.ok(await s.release()); // 1 -> 2, at the limit
  assert.is(s.balance, 2);
  const releaser = spawn(() => s.release());
  await sleep(0);
  assert.not.ok(releaser.dead, 'release waits while at the limit');
  assert.ok(await s.acquire()); // 2 -> 1: lets the releaser through
  assert.ok(await releaser.wait());
  assert.is(s.balance, 2);
  assert.ok(await s.acquire());
  assert.ok(await s.acquire());
  assert.is(s.balance, -2, "Evy's balance: lower's balance minus upper's");
  assert.ok(s.locked());
  assert.is(await s.acquire(0.01), false);
  assert.is(await s.release(0.01), true);
  assert.is(await s.run(async () => 'ran'), 'ran');
});

test('CappedSemaphore(0, 0): a release and an acquire that meet let each other through', async () => {
  const s = new CappedSemaphore(0, 0);
  const gt = spawn(() => s.acquire());
  assert.ok(await s.release());
  assert.ok(await gt.wait());
  assert.is(s.balance, 0);
});

test("CappedSemaphore.balance is Evy's: -3 after three acquires of (2, 3), 3 after the releases", async () => {
  const s = new CappedSemaphore(2, 3);
  assert.is(s.balance, 1);
  await s.acquire();
  await s.acquire();
  const releaser = spawn(() => s.release());
  await s.acquire(); // waits for the releaser
  assert.is(s.balance, -3);
  for (let i = 0; i < 3; i++) await s.release();
  const acquirer = spawn(() => s.acquire());
  await s.release(); // at the limit: waits for the acquirer
  assert.is(s.balance, 3);
  await releaser.wait();
  await acquirer.wait();
});

test('CappedSemaphore: a timed-out acquire or release gives back what it lent the other side', async () => {
  const s = new CappedSemaphore(0, 1);
  assert.is(await s.acquire(0.005), false);
  assert.is(s.balance, -1);
  assert.ok(await s.release());
  assert.is(await s.release(0.005), false);
  assert.is(s.balance, 1);
  assert.ok(await s.acquire());
  assert.is(s.balance, -1);
});

test('bad input: a non-number count is a TypeError, a negative one a RangeError', () => {
  assert.throws(() => new Semaphore('foo' as unknown as number), (e: unknown) => e instanceof TypeError);
  assert.throws(() => new Semaphore(NaN), (e: unknown) => e instanceof TypeError);
  assert.throws(() => new Semaphore(-1), (e: unknown) => e instanceof RangeError);
  assert.throws(() => new CappedSemaphore(null as unknown as number, 1), (e: unknown) => e instanceof TypeError);
});

test('bad input: negative or fractional counts, count above limit, bad timeouts', () => {
  assert.throws(() => new Semaphore(-1), /non-negative integer/);
  assert.throws(() => new Semaphore(1.5), /non-negative integer/);
  assert.throws(() => new CappedSemaphore(3, 2), /above its limit/);
  assert.throws(() => new Semaphore(1).acquire(-1), /must not be negative/);
  assert.throws(() => new Semaphore(1).acquire('x' as unknown as number), /timeout must be a number/);
});

test.run();
