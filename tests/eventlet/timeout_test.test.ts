// eventlet's tests/timeout_test.py, ported test by test (see README.md).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Timeout, sleep, withTimeout } from 'evy';
import { rejection } from '../helpers';
import { limited, RuntimeError } from './limited';

const DELAY = 0.01;

test('timeout_test.TestDirectRaise.test_direct_raise_class', limited(() => {
  // `raise eventlet.Timeout` instantiates the class: in TS that is `new Timeout()`.
  try {
    throw new Timeout();
  } catch (t) {
    assert.instance(t, Timeout);
    assert.not.ok((t as Timeout).pending, String(t));
  }
}));

test('timeout_test.TestDirectRaise.test_direct_raise_instance', limited(() => {
  const tm = new Timeout();
  try {
    throw tm;
  } catch (t) {
    assert.ok(t === tm);
    assert.not.ok((t as Timeout).pending, String(t));
  }
}));

test('timeout_test.TestDirectRaise.test_repr', limited(async () => {
  // Only that these do not throw.
  let tm = new Timeout(1);
  await sleep(0);
  String(tm);
  tm.toString();
  tm.cancel();
  tm = new Timeout(null, RuntimeError);
  String(tm);
  tm.toString();
  tm = new Timeout(null, false);
  String(tm);
  tm.toString();
}));

test('timeout_test.TestWithTimeout.test_with_timeout', limited(async () => {
  assert.instance(await rejection(withTimeout(DELAY, () => sleep(DELAY * 10))), Timeout);
  const X = {};
  let r: unknown = await withTimeout(DELAY, () => sleep(DELAY * 10), { timeoutValue: X });
  assert.ok(r === X);
  r = await withTimeout(DELAY * 10, () => sleep(DELAY), { timeoutValue: X });
  assert.is(r, undefined);
}));

test('timeout_test.TestWithTimeout.test_with_outer_timer', limited(async () => {
  // The inner withTimeout must not take the outer Timeout for its own.
  const longerTimeout = () => withTimeout(DELAY * 10, () => sleep(DELAY * 20), { timeoutValue: 'b' });
  assert.instance(await rejection(withTimeout(DELAY, longerTimeout)), Timeout);
}));

test.run();
