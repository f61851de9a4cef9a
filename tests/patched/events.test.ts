// events.once greened in place, as monkeyPatch() leaves it (the whole process:
// this suite patches its own).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as events from 'node:events';
import { EventEmitter, getEventListeners } from 'node:events';
import { Event, Timeout, monkeyPatch, sleep, spawn } from 'evy';
import { assertClean, rejection } from '../helpers';

const stockOnce = events.once;
monkeyPatch({ net: true });
const { once } = events; // looked up after the patch

test.after.each(assertClean);

/** Listeners an EventEmitter still holds, per event name. */
function listeners(ee: EventEmitter): Record<string, number> {
  return Object.fromEntries(ee.eventNames().map((n) => [String(n), ee.listenerCount(n)]));
}

test('events.once is green, with the stock name and length, everywhere it is reachable', async () => {
  assert.is.not(once, stockOnce);
  assert.is(once.name, 'once');
  assert.is(once.length, stockOnce.length);
  assert.is(EventEmitter.once, once, 'EventEmitter.once is the same property');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  assert.is((require('events') as typeof events).once, once);
  assert.is((await import('node:events')).once, once, 'the named ESM export follows');
});

test('once resolves with the arguments of the event, as stock; an error event rejects', async () => {
  const ee = new EventEmitter();
  const p = once(ee, 'x');
  ee.emit('x', 1, 'two');
  assert.equal(await p, [1, 'two']);
  const boom = new Error('boom');
  const q = once(ee, 'x');
  ee.emit('error', boom);
  assert.is(await rejection(q), boom);
  assert.equal(listeners(ee), {}, 'nothing left on the emitter');
  const target = new EventTarget();
  const r = once(target, 'ping');
  target.dispatchEvent(new globalThis.Event('ping'));
  assert.is(((await r) as [globalThis.Event])[0].type, 'ping');
});

test('a Timeout interrupts once and removes its listeners', async () => {
  const ee = new EventEmitter();
  const t = new Timeout(0.05);
  assert.is(await rejection(once(ee, 'never')), t);
  assert.equal(listeners(ee), {}, 'no listener left for the event or for errors');
});

test('kill while in once: the thread ends, the listeners are gone, a later emit reaches nobody', async () => {
  const ee = new EventEmitter();
  const parked = new Event();
  const gt = spawn(async () => {
    const p = once(ee, 'x');
    parked.send();
    return p;
  });
  await parked.wait();
  assert.equal(listeners(ee), { x: 1, error: 1 });
  gt.kill();
  assert.is(await gt.wait(), undefined);
  assert.equal(listeners(ee), {});
  assert.not.ok(ee.emit('x', 'late'));
});

test("a Timeout removes once's listener from an EventTarget, and from an emitter that watches 'newListener'", async () => {
  const target = new EventTarget();
  const t = new Timeout(0.02);
  assert.is(await rejection(once(target, 'ping')), t);
  assert.is(getEventListeners(target, 'ping').length, 0);
  const ee = new EventEmitter();
  const added: string[] = [];
  ee.on('newListener', (n: string) => added.push(n));
  const t2 = new Timeout(0.02);
  assert.is(await rejection(once(ee, 'x')), t2);
  assert.equal(added, ['x', 'error']);
  assert.equal(listeners(ee), { newListener: 1 });
});

test('kill in once for the error event itself: its one listener goes', async () => {
  const ee = new EventEmitter();
  const parked = new Event();
  const gt = spawn(async () => {
    const p = once(ee, 'error');
    parked.send();
    return p;
  });
  await parked.wait();
  assert.equal(listeners(ee), { error: 1 });
  gt.kill();
  assert.is(await gt.wait(), undefined);
  assert.equal(listeners(ee), {});
});

test("the caller's signal still aborts with Node's AbortError, and keeps no listener", async () => {
  const ee = new EventEmitter();
  const ac = new AbortController();
  const p = once(ee, 'x', { signal: ac.signal });
  ac.abort('why');
  const e = (await rejection(p)) as Error & { code: string; cause: unknown };
  assert.equal([e.name, e.code, e.cause], ['AbortError', 'ABORT_ERR', 'why']);
  const done = new AbortController();
  const q = once(ee, 'y', { signal: done.signal });
  ee.emit('y');
  await q;
  assert.is(getEventListeners(done.signal, 'abort').length, 0);
  const early = (await rejection(once(ee, 'x', { signal: AbortSignal.abort('early') }))) as Error & { cause: unknown };
  assert.equal([early.name, early.cause], ['AbortError', 'early']);
  assert.equal(listeners(ee), {});
});

test('a signal that is not an AbortSignal: the stock error; a look-alike is taken as stock takes it', async () => {
  const ee = new EventEmitter();
  for (const signal of [null, 'nope', 5]) {
    const g = (await rejection(once(ee, 'x', { signal } as never))) as NodeJS.ErrnoException;
    const s = (await rejection(stockOnce(ee, 'x', { signal } as never))) as NodeJS.ErrnoException;
    assert.equal([g.code, g.message], [s.code, s.message]);
  }
  const lookalike = new EventTarget() as EventTarget & { aborted: boolean };
  lookalike.aborted = false;
  const p = once(ee, 'x', { signal: lookalike as unknown as AbortSignal });
  ee.emit('x', 'ok');
  assert.equal(await p, ['ok']);
  await sleep(0);
});

test.run();
