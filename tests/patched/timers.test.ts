import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as stockTimers from 'node:timers';
import * as stockPromises from 'node:timers/promises';
import { Event, GreenletExit, Timeout, getHub, sleep, spawn } from 'evy';
import * as gtimers from 'evy/patched/timers';
import { assertClean, rejection, tick } from '../helpers';

const { promises } = gtimers;

/** Node timers alive now (the hub's own timer included: tests start with none). */
function nodeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length;
}

test.after.each(async () => {
  await assertClean();
  for (let i = 0; i < 5 && nodeTimers() > 0; i++) await tick();
  assert.is(nodeTimers(), 0, 'no Node timer is left behind');
});

test('every node:timers export but promises is there, unchanged (setTimeout and setImmediate call node\'s)', () => {
  for (const key of Object.keys(stockTimers)) {
    if (key === 'default' || key === 'promises' || key === 'setTimeout' || key === 'setImmediate') continue;
    assert.is((gtimers as Record<string, unknown>)[key], (stockTimers as Record<string, unknown>)[key], key);
  }
  assert.equal(Object.keys(promises).sort(), Object.keys(stockPromises).filter((k) => k !== 'default').sort());
});

test('sleep is evy sleep', async () => {
  const order: string[] = [];
  const gt = spawn(async () => {
    order.push('other');
  });
  await gtimers.sleep(0);
  order.push('after sleep');
  await gt.wait();
  assert.equal(order, ['other', 'after sleep']);
  assert.throws(() => gtimers.sleep(NaN as number), /sleep: seconds must be a number/);
});

test('promises.setTimeout and setImmediate resolve with their value', async () => {
  assert.is(await promises.setTimeout(1, 'v'), 'v');
  assert.is(await promises.setImmediate('i'), 'i');
  assert.is(await promises.setTimeout(1), undefined);
  await promises.scheduler.wait(1);
  await promises.scheduler.yield();
});

test('promises.setTimeout: other green threads run meanwhile', async () => {
  const ev = new Event<string>();
  spawn(() => ev.send('ran'));
  const [v, other] = await Promise.all([promises.setTimeout(20, 'late'), ev.wait()]);
  assert.is(v, 'late');
  assert.is(other, 'ran');
});

test('a Timeout interrupts promises.setTimeout and cancels the Node timer', async () => {
  const t = new Timeout(0.02);
  assert.is(await rejection(promises.setTimeout(60_000, 'never')), t);
  await tick();
  assert.is(nodeTimers(), 0, 'the 60 s timer was cleared');
});

test('kill while awaiting promises.setTimeout: the thread ends, the timer is cancelled', async () => {
  const parked = new Event();
  const gt = spawn(async () => {
    const p = promises.setTimeout(60_000);
    parked.send();
    await p;
    return 'not killed';
  });
  await parked.wait();
  assert.ok(nodeTimers() >= 1, 'the Node timer is pending');
  gt.kill();
  assert.is(await gt.wait(), undefined);
  await tick();
  assert.is(nodeTimers(), 0);
});

test('kill with an error: the thread gets that error', async () => {
  const boom = new Error('boom');
  const gt = spawn(() => promises.setImmediate('x').then(() => promises.setTimeout(60_000)));
  await sleep(0.01);
  gt.kill(boom);
  assert.is(await rejection(gt.wait()), boom);
});

test("the caller's own AbortSignal still aborts, with Node's AbortError", async () => {
  const ac = new AbortController();
  const p = promises.setTimeout(60_000, 'x', { signal: ac.signal });
  ac.abort('why');
  const e = (await rejection(p)) as Error & { code: string; cause: unknown };
  assert.is(e.name, 'AbortError');
  assert.is(e.code, 'ABORT_ERR');
  assert.is(e.cause, 'why');
  const e2 = (await rejection(promises.setImmediate('x', { signal: AbortSignal.abort('early') }))) as Error & { cause: unknown };
  assert.is(e2.name, 'AbortError');
  assert.is(e2.cause, 'early');
  // A signal that is not an AbortSignal is refused by Node, as before.
  const e3 = (await rejection(promises.setTimeout(1, 'x', { signal: {} as AbortSignal }))) as Error & { code: string };
  assert.is(e3.code, 'ERR_INVALID_ARG_TYPE');
});

test('promises.setInterval yields; a Timeout ends the loop and clears the interval', async () => {
  const seen: number[] = [];
  const t = new Timeout(0.1);
  const e = await rejection(
    (async () => {
      let n = 0;
      for await (const v of promises.setInterval(5, 'tick')) {
        assert.is(v, 'tick');
        seen.push(n++);
      }
    })(),
  );
  assert.is(e, t);
  assert.ok(seen.length >= 1, 'it ticked before the Timeout');
  await tick();
  assert.is(nodeTimers(), 0, 'the interval was cleared');
});

test('promises.setInterval: break (return) clears the interval', async () => {
  let n = 0;
  for await (const _ of promises.setInterval(1)) if (++n === 3) break;
  assert.is(n, 3);
  await tick();
  assert.is(nodeTimers(), 0);
});

test('a GreenletExit kill of a thread in setInterval is a clean exit', async () => {
  const ticked = new Event();
  const gt = spawn(async () => {
    for await (const _ of promises.setInterval(1)) if (!ticked.ready()) ticked.send();
  });
  await ticked.wait();
  gt.kill(new GreenletExit());
  assert.is(await gt.wait(), undefined);
  assert.is(getHub().counts().threads, 0);
});

test('__evyPatch adds sleep', () => {
  const fake: Record<string, unknown> = { setTimeout: stockTimers.setTimeout };
  gtimers.__evyPatch(fake);
  assert.is(fake.sleep, gtimers.sleep);
  assert.is(fake.setTimeout, stockTimers.setTimeout);
});

test.run();
