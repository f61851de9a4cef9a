import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as stockCp from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Event, GreenletExit, Timeout, sleep, spawn } from 'evy';
import * as gcp from 'evy/patched/child_process';
import { assertClean, captureStderr, rejection, tick } from '../helpers';

const NODE = process.execPath;
const THIS_FILE = __filename;


/** Child process and pipe handles (this process's own stdout and stderr may be pipes). */
function childHandles(): string[] {
  return process.getActiveResourcesInfo().filter((r) => r === 'ProcessWrap' || r === 'PipeWrap');
}
void process.stdout;
void process.stderr;
const baseline = childHandles();

/** Every child and pipe handle is gone, not only the hub's timers and listeners. */
test.after.each(async () => {
  await assertClean();
  for (let i = 0; i < 10 && childHandles().length > baseline.length; i++) await tick();
  assert.equal(childHandles(), baseline, 'no child process or pipe handle is left behind');
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    assert.is((err as NodeJS.ErrnoException).code, 'ESRCH');
    return false;
  }
}

/** A fresh directory for pid files and triggers; removed after `fn`. */
async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'evy-cp-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits (green) until `file` exists. */
async function until(file: string): Promise<void> {
  while (!existsSync(file)) await sleep(0.005);
}

test('every other node:child_process export is there, unchanged', () => {
  const wrapped = ['execSync', 'execFileSync', 'spawnSync'];
  for (const key of Object.keys(stockCp)) {
    if (key === 'default') continue;
    const mine = (gcp as Record<string, unknown>)[key];
    if (wrapped.includes(key)) {
      assert.type(mine, 'function', key);
      assert.is.not(mine, (stockCp as Record<string, unknown>)[key], `${key} is a wrapper`);
    } else {
      assert.is(mine, (stockCp as Record<string, unknown>)[key], key);
    }
  }
});

test('stock exec and spawn behave as in Node', async () => {
  const out = await new Promise<string>((resolve, reject) =>
    gcp.exec('echo stock; exit 0', (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  assert.is(out, 'stock\n');
  const child = gcp.spawn('sh', ['-c', 'exit 4']);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.is(code, 4);
  const r = gcp.spawnSync('sh', ['-c', 'printf sync'], { encoding: 'utf8' });
  assert.is(r.stdout, 'sync');
  assert.is(gcp.execFileSync('sh', ['-c', 'printf file']).toString(), 'file');
  assert.is(gcp.execSync('printf shell', { encoding: 'utf8' }), 'shell');
});

test('communicate: stdout, stderr and the exit code', async () => {
  const p = await gcp.popen('sh', ['-c', 'echo out; echo err >&2; exit 3'], { stdout: 'pipe', stderr: 'pipe' });
  assert.type(p.pid, 'number');
  const [out, err] = await p.communicate();
  assert.is(out!.toString(), 'out\n');
  assert.is(err!.toString(), 'err\n');
  assert.is(p.returncode, 3);
  assert.is(p.poll(), 3);
  assert.is(await p.wait(), 3);
});

test('communicate: input goes to stdin; streams that are not pipes give null', async () => {
  const p = await gcp.popen('cat', [], { stdin: 'pipe', stdout: 'pipe' });
  assert.equal(await p.communicate('hello'), [Buffer.from('hello'), null]);
  assert.is(p.returncode, 0);
  const q = await gcp.popen('cat', [], { stdin: 'ignore', stdout: 'ignore' });
  const e = await rejection(q.communicate('x'));
  assert.match(String(e), /stdin is not a pipe/);
  assert.is(await q.wait(), 0);
});

test("stderr: 'stdout' merges both into one pipe, in order", async () => {
  const p = await gcp.popen('sh', ['-c', 'echo a; echo b >&2; echo c'], { stdout: 'pipe', stderr: 'stdout' });
  assert.is(p.stderr, null);
  const [out, err] = await p.communicate();
  assert.is(out!.toString(), 'a\nb\nc\n');
  assert.is(err, null);
});

test('large input and outputs on both streams: no deadlock', async () => {
  // The child copies every chunk of its stdin to stdout and to stderr with
  // blocking writes: it stalls unless both pipes are read while input is written.
  const script =
    "const fs=require('fs');const b=Buffer.alloc(65536);let n;" +
    'while((n=fs.readSync(0,b,0,b.length,null))>0){fs.writeSync(1,b,0,n);fs.writeSync(2,b,0,n);}';
  const input = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < input.length; i++) input[i] = i % 251;
  const p = await gcp.popen(NODE, ['-e', script], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' });
  const other = spawn(async () => {
    let turns = 0;
    while (p.returncode === null) {
      turns++;
      await sleep(0);
    }
    return turns;
  });
  const [out, err] = await p.communicate(input);
  assert.is(p.returncode, 0);
  assert.ok(out!.equals(input), 'stdout is the input');
  assert.ok(err!.equals(input), 'stderr is the input');
  assert.ok((await other.wait()) > 0, 'other green threads ran meanwhile');
});

test('wait(timeout): TimeoutExpired names the command and leaves the child running', async () => {
  const p = await gcp.popen('sleep', ['30']);
  const e = (await rejection(p.wait(0.05))) as gcp.TimeoutExpired;
  assert.instance(e, gcp.TimeoutExpired);
  assert.equal(e.cmd, ['sleep', '30']);
  assert.is(e.timeout, 0.05);
  assert.match(e.message, /sleep 30.*timed out after 0\.05 seconds/);
  assert.is(p.poll(), null);
  assert.ok(alive(p.pid), 'Popen.wait does not kill on its own timeout');
  p.kill();
  assert.is(await p.wait(), -9);
  assert.not.ok(alive(p.pid));
});

test('a Timeout interrupting wait() kills the child and reaps it', async () => {
  const p = await gcp.popen('sleep', ['30']);
  const t = new Timeout(0.05);
  assert.is(await rejection(p.wait()), t);
  assert.is(p.returncode, -9, 'SIGKILL, as -9');
  assert.not.ok(alive(p.pid), 'killed and reaped: no zombie');
});

test('killing the thread waiting in communicate() kills and reaps the child', async () => {
  const p = await gcp.popen('sh', ['-c', 'echo started; exec sleep 30'], { stdout: 'pipe', stderr: 'pipe' });
  const started = new Event();
  p.stdout!.once('data', () => started.send());
  const gt = spawn(() => p.communicate());
  await sleep(0); // gt runs and parks in communicate()
  await started.wait();
  gt.kill();
  assert.is(await gt.wait(), undefined, 'GreenletExit: a clean exit');
  assert.is(p.returncode, -9);
  assert.not.ok(alive(p.pid));
});

test('a killed thread gets the error it was killed with, after the child is reaped', async () => {
  const p = await gcp.popen('sleep', ['30']);
  const boom = new Error('boom');
  const gt = spawn(() => p.wait());
  await sleep(0);
  gt.kill(boom);
  assert.is(await rejection(gt.wait()), boom);
  assert.is(p.returncode, -9);
  assert.not.ok(alive(p.pid));
});

test('communicate(timeout): TimeoutExpired with the output so far; a second call goes on', () =>
  withDir(async (dir) => {
    const go = join(dir, 'go');
    const script = `echo first; while [ ! -e '${go}' ]; do sleep 0.01; done; echo second`;
    const p = await gcp.popen('sh', ['-c', script], { stdout: 'pipe' });
    const e = (await rejection(p.communicate(null, 1))) as gcp.TimeoutExpired;
    assert.instance(e, gcp.TimeoutExpired);
    assert.is(e.output!.toString(), 'first\n');
    assert.is(e.stdout, e.output);
    assert.is(e.stderr, null);
    assert.ok(alive(p.pid));
    writeFileSync(go, '');
    const [out] = await p.communicate();
    assert.is(out!.toString(), 'first\nsecond\n');
    assert.is(p.returncode, 0);
  }));

test('poll, terminate, sendSignal', async () => {
  const p = await gcp.popen('sleep', ['30']);
  assert.is(p.poll(), null);
  p.terminate();
  assert.is(await p.wait(), -15);
  assert.is(p.poll(), -15);
  p.terminate(); // an exited child: nothing happens
  const q = await gcp.popen('sleep', ['30']);
  q.sendSignal('SIGINT');
  assert.is(await q.wait(), -2);
  const r = await gcp.popen('sh', ['-c', 'exit 7']);
  assert.is(await r.wait(), 7);
});

test('a missing executable rejects with the ENOENT error', async () => {
  const e = (await rejection(gcp.popen('evy-no-such-program', ['x'], { stdout: 'pipe', stderr: 'stdout' }))) as NodeJS.ErrnoException;
  assert.is(e.code, 'ENOENT');
  assert.is(e.syscall, 'spawn evy-no-such-program');
  assert.is(e.path, 'evy-no-such-program');
  const e2 = (await rejection(gcp.checkOutput('evy-no-such-program'))) as NodeJS.ErrnoException;
  assert.is(e2.code, 'ENOENT');
  const e3 = (await rejection(gcp.call('evy-no-such-program'))) as NodeJS.ErrnoException;
  assert.is(e3.code, 'ENOENT');
});

test('bad options are refused with a message naming them', async () => {
  assert.match(String(await rejection(gcp.popen('true', [], { stdout: 'stdout' as 'pipe' }))), /stdout must be/);
  assert.match(String(await rejection(gcp.popen(''))), /command must be a non-empty string/);
  const p = await gcp.popen('true');
  assert.throws(() => p.wait(-1), /must not be negative/);
  assert.is(await p.wait(), 0);
});

test('checkOutput: stdout as a Buffer; cwd, env and input are honoured', async () => {
  assert.is((await gcp.checkOutput('sh', ['-c', 'printf "%s %s" "$(pwd)" "$EVY_X"'], { cwd: '/', env: { EVY_X: 'y' } })).toString(), '/ y');
  assert.is((await gcp.checkOutput('cat', [], { input: 'fed' })).toString(), 'fed');
});

test('checkOutput: a non-zero exit rejects with CalledProcessError', async () => {
  const e = (await rejection(
    gcp.checkOutput('sh', ['-c', 'echo partial; echo oops >&2; exit 2'], { stderr: 'pipe' }),
  )) as gcp.CalledProcessError;
  assert.instance(e, gcp.CalledProcessError);
  assert.is(e.returncode, 2);
  assert.equal(e.cmd, ['sh', '-c', 'echo partial; echo oops >&2; exit 2']);
  assert.is(e.output!.toString(), 'partial\n');
  assert.is(e.stdout, e.output);
  assert.is(e.stderr!.toString(), 'oops\n');
  assert.match(e.message, /returned non-zero exit status 2/);
  const k = (await rejection(gcp.checkOutput('sh', ['-c', 'kill -9 $$']))) as gcp.CalledProcessError;
  assert.is(k.returncode, -9);
  assert.match(k.message, /died with signal SIGKILL \(9\)/);
});

test('call: the returncode', async () => {
  assert.is(await gcp.call('sh', ['-c', 'exit 5']), 5);
  assert.is(await gcp.call('true'), 0);
});

test('checkOutput(timeout): the child is killed and reaped, TimeoutExpired is thrown', () =>
  withDir(async (dir) => {
    const pidFile = join(dir, 'pid');
    const e = await rejection(gcp.checkOutput('sh', ['-c', `echo $$ > '${pidFile}'; exec sleep 30`], { timeout: 1 }));
    assert.instance(e, gcp.TimeoutExpired);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(pid > 0);
    assert.not.ok(alive(pid), 'killed and reaped');
  }));

test('a Timeout around call() kills the child', () =>
  withDir(async (dir) => {
    const pidFile = join(dir, 'pid');
    const gt = spawn(() => gcp.call('sh', ['-c', `echo $$ > '${pidFile}'; exec sleep 30`]));
    await until(pidFile);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(alive(pid));
    gt.kill(new GreenletExit());
    await gt.wait();
    assert.not.ok(alive(pid));
  }));

test('EVY_WARN_BLOCKING=1: one line naming the caller, then the stock call', async () => {
  const [quiet, none] = await captureStderr(() => gcp.execSync('printf a').toString());
  assert.is(quiet, 'a');
  assert.is(none, '', 'no warning without EVY_WARN_BLOCKING');
  process.env.EVY_WARN_BLOCKING = '1';
  try {
    for (const [name, call] of [
      ['execSync', () => gcp.execSync('printf b').toString()],
      ['execFileSync', () => gcp.execFileSync('printf', ['b']).toString()],
      ['spawnSync', () => gcp.spawnSync('printf', ['b']).stdout.toString()],
    ] as const) {
      const [r, printed] = await captureStderr(call);
      assert.is(r, 'b');
      const lines = printed.split('\n').filter((l) => l !== '');
      assert.is(lines.length, 1, `${name}: one line`);
      const m = new RegExp(`^evy: blocking call ${name}\\(\\) at (.+):(\\d+):(\\d+) freezes every green thread$`).exec(lines[0]);
      assert.ok(m, `${name}: ${lines[0]}`);
      assert.is(m![1], THIS_FILE, 'the caller is this test file');
    }
  } finally {
    delete process.env.EVY_WARN_BLOCKING;
  }
});

test('__evyPatch: the wrappers and the green calls on the builtin object', async () => {
  const fake: Record<string, unknown> = { execSync: stockCp.execSync, spawn: stockCp.spawn };
  gcp.__evyPatch(fake);
  assert.is(fake.execSync, gcp.execSync);
  assert.is(fake.execFileSync, gcp.execFileSync);
  assert.is(fake.spawnSync, gcp.spawnSync);
  assert.is(fake.spawn, stockCp.spawn);
  assert.is(fake.popen, gcp.popen);
  assert.is(fake.checkOutput, gcp.checkOutput);
  assert.is(fake.call, gcp.call);
  process.env.EVY_WARN_BLOCKING = '1';
  try {
    const [, printed] = await captureStderr(() => (fake.execSync as typeof stockCp.execSync)('true'));
    assert.match(printed, `evy: blocking call execSync() at ${THIS_FILE}:`);
  } finally {
    delete process.env.EVY_WARN_BLOCKING;
  }
});

test.run();
