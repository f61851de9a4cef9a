import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Event, sleep, spawn, waitall } from 'evy';
import { local } from 'evy/corolocal';
import { assertClean } from '../helpers';

test.after.each(assertClean);

type Bag = local & { user?: string; n?: number };

test('attributes are per green thread, across yields', async () => {
  const l = new local() as Bag;
  const turn = [new Event(), new Event()];
  const body = (name: string, me: number) => async (): Promise<unknown[]> => {
    const seen: unknown[] = [l.user];
    l.user = name;
    l.n = me;
    turn[me].send();
    await turn[1 - me].wait(); // the other thread has set its own values by now
    await sleep(0);
    seen.push(l.user, l.n);
    return seen;
  };
  const [a, b] = await waitall(spawn(body('alice', 0)), spawn(body('bob', 1)));
  assert.equal(a, [undefined, 'alice', 0]);
  assert.equal(b, [undefined, 'bob', 1]);
});

test('the main green thread has its own attributes; a spawned thread does not see them', async () => {
  const l = new local() as Bag;
  l.user = 'main';
  const gt = spawn(() => {
    const seen = [l.user, 'user' in l];
    l.user = 'child';
    return seen;
  });
  assert.equal(await gt.wait(), [undefined, false]);
  assert.is(l.user, 'main', 'the child did not overwrite main\'s value');
});

test('delete and has work on the current thread\'s attributes only', async () => {
  const l = new local() as Bag;
  l.user = 'main';
  assert.ok('user' in l);
  const gt = spawn(() => {
    const out: unknown[] = ['user' in l, delete l.user];
    l.user = 'child';
    out.push('user' in l, delete l.user, 'user' in l, l.user);
    return out;
  });
  assert.equal(await gt.wait(), [false, false, true, true, false, undefined]);
  assert.ok('user' in l, 'main still has it');
  assert.ok(delete l.user);
  assert.not.ok('user' in l);
  assert.is(l.user, undefined);
  assert.not.ok(delete l.user, 'nothing left to delete');
});

test('Object.keys and defineProperty see the current thread\'s attributes', async () => {
  const l = new local() as Bag;
  l.user = 'main';
  Object.defineProperty(l, 'n', { value: 1, writable: true, enumerable: true, configurable: true });
  assert.equal(Object.keys(l).sort(), ['n', 'user']);
  const gt = spawn(() => {
    const before = Object.keys(l);
    l.n = 2;
    return [before, Object.keys(l), l.n];
  });
  assert.equal(await gt.wait(), [[], ['n'], 2]);
  assert.is(l.n, 1);
});

test('two locals are independent, and subclass methods are shared by every thread', async () => {
  class Counter extends local {
    count?: number;
    bump(): number {
      this.count = (this.count ?? 0) + 1;
      return this.count;
    }
  }
  const c = new Counter();
  const other = new local() as Bag;
  c.bump();
  c.bump();
  other.n = 99;
  const gt = spawn(() => [c.bump(), c.bump(), c.bump(), other.n]);
  assert.equal(await gt.wait(), [1, 2, 3, undefined]);
  assert.is(c.count, 2);
  assert.is(other.n, 99);
  assert.instance(c, Counter);
});

test.run();
