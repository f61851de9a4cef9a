// evy/tpool: execute() on worker threads, the pool's size and killall(), and
// proxies (autowrap, better-sqlite3). Blocking tasks are ordered through a
// SharedArrayBuffer the test controls, never by wall-clock luck.
process.env.EVY_THREADPOOL_SIZE = '3'; // read at first use: this file's first execute()
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type BetterSqlite3 from 'better-sqlite3';
import { getCurrent, kill, listen, connect, sleep, spawn, Timeout, withTimeout, type GreenThread } from 'evy';
import {
  execute,
  getNumThreads,
  killall,
  proxy,
  setNumThreads,
  setTpoolExceptions,
  TpoolError,
  TpoolKilled,
  type Remote,
} from 'evy/tpool';
import { assertClean, captureStderr, rejection } from './helpers';

const TASKS = join(__dirname, 'fixtures', 'tpool_tasks.js');
const EVY_WORLD = join(__dirname, 'fixtures', 'tpool_evy.js');

interface Counter {
  add(k: number): number;
  get(): number;
  child(start: number): Counter;
  adder(): (k: number) => number;
  entries(): Iterator<number>;
  absorb(other: Counter): number;
  block(ms: number): number;
  later<V>(v: V): Promise<V>;
  boom(): never;
  thread(): number;
  n: number;
}

/** Flags shared with spinUntil: [0] it finished, [1] let it finish, [2] it started. */
function flags(): [SharedArrayBuffer, Int32Array] {
  const sab = new SharedArrayBuffer(12);
  return [sab, new Int32Array(sab)];
}

async function started(f: Int32Array, n = 1): Promise<void> {
  while (Atomics.load(f, 2) < n) await sleep(0.005);
}

test('EVY_THREADPOOL_SIZE is read at first use and bounds the workers', async () => {
  assert.is(getNumThreads(), 3);
  const [sab, f] = flags();
  // Six tasks that each hold their worker until released: only three can run.
  const calls = Array.from({ length: 6 }, () => execute([TASKS, 'spinUntil'], sab));
  await started(f, 3);
  await sleep(0.1);
  assert.is(Atomics.load(f, 2), 3, 'a fourth task started on a pool of 3');
  Atomics.store(f, 1, 1);
  assert.equal(await Promise.all(calls), Array(6).fill('late'));
  const ids = new Set(await Promise.all(Array.from({ length: 30 }, () => execute([TASKS, 'whoami']))));
  assert.ok(ids.size <= 3, `${ids.size} distinct workers`);
});

test('a module task: a path, a file URL and a builtin', async () => {
  assert.is(await execute([TASKS, 'add'], 2, 3), 5);
  assert.is(await execute([pathToFileURL(TASKS), 'add'], 'a', 'b'), 'ab');
  assert.is(typeof (await execute(['node:os', 'hostname'])), 'string');
  const rel = './' + join('tests', 'fixtures', 'tpool_tasks.js');
  assert.is(await execute([rel, 'add'], 1, 1), 2, 'relative to the working directory');
});

test('a function task is sent by its source and sees only its arguments and require', async () => {
  assert.is(await execute((a: number, b: number) => a * b, 6, 7), 42);
  const threadId = await execute(() => (require('node:worker_threads') as typeof import('node:worker_threads')).threadId);
  assert.ok(threadId > 0, 'it ran on a worker thread');
  const local = 5;
  const err = await rejection(execute(() => local));
  assert.instance(err, TpoolError);
  assert.match((err as Error).message, /local is not defined/);
  assert.is(await execute(async (ms: number) => new Promise((r) => setTimeout(() => r(ms), ms)), 2), 2, 'an async function');
});

test('bad tasks get clear errors', async () => {
  assert.match(String(await rejection(execute(['', 'x'] as unknown as [string, string]))), /non-empty path/);
  assert.match(String(await rejection(execute('nope' as unknown as [string, string]))), /\[module, exportName\] or a self-contained function/);
  assert.match(String(await rejection(execute(Math.max))), /no source to send/);
  assert.match(String(await rejection(execute([TASKS, 'missing']))), /has no export named "missing"/);
});

test('an error in the worker is thrown in the caller with the worker stack; tpoolExceptions prints it', async () => {
  const err = (await rejection(execute([TASKS, 'fail'], 'bad input'))) as TpoolError;
  assert.instance(err, TpoolError);
  assert.is(err.name, 'RangeError');
  assert.is(err.message, 'bad input');
  assert.is(err.code, 'E_TPOOL_TEST');
  assert.match(err.workerStack!, /failInWorker/);
  assert.match(err.workerStack!, /tpool_tasks\.js/);
  assert.match(err.stack!, /in the worker thread; called from/);
  assert.match(err.stack!, /tpool\.test\.ts/, 'the caller stack follows');
  const [, quiet] = await captureStderr(() => rejection(execute([TASKS, 'fail'], 'x')));
  assert.is(quiet, '');
  setTpoolExceptions(true);
  try {
    const [, printed] = await captureStderr(() => rejection(execute([TASKS, 'fail'], 'printed one')));
    assert.match(printed, /RangeError: printed one/);
    assert.match(printed, /failInWorker/);
  } finally {
    setTpoolExceptions(false);
  }
});

test('Timeout during a long task: the worker is ended, no late result lands, the pool goes on', async () => {
  const [sab, f] = flags();
  const t0 = Date.now();
  const err = await rejection(withTimeout(0.1, () => execute([TASKS, 'spinUntil'], sab)));
  assert.instance(err, Timeout);
  assert.ok(Date.now() - t0 < 3000, 'the Timeout ended the wait, not the task');
  Atomics.store(f, 1, 1); // a live task would finish now
  // The same thread's next calls get their own results, never 'late'.
  for (let i = 0; i < 5; i++) assert.is(await execute([TASKS, 'add'], i, 1), i + 1);
  await sleep(0.05);
  assert.is(Atomics.load(f, 0), 0, 'the interrupted task never finished: its worker was terminated');
});

test('kill during a long task, and while queued behind busy workers', async () => {
  const [sab, f] = flags();
  let caught: unknown = null;
  const gts: GreenThread<unknown>[] = [];
  // 3 running + 2 queued
  for (let i = 0; i < 5; i++) {
    gts.push(
      spawn(async () => {
        try {
          return await execute([TASKS, 'spinUntil'], sab);
        } catch (e) {
          caught = e;
          throw e;
        }
      }),
    );
  }
  await started(f, 3);
  for (const gt of gts) kill(gt);
  for (const gt of gts) assert.is(await gt.wait(), undefined, 'killed threads end quietly');
  assert.ok(caught !== null, 'the kill reached the wait');
  Atomics.store(f, 1, 1);
  assert.is(await execute([TASKS, 'add'], 20, 22), 42, 'the pool is usable after');
  await sleep(0.05);
  assert.is(Atomics.load(f, 0), 0, 'no interrupted task ran to its end');
  assert.ok(Atomics.load(f, 2) <= 3, 'the queued ones never started');
});

test('1,000 concurrent calls through a pool of 4', async () => {
  setNumThreads(4);
  assert.is(getNumThreads(), 4);
  const gts = Array.from({ length: 1000 }, (_, i) => spawn(async () => [await execute((x: number) => x * 2, i), await execute([TASKS, 'whoami'])] as const));
  const got = await Promise.all(gts.map((g) => g.wait()));
  assert.equal(
    got.map(([v]) => v),
    Array.from({ length: 1000 }, (_, i) => i * 2),
  );
  const ids = new Set(got.map(([, id]) => id));
  assert.ok(ids.size <= 4, `${ids.size} workers for a pool of 4`);
  assert.throws(() => setNumThreads(0), /positive integer/);
});

test('killall() fails the pending calls with a clear error; later calls start new workers', async () => {
  const [sab, f] = flags();
  const calls = Array.from({ length: 6 }, () => rejection(execute([TASKS, 'spinUntil'], sab)));
  await started(f, 4);
  await killall();
  for (const e of await Promise.all(calls)) {
    assert.instance(e, TpoolKilled);
    assert.match((e as Error).message, /killall\(\) terminated the worker threads/);
  }
  assert.is(await execute([TASKS, 'add'], 1, 2), 3);
});

test('proxy: method calls, properties, errors, and autowrapped returns', async () => {
  const c = await proxy<Counter>(TASKS, 'Counter', 10);
  assert.is(await c.add(5), 15);
  assert.is(await c.get(), 15);
  assert.is(await c.$get('n'), 15);
  await c.$set('n', 1);
  assert.is(await c.get(), 1);
  assert.is(await c.later('async'), 'async');
  // autowrap: a class instance, a function, an iterator come back as proxies in the same worker
  const kid = await c.child(100);
  assert.is(await kid.add(1), 101);
  assert.is(await kid.thread(), await c.thread(), 'pinned to the same worker');
  assert.is(await c.absorb(kid), 102, 'a proxy passed back is its object again');
  const it = await c.entries();
  assert.equal(await it.next(), { value: 1, done: false });
  const err = (await rejection(c.boom())) as TpoolError;
  assert.instance(err, TpoolError);
  assert.is(err.name, 'TypeError');
  assert.match(err.workerStack!, /boom/);
  assert.match(String(await rejection((c as unknown as Remote<{ nope(): void }>).nope())), /nope is not a method/);
  assert.is(await (await proxy<Counter>(TASKS, 'makeCounter', 7)).get(), 7, 'a factory function');
  const ctorErr = await rejection(proxy(TASKS, 'nothing'));
  assert.match(String(ctorErr), /has no export named "nothing"/);
  kid.$release();
  assert.match(String(await rejection(kid.get())), /after its \$release\(\)/);
  const stillThere = await c.get();
  assert.is(stillThere, 102);
});

test('proxy: objects spread over the workers', async () => {
  const a = await proxy<Counter>(TASKS, 'Counter');
  const b = await proxy<Counter>(TASKS, 'Counter');
  assert.is.not(await a.thread(), await b.thread(), 'two objects, two workers');
  a.$release();
  b.$release();
});

test('proxy: a call interrupted by Timeout or kill is dropped; the object goes on', async () => {
  const c = await proxy<Counter>(TASKS, 'Counter', 0);
  assert.instance(await rejection(withTimeout(0.05, () => c.block(300))), Timeout);
  const gt = spawn(() => c.block(300));
  await sleep(0.01);
  kill(gt);
  assert.is(await gt.wait(), undefined);
  // Calls queue behind the blocked ones in the worker: both ran to their end there.
  assert.is(await c.get(), 2);
  assert.is(await c.add(0), 2, 'no dropped result was delivered to a later call');
});

test('proxy on better-sqlite3: a synchronous driver made green', async () => {
  const db = await proxy<BetterSqlite3.Database>('better-sqlite3', 'default', ':memory:');
  await db.exec('CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)');
  const ins = await db.prepare('INSERT INTO kv VALUES (?, ?)');
  for (let i = 0; i < 20; i++) await ins.run(`k${i}`, i);
  const sel = await db.prepare('SELECT v FROM kv WHERE k = ?');
  assert.equal(await sel.get('k7'), { v: 7 });
  const all = await (await db.prepare('SELECT count(*) AS n, sum(v) AS s FROM kv')).all();
  assert.equal(all, [{ n: 20, s: 190 }]);
  assert.is(await db.$get('inTransaction'), false);
  // Other green threads keep running while a query blocks the worker.
  let ticks = 0;
  const ticker = spawn(async () => {
    for (;;) {
      await sleep(0.002);
      ticks++;
    }
  });
  const slow = await db.prepare('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) AS n FROM c');
  assert.equal(await slow.get(), { n: 3000000 });
  kill(ticker);
  assert.ok(ticks > 0, 'the main thread went on during the query');
  const bad = (await rejection(db.exec('SELEKT nonsense'))) as TpoolError;
  assert.is(bad.name, 'SqliteError');
  await db.close();
});

test('evy in two tpool workers and the main thread at once, each serving and timing out on its own hub', async () => {
  setNumThreads(2);
  // Each world in a green thread of its own (a Timeout in this thread must not reach them).
  const worlds = ['w1', 'w2'].map((name) => spawn(() => execute([EVY_WORLD, 'world'], name)));
  // Meanwhile, the main thread's own echo and Timeout.
  const server = listen(['127.0.0.1', 0]);
  const srv = spawn(async () => {
    const [conn] = await server.accept();
    await conn.sendall(Buffer.concat([Buffer.from('main:'), await conn.recv(100)]));
    conn.close();
  });
  const c = await connect(['127.0.0.1', server.getsockname()[1] as number]);
  await c.sendall(Buffer.from('hi'));
  assert.is((await c.recv(100)).toString(), 'main:hi');
  c.close();
  await srv.wait();
  server.close();
  assert.instance(await rejection(withTimeout(0.02, () => sleep(10))), Timeout);
  const got = await Promise.all(worlds.map((w) => w.wait()));
  assert.equal(got.map((g) => g.echoed).sort(), ['w1:hi', 'w2:hi']);
  for (const g of got) {
    assert.ok(g.timedOut, 'the Timeout fired on the worker hub');
    assert.equal(g.counts, { timers: 0, listeners: 0, runnable: 0, threads: 0 });
  }
});

test('nothing left behind: no worker, port, listener or green thread after killall()', async () => {
  await proxy<Counter>(TASKS, 'Counter');
  await execute([TASKS, 'add'], 1, 1);
  await killall();
  await sleep(0.05);
  const left = process.getActiveResourcesInfo().filter((r) => /Worker|MessagePort/.test(r));
  assert.equal(left, [], 'worker handles left');
  assert.is(getCurrent().dead, false);
  await assertClean();
});

test.run();
