import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getHub, sleep, spawn, Timeout, waitall } from 'evy';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { assertClean, captureStderr } from '../helpers';

const hub = getHub();

test.after.each(assertClean);

test('scheduleCallGlobal runs callbacks in deadline order, ties in scheduling order', async () => {
  const seen: string[] = [];
  const c = hub.scheduleCallGlobal(0.03, (x: string) => seen.push(x), 'c');
  const a = hub.scheduleCallGlobal(0.01, (x: string) => seen.push(x), 'a');
  const b = hub.scheduleCallGlobal(0.01, (x: string) => seen.push(x), 'b');
  await sleep(0.08);
  // By the deadlines they got: a loaded machine may pause this process for
  // 20 ms between two calls, and then c is due before b.
  const order = [c, a, b].map((t, i) => ({ t, i, name: 'cab'[i] })).sort((x, y) => x.t.deadline - y.t.deadline || x.i - y.i);
  assert.equal(seen, order.map((x) => x.name));
  assert.ok(a.deadline <= b.deadline, 'b was scheduled after a');
});

test('a cancelled timer never fires and leaves the heap', async () => {
  let fired = false;
  const t = hub.scheduleCallGlobal(0.01, () => (fired = true));
  assert.ok(t.pending);
  t.cancel();
  t.cancel();
  assert.not.ok(t.pending);
  assert.is(hub.counts().timers, 0);
  await sleep(0.03);
  assert.not.ok(fired);
});

test('scheduleCallLocal dies with the green thread that scheduled it', async () => {
  let fired = 0;
  const gt = spawn(() => {
    hub.scheduleCallLocal(0.02, () => fired++);
    hub.scheduleCallGlobal(0.02, () => fired++);
  });
  await gt.wait();
  assert.is(hub.counts().timers, 1, 'the local timer went with its thread');
  await sleep(0.05);
  assert.is(fired, 1);
});

test('sleepers share the timer heap with timers: (deadline, order) over both, past the heap\'s first growth', async () => {
  const seen: string[] = [];
  const threads = [];
  for (let k = 0; k < 150; k++) {
    threads.push(
      spawn(async () => {
        hub.scheduleCallGlobal(0.02, () => seen.push(`t${k}`));
        await sleep(0.02);
        seen.push(`s${k}`);
      }),
    );
  }
  for (const t of threads) await t.wait();
  assert.equal(seen, threads.flatMap((_, k) => [`t${k}`, `s${k}`]));
  assert.is(hub.counts().timers, 0);
});

test('a sleeper is listed by pendingTimers() with its deadline; a Timeout or a kill takes it out of the heap at once', async () => {
  const gt = spawn(() => sleep(5));
  await sleep(0);
  const listed = hub.pendingTimers();
  assert.is(listed.length, 1);
  assert.is((listed[0].cb as () => void).name, 'wakeSleeper');
  assert.ok(Math.abs(listed[0].deadline - (hub.clock() + 5)) < 1, 'about 5 s from now');
  gt.kill();
  assert.is(hub.counts().timers, 0, 'killed');
  await gt.wait();
  const timedOut = spawn(async () => {
    const t = new Timeout(0.01);
    try {
      await sleep(5);
    } catch (err) {
      if (err !== t) throw err;
      return hub.counts().timers;
    }
    return -1;
  });
  assert.is(await timedOut.wait(), 0, 'timed out: neither the sleep nor the Timeout is left');
});

test('a sleeper taken from the heap by a step other than the setTimeout\'s leaves the next deadline armed', async () => {
  // Two sleepers due together: the setTimeout's step runs the first, finds the
  // second due too but the turn taken, and leaves no setTimeout armed; the
  // second is then taken when the first thread ends, and the third, later,
  // needs a setTimeout armed for it then (examples/hello.ts's pool hung so).
  const order: string[] = [];
  const one = spawn(async () => {
    await sleep(0.01);
    order.push('one');
  });
  const two = spawn(async () => {
    await sleep(0.01);
    order.push('two');
  });
  const late = spawn(async () => {
    await sleep(0.05);
    order.push('late');
  });
  let guard: NodeJS.Timeout | undefined;
  const stuck = new Promise((res) => (guard = setTimeout(res, 5000, 'stuck')));
  try {
    assert.is(await Promise.race([late.wait().then(() => 'woke'), stuck]), 'woke');
  } finally {
    clearTimeout(guard);
  }
  await waitall(one, two);
  assert.equal(order, ['one', 'two', 'late']);
});

test('a throwing timer callback is reported and the others still run', async () => {
  const seen: number[] = [];
  const [, printed] = await captureStderr(async () => {
    hub.scheduleCallGlobal(0.005, () => {
      throw new Error('boom');
    });
    hub.scheduleCallGlobal(0.005, () => seen.push(1));
    await sleep(0.03);
  });
  assert.equal(seen, [1]);
  assert.match(printed, /boom/);
});

test('bad input: non-number seconds and non-function callbacks are refused', () => {
  assert.throws(() => hub.scheduleCallGlobal('1' as unknown as number, () => {}), /seconds must be a number/);
  assert.throws(() => hub.scheduleCallGlobal(NaN, () => {}), /NaN/);
  assert.throws(() => hub.scheduleCallGlobal(1, null as unknown as () => void), /must be a function/);
});

test('a million pending timers: add, cancel half, fire the rest in order', async () => {
  const N = 1_000_000;
  const timers: ReturnType<typeof hub.scheduleCallGlobal>[] = [];
  let fired = 0;
  let lastDeadline = -1;
  let ordered = true;
  const cb = (i: number): void => {
    fired++;
    const d = timers[i].deadline;
    if (d < lastDeadline) ordered = false;
    lastDeadline = d;
  };
  for (let i = 0; i < N; i++) {
    const d = ((i * 7919) % 1000) / 50_000; // up to 20 ms, shuffled
    timers.push(hub.scheduleCallGlobal(d, cb, i));
  }
  for (let i = 0; i < N; i += 2) timers[i].cancel();
  assert.is(hub.counts().timers, N / 2);
  while (hub.counts().timers > 0) await sleep(0.01);
  assert.is(fired, N / 2);
  assert.ok(ordered, 'fired in deadline order');
});

test('timers beyond setTimeout\'s 24.8-day limit (or Infinity) do not make the hub spin', async () => {
  const origSetTimeout = globalThis.setTimeout;
  let arms = 0;
  const warnings: string[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(w.name);
  };
  process.on('warning', onWarning);
  globalThis.setTimeout = ((...a: Parameters<typeof setTimeout>) => {
    arms++;
    return origSetTimeout(...a);
  }) as typeof setTimeout;
  let fired = 0;
  const far = hub.scheduleCallGlobal(1e8, () => fired++);
  const never = hub.scheduleCallGlobal(Infinity, () => fired++);
  hub.scheduleCallGlobal(0.005, () => fired++); // fires, then the hub re-arms for the rest
  try {
    await new Promise((r) => origSetTimeout(r, 80));
  } finally {
    globalThis.setTimeout = origSetTimeout;
    process.off('warning', onWarning);
  }
  assert.is(fired, 1);
  assert.ok(arms <= 10, `the hub re-armed its timer ${arms} times in 80 ms`);
  assert.equal(warnings, []);
  assert.ok(far.pending && never.pending);
  far.cancel();
  never.cancel();
});

test('pending timers keep the process alive; cancelled ones do not', () => {
  const distIndex = path.resolve(__dirname, '..', '..', 'dist', 'index.js');
  const script = `
    const evy = require(${JSON.stringify(distIndex)});
    (async () => {
      await evy.sleep(0.05); // a pending sleep keeps the process alive
      // The hub's setTimeout is armed for this Timeout when it is cancelled.
      const r = await evy.withTimeout(60, async () => { await evy.sleep(0); return 'quick'; });
      evy.getHub().scheduleCallGlobal(120, () => {}).cancel();
      console.log(r, 'slept');
    })();`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.is(r.signal, null, 'the child exited on its own, without waiting for its cancelled timers');
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), 'quick slept', 'a pending sleep kept it alive');
});

test.run();
