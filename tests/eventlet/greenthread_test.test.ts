// eventlet's tests/greenthread_test.py, ported test by test to evy's API.
// Differences and skips: tests/eventlet/README.md.
import { test as uvu } from 'uvu';
import * as assert from 'uvu/assert';
import { GreenThread, kill, sleep, spawn, spawnAfter, spawnAfterLocal, spawnN } from 'evy';
import { suite } from './common';

const test = suite();

/** What passthru was called with, in call order (reset before each test). */
let calls: unknown[][] = [];
function reset(): void {
  calls = [];
}

/** Records its arguments and returns them. A trailing object stands for Python's keyword arguments. */
function passthru(...args: unknown[]): unknown[] {
  calls.push(args);
  return args;
}

async function waiter<T>(a: T): Promise<T> {
  await sleep(0.1);
  return a;
}

/**
 * eventlet's assert_dead: the thread is dead and its wait() raises
 * GreenletExit. evy (deliberate difference, README "Differences worth
 * knowing"): killing with GreenletExit is a clean exit, wait() resolves undefined.
 */
async function assertDead(gt: GreenThread<unknown>): Promise<void> {
  assert.is(await gt.wait(), undefined);
  assert.ok(gt.dead);
}

// ---- Spawn ---------------------------------------------------------------------------

test('greenthread_test.Spawn.test_simple', async () => {
  const gt = spawn(passthru, 1, { b: 2 });
  assert.equal(await gt.wait(), [1, { b: 2 }]);
  assert.equal(calls, [[1, { b: 2 }]]);
});

test('greenthread_test.Spawn.test_n', async () => {
  // spawnN returns no thread in evy (API.md): what it ran is the observable.
  spawnN(passthru, 2, { b: 3 });
  assert.equal(calls, [], 'not run before the spawner yields');
  await sleep(0);
  assert.equal(calls, [[2, { b: 3 }]]);
});

test('greenthread_test.Spawn.test_kill', async () => {
  const gt = spawn(passthru, 6);
  kill(gt);
  await assertDead(gt);
  await sleep(0.001);
  assert.equal(calls, []);
  kill(gt);
  await assertDead(gt);
});

test('greenthread_test.Spawn.test_kill_meth', async () => {
  const gt = spawn(passthru, 6);
  gt.kill();
  await assertDead(gt);
  await sleep(0.001);
  assert.equal(calls, []);
  gt.kill();
  await assertDead(gt);
});

test('greenthread_test.Spawn.test_link', async () => {
  const results: unknown[] = [];
  const linkFunc = (g: GreenThread<unknown[]>, ...a: unknown[]): void => {
    results.push(g, a);
  };
  const gt = spawn(passthru, 5);
  gt.link(linkFunc, 4, { b: 5 });
  assert.equal(await gt.wait(), [5]);
  assert.is(results[0], gt);
  assert.equal(results.slice(1), [[4, { b: 5 }]]);
});

test('greenthread_test.Spawn.test_link_after_exited', async () => {
  const results: unknown[] = [];
  const linkFunc = (g: GreenThread<unknown[]>, ...a: unknown[]): void => {
    results.push(g, a);
  };
  const gt = spawn(passthru, 5);
  assert.equal(await gt.wait(), [5]);
  gt.link(linkFunc, 4, { b: 5 });
  assert.is(results[0], gt);
  assert.equal(results.slice(1), [[4, { b: 5 }]]);
});

test('greenthread_test.Spawn.test_link_relinks', async () => {
  // A link that links again (to a dead thread: called at once) must not recurse forever.
  const called: boolean[] = [];
  const linkFuncPass = (): void => {
    called.push(true);
  };
  const linkFunc = (g: GreenThread<unknown[]>): void => {
    g.link(linkFuncPass);
  };
  const gt = spawn(passthru);
  gt.link(linkFunc);
  await gt.wait();
  assert.equal(called, [true]);
});

// ---- SpawnAfter ----------------------------------------------------------------------

test('greenthread_test.SpawnAfter.test_basic', async () => {
  const gt = spawnAfter(0.1, passthru, 20);
  assert.equal(await gt.wait(), [20]);
});

test('greenthread_test.SpawnAfter.test_cancel', async () => {
  const gt = spawnAfter(0.1, passthru, 21);
  gt.cancel();
  await assertDead(gt);
  assert.equal(calls, []);
});

test('greenthread_test.SpawnAfter.test_cancel_already_started', async () => {
  const gt = spawnAfter(0, waiter, 22);
  await sleep(0);
  gt.cancel();
  assert.is(await gt.wait(), 22);
});

test('greenthread_test.SpawnAfter.test_kill_already_started', async () => {
  const gt = spawnAfter(0, waiter, 22);
  await sleep(0);
  // The premise of the test's name: after one sleep(0) the zero-delay start has happened.
  assert.ok(gt.started, 'spawnAfter(0) has started its thread after sleep(0)');
  gt.kill();
  await assertDead(gt);
});

// ---- SpawnAfterLocal -----------------------------------------------------------------

test('greenthread_test.SpawnAfterLocal.test_timer_fired', async () => {
  const lst = [1];
  spawn(async () => {
    spawnAfterLocal(0.1, () => lst.pop());
    await sleep(0.2);
  });
  assert.equal(lst, [1]);
  await sleep(0.3);
  assert.equal(lst, []);
});

test('greenthread_test.SpawnAfterLocal.test_timer_cancelled_upon_greenlet_exit', async () => {
  const lst = [1];
  spawn(() => {
    spawnAfterLocal(0.1, () => lst.pop());
  });
  assert.equal(lst, [1]);
  await sleep(0.2);
  assert.equal(lst, [1]);
});

test('greenthread_test.SpawnAfterLocal.test_spawn_is_not_cancelled', async () => {
  const lst = [1];
  spawn(() => {
    spawn(() => lst.pop());
    // the spawner ends at once; the plain spawn must still run
  });
  await sleep(0.1);
  assert.equal(lst, []);
});

uvu.before.each(reset);
uvu.run();
