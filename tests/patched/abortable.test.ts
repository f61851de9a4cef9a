// awaitAbortable: a stock promise as an evy operation that aborts its
// controller when interrupted and hands a late value to `late`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getEventListeners } from 'node:events';
import { Event, Timeout, sleep, spawn } from 'evy';
import { awaitAbortable, combineSignal, followSignal, ownSignal, type Link } from '../../dist/patched/abortable';
import { assertClean, rejection } from '../helpers';
import { deferred } from '../stdlib/lib/util';

test.after.each(assertClean);

/** A link with no caller's signal. */
const own = (): Link => followSignal(undefined);

test('the value or the error of the promise, as an evy operation', async () => {
  assert.is(await awaitAbortable(Promise.resolve(7), own()), 7);
  const boom = new Error('boom');
  assert.is(await rejection(awaitAbortable(Promise.reject(boom), null)), boom);
  const d = deferred<string>();
  const ran = new Event<string>();
  spawn(() => ran.send('ran'));
  setImmediate(() => d.resolve('later'));
  assert.equal(await Promise.all([awaitAbortable(d.promise, null), ran.wait()]), ['later', 'ran']);
});

test('a Timeout aborts the controller with itself, at once; the late value goes to late', async () => {
  const d = deferred<string>();
  const link = own();
  const lates: string[] = [];
  const t = new Timeout(0.02);
  assert.is(await rejection(awaitAbortable(d.promise, link, (v) => lates.push(v))), t);
  assert.ok(link.signal.aborted);
  assert.is(link.signal.reason, t, 'the reason is what was thrown');
  d.resolve('late');
  await sleep(0);
  assert.equal(lates, ['late']);
});

test('a kill: the thread ends, the controller is aborted, a late rejection is swallowed', async () => {
  const d = deferred<string>();
  const user = new AbortController();
  const link = followSignal(user.signal);
  const parked = new Event();
  const gt = spawn(async () => {
    const p = awaitAbortable(d.promise, link);
    parked.send();
    return p;
  });
  await parked.wait();
  gt.kill();
  assert.is(await gt.wait(), undefined);
  assert.ok(link.signal.aborted);
  assert.is(getEventListeners(user.signal, 'abort').length, 0, 'the link let go of the caller\'s signal');
  assert.not.ok(user.signal.aborted);
  d.reject(new Error('late failure')); // would end the process if it went unhandled
  await sleep(0);
});

test('a throw deferred to this point: nothing is awaited, the controller is aborted, the value goes to late', async () => {
  const lates: number[] = [];
  const link = own();
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const d = deferred<number>();
  const gt = spawn(async () => {
    await gate; // a foreign await: the kill is deferred
    await awaitAbortable(d.promise, link, (v) => lates.push(v));
    return 'not killed';
  });
  await sleep(0);
  gt.kill();
  open();
  assert.is(await gt.wait(), undefined);
  assert.ok(link.signal.aborted);
  d.resolve(3);
  await sleep(0);
  assert.equal(lates, [3]);
});

test('a value that came before the throw is kept (the throw waits for the next suspension point)', async () => {
  const lates: number[] = [];
  const d = deferred<number>();
  const got: unknown[] = [];
  const gt = spawn(async () => {
    got.push(await awaitAbortable(d.promise, own(), (v) => lates.push(v)));
    await sleep(1);
  });
  await sleep(0);
  d.resolve(5);
  await Promise.resolve(); // woken with 5, not yet resumed
  gt.kill();
  await gt.wait();
  assert.equal(got, [5]);
  assert.equal(lates, []);
});

test("followSignal: the caller's signal aborts ours with its reason, through one listener that release() removes", () => {
  const user = new AbortController();
  const link = followSignal(user.signal);
  assert.is(getEventListeners(user.signal, 'abort').length, 1);
  user.abort('user');
  assert.is(link.signal.reason, 'user');
  const done = new AbortController();
  const l2 = followSignal(done.signal);
  l2.release();
  l2.release();
  assert.is(getEventListeners(done.signal, 'abort').length, 0);
  done.abort();
  assert.not.ok(l2.signal.aborted, 'released: no longer followed');
  assert.is(followSignal(AbortSignal.abort('early')).signal.reason, 'early', 'an aborted one aborts ours at once');
  assert.not.ok(followSignal(null).signal.aborted);
});

test("combineSignal: the same through AbortSignal.any, with no listener on the caller's signal", () => {
  const user = new AbortController();
  const link = combineSignal(user.signal);
  assert.is(getEventListeners(user.signal, 'abort').length, 0);
  user.abort('user');
  assert.is(link.signal.reason, 'user');
  const other = combineSignal(new AbortController().signal);
  other.controller.abort('mine');
  assert.is(other.signal.reason, 'mine');
  const none = combineSignal(undefined);
  assert.is(none.signal, none.controller.signal);
  assert.ok(ownSignal(undefined) && ownSignal(new AbortController().signal));
  assert.not.ok(ownSignal(null) || ownSignal({ aborted: false }));
});

test.run();
