import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Event, LightQueue, Timeout, getHub, sleep, spawn, withTimeout } from 'evy';
import { assertClean, rejection } from '../helpers';

test.after.each(assertClean);

async function expectThrow(p: Promise<unknown>, check: (e: unknown) => void): Promise<void> {
  check(await rejection(p));
}

test('a Timeout interrupts sleep, Event.wait and Queue.get', async () => {
  for (const block of [() => sleep(10), () => new Event().wait(), () => new LightQueue().get()]) {
    const t = new Timeout(0.01);
    const t0 = performance.now();
    await expectThrow(block(), (e) => assert.is(e, t));
    assert.ok(performance.now() - t0 < 5000);
    assert.not.ok(t.pending);
  }
});

test('seconds null never fires; cancel() before firing; pending', async () => {
  const never = new Timeout(null);
  assert.not.ok(never.pending);
  assert.is(never.seconds, null);
  const t = new Timeout(0.01);
  assert.ok(t.pending);
  t.cancel();
  assert.not.ok(t.pending);
  await sleep(0.03); // would have fired by now
  never.cancel();
});

test('exception: an Error instance, or an Error class to instantiate', async () => {
  const mine = new Error('custom');
  const t1 = new Timeout(0.005, mine);
  await expectThrow(sleep(1), (e) => assert.is(e, mine));
  t1.cancel();
  class Slow extends Error {}
  const t2 = new Timeout(0.005, Slow);
  await expectThrow(sleep(1), (e) => assert.instance(e, Slow));
  t2.cancel();
});

test('exception true or null: the Timeout raises itself (as Evy does for True and None)', async () => {
  for (const exc of [true, null]) {
    const t = new Timeout(0.005, exc);
    const err = await sleep(1).then(() => assert.unreachable(), (e) => e);
    assert.ok(err === t, `exception ${String(exc)}: got ${String(err)}`);
  }
});

test('exception false: run() turns the timeout into undefined; other errors pass', async () => {
  const t = new Timeout(0.005, false);
  assert.is(await t.run(() => sleep(1)), undefined);
  assert.not.ok(t.pending);
  const u = new Timeout(1, false);
  assert.is(await u.run(async () => 'value'), 'value');
  assert.not.ok(u.pending, 'run() cancels it');
  const v = new Timeout(1, false);
  await expectThrow(v.run(async () => {
    throw new Error('other');
  }), (e) => assert.is((e as Error).message, 'other'));
  // Without false, run() lets the Timeout through.
  const w = new Timeout(0.005);
  await expectThrow(w.run(() => sleep(1)), (e) => assert.is(e, w));
});

test('nested: the inner one fires first and is caught inside; the outer stays pending', async () => {
  const outer = new Timeout(5);
  const inner = new Timeout(0.005);
  await expectThrow(sleep(1), (e) => assert.is(e, inner));
  assert.ok(outer.pending);
  outer.cancel();
});

test('nested: the outer one fires first and passes through the inner block', async () => {
  const outer = new Timeout(0.005);
  let innerSaw: unknown;
  try {
    const inner = new Timeout(5);
    try {
      await sleep(1);
    } catch (e) {
      innerSaw = e;
      throw e;
    } finally {
      inner.cancel();
    }
  } catch (e) {
    assert.is(e, outer);
  }
  assert.is(innerSaw, outer);
});

test('start() of a pending Timeout is an error; after cancel it restarts', async () => {
  const t = new Timeout(1);
  assert.throws(() => t.start(), /already started/);
  t.cancel();
  t.start();
  assert.ok(t.pending);
  t.cancel();
});

test('using cancels the timeout when the block ends', async () => {
  let kept: Timeout;
  {
    using t = new Timeout(0.01);
    kept = t;
    assert.ok(t.pending);
  }
  assert.not.ok(kept.pending);
  await sleep(0.02); // it must not fire into this thread any more
});

test('withTimeout: the value, the Timeout, or timeoutValue', async () => {
  assert.is(await withTimeout(1, async () => 'done'), 'done');
  await expectThrow(withTimeout(0.005, () => sleep(1)), (e) => assert.instance(e, Timeout));
  assert.is(await withTimeout(0.005, () => sleep(1), { timeoutValue: 'late' }), 'late');
  assert.is(await withTimeout(null, async () => 3), 3);
  await expectThrow(withTimeout(1, async () => {
    throw new Error('inner');
  }), (e) => assert.is((e as Error).message, 'inner'));
});

test('a Timeout fires into the thread that created it, not another', async () => {
  const other = new Event<string>();
  let otherErr: unknown = null;
  const bystander = spawn(async () => {
    try {
      await other.wait();
    } catch (e) {
      otherErr = e;
    }
  });
  const victim = spawn(async () => {
    const t = new Timeout(0.005);
    try {
      await sleep(1);
      return 'slept';
    } catch (e) {
      return e === t ? 'timed out' : 'wrong error';
    }
  });
  assert.is(await victim.wait(), 'timed out');
  other.send('fine');
  await bystander.wait();
  assert.is(otherErr, null);
});

test('a Timeout left pending dies with its thread: no timer remains', async () => {
  const gt = spawn(() => {
    new Timeout(10);
    return 'returned';
  });
  assert.is(await gt.wait(), 'returned');
  assert.is(getHub().counts().timers, 0);
});

test('bad input: seconds must be a number or null', () => {
  assert.throws(() => new Timeout('5' as unknown as number), /seconds must be a number or null/);
  assert.throws(() => new Timeout(NaN), /NaN/);
});

test.run();
