// eventlet's tests/timeout_with_statement_test.py, ported test by test (see
// README.md). `with Timeout(...)` is `using t = new Timeout(...)`, or
// `t.run(fn)` where the with-block swallows a silent (`false`) timeout.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Timeout, getHub, sleep } from 'evy';
import { limited, ValueError } from './limited';

const DELAY = 0.01;
const hub = getHub();

test('timeout_with_statement_test.Test.test_cancellation', limited(async () => {
  // eventlet's DELAY * 2 leaves 10 ms of margin, which a loaded machine eats:
  // the Timeout here is 50 times the sleep it must outlast.
  const t = new Timeout(DELAY * 50);
  await sleep(0);
  assert.ok(t.pending, String(t));
  {
    using _t = t;
    assert.ok(t.pending, String(t));
    await sleep(DELAY);
  }
  assert.not.ok(t.pending, String(t));
  await sleep(DELAY * 60); // past its deadline: a cancelled Timeout never fires
}));

test('timeout_with_statement_test.Test.test_raising_self', limited(async () => {
  let t: Timeout | undefined;
  try {
    using _t = (t = new Timeout(DELAY));
    await sleep(DELAY * 2);
    assert.unreachable('must raise Timeout');
  } catch (ex) {
    assert.instance(ex, Timeout);
    assert.ok(ex === t);
  }
}));

test('timeout_with_statement_test.Test.test_raising_self_true', limited(async () => {
  let t: Timeout | undefined;
  try {
    using _t = (t = new Timeout(DELAY, true));
    await sleep(DELAY * 2);
    assert.unreachable('must raise Timeout');
  } catch (ex) {
    assert.instance(ex, Timeout);
    assert.ok(ex === t);
  }
}));

test('timeout_with_statement_test.Test.test_raising_custom_exception', limited(async () => {
  try {
    using _t = new Timeout(DELAY, new Error('Operation takes way too long'));
    await sleep(DELAY * 2);
  } catch (ex) {
    assert.is((ex as Error).message, 'Operation takes way too long');
  }
}));

test('timeout_with_statement_test.Test.test_raising_exception_class', limited(async () => {
  try {
    using _t = new Timeout(DELAY, ValueError);
    await sleep(DELAY * 2);
  } catch (ex) {
    if (!(ex instanceof ValueError)) throw ex;
  }
}));

// sys.exc_info()[0] is the class of the exception being handled: here, the
// constructor of the error just caught.
test('timeout_with_statement_test.Test.test_raising_exc_tuple', limited(async () => {
  try {
    (null as unknown as { x: () => void }).x();
  } catch (err) {
    try {
      {
        using _t = new Timeout(DELAY, (err as object).constructor);
        await sleep(DELAY * 2);
        assert.unreachable('should not get there');
      }
    } catch (ex) {
      assert.instance(ex, TypeError);
      return;
    }
  }
  assert.unreachable('should not get there');
}));

test('timeout_with_statement_test.Test.test_cancel_timer_inside_block', limited(async () => {
  using timer = new Timeout(DELAY);
  timer.cancel();
  await sleep(DELAY * 2);
}));

test('timeout_with_statement_test.Test.test_silent_block', limited(async () => {
  const XDELAY = 0.1;
  const start = hub.clock();
  await new Timeout(XDELAY, false).run(() => sleep(XDELAY * 2));
  const delta = hub.clock() - start;
  assert.ok(delta < XDELAY * 2, `delta ${delta}`);
}));

test('timeout_with_statement_test.Test.test_dummy_timer', limited(async () => {
  {
    using _t = new Timeout(null);
    await sleep(DELAY);
  }
  await sleep(DELAY);
}));

test('timeout_with_statement_test.Test.test_nested_timeout', limited(async () => {
  await new Timeout(DELAY, false).run(async () => {
    await new Timeout(DELAY * 2, false).run(() => sleep(DELAY * 3));
    assert.unreachable('should not get there');
  });

  {
    using t1 = new Timeout(DELAY);
    let t2ref: Timeout;
    {
      using t2 = (t2ref = new Timeout(DELAY * 2));
      try {
        await sleep(DELAY * 3);
      } catch (ex) {
        assert.ok(ex === t1, String(ex));
      }
      assert.not.ok(t1.pending, String(t1));
      assert.ok(t2.pending, String(t2));
    }
    assert.not.ok(t2ref.pending, String(t2ref));
  }

  let t1ref: Timeout;
  {
    using t1 = (t1ref = new Timeout(DELAY * 2));
    let t2ref: Timeout;
    {
      using t2 = (t2ref = new Timeout(DELAY));
      try {
        await sleep(DELAY * 3);
      } catch (ex) {
        assert.ok(ex === t2, String(ex));
      }
      assert.ok(t1.pending, String(t1));
      assert.not.ok(t2.pending, String(t2));
    }
    assert.not.ok(t2ref.pending, String(t2ref));
  }
  assert.not.ok(t1ref.pending, String(t1ref));
}));

test.run();
