// node:timers and node:timers/promises scenarios: ordering guarantees Node
// documents (nextTick, microtasks, immediates, timers), clearing, ref/unref,
// AbortSignal. Nothing asserts on elapsed time beyond "not early".
import * as fs from 'node:fs';
import * as timers from 'node:timers';
import * as timersPromises from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Scenario } from './lib/trace';
import { deferred, settled, thrown } from './lib/util';

/** Resolves after every callback logged `n` entries into `order`. */
function collector(n: number): { order: string[]; add(e: string): void; done: Promise<void> } {
  const d = deferred();
  const order: string[] = [];
  return {
    order,
    add(e: string) {
      order.push(e);
      if (order.length === n) d.resolve();
    },
    done: d.promise,
  };
}

export const scenarios: Scenario[] = [
  {
    name: 'setImmediate runs before setTimeout 0 inside an I/O callback',
    async run(t) {
      const c = collector(2);
      fs.readFile(__filename, () => {
        timers.setTimeout(() => c.add('timeout'), 0);
        timers.setImmediate(() => c.add('immediate'));
      });
      await c.done;
      t.log('order', c.order);
    },
  },
  {
    name: 'from async code: promise microtasks, nextTick, then immediates (and ticks before microtasks inside one)',
    async run(t) {
      const c = collector(5);
      timers.setImmediate(() => {
        c.add('immediate');
        process.nextTick(() => c.add('tick in immediate'));
        void Promise.resolve().then(() => c.add('micro in immediate'));
      });
      void Promise.resolve().then(() => c.add('micro'));
      process.nextTick(() => c.add('tick'));
      await c.done;
      t.log('order', c.order);
    },
  },
  {
    name: 'timers fire in order of their delay',
    async run(t) {
      const c = collector(4);
      timers.setTimeout(() => c.add('60'), 60);
      timers.setTimeout(() => c.add('0'), 0);
      timers.setTimeout(() => c.add('30'), 30);
      timers.setTimeout(() => c.add('1'), 1);
      await c.done;
      t.log('order', c.order);
    },
  },
  {
    name: 'timers with the same delay fire in the order they were set',
    async run(t) {
      const c = collector(5);
      for (const n of ['a', 'b', 'c', 'd', 'e']) timers.setTimeout(() => c.add(n), 5);
      await c.done;
      t.log('order', c.order);
    },
  },
  {
    name: 'microtasks run between two timers that expire together',
    async run(t) {
      const c = collector(4);
      timers.setTimeout(() => {
        c.add('t1');
        process.nextTick(() => c.add('t1 tick'));
        void Promise.resolve().then(() => c.add('t1 micro'));
      }, 2);
      timers.setTimeout(() => c.add('t2'), 2);
      await c.done;
      t.log('order', c.order);
    },
  },
  {
    name: 'immediates are FIFO; one set inside an immediate waits for the next turn',
    async run(t) {
      const c = collector(4);
      timers.setImmediate(() => {
        c.add('A');
        timers.setImmediate(() => c.add('C (set in A)'));
      });
      timers.setImmediate(() => c.add('B'));
      timers.setImmediate(() => c.add('B2'));
      await c.done;
      t.log('order', c.order);
    },
  },
  {
    name: 'clearTimeout and clearImmediate cancel',
    async run(t) {
      const fired: string[] = [];
      const a = timers.setTimeout(() => fired.push('timeout'), 1);
      const b = timers.setImmediate(() => fired.push('immediate'));
      timers.clearTimeout(a);
      timers.clearImmediate(b);
      const done = deferred();
      timers.setTimeout(() => done.resolve(), 20);
      await done.promise;
      t.log('fired', fired);
    },
  },
  {
    name: 'clear functions accept garbage silently',
    async run(t) {
      for (const v of [undefined, null, 0, 'x', {}, 12345678]) {
        t.log(`clearTimeout(${JSON.stringify(v)})`, thrown(() => timers.clearTimeout(v as unknown as NodeJS.Timeout)));
        t.log(`clearInterval(${JSON.stringify(v)})`, thrown(() => timers.clearInterval(v as unknown as NodeJS.Timeout)));
        t.log(`clearImmediate(${JSON.stringify(v)})`, thrown(() => timers.clearImmediate(v as unknown as NodeJS.Immediate)));
      }
    },
  },
  {
    name: 'setInterval runs until cleared (cleared inside its callback)',
    async run(t) {
      const done = deferred();
      let n = 0;
      const iv = timers.setInterval(
        (tag: string) => {
          n++;
          t.log('tick', [n, tag]);
          if (n === 3) {
            timers.clearInterval(iv);
            timers.setTimeout(() => done.resolve(), 30);
          }
        },
        5,
        'arg',
      );
      await done.promise;
      t.log('count', n);
    },
  },
  {
    name: 'clearTimeout clears an interval and clearInterval a timeout',
    async run(t) {
      let a = 0;
      let b = 0;
      const iv = timers.setInterval(() => {
        a++;
        if (a === 2) timers.clearTimeout(iv);
      }, 2);
      const to = timers.setTimeout(() => b++, 2);
      timers.clearInterval(to);
      const done = deferred();
      timers.setTimeout(() => done.resolve(), 40);
      await done.promise;
      t.log('counts', [a, b]);
    },
  },
  {
    name: 'arguments are passed to the callbacks',
    async run(t) {
      const c = collector(2);
      timers.setTimeout((...args: unknown[]) => c.add(JSON.stringify(['timeout', ...args])), 1, 1, 'two', { three: 3 });
      timers.setImmediate((...args: unknown[]) => c.add(JSON.stringify(['immediate', ...args])), 'x', null);
      await c.done;
      t.log('calls', [...c.order].sort());
    },
  },
  {
    name: 'Timeout and Immediate objects: hasRef, ref, unref, refresh, toPrimitive',
    async run(t) {
      const done = deferred();
      const to = timers.setTimeout(() => done.resolve(), 5);
      t.log('constructor', to.constructor.name);
      t.log('hasRef', to.hasRef());
      t.log('unref returns itself', to.unref() === to);
      t.log('hasRef after unref', to.hasRef());
      t.log('ref returns itself', to.ref() === to);
      t.log('refresh returns itself', to.refresh() === to);
      t.log('toPrimitive is a number', typeof to[Symbol.toPrimitive]());
      t.log('in a template', /^\d+$/.test(`${+to}`));
      await done.promise;
      const im = timers.setImmediate(() => {});
      t.log('immediate', { constructor: im.constructor.name, hasRef: im.hasRef(), unref: im.unref() === im, after: im.hasRef(), ref: im.ref() === im });
      timers.clearImmediate(im);
    },
  },
  {
    name: 'clearTimeout by primitive id',
    async run(t) {
      let fired = false;
      const to = timers.setTimeout(() => (fired = true), 1);
      const id = to[Symbol.toPrimitive]();
      timers.clearTimeout(id as unknown as NodeJS.Timeout);
      const done = deferred();
      timers.setTimeout(() => done.resolve(), 20);
      await done.promise;
      t.log('fired', fired);
    },
  },
  {
    name: 'an unrefed timer still fires while something else holds the loop',
    async run(t) {
      const done = deferred<string>();
      timers.setTimeout(() => done.resolve('unrefed fired'), 5).unref();
      const keep = timers.setTimeout(() => done.resolve('keeper'), 2000);
      t.log('result', await done.promise);
      timers.clearTimeout(keep);
    },
  },
  {
    name: 'refresh() restarts a timer',
    async run(t) {
      // a (30) refreshed at b (20) is due at 50 or later: after c (40).
      const order: string[] = [];
      const done = deferred();
      const a = timers.setTimeout(() => {
        order.push('a');
        done.resolve();
      }, 30);
      timers.setTimeout(() => {
        order.push('b');
        a.refresh();
      }, 20);
      timers.setTimeout(() => order.push('c'), 40);
      await done.promise;
      t.log('order', order);
    },
  },
  {
    name: 'ERR_INVALID_ARG_TYPE for a non-function callback',
    async run(t) {
      t.error('setTimeout', thrown(() => timers.setTimeout('code' as unknown as () => void, 1)));
      t.error('setInterval', thrown(() => timers.setInterval(null as unknown as () => void, 1)));
      t.error('setImmediate', thrown(() => timers.setImmediate(42 as unknown as () => void)));
    },
  },
  {
    name: 'odd delays: negative, NaN, string, too big (TimeoutOverflowWarning)',
    async run(t) {
      const warnings: unknown[] = [];
      const onWarning = (w: Error): void => {
        warnings.push({ name: w.name, message: w.message });
      };
      process.on('warning', onWarning);
      const c = collector(4);
      timers.setTimeout(() => c.add('negative'), -10);
      timers.setTimeout(() => c.add('NaN'), NaN);
      timers.setTimeout(() => c.add('string 3'), '3' as unknown as number);
      timers.setTimeout(() => c.add('huge'), 2 ** 31);
      await c.done;
      await new Promise((r) => timers.setImmediate(r));
      process.removeListener('warning', onWarning);
      t.log('fired', [...c.order].sort());
      t.log('warnings', warnings);
    },
  },
  {
    name: 'timers.setTimeout is the global setTimeout (and friends)',
    async run(t) {
      t.log('same', {
        setTimeout: timers.setTimeout === globalThis.setTimeout,
        clearTimeout: timers.clearTimeout === globalThis.clearTimeout,
        setInterval: timers.setInterval === globalThis.setInterval,
        setImmediate: timers.setImmediate === globalThis.setImmediate,
      });
      t.log('promises', { timersPromises: timers.promises === timersPromises });
    },
  },
  {
    name: 'timers/promises setTimeout and setImmediate resolve with the value',
    async run(t) {
      t.log('setTimeout', await timersPromises.setTimeout(5, 'v'));
      t.log('setTimeout no value', await timersPromises.setTimeout(1));
      t.log('setImmediate', await timersPromises.setImmediate({ x: 1 }));
      t.log('ref:false', await timersPromises.setTimeout(1, 'unrefed', { ref: false }));
    },
  },
  {
    name: 'timers/promises: an already aborted signal rejects with AbortError',
    async run(t) {
      const ac = new AbortController();
      ac.abort();
      await settled(t, 'setTimeout', timersPromises.setTimeout(10, 'v', { signal: ac.signal }));
      await settled(t, 'setImmediate', timersPromises.setImmediate('v', { signal: ac.signal }));
      const withReason = new AbortController();
      withReason.abort(new Error('my reason'));
      await settled(t, 'with reason', timersPromises.setTimeout(10, 'v', { signal: withReason.signal }));
    },
  },
  {
    name: 'timers/promises: aborting while waiting',
    async run(t) {
      const ac = new AbortController();
      const p = timersPromises.setTimeout(5000, 'never', { signal: ac.signal });
      timers.setTimeout(() => ac.abort(), 5);
      await settled(t, 'setTimeout', p);
      const ac2 = new AbortController();
      const q = timersPromises.setTimeout(5000, 'never', { signal: ac2.signal });
      ac2.abort('string reason');
      await settled(t, 'reason', q);
    },
  },
  {
    name: 'timers/promises: invalid arguments',
    async run(t) {
      await settled(t, 'signal not a signal', timersPromises.setTimeout(1, 'v', { signal: 'x' as unknown as AbortSignal }));
      await settled(t, 'ref not boolean', timersPromises.setTimeout(1, 'v', { ref: 'yes' as unknown as boolean }));
      await settled(t, 'options not object', timersPromises.setTimeout(1, 'v', 'opts' as unknown as object));
    },
  },
  {
    name: 'timers/promises setInterval as an async iterator',
    async run(t) {
      const seen: unknown[] = [];
      for await (const v of timersPromises.setInterval(3, 'tick')) {
        seen.push(v);
        if (seen.length === 4) break;
      }
      t.log('values', seen);
    },
  },
  {
    name: 'timers/promises setInterval aborted',
    async run(t) {
      const ac = new AbortController();
      const seen: unknown[] = [];
      try {
        for await (const v of timersPromises.setInterval(3, 'v', { signal: ac.signal })) {
          seen.push(v);
          if (seen.length === 2) ac.abort();
        }
        t.log('loop ended');
      } catch (err) {
        t.error('rejected', err);
      }
      t.log('values', seen);
    },
  },
  {
    name: 'timers/promises scheduler.wait and scheduler.yield',
    async run(t) {
      const s = (timersPromises as unknown as { scheduler?: { wait(ms: number, o?: object): Promise<unknown>; yield(): Promise<unknown> } }).scheduler;
      t.log('has scheduler', typeof s);
      if (!s) return;
      t.log('wait', await s.wait(2));
      t.log('yield', await s.yield());
      const ac = new AbortController();
      ac.abort();
      await settled(t, 'aborted wait', s.wait(10, { signal: ac.signal }));
    },
  },
  {
    name: 'util.promisify(setTimeout / setImmediate)',
    async run(t) {
      t.log('promisify(setTimeout)', await promisify(timers.setTimeout)(2, 'pv'));
      t.log('promisify(setImmediate)', await promisify(timers.setImmediate)('iv'));
      t.log('custom', typeof (timers.setTimeout as unknown as Record<symbol, unknown>)[promisify.custom]);
    },
  },
  {
    name: 'AbortSignal.timeout aborts with TimeoutError',
    async run(t) {
      const signal = AbortSignal.timeout(5);
      t.log('aborted at first', signal.aborted);
      await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
      const reason = signal.reason as DOMException;
      t.log('reason', { name: reason.name, message: reason.message, code: reason.code });
    },
  },
  {
    name: 'a timeout 0 set inside a timer waits for the next loop turn, after immediates',
    async run(t) {
      const c = collector(3);
      timers.setTimeout(() => {
        c.add('outer');
        timers.setTimeout(() => c.add('inner 0'), 0);
        timers.setImmediate(() => c.add('immediate from timer'));
      }, 1);
      await c.done;
      t.log('order', c.order);
    },
  },
  {
    name: 'an error thrown in a timer callback is an uncaught exception; later timers still run',
    async run(t) {
      const c = collector(1);
      const seen = deferred<unknown>();
      const handler = (err: Error): void => seen.resolve(err);
      const others = process.listeners('uncaughtException');
      process.removeAllListeners('uncaughtException');
      process.once('uncaughtException', handler);
      timers.setTimeout(() => {
        throw new Error('from a timer');
      }, 1);
      timers.setTimeout(() => c.add('next timer'), 5);
      t.error('uncaught', await seen.promise);
      await c.done;
      for (const l of others) process.on('uncaughtException', l);
      t.log('order', c.order);
    },
  },
];
