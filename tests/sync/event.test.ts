import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Event, GreenletExit, Timeout, sleep, spawn } from 'evy';
import { assertClean } from '../helpers';

test.after.each(assertClean);

test('send wakes every waiter with the value', async () => {
  const ev = new Event<string>();
  const a = spawn(() => ev.wait());
  const b = spawn(() => ev.wait());
  await sleep(0);
  assert.is(ev.waiting, 2);
  ev.send('go');
  assert.equal([await a.wait(), await b.wait()], ['go', 'go']);
  assert.is(ev.waiting, 0);
});

test('wait on a sent event returns at once; poll/ready/hasResult', async () => {
  const ev = new Event<number>();
  assert.not.ok(ev.ready());
  assert.is(ev.poll('nope'), 'nope');
  ev.send(5);
  assert.ok(ev.ready());
  assert.ok(ev.hasResult());
  assert.not.ok(ev.hasException());
  assert.is(ev.poll(), 5);
  assert.is(await ev.wait(), 5);
});

test('sendException rethrows in every waiter and in poll', async () => {
  const ev = new Event();
  const boom = new Error('boom');
  const a = spawn(() => ev.wait());
  const b = spawn(() => ev.wait());
  await sleep(0);
  ev.sendException(boom);
  for (const gt of [a, b]) {
    try {
      await gt.wait();
      assert.unreachable('should throw');
    } catch (e) {
      assert.is(e, boom);
    }
  }
  assert.ok(ev.hasException());
  assert.throws(() => ev.poll(), /boom/);
  await ev.wait().then(() => assert.unreachable(), (e) => assert.is(e, boom));
});

test('sending twice is an error until reset(); reset of an unsent event is an error', () => {
  const ev = new Event<number>();
  assert.throws(() => ev.reset(), /not sent/);
  ev.send(1);
  assert.throws(() => ev.send(2), /already sent/);
  assert.throws(() => ev.sendException(new Error('x')), /already sent/);
  ev.reset();
  assert.not.ok(ev.ready());
  ev.send(3);
  assert.is(ev.poll(), 3);
});

test('a waiter woken by sendException still throws after a reset before it resumes', async () => {
  const ev = new Event();
  const gt = spawn(() => ev.wait());
  await sleep(0);
  ev.sendException(new Error('first'));
  ev.reset();
  await gt.wait().then(() => assert.unreachable(), (e: Error) => assert.is(e.message, 'first'));
});

test('wait(timeout) resolves undefined when nothing is sent in time', async () => {
  const ev = new Event<number>();
  const t0 = performance.now();
  assert.is(await ev.wait(0.02), undefined);
  assert.ok(performance.now() - t0 >= 15);
  assert.is(ev.waiting, 0);
  const late = spawn(() => ev.wait(5));
  await sleep(0);
  ev.send(9);
  assert.is(await late.wait(), 9);
});

test('a Timeout interrupts wait and the waiter leaves the list', async () => {
  const ev = new Event();
  const t = new Timeout(0.01);
  try {
    await ev.wait();
    assert.unreachable();
  } catch (e) {
    assert.is(e, t);
  }
  assert.is(ev.waiting, 0);
});

test('kill while waiting: the thread ends, the waiter is gone, later sends reach no one', async () => {
  const ev = new Event<number>();
  let after = false;
  const gt = spawn(async () => {
    await ev.wait();
    after = true;
  });
  await sleep(0);
  gt.kill();
  assert.is(await gt.wait(), undefined);
  assert.is(ev.waiting, 0);
  ev.send(1);
  await sleep(0);
  assert.not.ok(after);
  assert.ok(gt.dead);
});

test('kill with a custom error while waiting rethrows it from wait()', async () => {
  const ev = new Event();
  const gt = spawn(() => ev.wait());
  await sleep(0);
  const err = new Error('stop');
  gt.kill(err);
  await gt.wait().then(() => assert.unreachable(), (e) => assert.is(e, err));
  assert.not.instance(err, GreenletExit);
});

test('bad timeouts are refused with clear errors', () => {
  const ev = new Event();
  assert.throws(() => ev.wait('1' as unknown as number), /timeout must be a number/);
  assert.throws(() => ev.wait(NaN), /NaN/);
  assert.throws(() => ev.wait(-1), /must not be negative/);
});

test.run();
