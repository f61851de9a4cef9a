import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Event, getCurrent, getHub, GreenletExit, GreenPile, GreenPool, GreenThread, sleep, spawn, Timeout } from 'evy';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import { assertClean, captureStderr, rejection, settle } from '../helpers';
import { typeErrors } from '../typecheck';

const hub = getHub();

test.after.each(assertClean);

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

/** Yields `n` times to the hub. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await sleep(0);
}

// ---- spawn, slots, waitall ---------------------------------------------------------

test('the pool size bounds how many of its threads run at once', async () => {
  const pool = new GreenPool(3);
  assert.is(pool.size, 3);
  let active = 0;
  let peak = 0;
  const order: number[] = [];
  for (let i = 0; i < 10; i++) {
    await pool.spawn(async (n: number) => {
      active++;
      peak = Math.max(peak, active);
      await turns(1 + (n % 3));
      order.push(n);
      active--;
    }, i);
    assert.ok(pool.running() <= 3);
  }
  await pool.waitall();
  assert.is(peak, 3);
  assert.is(order.length, 10);
  assert.is(pool.running(), 0);
  assert.is(pool.free(), 3);
});

test('spawn waits for a free slot: running(), free(), waiting()', async () => {
  const pool = new GreenPool(2);
  const gates = [new Event(), new Event(), new Event()];
  const ran: number[] = [];
  const job = async (i: number): Promise<number> => {
    ran.push(i);
    await gates[i].wait();
    return i * 10;
  };
  const g0 = await pool.spawn(job, 0);
  assert.is(pool.running(), 1);
  assert.is(pool.free(), 1);
  const g1 = await pool.spawn(job, 1);
  assert.is(pool.running(), 2);
  assert.is(pool.free(), 0);
  assert.is(pool.waiting(), 0);
  let g2: GreenThread<number> | null = null;
  const spawner = spawn(async () => {
    g2 = await pool.spawn(job, 2);
  });
  await settle();
  assert.is(pool.waiting(), 1, 'the third spawn waits');
  assert.not.ok(spawner.dead);
  assert.is(g2, null);
  assert.equal(ran, [0, 1]);
  gates[0].send();
  assert.is(await g0.wait(), 0);
  await spawner.wait();
  assert.is(pool.waiting(), 0);
  assert.is(pool.running(), 2);
  assert.is(pool.free(), 0);
  await settle();
  assert.equal(ran, [0, 1, 2]);
  gates[1].send();
  gates[2].send();
  assert.is(await g1.wait(), 10);
  assert.is(await g2!.wait(), 20);
  await pool.waitall();
  assert.is(pool.free(), 2);
});

test('spawnN waits for a slot too, and its errors are printed rather than kept', async () => {
  const pool = new GreenPool(1);
  const gate = new Event();
  await pool.spawnN(() => gate.wait());
  let second = false;
  const spawner = spawn(() => pool.spawnN(() => {
    second = true;
  }));
  await settle();
  assert.is(pool.waiting(), 1);
  gate.send();
  await spawner.wait();
  await pool.waitall();
  assert.ok(second);
});

test('waitall waits for every thread in the pool; on an idle pool it returns at once', async () => {
  const pool = new GreenPool(4);
  await pool.waitall();
  const done: number[] = [];
  for (const d of [0.03, 0.01, 0.02, 0]) {
    await pool.spawn(async () => {
      await sleep(d);
      done.push(d);
    });
  }
  assert.is(pool.running(), 4);
  await pool.waitall();
  assert.is(done.length, 4);
  assert.is(pool.running(), 0);
});

test('waitall also waits for a spawn that was granted a slot and has not started its thread yet', async () => {
  const pool = new GreenPool(1);
  const gate = new Event();
  const first = await pool.spawn(() => gate.wait());
  let secondDone = false;
  const spawner = spawn(() => pool.spawn(async () => {
    await sleep(0);
    secondDone = true;
  }));
  await settle();
  assert.is(pool.waiting(), 1);
  const waiter = spawn(async () => {
    await pool.waitall();
    return [secondDone, pool.running()];
  });
  await settle();
  gate.send();
  await first.wait();
  assert.equal(await waiter.wait(), [true, 0], 'waitall returned only once the pool was idle');
  await spawner.wait();
});

test('waitall from one of the pool\'s own threads is an error', async () => {
  const pool = new GreenPool(2);
  const gt = await pool.spawn(() => rejection(pool.waitall()));
  const err = (await gt.wait()) as Error;
  assert.instance(err, Error);
  assert.match(err.message, /own green threads/);
});

test('spawn from a pool thread while the pool is full runs inline (no deadlock)', async () => {
  const pool = new GreenPool(1);
  const outer = await pool.spawn(async () => {
    const me = getCurrent();
    const inner = await pool.spawn(async (x: number) => {
      await sleep(0);
      return [x, getCurrent() === me, pool.running()];
    }, 5);
    assert.ok(inner.dead, 'done by the time spawn() returns');
    assert.ok(inner.started);
    return inner.wait();
  });
  assert.equal(await outer.wait(), [5, true, 1]);
  await pool.waitall();
  // An inline error is kept for wait() like any other.
  const err = new Error('inline');
  const o2 = await pool.spawn(async () => {
    const inner = await pool.spawn(() => {
      throw err;
    });
    return rejection(inner.wait());
  });
  assert.is(await o2.wait(), err);
});

test('resize grow lets waiting spawns in at once', async () => {
  const pool = new GreenPool(1);
  const gate = new Event();
  await pool.spawn(() => gate.wait());
  const spawners = [0, 1].map(() => spawn(() => pool.spawn(() => gate.wait())));
  await settle();
  assert.is(pool.waiting(), 2);
  pool.resize(3);
  assert.is(pool.size, 3);
  for (const s of spawners) await s.wait();
  assert.is(pool.waiting(), 0);
  assert.is(pool.running(), 3);
  assert.is(pool.free(), 0);
  gate.send();
  await pool.waitall();
  assert.is(pool.free(), 3);
});

test('resize shrink kills nothing; the pool drains down to the new size', async () => {
  const pool = new GreenPool(3);
  const gates = [new Event(), new Event(), new Event()];
  const gts: GreenThread<unknown>[] = [];
  for (const g of gates) gts.push(await pool.spawn(() => g.wait()));
  pool.resize(1);
  assert.is(pool.size, 1);
  assert.is(pool.running(), 3, 'nothing was killed');
  assert.is(pool.free(), 0);
  let extraStarted = false;
  const spawner = spawn(() => pool.spawn(() => {
    extraStarted = true;
  }));
  gates[0].send();
  await gts[0].wait();
  await settle();
  assert.is(pool.free(), 0);
  assert.is(pool.waiting(), 1, 'still above the new size');
  gates[1].send();
  await gts[1].wait();
  await settle();
  assert.is(pool.waiting(), 1, 'at the new size: still full');
  gates[2].send();
  await gts[2].wait();
  await spawner.wait();
  await pool.waitall();
  assert.ok(extraStarted);
  assert.is(pool.free(), 1);
  assert.throws(() => pool.resize(-1), RangeError);
});

test('kill while waiting in pool.spawn: it leaves the queue and no slot is lost', async () => {
  const pool = new GreenPool(1);
  const gate = new Event();
  const first = await pool.spawn(() => gate.wait());
  let ran = false;
  const spawner = spawn(() => pool.spawn(() => {
    ran = true;
  }));
  await settle();
  assert.is(pool.waiting(), 1);
  spawner.kill();
  assert.is(pool.waiting(), 0);
  assert.is(await spawner.wait(), undefined);
  gate.send();
  await first.wait();
  await settle();
  assert.not.ok(ran);
  assert.is(pool.free(), 1, 'the slot came back');
  const again = await pool.spawn(() => 'again');
  assert.is(await again.wait(), 'again');
});

test('bad input: sizes and functions are checked', async () => {
  assert.throws(() => new GreenPool(-1), RangeError);
  assert.throws(() => new GreenPool(1.5), RangeError);
  assert.throws(() => new GreenPool('foo' as unknown as number), TypeError, 'not a number: a TypeError, as in Evy');
  assert.throws(() => new GreenPool(null as unknown as number), TypeError);
  const pool = new GreenPool(2);
  assert.throws(() => pool.resize('3' as unknown as number), TypeError);
  assert.instance(await rejection(pool.spawn(null as unknown as () => void)), TypeError);
  assert.throws(() => pool.imap(null as unknown as () => void, [1]), TypeError);
  assert.throws(() => pool.imap((x: unknown) => x, 5 as unknown as number[]), TypeError);
  assert.throws(() => (pool.imap as (fn: unknown) => unknown)((x: unknown) => x), TypeError);
  assert.throws(() => pool.starmap((...xs: unknown[]) => xs, 5 as unknown as unknown[][]), TypeError);
});

test('GreenPool(0) is allowed, as in Evy: a closed pool whose spawns wait until resize() opens it', async () => {
  const pool = new GreenPool(0);
  assert.is(pool.size, 0);
  assert.is(pool.free(), 0);
  await pool.waitall(); // idle: returns at once
  // A spawn waits; a Timeout interrupts the wait and takes no slot.
  const t = new Timeout(0.01);
  assert.is(await rejection(pool.spawn(() => 'never')), t);
  assert.is(pool.waiting(), 0);
  // resize() opens the pool: the waiting spawn and the imap get in.
  const spawner = spawn(() => pool.spawn(() => 'in'));
  const mapped = spawn(async () => {
    const out: number[] = [];
    for await (const v of pool.imap(async (n: number) => n * 10, [1, 2, 3])) out.push(v);
    return out;
  });
  await settle();
  assert.is(pool.running(), 0, 'nothing runs in a pool of size 0');
  assert.ok(pool.waiting() >= 1);
  pool.resize(1);
  assert.is(await (await spawner.wait()).wait(), 'in');
  assert.equal(await mapped.wait(), [10, 20, 30]);
  await pool.waitall();
  assert.is(pool.free(), 1);
});

// ---- imap / starmap ------------------------------------------------------------------

test('imap infers its function\'s argument types from the iterables (tsc over fixtures/imap.types.ts)', () => {
  assert.equal(typeErrors(join(__dirname, 'fixtures', 'imap.types.ts')), []);
});

test('imap returns results in input order whatever order the calls finish in', async () => {
  const pool = new GreenPool(10);
  const finished: number[] = [];
  const out = await collect(pool.imap(async (n: number) => {
    await turns(n);
    finished.push(n);
    return n * 10;
  }, [5, 1, 4, 0, 3, 2]));
  assert.equal(out, [50, 10, 40, 0, 30, 20]);
  assert.equal(finished, [0, 1, 2, 3, 4, 5], 'they did finish in another order');
});

test('imap over 100,000 inputs stays within size calls running or finished-but-unconsumed, and completes', async () => {
  const SIZE = 8;
  const N = 100_000;
  const pool = new GreenPool(SIZE);
  let pulled = 0;
  let started = 0;
  let finished = 0;
  let consumed = 0;
  let peakPulled = 0;
  let peakOutstanding = 0;
  let peakRunning = 0;
  function* inputs(): Generator<number> {
    for (let i = 0; i < N; i++) {
      pulled++;
      peakPulled = Math.max(peakPulled, pulled - consumed);
      yield i;
    }
  }
  const fn = async (i: number): Promise<number> => {
    started++;
    peakRunning = Math.max(peakRunning, started - finished);
    peakOutstanding = Math.max(peakOutstanding, started - consumed);
    if (i % 3 !== 0) await sleep(0);
    finished++;
    return i;
  };
  let expected = 0;
  for await (const v of pool.imap(fn, inputs())) {
    if (v !== expected) assert.unreachable(`got ${v}, expected ${expected}`);
    expected++;
    consumed++;
    peakOutstanding = Math.max(peakOutstanding, started - consumed);
  }
  assert.is(consumed, N);
  assert.ok(peakRunning <= SIZE, `at most ${SIZE} running, saw ${peakRunning}`);
  assert.ok(peakOutstanding <= SIZE, `running or finished-but-unconsumed: at most ${SIZE}, saw ${peakOutstanding}`);
  assert.ok(peakPulled <= SIZE, `pulled ahead of the consumer: at most ${SIZE}, saw ${peakPulled}`);
  assert.ok(peakRunning > 1, 'it did run calls concurrently');
});

test('imap with several iterables zips them, stopping at the shortest and closing the others', async () => {
  const pool = new GreenPool(3);
  let closed = false;
  function* endless(): Generator<number> {
    try {
      for (let i = 100; ; i++) yield i;
    } finally {
      closed = true;
    }
  }
  const out = await collect(pool.imap((a: number, b: string, c: number) => `${a}${b}${c}`, [1, 2, 3], 'abcd', endless()));
  assert.equal(out, ['1a100', '2b101', '3c102']);
  assert.ok(closed, 'the longer generator was closed');
});

test('imap with async iterables', async () => {
  const pool = new GreenPool(2);
  async function* slowly(n: number): AsyncGenerator<number> {
    for (let i = 0; i < n; i++) {
      await sleep(0.001);
      yield i;
    }
  }
  const out = await collect(pool.imap(async (a: number, b: number) => {
    await sleep(0);
    return a + b;
  }, slowly(5), [10, 20, 30, 40, 50, 60]));
  assert.equal(out, [10, 21, 32, 43, 54]);
});

test('an error in imap rethrows at its turn and the iteration goes on with the later results (Evy\'s rule)', async () => {
  const pool = new GreenPool(4);
  const it = pool.imap(async (n: number) => {
    await turns(n % 3);
    if (n === 1 || n === 7) throw new Error(`bad ${n}`);
    return n;
  }, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const got: (number | string)[] = [];
  for (;;) {
    try {
      const r = await it.next();
      if (r.done) break;
      got.push(r.value);
    } catch (e) {
      got.push((e as Error).message);
    }
  }
  assert.equal(got, [0, 'bad 1', 2, 3, 4, 5, 6, 'bad 7', 8, 9]);
  assert.equal(await it.next(), { done: true, value: undefined }, 'done stays done');
  assert.is(pool.running(), 0);
});

test('a Timeout around imap\'s next() does not lose that result: the next next() gives it', async () => {
  const pool = new GreenPool(2);
  const gate = new Event();
  const it = pool.imap(async (n: number) => {
    if (n === 0) await gate.wait();
    return n;
  }, [0, 1]);
  const t = new Timeout(0.01);
  assert.is(await rejection(it.next()), t);
  gate.send();
  assert.equal(await it.next(), { done: false, value: 0 });
  assert.equal(await it.next(), { done: false, value: 1 });
  assert.equal(await it.next(), { done: true, value: undefined });
});

test('an imap iterator dropped after an error is collected: its feeder and calls are killed', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const pool = new GreenPool(2);
  await (async () => {
    const it = pool.imap(async (n: number) => {
      if (n === 0) throw new Error('first');
      await sleep(10);
      return n;
    }, [0, 1, 2, 3, 4]);
    await rejection(it.next());
  })();
  // the iterator is unreachable now; the feeder waits on its window, a call sleeps
  for (let i = 0; i < 50 && (pool.running() > 0 || hub.counts().threads > 0); i++) {
    gc();
    await sleep(0.01);
  }
  assert.is(pool.running(), 0, 'the calls still running were killed');
});

test('an error that ends a for await over imap: return() kills the rest and leaves nothing behind', async () => {
  const pool = new GreenPool(4);
  const err = new Error('three');
  const got: number[] = [];
  const started: number[] = [];
  const killed: number[] = [];
  const completed: number[] = [];
  const caught = await rejection((async () => {
    // A rejected next() ends a for await without calling return() (the
    // iterator stays usable): a loop that gives up on the rest says so.
    const it = pool.imap(async (n: number) => {
      started.push(n);
      if (n === 3) {
        await sleep(0);
        throw err;
      }
      try {
        await (n > 3 ? sleep(10) : turns(3 - n));
      } catch (e) {
        if (e instanceof GreenletExit) killed.push(n);
        throw e;
      }
      completed.push(n);
      return n;
    }, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    try {
      for await (const v of it) got.push(v as number);
    } finally {
      await it.return();
    }
  })());
  assert.is(caught, err);
  assert.equal(got, [0, 1, 2]);
  await settle();
  assert.equal(completed.sort(), [0, 1, 2], 'no later call ran to its end');
  assert.equal(killed.sort(), started.filter((n) => n > 3).sort(), 'every later call that started was killed');
  assert.ok(Math.max(...started) <= 2 + 4, `calls started ahead of the consumer: ${started}`);
  assert.is(pool.running(), 0);
});

test('an error from the input iterable rethrows at its turn', async () => {
  const pool = new GreenPool(2);
  const err = new Error('input broke');
  function* inputs(): Generator<number> {
    yield 1;
    yield 2;
    throw err;
  }
  const got: number[] = [];
  const caught = await rejection((async () => {
    for await (const v of pool.imap((n: number) => n, inputs())) got.push(v);
  })());
  assert.is(caught, err);
  assert.equal(got, [1, 2]);
});

test('breaking out of a for await over imap kills the remaining calls and leaves nothing behind', async () => {
  const pool = new GreenPool(5);
  const killed: number[] = [];
  let pulled = 0;
  let inputClosed = false;
  function* inputs(): Generator<number> {
    try {
      for (let i = 0; ; i++) {
        pulled++;
        yield i;
      }
    } finally {
      inputClosed = true;
    }
  }
  const got: number[] = [];
  for await (const v of pool.imap(async (n: number) => {
    if (n < 2) return n;
    try {
      await sleep(10);
    } catch (e) {
      killed.push(n);
      throw e;
    }
    return n;
  }, inputs())) {
    got.push(v);
    if (got.length === 2) break;
  }
  assert.equal(got, [0, 1]);
  await settle();
  assert.ok(killed.length > 0, 'calls were running when the loop broke');
  assert.ok(killed.every((n) => n >= 2));
  assert.ok(inputClosed, 'the input was closed');
  assert.ok(pulled <= 2 + 5, `pulled ${pulled}`);
  assert.is(pool.running(), 0);
  assert.is(hub.counts().timers, 0);
});

test('starmap spreads each argument list into one call, in order; sync and async inputs', async () => {
  const pool = new GreenPool(3);
  assert.equal(await collect(pool.starmap(async (a: number, b: number) => {
    await turns(b);
    return a * b;
  }, [[1, 2], [3, 4], [5, 0]])), [2, 12, 0]);
  async function* lists(): AsyncGenerator<[string, number]> {
    yield ['a', 1];
    await sleep(0);
    yield ['b', 2];
  }
  assert.equal(await collect(pool.starmap((s: string, n: number) => s.repeat(n), lists())), ['a', 'bb']);
  const caught = await rejection(collect(pool.starmap((...xs: unknown[]) => xs, [[1], 2 as unknown as unknown[]])));
  assert.instance(caught, TypeError);
  assert.match((caught as Error).message, /array of arguments/);
});

// ---- GreenPile ---------------------------------------------------------------------

test('GreenPile: results in spawn order regardless of finish order; counter, used, and the end', async () => {
  const pile = new GreenPile<string>(10);
  assert.not.ok(pile.used);
  assert.is(pile.counter, 0);
  const finished: string[] = [];
  for (const [name, n] of [['a', 4], ['b', 0], ['c', 2]] as const) {
    await pile.spawn(async () => {
      await turns(n);
      finished.push(name);
      return name;
    });
  }
  assert.is(pile.counter, 3);
  assert.not.ok(pile.used);
  const first = await pile.next();
  assert.ok(pile.used);
  assert.equal(first, { done: false, value: 'a' });
  assert.is(pile.counter, 2);
  const rest: string[] = [];
  for await (const v of pile) rest.push(v);
  assert.equal(rest, ['b', 'c']);
  assert.equal(finished, ['b', 'c', 'a']);
  assert.is(pile.counter, 0);
  assert.equal(await pile.next(), { done: true, value: undefined });
});

test('GreenPile: an error is rethrown at its turn, and the later results still come', async () => {
  const pile = new GreenPile<number>(3);
  const err = new Error('second');
  await pile.spawn(async () => {
    await sleep(0.01);
    return 1;
  });
  await pile.spawn(() => {
    throw err;
  });
  await pile.spawn(() => 3);
  assert.equal(await pile.next(), { done: false, value: 1 });
  assert.is(await rejection(pile.next()), err);
  assert.equal(await pile.next(), { done: false, value: 3 });
  assert.equal(await pile.next(), { done: true, value: undefined });
});

test('GreenPile on a shared GreenPool is bounded by the pool', async () => {
  const pool = new GreenPool(2);
  const pile = new GreenPile<number>(pool);
  assert.is(pile.pool, pool);
  let active = 0;
  let peak = 0;
  const spawner = spawn(async () => {
    for (let i = 0; i < 6; i++) {
      await pile.spawn(async () => {
        active++;
        peak = Math.max(peak, active);
        await turns(2);
        active--;
        return i;
      });
    }
  });
  await spawner.wait();
  assert.equal(await collect(pile), [0, 1, 2, 3, 4, 5]);
  assert.is(peak, 2);
});

test('GreenPile.next() waiting for a result whose spawn is killed before it got a slot ends the pile', async () => {
  const pool = new GreenPool(1);
  const release = new Event();
  const blocker = await pool.spawn(() => release.wait());
  const pile = new GreenPile<number>(pool);
  const spawner = spawn(() => pile.spawn(async () => 1));
  await sleep(0);
  assert.is(pile.counter, 1);
  const consumer = spawn(() => pile.next());
  await sleep(0);
  spawner.kill();
  assert.equal(await consumer.wait(), { done: true, value: undefined });
  assert.is(pile.counter, 0);
  release.send();
  await blocker.wait();
});

test('an error collected later from a pile or imap is rethrown, never reported as unobserved', async () => {
  const [, printed] = await captureStderr(async () => {
    const pile = new GreenPile<number>(2);
    await pile.spawn(async () => {
      throw new Error('pile failure');
    });
    await settle(5); // several loop turns before anyone looks
    await pile.next().then(() => assert.unreachable(), (e: Error) => assert.is(e.message, 'pile failure'));
    const pool = new GreenPool(2);
    const it = pool.imap(async (n: number) => {
      if (n === 1) throw new Error('imap failure');
      await sleep(0);
      return n;
    }, [0, 1, 2]);
    assert.equal(await it.next(), { done: false, value: 0 });
    await settle(5);
    await it.next().then(() => assert.unreachable(), (e: Error) => assert.is(e.message, 'imap failure'));
    assert.equal(await it.next(), { done: false, value: 2 }, 'the iteration goes on after the error');
    assert.equal(await it.next(), { done: true, value: undefined });
    await pool.waitall();
  });
  assert.not.match(printed, /never waited for/);
});

test.run();
