// eventlet's tests/api_test.py, ported test by test to evy's API.
// Differences and skips: tests/eventlet/README.md.
import { test as uvu } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { connect, getHub, kill, listen, sleep, spawn, spawnAfterLocal, spawnN, Timeout, trampoline, withTimeout, wrapSsl, type GreenSocket } from 'evy';
import { localhostCert } from '../helpers';
import { suite } from './common';

const test = suite();
const hub = getHub();

/**
 * eventlet's check_hub: after two sleep(0)s no fd listener is left. (Its
 * hub.abort(wait=True) and `not hub.running` are left out: evy's hub runs on
 * Node's own loop and an abort is final for the process — README.md.)
 */
async function checkHub(): Promise<void> {
  await sleep(0);
  await sleep(0);
  assert.equal(hub.listeners().length, 0, 'fd listeners left in the hub');
}

// ---- TestApi -------------------------------------------------------------------------

test('api_test.TestApi.test_tcp_listener', async () => {
  const socket = listen(['0.0.0.0', 0]);
  assert.is(socket.getsockname()[0], '0.0.0.0');
  socket.close();
  await checkHub();
});

test('api_test.TestApi.test_connect_tcp', async () => {
  const acceptOnce = async (listenfd: GreenSocket) => {
    try {
      const [conn] = await listenfd.accept();
      const fd = conn.makefile('wb');
      conn.close(); // the file keeps the connection open (Evy's makefile rule)
      await fd.write(Buffer.from('hello\n'));
      await fd.close();
    } finally {
      listenfd.close();
    }
  };
  const server = listen(['0.0.0.0', 0]);
  spawnN(acceptOnce, server);
  const client = await connect(['127.0.0.1', server.getsockname()[1] as number]);
  const fd = client.makefile('rb');
  client.close();
  assert.equal(await fd.readline(), Buffer.from('hello\n'));
  assert.equal(await fd.read(), Buffer.alloc(0));
  await fd.close();
  await checkHub();
});

test('api_test.TestApi.test_connect_ssl', async () => {
  const { key, cert } = localhostCert();
  // evy wraps connected sockets: the server side wraps each accepted one
  const acceptOnce = async (listenfd: GreenSocket) => {
    try {
      const [raw] = await listenfd.accept();
      const conn = await wrapSsl(raw, { serverSide: true, key, cert });
      await conn.sendall('hello\r\n');
      conn.shutdown();
      conn.close();
    } finally {
      listenfd.close();
    }
  };
  const server = listen(['0.0.0.0', 0]);
  spawnN(acceptOnce, server);
  const rawClient = await connect(['127.0.0.1', server.getsockname()[1] as number]);
  const client = await wrapSsl(rawClient, { rejectUnauthorized: false });
  const fd = client.makefile('rb');
  assert.equal(await fd.readline(), Buffer.from('hello\r\n'));
  assert.equal(await fd.read(10), Buffer.alloc(0));
  client.shutdown();
  client.close();
  await checkHub();
});

test('api_test.TestApi.test_001_trampoline_timeout', async () => {
  const serverSock = listen(['127.0.0.1', 0]);
  const boundPort = serverSock.getsockname()[1] as number;
  const server = async (sock: GreenSocket) => {
    const [client] = await sock.accept();
    await sleep(0.1);
    client.close();
  };
  const serverEvt = spawn(server, serverSock);
  await sleep(0);
  const desc = await connect(['127.0.0.1', boundPort]);
  try {
    await trampoline(desc.fileno(), { read: true, timeout: 0.001 });
    assert.unreachable("didn't time out");
  } catch (e) {
    if (!(e instanceof Timeout)) throw e;
  }
  await serverEvt.wait();
  desc.close();
  serverSock.close();
  await checkHub();
});

test('api_test.TestApi.test_timeout_cancel', async () => {
  const server = listen(['0.0.0.0', 0]);
  const boundPort = server.getsockname()[1] as number;
  let done = false;
  const clientCloser = async (sock: GreenSocket) => {
    for (;;) {
      const [conn] = await sock.accept();
      conn.close();
    }
  };
  const go = async () => {
    const desc = await connect(['127.0.0.1', boundPort]);
    try {
      await trampoline(desc.fileno(), { read: true, timeout: 0.1 });
    } catch (e) {
      if (e instanceof Timeout) assert.unreachable('timed out');
      throw e;
    }
    server.close();
    desc.close();
    done = true;
  };
  spawnAfterLocal(0, go);
  const serverCoro = spawn(clientCloser, server);
  while (!done) await sleep(0);
  kill(serverCoro);
  await serverCoro.wait().catch(() => {}); // closed under its accept: whatever that threw, the test is done with it
  await checkHub();
});

test('api_test.TestApi.test_killing_dormant', async () => {
  const DELAY = 0.1;
  const state: string[] = [];
  const body = async () => {
    try {
      state.push('start');
      await sleep(DELAY);
    } catch {
      // the GreenletExit of the kill
      state.push('except');
    }
    await sleep(0);
    state.push('finished');
  };
  const g = spawn(body);
  await sleep(DELAY / 2);
  assert.equal(state, ['start']);
  kill(g);
  // Deliberate difference (README, the green-thread model: nothing else runs
  // until the thread awaits): kill() is no switch, the victim's except runs at
  // the killer's next yield. eventlet asserts ['start', 'except'] right here.
  assert.equal(state, ['start']);
  await sleep(0);
  assert.equal(state, ['start', 'except']);
  await sleep(DELAY);
  assert.equal(state, ['start', 'except', 'finished']);
});

test('api_test.TestApi.test_nested_with_timeout', async () => {
  const func = () => withTimeout(0.2, () => sleep(2), { timeoutValue: 1 });
  try {
    await withTimeout(0.1, func);
    assert.unreachable('expected Timeout');
  } catch (e) {
    if (!(e instanceof Timeout)) throw e;
  }
});

// ---- module level --------------------------------------------------------------------

const root = resolve(import.meta.dirname, '..', '..');

/** Runs a small script in a fresh node (like eventlet's run_python / run_isolated); returns its stdout. */
function runIsolated(code: string, nodeArgs: string[] = []): string {
  const dir = mkdtempSync(join(root, 'tests', 'eventlet', '.isolated-'));
  try {
    const file = join(dir, 'script.mts');
    writeFileSync(file, code);
    return execFileSync(process.execPath, [...nodeArgs, '--import', 'tsx', file], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('api_test.test_timeouterror_deprecated', () => {
  // eventlet: no DeprecationWarning under -Werror; node: none under --throw-deprecation
  const out = runIsolated(`import { Timeout } from 'evy'; new Timeout(1).cancel(); console.log('pass');`, ['--throw-deprecation']);
  assert.is(out.trim(), 'pass');
});

test('api_test.test_zero_second_sleep', () => {
  // sleep(0), green or patched, from a timer callback (outside any green thread) and from the main thread
  const out = runIsolated(`
import { getHub, monkeyPatch, sleep } from 'evy';
await sleep(0);
monkeyPatch();
const timers = await import('node:timers/promises');
const failures: unknown[] = [];
async function zeroSecondSleep() {
  try {
    await sleep(0);
    await timers.setTimeout(0);
  } catch (e) {
    failures.push(e);
    throw e;
  }
}
const fromTimer = new Promise<void>((res, rej) => getHub().scheduleCallLocal(0, () => { zeroSecondSleep().then(res, rej); }));
await zeroSecondSleep();
await fromTimer;
if (failures.length) throw new Error('there were failures');
console.log('pass');
`);
  assert.is(out.trim(), 'pass');
});

uvu.run();
