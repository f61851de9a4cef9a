import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as vm from 'node:vm';
import {
  cede,
  Event,
  getCurrent,
  getHub,
  GreenletExit,
  GreenThread,
  kill,
  Queue,
  sleep,
  spawn,
  spawnAfter,
  spawnAfterLocal,
  spawnN,
  Timeout,
  wait,
  waitall,
} from 'evy';
import { binding } from '../../dist/hub/binding';
import { assertClean, settle, rejection, captureStderr } from '../helpers';

const hub = getHub();

test.after.each(assertClean);

class KillError extends Error {
  constructor(message = 'custom kill') {
    super(message);
    this.name = 'KillError';
  }
}

// ---- spawn and wait ---------------------------------------------------------

test('spawn does not run the function before the spawner yields', async () => {
  const log: string[] = [];
  const gt = spawn(() => log.push('child'));
  log.push('spawner');
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(log, ['spawner'], 'microtasks alone do not start it');
  assert.not.ok(gt.started);
  assert.not.ok(gt.dead);
  assert.is(hub.counts().threads, 1);
  await sleep(0);
  assert.equal(log, ['spawner', 'child']);
  assert.ok(gt.started);
  assert.ok(gt.dead);
});

test('wait() returns the result, sync or async, with the spawn arguments', async () => {
  const a = spawn((x: number, y: string) => `${x}${y}`, 1, 'a');
  const b = spawn(async (x: number) => {
    await sleep(0);
    await sleep(0.001);
    return x * 2;
  }, 21);
  assert.is(await a.wait(), '1a');
  assert.is(await b.wait(), 42);
  assert.is(await b.wait(), 42, 'a second wait() gives the same result');
  assert.ok(a.id !== b.id);
});

test('wait() rethrows what the function threw (the same object), sync or async', async () => {
  const e1 = new Error('sync boom');
  const e2 = new Error('async boom');
  const a = spawn(() => {
    throw e1;
  });
  const b = spawn(async () => {
    await sleep(0);
    throw e2;
  });
  assert.is(await rejection(a.wait()), e1);
  assert.is(await rejection(b.wait()), e2);
  assert.is(await rejection(b.wait()), e2);
  assert.ok(a.dead && b.dead);
});

test('a thread cannot wait for itself', async () => {
  const gt = spawn(async () => rejection(getCurrent().wait()));
  const err = (await gt.wait()) as Error;
  assert.instance(err, Error);
  assert.match(err.message, /cannot wait for itself/);
});

test('spawnN prints an uncaught error with its stack to stderr, and the process goes on', async () => {
  let child: GreenThread<unknown> | null = null;
  const [, printed] = await captureStderr(async () => {
    const r = spawnN(async function crashingWorker(tag: string) {
      child = getCurrent();
      await sleep(0);
      throw new Error(`kaboom ${tag}`);
    }, 'xyzzy');
    assert.is(r, undefined, 'spawnN returns nothing');
    while (child === null) await sleep(0);
    await rejection(child!.wait());
  });
  assert.match(printed, /kaboom xyzzy/);
  assert.match(printed, /crashingWorker/, 'the stack is printed, not just the message');
  assert.match(printed, /green thread/);
  // The process and the hub keep going.
  assert.is(await spawn(async () => {
    await sleep(0);
    return 'alive';
  }).wait(), 'alive');
});

test('an error of a spawn()ed thread that nobody waits for is reported too', async () => {
  const [, printed] = await captureStderr(async () => {
    const gt = spawn(() => {
      throw new Error('never waited');
    });
    while (!gt.dead) await sleep(0);
    await settle();
  });
  assert.match(printed, /never waited/);
});

// ---- kill and cancel ------------------------------------------------------------

test('kill before start: fn never runs, the thread is dead and not started, wait() returns undefined', async () => {
  let ran = false;
  const gt = spawn(() => {
    ran = true;
    return 'result';
  });
  gt.kill();
  assert.ok(gt.dead);
  assert.not.ok(gt.started);
  assert.is(hub.counts().threads, 0);
  assert.is(await gt.wait(), undefined);
  await settle();
  assert.not.ok(ran);
  assert.not.ok(gt.started);
});

test('kill before start with a custom error: wait() throws it, and it is not printed', async () => {
  let ran = false;
  const err = new KillError();
  const [got, printed] = await captureStderr(async () => {
    const gt = spawn(() => {
      ran = true;
    });
    kill(gt, err);
    assert.ok(gt.dead);
    const e = await rejection(gt.wait());
    await settle();
    return e;
  });
  assert.is(got, err);
  assert.not.ok(ran);
  assert.is(printed, '');
});

test('kill while parked in sleep: GreenletExit ends it cleanly and the timer is gone', async () => {
  const started = new Event();
  let after = false;
  const gt = spawn(async () => {
    started.send();
    await sleep(10);
    after = true;
    return 'not reached';
  });
  await started.wait();
  assert.is(hub.counts().timers, 1);
  gt.kill();
  assert.is(hub.counts().timers, 0, 'the undo ran at once');
  assert.is(await gt.wait(), undefined);
  assert.ok(gt.dead);
  assert.not.ok(after);
});

test('kill while parked in Event.wait: the thread gets the error there and leaves the waiter list', async () => {
  const started = new Event();
  const ev = new Event<string>();
  const err = new KillError('stop waiting');
  const gt = spawn(async () => {
    started.send();
    try {
      await ev.wait();
      return 'woken';
    } catch (e) {
      return e;
    }
  });
  await started.wait();
  assert.is(ev.waiting, 1);
  gt.kill(err);
  assert.is(ev.waiting, 0);
  assert.is(await gt.wait(), err, 'the thread caught exactly the kill error');
  ev.send('late');
  await settle();
});

test('kill of a dead thread is a no-op', async () => {
  const gt = spawn(() => 5);
  assert.is(await gt.wait(), 5);
  gt.kill();
  gt.kill(new KillError());
  kill(gt);
  assert.is(await gt.wait(), 5);
});

test('killing the current thread throws synchronously, where kill() is called', async () => {
  const err = new KillError('self');
  const gt = spawn(async () => {
    await sleep(0);
    let threw: unknown = null;
    try {
      getCurrent().kill(err);
    } catch (e) {
      threw = e;
    }
    return threw;
  });
  assert.is(await gt.wait(), err);
  // Uncaught, the default GreenletExit ends the thread cleanly.
  let after = false;
  const gt2 = spawn(() => {
    getCurrent().kill();
    after = true;
  });
  assert.is(await gt2.wait(), undefined);
  assert.not.ok(after);
});

test('a kill that reaches a getter handed an item it has not picked up wins, and the item stays in the queue', async () => {
  const started = new Event();
  const q = new Queue<string>();
  const err = new KillError();
  const gt = spawn(async () => {
    started.send();
    return q.get();
  });
  await started.wait();
  q.putNowait('item'); // handed to the parked getter, which resumes in the next generation
  gt.kill(err);
  assert.is(await rejection(gt.wait()), err);
  assert.is(q.getNowait(), 'item', 'the item went back');
});

/** A thread that was handed `value` by a foreign promise (a value that cannot go back), still parked. */
async function handedForeignValue(got: string[]): Promise<GreenThread<void>> {
  let resolveIt!: (v: string) => void;
  const p = new Promise<string>((res) => (resolveIt = res));
  const gt = spawn(async () => {
    got.push(await wait(p));
    await sleep(0);
    got.push('unreachable');
  });
  await sleep(0);
  resolveIt('value');
  await Promise.resolve(); // the promise's reaction ran: the value is handed over
  return gt;
}

test('a kill that arrives after a value that cannot go back was handed over is deferred to the next suspension point', async () => {
  const got: string[] = [];
  const gt = await handedForeignValue(got);
  const err = new KillError();
  gt.kill(err);
  assert.is(await rejection(gt.wait()), err);
  assert.equal(got, ['value'], 'the value was not lost');
});

test('kill while parked in another thread\'s wait(): only the waiter is interrupted', async () => {
  const go = new Event();
  const target = spawn(async () => {
    await go.wait();
    return 'target result';
  });
  const started = new Event();
  const waiter = spawn(async () => {
    started.send();
    return target.wait();
  });
  await started.wait();
  waiter.kill(new KillError());
  assert.instance(await rejection(waiter.wait()), KillError);
  assert.not.ok(target.dead, 'the target runs on');
  go.send();
  assert.is(await target.wait(), 'target result');
});

test('cancel() kills only a thread that has not started', async () => {
  let ran = false;
  const a = spawn(() => {
    ran = true;
  });
  a.cancel();
  assert.ok(a.dead);
  assert.is(await a.wait(), undefined);

  const err = new KillError();
  const b = spawn(() => 'b');
  b.cancel(err);
  assert.is(await rejection(b.wait()), err);

  const started = new Event();
  const go = new Event();
  const c = spawn(async () => {
    started.send();
    await go.wait();
    return 'c';
  });
  await started.wait();
  c.cancel();
  c.cancel(new KillError());
  assert.not.ok(c.dead, 'a started thread is not cancelled');
  go.send();
  assert.is(await c.wait(), 'c');
  assert.not.ok(ran);
});

// ---- links ------------------------------------------------------------------------

test('link: called with the thread and curried args on exit; unlink returns true/false', async () => {
  const calls: unknown[][] = [];
  const go = new Event();
  const gt = spawn(async () => {
    await go.wait();
    return 7;
  });
  const f = (g: GreenThread<number>, a: number, b: string): void => {
    calls.push(['f', g === gt, a, b, g.dead]);
  };
  const h = (): void => {
    calls.push(['h']);
  };
  gt.link(f, 1, 'x');
  gt.link(h);
  gt.link(f, 2, 'y');
  assert.ok(gt.unlink(h));
  assert.not.ok(gt.unlink(h), 'already unlinked');
  assert.not.ok(gt.unlink(f, 1, 'z'), 'the curried args must match');
  assert.ok(gt.unlink(f, 2, 'y'));
  await sleep(0);
  assert.equal(calls, [], 'not before exit');
  go.send();
  assert.is(await gt.wait(), 7);
  assert.equal(calls, [['f', true, 1, 'x', true]]);
  // Linking a dead thread calls at once; there is nothing left to unlink.
  gt.link(f, 3, 'late');
  assert.equal(calls[1], ['f', true, 3, 'late', true]);
  assert.not.ok(gt.unlink(f, 1, 'x'));
});

test('links run in order on every kind of exit: error, kill while parked, kill before start', async () => {
  const seen: string[] = [];
  const a = spawn(() => {
    throw new Error('x');
  });
  a.link(() => seen.push('a1'));
  a.link(() => seen.push('a2'));
  const b = spawn(() => sleep(10));
  b.link(() => seen.push('b'));
  const c = spawn(() => 'c');
  c.link(() => seen.push('c'));
  c.kill();
  assert.equal(seen, ['c'], 'kill before start runs the links at once');
  await settle();
  assert.equal(seen, ['c', 'a1', 'a2']);
  b.kill();
  await b.wait();
  await rejection(a.wait());
  assert.equal(seen, ['c', 'a1', 'a2', 'b']);
});

test('a link that throws is reported and the other links still run', async () => {
  const seen: string[] = [];
  const [, printed] = await captureStderr(async () => {
    const gt = spawn(() => 1);
    gt.link(() => {
      throw new Error('bad link');
    });
    gt.link(() => seen.push('second'));
    await gt.wait();
  });
  assert.equal(seen, ['second']);
  assert.match(printed, /bad link/);
});

test('link needs a function', () => {
  const gt = spawn(() => 1);
  assert.throws(() => gt.link(null as unknown as () => void), (e: Error) => e instanceof TypeError);
  gt.kill();
});

// ---- spawnAfter ---------------------------------------------------------------

test('spawnAfter starts the thread after the delay, in deadline order', async () => {
  const log: string[] = [];
  const t0 = hub.clock();
  const late = spawnAfter(0.06, (x: string) => {
    log.push(x);
    return hub.clock() - t0;
  }, 'late');
  const early = spawnAfter(0.02, (x: string) => {
    log.push(x);
    return hub.clock() - t0;
  }, 'early');
  assert.not.ok(late.started);
  assert.not.ok(early.started);
  assert.is(hub.counts().timers, 2);
  const dLate = await late.wait();
  const dEarly = await early.wait();
  assert.equal(log, ['early', 'late']);
  assert.ok(dEarly >= 0.015, `early started after ${dEarly}s`);
  assert.ok(dLate >= 0.05, `late started after ${dLate}s`);
  assert.ok(dLate < 5);
});

test('spawnAfter: kill or cancel before the delay: it never runs, is dead, and its timer is gone', async () => {
  let ran = 0;
  const a = spawnAfter(0.02, () => ran++);
  const b = spawnAfter(0.02, () => ran++);
  assert.is(hub.counts().timers, 2);
  a.kill();
  b.cancel(new KillError());
  assert.is(hub.counts().timers, 0);
  assert.ok(a.dead && b.dead);
  assert.not.ok(a.started || b.started);
  assert.is(await a.wait(), undefined);
  assert.instance(await rejection(b.wait()), KillError);
  await sleep(0.04);
  assert.is(ran, 0);
});

test('spawnAfterLocal is cancelled when the spawner finishes first: it never runs and is dead', async () => {
  let ran = false;
  let child: GreenThread<unknown> | null = null;
  const spawner = spawn(async () => {
    child = spawnAfterLocal(1, () => {
      ran = true;
    });
    await sleep(0);
    return 'spawner done';
  });
  assert.is(await spawner.wait(), 'spawner done');
  assert.ok(child!.dead, 'dead with its spawner');
  assert.not.ok(child!.started);
  assert.is(hub.counts().timers, 0, 'its start timer went too');
  assert.is(await child!.wait(), undefined);
  await sleep(0.05);
  assert.not.ok(ran);
});

test('spawnAfterLocal is cancelled when the spawner is killed', async () => {
  let ran = false;
  let child: GreenThread<unknown> | null = null;
  const spawner = spawn(async () => {
    child = spawnAfterLocal(1, () => {
      ran = true;
    });
    await sleep(10);
  });
  await settle();
  spawner.kill();
  assert.is(await spawner.wait(), undefined);
  assert.ok(child!.dead);
  assert.is(hub.counts().timers, 0);
  await sleep(0.05);
  assert.not.ok(ran);
});

test('spawnAfterLocal runs when its spawner outlives the delay', async () => {
  const spawner = spawn(async () => {
    const c = spawnAfterLocal(0.01, (x: number) => x + 1, 41);
    return c.wait();
  });
  assert.is(await spawner.wait(), 42);
});

// ---- scheduling fairness ---------------------------------------------------------------

test('sleep(0) round-robins fairly between three threads', async () => {
  const log: string[] = [];
  const worker = (name: string) => async (): Promise<void> => {
    for (let i = 0; i < 4; i++) {
      log.push(`${name}${i}`);
      if (i % 2 === 0) await sleep(0);
      else await cede();
    }
  };
  await waitall(spawn(worker('a')), spawn(worker('b')), spawn(worker('c')));
  assert.equal(log, ['a0', 'b0', 'c0', 'a1', 'b1', 'c1', 'a2', 'b2', 'c2', 'a3', 'b3', 'c3']);
});

test('a thread spinning on sleep(0) does not starve setImmediate, setTimeout or fd readiness callbacks', async () => {
  const [r, w] = binding.pipe();
  const seen = { immediate: false, timeout: false, pipe: false };
  const listener = hub.addReader(r, () => {
    hub.remove(listener);
    seen.pipe = true;
  });
  const CAP = 200_000;
  const spinner = spawn(async () => {
    let spins = 0;
    while (!(seen.immediate && seen.timeout && seen.pipe)) {
      if (++spins > CAP) return -1;
      await sleep(0);
    }
    return spins;
  });
  setImmediate(() => (seen.immediate = true));
  setTimeout(() => (seen.timeout = true), 0);
  fs.writeSync(w, 'x');
  try {
    const spins = await spinner.wait();
    assert.ok(spins > 0, `the spinner ran ${spins} turns and everything else got its turn`);
    assert.equal(seen, { immediate: true, timeout: true, pipe: true });
  } finally {
    hub.remove(listener);
    fs.closeSync(r);
    fs.closeSync(w);
  }
});

test('a long Queue ping-pong between two threads does not starve a setTimeout(0) callback', async () => {
  let fired = false;
  const CAP = 1_000_000;
  const STOP = -1;
  const a = new Queue<number>();
  const b = new Queue<number>();
  let rounds = 0;
  const ping = spawn(async () => {
    while (!fired && rounds < CAP) {
      await a.put(rounds);
      await b.get();
      // Armed once the exchange runs, so it is due while the exchange goes on.
      if (++rounds === 1) setTimeout(() => (fired = true), 0);
    }
    await a.put(STOP);
  });
  const pong = spawn(async () => {
    for (;;) {
      const v = await a.get();
      if (v === STOP) return;
      await b.put(v);
    }
  });
  await waitall(ping, pong);
  assert.ok(fired, `the timer never fired during ${rounds} rounds`);
  assert.ok(rounds > 1 && rounds < CAP, `rounds: ${rounds}`);
});

// ---- getCurrent, waitall ---------------------------------------------------------------

test('getCurrent(): the main green thread outside, the thread itself inside, across yields', async () => {
  const main = getCurrent();
  assert.instance(main, GreenThread);
  assert.is(getCurrent(), main);
  assert.not.ok(main.dead);
  const body = async (): Promise<GreenThread<unknown>[]> => {
    const seen = [getCurrent()];
    await sleep(0);
    seen.push(getCurrent());
    await sleep(0.001);
    seen.push(getCurrent());
    return seen;
  };
  const x = spawn(body);
  const y = spawn(body);
  const [sx, sy] = await waitall(x, y);
  assert.ok(sx.every((g) => g === x));
  assert.ok(sy.every((g) => g === y));
  assert.ok(x !== main);
  assert.is(getCurrent(), main, 'back to main after waiting');
  let inTimer: unknown = null;
  hub.scheduleCallGlobal(0, () => (inTimer = getCurrent()));
  await sleep(0.01);
  assert.is(inTimer, main);
});

test('getCurrent() in vm code a thread runs (node:repl, the backdoor), across its awaits', async () => {
  const ctx = vm.createContext({ evy: { sleep, getCurrent } });
  const code = '(async () => { await evy.sleep(0.001); const a = evy.getCurrent(); await null; return [a, evy.getCurrent()]; })()';
  const gt = spawn(() => vm.runInContext(code, ctx) as Promise<unknown[]>);
  const [a, b] = await gt.wait();
  assert.is(a, gt, 'after an evy wait');
  assert.is(b, gt, 'after a foreign await that follows it');
  assert.is(getCurrent(), hub.main);
});

test('getCurrent() in a callback a thread hands to Node: main on Node 20 (the embedder-data slot, as a callback runs in the hub), the thread with AsyncLocalStorage (Node 22+, EVY_THREAD_SLOT=als)', async () => {
  const seen: unknown[] = [];
  const gt = spawn(async () => {
    await new Promise<void>((res) => setTimeout(() => {
      seen.push(getCurrent());
      res();
    }, 1));
    seen.push(getCurrent());
  });
  await gt.wait();
  const slot = Number(process.versions.node.split('.')[0]) < 22 && binding.contextGet !== undefined && process.env.EVY_THREAD_SLOT !== 'als';
  assert.is(seen[0], slot ? hub.main : gt, 'the setTimeout callback');
  assert.is(seen[1], gt, 'the await after it, in the thread everywhere');
});

test('a kill delivered to a sleeping thread is no unhandled rejection, not even for a moment', async () => {
  const events: string[] = [];
  const onUnhandled = (): number => events.push('unhandledRejection');
  const onHandled = (): number => events.push('rejectionHandled');
  process.on('unhandledRejection', onUnhandled);
  process.on('rejectionHandled', onHandled);
  try {
    const threads = [1, 2, 3].map(() => spawn(() => sleep(10)));
    await sleep(0);
    for (const t of threads) t.kill(new KillError());
    for (const t of threads) assert.instance(await rejection(t.wait()), KillError);
    await new Promise((res) => setTimeout(res, 20));
  } finally {
    process.off('unhandledRejection', onUnhandled);
    process.off('rejectionHandled', onHandled);
  }
  assert.equal(events, []);
});

test('waitall returns the results in argument order and rethrows the first error', async () => {
  const slow = spawn(async () => {
    await sleep(0.01);
    return 'slow';
  });
  const fast = spawn(() => 'fast');
  assert.equal(await waitall(slow, fast), ['slow', 'fast']);
  assert.equal(await waitall(), []);
  const err = new Error('second fails');
  const ok = spawn(() => 1);
  const bad = spawn(async () => {
    await sleep(0);
    throw err;
  });
  assert.is(await rejection(waitall(ok, bad)), err);
});

// ---- wait(promise) ---------------------------------------------------------------

test('wait(promise) resolves with the value, rejects with the reason, takes plain values and thenables', async () => {
  assert.is(await wait(Promise.resolve(3)), 3);
  assert.is(await wait(7), 7);
  const thenable = { then: (res: (v: string) => void) => res('thenable') } as unknown as PromiseLike<string>;
  assert.is(await wait(thenable), 'thenable');
  const err = new Error('rejected');
  assert.is(await rejection(wait(Promise.reject(err))), err);
  const gt = spawn(() => wait(new Promise<string>((res) => setTimeout(() => res('later'), 5))));
  assert.is(await gt.wait(), 'later');
});

test('wait(promise) is interrupted by a Timeout', async () => {
  let resolveIt!: (v: string) => void;
  const foreign = new Promise<string>((res) => (resolveIt = res));
  const gt = spawn(async () => {
    const t = new Timeout(0.02);
    try {
      await wait(foreign);
      return 'not interrupted';
    } catch (e) {
      return e === t ? 'timed out' : e;
    } finally {
      t.cancel();
    }
  });
  assert.is(await gt.wait(), 'timed out');
  resolveIt('late');
  await settle();
});

test('wait(promise) with a kill already pending throws it at once, and the promise rejecting later is not an unhandled rejection', async () => {
  const err = new KillError();
  let rejectIt!: (e: Error) => void;
  let unhandled: unknown = null;
  const onUnhandled = (reason: unknown): void => {
    unhandled = reason;
  };
  process.on('unhandledRejection', onUnhandled);
  try {
    let resolveFirst!: (v: number) => void;
    const first = new Promise<number>((res) => (resolveFirst = res));
    const gt = spawn(async () => {
      await wait(first); // handed a value, then killed: the kill waits for the next suspension
      await wait(new Promise<void>((_res, rej) => (rejectIt = rej)));
    });
    await sleep(0);
    resolveFirst(1);
    await Promise.resolve();
    gt.kill(err);
    assert.is(await rejection(gt.wait()), err);
    rejectIt(new Error('rejected after the thread died'));
    await sleep(0.01);
    assert.is(unhandled, null);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('wait(promise) is interrupted by kill, and the late result is dropped', async () => {
  let resolveIt!: (v: string) => void;
  const foreign = new Promise<string>((res) => (resolveIt = res));
  const started = new Event();
  const ev = new Event<string>();
  const err = new KillError();
  const gt = spawn(async () => {
    const out: unknown[] = [];
    started.send();
    try {
      out.push(await wait(foreign));
    } catch (e) {
      out.push(e);
    }
    out.push(await ev.wait());
    return out;
  });
  await started.wait();
  gt.kill(err);
  await settle();
  resolveIt('late value');
  await settle();
  assert.not.ok(gt.dead, 'the late value woke nothing');
  assert.is(ev.waiting, 1);
  ev.send('event value');
  assert.equal(await gt.wait(), [err, 'event value']);
});

test('a thread killed while awaiting a foreign promise dies with the kill error once it settles', async () => {
  let release!: (v: string) => void;
  const foreign = new Promise<string>((res) => (release = res));
  const started = new Event();
  const after: string[] = [];
  const err = new KillError();
  const gt = spawn(async () => {
    started.send();
    after.push(await foreign);
    await sleep(0);
    after.push('unreachable');
  });
  await started.wait();
  gt.kill(err);
  await settle();
  assert.not.ok(gt.dead, 'a foreign promise cannot be interrupted');
  release('settled');
  assert.is(await rejection(gt.wait()), err);
  assert.equal(after, ['settled'], 'the throw landed at the next suspension point');

  // With no later suspension point, the kill still wins over the result.
  let release2!: () => void;
  const foreign2 = new Promise<void>((res) => (release2 = res));
  const gt2 = spawn(async () => {
    await foreign2;
    return 'result';
  });
  await settle();
  gt2.kill(err);
  release2();
  assert.is(await rejection(gt2.wait()), err);
});

test('two evy waits in one thread (Promise.all) are both interrupted by one kill', async () => {
  const started = new Event();
  const ev = new Event();
  const q = new Queue();
  const gt = spawn(async () => {
    started.send();
    await Promise.all([ev.wait(), q.get(), sleep(10)]);
  });
  await started.wait();
  assert.is(ev.waiting, 1);
  assert.is(q.getting(), 1);
  assert.is(hub.counts().timers, 1);
  gt.kill();
  assert.is(ev.waiting, 0);
  assert.is(q.getting(), 0);
  assert.is(hub.counts().timers, 0);
  assert.is(await gt.wait(), undefined);
});

test('concurrent waits in one thread: a kill still reaches every one after a middle one finished', async () => {
  const middleDone = new Event();
  const ev = new Event();
  const gt = spawn(async () => {
    await Promise.all([
      sleep(10),
      (async () => {
        await sleep(0);
        middleDone.send();
      })(),
      ev.wait(),
    ]);
  });
  await middleDone.wait();
  assert.is(hub.counts().timers, 1);
  assert.is(ev.waiting, 1);
  gt.kill();
  assert.is(ev.waiting, 0);
  assert.is(hub.counts().timers, 0, 'the first wait (sleep) was undone too');
  assert.is(await gt.wait(), undefined);
});

test('concurrent waits: a wait made while another is woken-but-not-resumed keeps the older ones reachable', async () => {
  // Exhaust the hub's direct-wake budget, so the next wake is queued (WOKEN)
  // until the next batch, and make a new wait in the same thread meanwhile.
  const crowd = new Event();
  const herd: GreenThread<unknown>[] = [];
  for (let i = 0; i < 5000; i++) herd.push(spawn(() => crowd.wait()));
  const oldest = new Event();
  const q = new Queue<string>();
  let release!: () => void;
  const foreign = new Promise<void>((res) => (release = res));
  let madeNewWait = false;
  const started = new Event();
  const gt = spawn(async () => {
    started.send();
    await Promise.all([
      oldest.wait(),
      q.get(),
      (async () => {
        await foreign;
        const p = sleep(10);
        madeNewWait = true;
        await p;
      })(),
    ]);
  });
  await started.wait();
  await settle();
  crowd.send(); // thousands of direct wakes: the budget is spent
  q.putNowait('x'); // queued: the getter is woken, not resumed
  release();
  for (let i = 0; i < 10 && !madeNewWait; i++) await Promise.resolve();
  assert.ok(madeNewWait);
  gt.kill();
  assert.is(oldest.waiting, 0, 'the oldest wait was interrupted too');
  assert.is(hub.counts().timers, 0);
  assert.is(await gt.wait(), undefined);
  for (const h of herd) await h.wait();
});

// ---- bad input, bookkeeping -------------------------------------------------------------

test('bad input gives clear TypeErrors', () => {
  const isType = (re: RegExp) => (e: Error) => e instanceof TypeError && re.test(e.message);
  assert.throws(() => spawn(42 as unknown as () => void), isType(/spawn needs a function, got number/));
  assert.throws(() => spawnN(null as unknown as () => void), isType(/spawnN needs a function, got null/));
  assert.throws(() => spawnAfter('1' as unknown as number, () => {}), isType(/seconds must be a number, got string/));
  assert.throws(() => spawnAfterLocal(1, 'f' as unknown as () => void), isType(/needs a function/));
  assert.throws(() => sleep('x' as unknown as number), isType(/sleep: seconds must be a number, got string/));
  assert.throws(() => sleep(NaN), isType(/NaN/));
  // A negative duration is refused as Queue.get(-1) refuses it: a RangeError, thrown at the call.
  assert.throws(() => sleep(-1), (e: Error) => e instanceof RangeError && /^sleep: seconds must not be negative, got -1$/.test(e.message));
  assert.throws(() => new Queue().get(-1), (e: Error) => e instanceof RangeError && /must not be negative, got -1$/.test(e.message));
  assert.throws(() => kill({} as GreenThread<unknown>), isType(/kill needs a GreenThread/));
  assert.is(hub.counts().threads, 0, 'nothing was spawned');
});

test('GreenletExit is an Error named GreenletExit', () => {
  const e = new GreenletExit();
  assert.instance(e, Error);
  assert.is(e.name, 'GreenletExit');
});

test('counts().threads follows spawned threads back to 0 whatever their end', async () => {
  assert.is(hub.counts().threads, 0);
  const go = new Event();
  const gts: GreenThread<unknown>[] = [];
  for (let i = 0; i < 10; i++) gts.push(spawn(async () => go.wait()));
  for (let i = 0; i < 10; i++) {
    gts.push(spawn(async () => {
      await sleep(0);
      throw new Error('err');
    }));
  }
  const unstarted = spawn(() => 1);
  const parked = spawn(() => sleep(10));
  const later = spawnAfter(10, () => 1);
  spawnN(() => undefined);
  assert.is(hub.counts().threads, 24);
  unstarted.kill();
  later.cancel();
  assert.is(hub.counts().threads, 22);
  await settle();
  parked.kill();
  go.send();
  for (const gt of gts) await gt.wait().catch(() => undefined);
  assert.is(hub.counts().threads, 0);
});

test('spawnAfterLocal: a long-lived spawner does not keep a link per thread it spawned', async () => {
  const spawner = spawn(async () => {
    const gts = [];
    for (let i = 0; i < 50; i++) gts.push(spawnAfterLocal(0, () => i));
    for (const gt of gts) await gt.wait();
    return (getCurrent() as unknown as { links: unknown[] | null }).links?.length ?? 0;
  });
  assert.is(await spawner.wait(), 0);
});

test.run();
