// node:events once() scenarios: what it resolves with, 'error' handling,
// EventTarget, its AbortSignal (listeners on the emitter and on the signal,
// before, while and after), the order of its resolution among other
// listeners, and bad arguments.
import { EventEmitter, getEventListeners, once } from 'node:events';
import type { Scenario } from './lib/trace';
import { settled } from './lib/util';

/** Listener counts of an emitter, per event. */
function counts(ee: EventEmitter): Record<string, number> {
  return Object.fromEntries(ee.eventNames().map((n) => [String(n), ee.listenerCount(n)]));
}


export const scenarios: Scenario[] = [
  {
    name: 'once is one function, reachable as events.once and EventEmitter.once',
    async run(t) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const events = require('node:events') as { once: unknown };
      t.log('same', [events.once === once, EventEmitter.once === once, typeof once, once.name, once.length]);
    },
  },
  {
    name: 'once resolves with every argument of the first emission, and removes its listeners',
    async run(t) {
      const ee = new EventEmitter();
      const p = once(ee, 'x');
      t.log('while waiting', counts(ee));
      ee.emit('x', 1, 'two', { three: 3 });
      ee.emit('x', 'second');
      t.log('value', await p);
      t.log('after', counts(ee));
      const s = Symbol('sym');
      const q = once(ee, s);
      ee.emit(s);
      t.log('symbol event', await q);
    },
  },
  {
    name: "an 'error' emission rejects; waiting for 'error' itself resolves with it",
    async run(t) {
      const ee = new EventEmitter();
      const p = once(ee, 'x');
      ee.emit('error', new Error('boom'));
      await settled(t, 'rejected', p);
      t.log('after', counts(ee));
      const q = once(ee, 'error');
      ee.emit('error', new Error('expected'));
      await settled(t, 'waiting for error', q);
    },
  },
  {
    name: 'an EventTarget: resolves with the event; no error semantics',
    async run(t) {
      const target = new EventTarget();
      const p = once(target, 'ping');
      target.dispatchEvent(new Event('error'));
      target.dispatchEvent(new Event('ping'));
      const [ev] = (await p) as [Event];
      t.log('event', { type: ev.type, isEvent: ev instanceof Event });
    },
  },
  {
    name: 'the order of resolution among listeners added before and after',
    async run(t) {
      const ee = new EventEmitter();
      const order: string[] = [];
      ee.on('x', () => order.push('on before'));
      const p = once(ee, 'x').then(() => order.push('once resolved'));
      ee.on('x', () => order.push('on after'));
      ee.emit('x');
      order.push('emit returned');
      await p;
      void Promise.resolve().then(() => order.push('microtask'));
      await Promise.resolve();
      t.log('order', order);
    },
  },
  {
    name: 'an AbortSignal: listeners on it while waiting, removed after; aborting rejects with AbortError and its cause',
    async run(t) {
      const ee = new EventEmitter();
      const ac = new AbortController();
      const p = once(ee, 'x', { signal: ac.signal });
      t.log('signal listeners while waiting', getEventListeners(ac.signal, 'abort').length);
      t.log('emitter while waiting', counts(ee));
      ac.abort('why');
      await settled(t, 'aborted', p);
      t.log('emitter after', counts(ee));
      t.log('signal after', getEventListeners(ac.signal, 'abort').length);
      const ok = new AbortController();
      const q = once(ee, 'y', { signal: ok.signal });
      ee.emit('y', 'fine');
      await settled(t, 'resolved', q);
      t.log('signal after success', getEventListeners(ok.signal, 'abort').length);
    },
  },
  {
    name: 'an aborted signal rejects at once; other abort listeners run in the order they were added',
    async run(t) {
      const ee = new EventEmitter();
      await settled(t, 'already aborted', once(ee, 'x', { signal: AbortSignal.abort('early') }));
      t.log('emitter', counts(ee));
      const ac = new AbortController();
      const order: string[] = [];
      ac.signal.addEventListener('abort', () => order.push('listener before'));
      const p = once(ee, 'x', { signal: ac.signal }).catch(() => order.push('once rejected'));
      ac.signal.addEventListener('abort', () => order.push('listener after'));
      ac.abort();
      order.push('abort returned');
      await p;
      t.log('order', order);
    },
  },
  {
    name: 'bad arguments: not an emitter, a signal that is not one, options that are not an object',
    async run(t) {
      await settled(t, 'not an emitter', once({} as never, 'x'));
      await settled(t, 'signal a string', once(new EventEmitter(), 'x', { signal: 'nope' as never }));
      await settled(t, 'signal null', once(new EventEmitter(), 'x', { signal: null as never }));
      const ee = new EventEmitter();
      const p = once(ee, 'x', 5 as never);
      ee.emit('x', 'number options ignored');
      await settled(t, 'options a number', p);
    },
  },
];
