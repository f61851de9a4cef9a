// eventlet's tests/hub_test.py, ported test by test (see README.md).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn as spawnProcess } from 'node:child_process';
import { getHub, sleep, spawn, wait, Timeout } from 'evy';
import * as os from 'evy/patched/os';
import { select } from 'evy/patched/select';
import { captureStderr, rejection } from '../helpers';
import { limited } from './limited';

const DELAY = 0.001;
const hub = getHub();
const noop = (): void => {};
const timersNow = (): number => hub.counts().timers;

// eventlet counts cancelled-but-not-yet-removed timers (timers_canceled); evy's
// heap removes a cancelled timer at once, so the pending count is what is checked.
test('hub_test.TestTimerCleanup.test_cancel_immediate', limited(() => {
  const stimers = timersNow();
  for (let i = 0; i < 2000; i++) {
    const t = hub.scheduleCallGlobal(60, noop);
    t.cancel();
    assert.ok(timersNow() <= stimers + 1, `timers: ${timersNow()}`);
  }
  assert.ok(timersNow() <= 1000 + stimers);
}));

test('hub_test.TestTimerCleanup.test_cancel_accumulated', limited(async () => {
  const stimers = timersNow();
  for (let i = 0; i < 2000; i++) {
    const t = hub.scheduleCallGlobal(60, noop);
    await sleep();
    assert.ok(timersNow() <= stimers + 1, `timers: ${timersNow()}`);
    t.cancel();
    assert.ok(timersNow() <= stimers + 1, `timers: ${timersNow()}`);
  }
  assert.ok(timersNow() <= 1000 + stimers);
}, 10));

test('hub_test.TestTimerCleanup.test_cancel_proportion', limited(async () => {
  const uncanceled = [];
  const stimers = timersNow();
  for (let i = 0; i < 1000; i++) {
    const t = hub.scheduleCallGlobal(60, noop);
    const t2 = hub.scheduleCallGlobal(60, noop);
    const t3 = hub.scheduleCallGlobal(60, noop);
    await sleep();
    t.cancel();
    uncanceled.push(t2, t3);
  }
  assert.is(timersNow(), stimers + 2000);
  for (const t of uncanceled) t.cancel();
  assert.is(timersNow(), stimers);
  await sleep();
}, 10));

// evy has no hub_prevent_multiple_readers(False): the second reader is refused
// at once ("a second simultaneous read"), so its thread dies before the kill;
// that error report is kept off the output.
test('hub_test.TestMultipleListenersCleanup.test_cleanup', limited(async () => {
  const [r, w] = os.pipe();
  try {
    await captureStderr(async () => {
      const readfd = (fd: number) => os.read(fd, 1);
      const first = spawn(readfd, r);
      await sleep();
      const second = spawn(readfd, r);
      await sleep();
      hub.scheduleCallGlobal(0, () => second.kill(new Timeout(null)));
      await sleep();
      await os.write(w, Buffer.from('.'));
      assert.equal(await first.wait(), Buffer.from('.'));
      await second.wait().catch(() => {}); // killed (or refused as a second reader)
      await sleep(0);
    });
  } finally {
    os.close(r);
    os.close(w);
  }
}));

test('hub_test.TestScheduleCall.test_local', limited(async () => {
  const lst = [1];
  spawn(() => hub.scheduleCallLocal(DELAY, () => lst.pop()));
  await sleep(0);
  await sleep(DELAY * 2);
  assert.equal(lst, [1]);
}));

test('hub_test.TestScheduleCall.test_global', limited(async () => {
  const lst = [1];
  spawn(() => hub.scheduleCallGlobal(DELAY, () => lst.pop()));
  await sleep(0);
  await sleep(DELAY * 2);
  assert.equal(lst, []);
}));

test('hub_test.TestScheduleCall.test_ordering', limited(async () => {
  const lst: number[] = [];
  // Each deadline is the clock at its call plus the delay: 100 ms apart, not
  // Evy's 1 ms, so that a loaded machine pausing between the calls cannot swap them.
  const apart = DELAY * 100;
  hub.scheduleCallGlobal(apart * 2, (x: number) => lst.push(x), 3);
  hub.scheduleCallGlobal(apart, (x: number) => lst.push(x), 1);
  hub.scheduleCallGlobal(apart, (x: number) => lst.push(x), 2);
  while (lst.length < 3) await sleep(DELAY);
  assert.equal(lst, [1, 2, 3]);
}));

// hub.set_debug_listeners is evy's hub.captureStacks.
test('hub_test.TestDebug.test_debug_listeners', limited(() => {
  hub.captureStacks = true;
  hub.captureStacks = false;
}));

// hub.set_timer_exceptions is hubExceptions() of evy/tools/debug (shared/API.md).
// (evy/tools/debug: hubExceptions only adds reports, so the next test still sees the timer error.)
test('hub_test.TestDebug.test_timer_exceptions', limited(async () => {
  const debug = await import('evy/tools/' + 'debug');
  debug.hubExceptions(true);
  debug.hubExceptions(false);
}));

test('hub_test.TestExceptionInMainloop.test_sleep', limited(async () => {
  let start = hub.clock();
  await sleep(DELAY);
  let delay = hub.clock() - start;
  assert.ok(delay >= DELAY * 0.9, `sleep returned after ${delay} s (was scheduled for ${DELAY})`);
  const fail = () => {
    throw new Error('division by zero');
  };
  const [, printed] = await captureStderr(async () => {
    hub.scheduleCallGlobal(0, fail);
    start = hub.clock();
    await sleep(DELAY);
    delay = hub.clock() - start;
  });
  assert.ok(delay >= DELAY * 0.9, `sleep returned after ${delay} s (was scheduled for ${DELAY})`);
  assert.ok(printed.includes('division by zero'), 'the timer error is reported');
}));

/** Blocks the whole process (what time.sleep does without monkey-patching). */
function blockFor(seconds: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, seconds * 1000);
}

// Evy raises in the green thread that blocked: hubBlockingDetection(true) does too (BlockingDetected).
test('hub_test.TestHubBlockingDetector.test_block_detect', limited(async () => {
  const debug = await import('evy/tools/' + 'debug');
  debug.hubBlockingDetection(true);
  try {
    const gt = spawn(() => blockFor(2));
    assert.ok(await rejection(gt.wait()));
  } finally {
    debug.hubBlockingDetection(false);
  }
}, 10));

test('hub_test.TestHubBlockingDetector.test_block_detect_with_itimer', limited(async () => {
  const debug = await import('evy/tools/' + 'debug');
  debug.hubBlockingDetection(true, 0.1);
  try {
    const gt = spawn(() => blockFor(0.5));
    assert.ok(await rejection(gt.wait()));
  } finally {
    debug.hubBlockingDetection(false);
  }
}, 10));

test('hub_test.TestSuspend.test_suspend_doesnt_crash', limited(async () => {
  // A child blocked in accept() under a Timeout, stopped and continued: it must
  // still see its Timeout. It closes its listener (eventlet's leaves it to the
  // interpreter's exit): an open one keeps Node running until a GC collects it,
  // which Node 20's idle GC did after about 8 s and Node 24's does not.
  const script = `
    import { Timeout, listen } from 'evy';
    new Timeout(0.5);
    const server = listen(['127.0.0.1', 0]);
    try {
      await server.accept();
    } catch (err) {
      if (err instanceof Timeout) console.log('exited correctly');
      else throw err;
    } finally {
      server.close();
    }`;
  const child = spawnProcess(process.execPath, ['--input-type=module', '-e', script], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<void>((res) => child.on('close', () => res()));
  await sleep(0.4);
  process.kill(child.pid!, 'SIGSTOP');
  process.kill(child.pid!, 'SIGCONT');
  await wait(exited);
  const lines = output.trim().split('\n');
  assert.ok(lines[lines.length - 1].includes('exited correctly'), output);
}, 10));

// Python's ValueError for an argument out of range is a RangeError in evy
// (as for new Semaphore(-1)).
test('hub_test.test_repeated_select_bad_fd', limited(async () => {
  const once = async () => {
    const err = await rejection(select([-1], [], []));
    assert.instance(err, RangeError);
  };
  await once();
  await once();
}));

test.run();
