// eventlet's tests/semaphore_test.py, ported test by test (see README.md).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CappedSemaphore, Semaphore, getHub, sleep, spawn } from 'evy';
import { limited } from './limited';

const hub = getHub();

test('semaphore_test.TestSemaphore.test_bounded', limited(async () => {
  const sem = new CappedSemaphore(2, 3);
  assert.is(await sem.acquire(), true);
  assert.is(await sem.acquire(), true);
  const gt1 = spawn(() => sem.release());
  assert.is(await sem.acquire(), true);
  assert.is(sem.balance, -3);
  await sem.release();
  await sem.release();
  await sem.release();
  const gt2 = spawn(() => sem.acquire());
  await sem.release();
  assert.is(sem.balance, 3);
  await gt1.wait();
  await gt2.wait();
}));

test('semaphore_test.TestSemaphore.test_bounded_with_zero_limit', limited(async () => {
  const sem = new CappedSemaphore(0, 0);
  const gt = spawn(() => sem.acquire());
  await sem.release();
  await gt.wait();
}));

// acquire(blocking=False) is acquire(0) in evy: a timeout of 0 never waits (README, Differences worth knowing: "`Semaphore.acquire(timeout)` resolves `false`").
test('semaphore_test.TestSemaphore.test_non_blocking', limited(async () => {
  const sem = new Semaphore(0);
  assert.is(await sem.acquire(0), false);
}));

test('semaphore_test.TestSemaphore.test_timeout', limited(async () => {
  const sem = new Semaphore(0);
  const start = hub.clock();
  assert.is(await sem.acquire(0.1), false);
  assert.ok(hub.clock() - start >= 0.1, `waited ${hub.clock() - start} s`);
}));

test('semaphore_test.test_semaphore_contention', limited(async () => {
  const mutex = new Semaphore();
  const counts = [0, 0];
  const worker = async (no: number) => {
    while (Math.min(...counts) < 200) {
      await mutex.run(async () => {
        counts[no - 1] += 1;
        await sleep(0.001);
      });
    }
  };
  const t1 = spawn(worker, 1);
  const t2 = spawn(worker, 2);
  await sleep(0.5);
  t1.kill();
  t2.kill();
  assert.ok(Math.abs(counts[0] - counts[1]) < Math.trunc(Math.min(...counts) * 0.1), `counts: ${counts}`);
}, 5));

test('semaphore_test.test_semaphore_type_check', limited(() => {
  new Semaphore(0);
  new Semaphore(1);
  new Semaphore(1e2);
  assert.throws(() => new Semaphore('foo' as unknown as number), (e: unknown) => e instanceof TypeError);
  assert.throws(() => new Semaphore(-1), (e: unknown) => e instanceof RangeError);
}));

test.run();
