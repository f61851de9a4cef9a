// The scheduling rules of the README's "green-thread model", one test each:
// a thread runs until it parks; the run queue goes in generations; due timers
// interleave with it by sequence; what a hub callback resumes runs next;
// sleep(0) waits for a loop turn; foreign awaits keep the turn only while the
// microtask queue has work.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, Event, getCurrent, getHub, LightQueue, listen, Queue, Semaphore, sleep, spawn, spawnAfter, Timeout } from 'evy';
import { assertClean, rejection } from '../helpers';

const hub = getHub();

test.after.each(assertClean);

test('operations that complete at once keep the turn: three puts into Queue(5) are done after one sleep(0)', async () => {
  const q = new Queue<number>(5);
  const sem = new Semaphore(2);
  let puts = 0;
  const gt = spawn(async () => {
    for (let i = 0; i < 3; i++) {
      await q.put(i);
      puts++;
    }
    await sem.acquire();
    await sem.acquire();
    puts++;
  });
  await sleep(0);
  assert.is(puts, 4);
  assert.is(q.qsize(), 3);
  await gt.wait();
});

test('a hand-off does not switch: the putter runs on, the getter resumes in the next generation', async () => {
  const q = new LightQueue<string>();
  const log: string[] = [];
  const getter = spawn(async () => log.push(`got ${await q.get()}`));
  await sleep(0);
  const putter = spawn(async () => {
    await q.put('x');
    log.push('putter after put');
    await q.put('y'); // stored: nobody waits now
    log.push('putter done');
  });
  await putter.wait();
  await getter.wait();
  assert.equal(log, ['putter after put', 'putter done', 'got x']);
  assert.is(q.getNowait(), 'y');
});

test('generations: threads that sleep(0) in turn alternate, in spawn order', async () => {
  const log: string[] = [];
  const worker = (name: string) => async () => {
    for (let i = 0; i < 3; i++) {
      log.push(`${name}${i}`);
      await sleep(0);
    }
  };
  const a = spawn(worker('a'));
  const b = spawn(worker('b'));
  await a.wait();
  await b.wait();
  assert.equal(log, ['a0', 'b0', 'a1', 'b1', 'a2', 'b2']);
});

test('zero-delay timers interleave with the run queue in the order they were made', async () => {
  const log: string[] = [];
  hub.scheduleCallGlobal(0, () => log.push('timer before'));
  spawn(() => log.push('spawned'));
  hub.scheduleCallGlobal(0, () => log.push('timer after'));
  spawnAfter(0, () => log.push('spawnAfter(0)'));
  await sleep(0);
  await sleep(0);
  assert.equal(log, ['timer before', 'spawned', 'timer after', 'spawnAfter(0)']);
});

test('after two sleep(0)s a Timeout(0) made before them has fired', async () => {
  const t = new Timeout(0);
  const err = await rejection((async () => {
    await sleep(0);
    await sleep(0);
  })());
  t.cancel();
  assert.is(err, t);
});

test('a hand-off does not beat an earlier Timeout(0): the getter times out and the item stays queued', async () => {
  const q = new Queue<string>();
  const ready = new Event();
  const getter = spawn(async () => {
    const t = new Timeout(0);
    ready.send();
    try {
      return await q.get();
    } catch (e) {
      return e === t ? 'timed out' : e;
    }
  });
  await ready.wait();
  await q.put('item');
  assert.is(await getter.wait(), 'timed out');
  assert.is(q.getNowait(), 'item');
});

test('a killed thread runs next, before the rest of the generation', async () => {
  const log: string[] = [];
  const victim = spawn(async () => {
    try {
      await sleep(10);
    } finally {
      log.push('victim cleans up');
    }
  });
  await sleep(0);
  spawn(() => log.push('other'));
  victim.kill();
  log.push('killer goes on');
  await sleep(0);
  assert.equal(log, ['killer goes on', 'victim cleans up', 'other']);
});

test('a foreign promise already settled keeps the turn', async () => {
  const log: string[] = [];
  const a = spawn(async () => {
    log.push('a1');
    await Promise.resolve();
    await Promise.resolve();
    log.push('a2');
  });
  const b = spawn(() => log.push('b'));
  await a.wait();
  await b.wait();
  assert.equal(log, ['a1', 'a2', 'b']);
});

test('a pending foreign promise gives the turn up; the thread goes on when it settles', async () => {
  const log: string[] = [];
  let settle!: () => void;
  const foreign = new Promise<void>((res) => (settle = res));
  const a = spawn(async () => {
    log.push('a1');
    await foreign;
    log.push('a2');
  });
  const b = spawn(async () => {
    log.push('b');
    settle();
  });
  await a.wait();
  await b.wait();
  assert.equal(log, ['a1', 'b', 'a2']);
});

test('sleep(0) waits for a turn of the loop: a pending setImmediate runs first', async () => {
  let ran = false;
  setImmediate(() => (ran = true));
  await sleep(0);
  assert.ok(ran);
});

test('hand-offs chain without a loop turn, but the loop still polls within a bounded number of them', async () => {
  const ping = new LightQueue<number>();
  const pong = new LightQueue<number>();
  const ROUNDS = 20_000;
  let round = 0;
  let immediateAt = -1;
  setImmediate(() => (immediateAt = round));
  const left = spawn(async () => {
    for (round = 0; round < ROUNDS; round++) {
      await ping.put(round);
      await pong.get();
    }
  });
  const right = spawn(async () => {
    for (let i = 0; i < ROUNDS; i++) await pong.put(await ping.get());
  });
  await left.wait();
  await right.wait();
  assert.ok(immediateAt >= 0 && immediateAt < ROUNDS, `the immediate ran at round ${immediateAt}`);
});

test('a timer callback runs outside any green thread, whichever thread the step ran for', async () => {
  let seen: unknown = null;
  const gt = spawn(async () => {
    hub.scheduleCallGlobal(0, () => (seen = getCurrent()));
    await sleep(0);
    await sleep(0);
  });
  await gt.wait();
  assert.is(seen, hub.main);
});

test('a thread that awaits a pending foreign promise after a hand-over does not hold up the others', async () => {
  const q = new LightQueue<number>();
  const log: string[] = [];
  let release!: () => void;
  const foreign = new Promise<void>((res) => (release = res));
  const x = spawn(async () => {
    await q.get(); // resumed by a hand-over...
    log.push('x waits on a foreign promise');
    await foreign; // ...then stalls on something that is not an evy operation
    log.push('x goes on');
  });
  const others = spawn(async () => {
    await q.put(1);
    for (let i = 0; i < 3; i++) await sleep(0);
    log.push('the others ran');
    release();
  });
  await others.wait();
  await x.wait();
  assert.equal(log, ['x waits on a foreign promise', 'the others ran', 'x goes on']);
});

/** A thread that takes the turn (through a sleep(0)) and then stalls on a foreign promise. */
function stalledThread(): { gt: ReturnType<typeof spawn<[], void>>; release: () => void } {
  let release!: () => void;
  const foreign = new Promise<void>((res) => (release = res));
  const gt = spawn(async () => {
    await sleep(0);
    await foreign;
  });
  return { gt, release };
}

test('a thread stalled on a foreign promise, with nobody else waiting then, holds up no timer, socket or zero-delay timer that comes later', async () => {
  const { gt, release } = stalledThread();
  await sleep(0.02); // a timer's setTimeout: a new macrotask ends the stalled turn
  const server = listen(['127.0.0.1', 0]);
  const client = await connect(server.getsockname());
  const [conn] = await server.accept();
  const got = spawn(() => conn.recv(10));
  await sleep(0.01);
  await client.sendall('x'); // a socket event wakes the reader
  assert.is((await got.wait()).toString(), 'x');
  let fired = false;
  await new Promise<void>((res) =>
    setTimeout(() => {
      hub.scheduleCallGlobal(0, () => (fired = true)); // made from outside the hub
      res();
    }, 5),
  );
  await sleep(0);
  assert.ok(fired);
  release();
  await gt.wait();
  client.close();
  conn.close();
  server.close();
});

test('a run queue that never empties does not grow: threads sleeping(0) in a loop reuse its room', async () => {
  const spins = (n: number) => async () => {
    for (let i = 0; i < n; i++) await sleep(0);
  };
  const gts = [spawn(spins(3000)), spawn(spins(3000)), spawn(spins(3000))];
  for (const gt of gts) await gt.wait();
  const room = (hub as unknown as { queue: unknown[] }).queue.length;
  assert.ok(room < 2048, `the queue's array holds ${room} slots`);
});

test.run();
