// eventlet's tests/event_test.py, ported test by test (see README.md).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Event, Timeout, getHub, sleep, spawnAfter, spawnN } from 'evy';
import { captureStderr, rejection } from '../helpers';
import { limited, RuntimeError } from './limited';

const hub = getHub();

test('event_test.TestEvent.test_waiting_for_event', limited(async () => {
  const evt = new Event<string>();
  const value = 'some stuff';
  spawnN(() => evt.send(value));
  assert.is(await evt.wait(), value);
}));

async function multipleWaiters(exception: boolean): Promise<void> {
  const evt = new Event<void>();
  const results: boolean[] = [];
  const waitOnEvent = async (iAmDone: Event<void>) => {
    await evt.wait();
    results.push(true);
    iAmDone.send();
    if (exception) throw new Error('from a waiter');
  };
  const waiters: Event<void>[] = [];
  const count = 5;
  for (let i = 0; i < count; i++) {
    waiters.push(new Event<void>());
    spawnN(waitOnEvent, waiters[waiters.length - 1]);
  }
  await sleep();
  evt.send();
  for (const w of waiters) await w.wait();
  assert.is(results.length, count);
}

test('event_test.TestEvent.test_multiple_waiters', limited(() => multipleWaiters(false)));

test('event_test.TestEvent.test_multiple_waiters_with_exception', limited(async () => {
  // spawnN prints its threads' errors, as eventlet's hub does: kept off the test's output.
  const [, printed] = await captureStderr(async () => {
    await multipleWaiters(true);
    await sleep(0);
  });
  assert.ok(printed.includes('from a waiter'));
}));

test('event_test.TestEvent.test_reset', limited(async () => {
  const evt = new Event<string>();
  assert.throws(() => evt.reset());
  const value = 'some stuff';
  spawnN(() => evt.send(value));
  assert.is(await evt.wait(), value);
  const value2 = 'second stuff';
  assert.throws(() => evt.send(value2));
  assert.is(await evt.wait(), value);
  evt.reset();
  spawnN(() => evt.send(value2));
  assert.is(await evt.wait(), value2);
}));

test('event_test.TestEvent.test_double_exception', limited(async () => {
  const evt = new Event<unknown>();
  evt.sendException(new RuntimeError('from test_double_exception'));
  assert.instance(await rejection(evt.wait()), RuntimeError);
  evt.reset();
  const t = new Timeout(0.001);
  assert.is(await rejection(evt.wait()), t);
}));

test('event_test.test_wait_timeout_ok', limited(async () => {
  const evt = new Event<boolean>();
  const delay = 0.1;
  const sender = spawnAfter(delay, () => evt.send(true));
  const t1 = hub.clock();
  await new Timeout(delay * 3, false).run(async () => {
    const result = await evt.wait(delay * 2);
    const td = hub.clock() - t1;
    assert.ok(result);
    assert.ok(td >= delay, `td ${td}`);
  });
  await sender.wait();
}));

test('event_test.test_wait_timeout_exceed', limited(async () => {
  const evt = new Event<boolean>();
  const delay = 0.1;
  const sender = spawnAfter(delay * 2, () => evt.send(true));
  const t1 = hub.clock();
  await new Timeout(delay, false).run(async () => {
    const result = await evt.wait(delay);
    const td = hub.clock() - t1;
    assert.not.ok(result);
    assert.ok(td >= delay, `td ${td}`);
  });
  sender.kill(); // not in eventlet: leave nothing scheduled behind
}));

test.run();
