import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getHub, sleep, spawn } from 'evy';
import { assertClean } from '../helpers';

const hub = getHub();

test.after.each(assertClean);

test('scheduleCallGlobal runs callbacks in deadline order, ties in scheduling order', async () => {
  const seen: string[] = [];
  hub.scheduleCallGlobal(0.03, (x: string) => seen.push(x), 'c');
  hub.scheduleCallGlobal(0.01, (x: string) => seen.push(x), 'a');
  hub.scheduleCallGlobal(0.01, (x: string) => seen.push(x), 'b');
  await sleep(0.08);
  assert.equal(seen, ['a', 'b', 'c']);
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

test('a throwing timer callback is reported and the others still run', async () => {
  const seen: number[] = [];
  const orig = process.stderr.write.bind(process.stderr);
  let printed = '';
  process.stderr.write = ((s: string) => ((printed += s), true)) as typeof process.stderr.write;
  try {
    hub.scheduleCallGlobal(0.005, () => {
      throw new Error('boom');
    });
    hub.scheduleCallGlobal(0.005, () => seen.push(1));
    await sleep(0.03);
  } finally {
    process.stderr.write = orig;
  }
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

test.run();
