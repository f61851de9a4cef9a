// evy inside worker_threads: each thread gets its own hub on its own loop, and
// a worker that ends (by returning, process.exit() or terminate()) tears its
// hub down without taking the process with it. The crash this guards against
// was a segfault at worker exit, after the worker had loaded evy; it is
// checked in child processes, so that a crash fails one test, not the suite.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { connect, getHub, listen, sleep, spawn, Timeout, withTimeout } from 'evy';
import { assertClean, openFds, rejection } from '../helpers';

const world = join(__dirname, 'fixtures', 'world.js');

interface Report {
  port: number;
  timedOut: boolean;
  counts: { timers: number; listeners: number; runnable: number; threads: number };
  error?: string;
}

/** Runs `body` (a script using `Worker` and `world`) in a fresh node; returns its exit status and output. */
function child(body: string): { status: number | null; signal: string | null; out: string } {
  const script = `const { Worker } = require('node:worker_threads'); const world = ${JSON.stringify(world)};\n${body}`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: join(__dirname, '..', '..'), encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, signal: r.signal, out: r.stdout + r.stderr };
}

function startWorld(name: string, leave = 'nothing'): Promise<[Worker, Report]> {
  const w = new Worker(world, { workerData: { name, leave } });
  return new Promise((resolve, reject) => {
    w.once('message', (m: Report) => (m.error ? reject(new Error(m.error)) : resolve([w, m])));
    w.once('error', reject);
  });
}

function exited(w: Worker): Promise<number> {
  return new Promise((resolve) => w.once('exit', resolve));
}

test.after.each(assertClean);

test('a worker that only required evy exits, and so does the process', () => {
  const r = child(`
    const w = new Worker("require('evy'); require('evy/web/wsgi')", { eval: true });
    w.on('exit', (code) => console.log('worker exit', code));`);
  assert.is(r.signal, null, r.out);
  assert.is(r.status, 0, r.out);
  assert.match(r.out, 'worker exit 0');
});

test('a worker whose green threads finish exits with code 0', () => {
  const r = child(`
    const w = new Worker("const evy = require('evy'); evy.spawn(async () => { await evy.sleep(0.01); const s = evy.listen(['127.0.0.1', 0]); s.close(); console.log('slept'); })", { eval: true });
    w.on('exit', (code) => console.log('worker exit', code));`);
  assert.is(r.status, 0, r.out);
  assert.match(r.out, 'slept');
  assert.match(r.out, 'worker exit 0');
});

for (const how of ['terminate', 'process.exit']) {
  test(`workers ended by ${how} with sockets, a queued write, a poll and a timer open: no crash, five times over`, () => {
    const end = how === 'terminate' ? 'w.terminate()' : `w.postMessage('exit')`;
    const r = child(`
      let n = 0;
      function one() {
        const w = new Worker(world, { workerData: { name: 'w' + n, leave: 'everything' } });
        w.once('message', (m) => { if (m.error) { console.log(m.error); process.exit(2); } ${end}; });
        w.once('exit', (code) => { console.log('worker exit', code); if (++n < 5) one(); });
      }
      one();`);
    assert.is(r.signal, null, r.out);
    assert.is(r.status, 0, r.out);
    assert.is(r.out.match(/worker exit/g)?.length, 5, r.out);
  });
}

test('two workers and the main thread each serve and time out on their own hub', async () => {
  const before = getHub().counts();
  const [[a, ra], [b, rb]] = await Promise.all([startWorld('a'), startWorld('b')]);
  // Each worker's Timeout fired on its own loop, and its hub holds only its own world.
  assert.ok(ra.timedOut && rb.timedOut);
  assert.is(ra.counts.threads, 1, 'a: its accept loop');
  assert.is(rb.counts.threads, 1, 'b: its accept loop');
  assert.equal(getHub().counts(), before, 'the main hub sees nothing of the workers');
  // The main thread serves too, at the same time.
  const server = listen(['127.0.0.1', 0]);
  const echo = spawn(async () => {
    const [conn] = await server.accept();
    await conn.sendall(Buffer.concat([Buffer.from('main:'), await conn.recv(100)]));
    conn.close();
  });
  const ask = async (port: number): Promise<string> => {
    const c = await connect(['127.0.0.1', port]);
    await c.sendall(Buffer.from('hi'));
    const got = (await c.recv(100)).toString();
    c.close();
    return got;
  };
  const answers = await withTimeout(10, () =>
    Promise.all([ask(ra.port), ask(rb.port), ask(server.getsockname()[1] as number)]),
  );
  assert.equal(answers, ['a:hi', 'b:hi', 'main:hi']);
  await echo.wait();
  server.close();
  // The main hub times out on its own while the workers still run.
  assert.instance(await rejection(withTimeout(0.01, () => sleep(10))), Timeout);
  const codes = Promise.all([exited(a), exited(b)]);
  await a.terminate();
  await b.terminate();
  assert.equal(await codes, [1, 1]);
});

test('twenty worker lifetimes leave no fd behind in the process', async () => {
  const fds = openFds();
  for (let i = 0; i < 20; i++) {
    const [w] = await startWorld(`w${i}`, i % 2 ? 'sockets' : 'nothing');
    const code = exited(w);
    await w.terminate();
    await code;
  }
  // A worker's loop and its sockets left open (listener, connections) are closed when it ends.
  assert.ok(openFds() <= fds + 10, `fds ${fds} -> ${openFds()}`);
});

test.run();
