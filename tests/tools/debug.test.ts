// evy/tools/debug: the hub listings with their stacks, spew's trace of a small
// script line by line, and the exception switches.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { getHub, sleep, spawn } from 'evy';
import * as os from 'evy/patched/os';
import * as debug from 'evy/tools/debug';
import { assertClean, captureStderr } from '../helpers';
import { setTpoolExceptions, tpoolExceptions as tpoolPrinting } from 'evy/tpool';

const hub = getHub();
const root = resolve(__dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'evy-debug-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `lines` to `file`, runs it with `evy run` and returns its stdout's lines (it must exit 0, with nothing on stderr). */
function evyRun(file: string, lines: string[]): string[] {
  writeFileSync(file, lines.join('\n'));
  const r = spawnSync(process.execPath, [join(root, 'bin', 'evy'), 'run', file], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.stderr, '');
  assert.is(r.status, 0);
  return r.stdout.trimEnd().split('\n');
}

test('formatHubTimers lists each pending timer, with the stack that made it under hubTimerStacks', async () => {
  assert.is(debug.formatHubTimers(), 'no pending timers\n');
  const plain = hub.scheduleCallGlobal(30, function withoutStack() {});
  debug.hubTimerStacks(true);
  const t = hub.scheduleCallGlobal(20, function flushCaches() {});
  debug.hubTimerStacks(false);
  const text = debug.formatHubTimers();
  const [first, ...rest] = text.split('\n');
  assert.match(first, /^timer in 19\.\d{3} s: flushCaches$/, 'the earliest first');
  assert.match(rest.join('\n'), /at .*debug\.test\.ts:\d+:\d+[\s\S]*timer in 29\.\d{3} s: withoutStack\n$/);
  t.cancel();
  plain.cancel();
  await assertClean();
});

test('formatHubListeners lists each fd listener, with the stack that added it under hubListenerStacks', async () => {
  assert.is(debug.formatHubListeners(), 'no fd listeners\n');
  const [r, w] = os.pipe();
  debug.hubListenerStacks(true);
  const l = hub.addReader(r, function onPipeReadable() {});
  debug.hubListenerStacks(false);
  const text = debug.formatHubListeners();
  assert.match(text, new RegExp(`^read listener on fd ${r}: onPipeReadable\\n[\\s\\S]*at .*debug\\.test\\.ts:\\d+:\\d+`));
  assert.is(hub.captureStacks, false, 'both switches off: no stacks recorded');
  hub.remove(l);
  os.close(r);
  os.close(w);
  await assertClean();
});

test('spew traces every line and every switch of a small script, in order, with values; unspew stops it', () => {
  const file = join(dir, 'spewed.ts');
  const lines = evyRun(file, [
    "import { spawn, sleep, Queue } from 'evy';",
    "import { spew, unspew } from 'evy/tools/debug';",
    'const q = new Queue<number>();',
    'spew(null, true);',
    'spawn(async function producer() {',
    '  const n: number = 3 + 4;',
    '  await sleep(0.01);',
    '  q.putNowait(n);',
    '});',
    'const v = await q.get();',
    'unspew();',
    'await sleep(0.01);',
    "console.log('got', v);",
  ]);
  const at = (line: number, col: number): string => `${file}:${line}:${col}`;
  const ln = (line: number, text: string): string => `spew: ${file}:${line}: ${text}`;
  assert.equal(lines, [
    ln(5, 'spawn(async function producer() {  [spawn=[Function: spawn]]'),
    ln(10, 'const v = await q.get();  [v=undefined q=Queue]'),
    `spew: thread 2 'producer' starts (spawned at ${at(5, 1)})`,
    ln(6, 'const n: number = 3 + 4;  [n=undefined]'),
    ln(7, 'await sleep(0.01);  [sleep=[Function: sleep]]'),
    `spew: thread 2 'producer' resumes after sleep at ${at(7, 9)} <- undefined`,
    ln(8, 'q.putNowait(n);  [q=Queue n=7]'),
    ln(9, '});'),
    `spew: thread main resumes after Queue.get at ${at(10, 19)} <- 7`,
    ln(11, 'unspew();  [unspew=[Function: unspew]]'),
    'got 7',
  ]);
});

test("spew's lines keep to the files named", () => {
  const lib = join(dir, 'spewlib.ts');
  const main = join(dir, 'spewmain.ts');
  writeFileSync(lib, ['export function double(x: number): number {', '  return x * 2;', '}'].join('\n'));
  const lines = evyRun(main, [
    "import { spew, unspew } from 'evy/tools/debug';",
    "import { double } from './spewlib.ts';",
    "spew(['spewlib']);",
    'const y = double(21);',
    'unspew();',
    "console.log('y', y);",
  ]);
  assert.equal(lines, [`spew: ${lib}:2: return x * 2;`, 'y 42']);
});

test("spew's traceNames keeps only the switches parked in the files named", async () => {
  const out: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  try {
    debug.spew(['no-such-file.ts']);
    await spawn(async () => sleep(0.001)).wait();
    debug.unspew();
    debug.spew(['debug.test']);
    await spawn(async function traced() {
      await sleep(0.001);
    }).wait();
    debug.unspew();
    await sleep(0);
  } finally {
    process.stdout.write = write;
  }
  assert.ok(out.length >= 2, out.join(''));
  assert.ok(out.every((l) => l.includes('debug.test.ts')), out.join(''));
  assert.ok(out.some((l) => /thread \d+ 'traced' resumes after sleep at .*debug\.test\.ts/.test(l)), out.join(''));
  assert.is(hub.switchHook, null);
  assert.is(hub.threadStacks, false, 'stack recording is back as it was');
  assert.throws(() => debug.spew('x' as unknown as string[]), /traceNames must be an array of strings/);
  await assertClean();
});

test('hubExceptions(true) prints the error a thread ends with even when it is waited for; tpoolExceptions is a flag', async () => {
  const boom = async function failing(): Promise<never> {
    await sleep(0);
    throw new Error('seen by hubExceptions');
  };
  let [, printed] = await captureStderr(async () => {
    await spawn(boom).wait().catch(() => {});
  });
  assert.is(printed, '', 'waited for: not printed by default');
  debug.hubExceptions(true);
  [, printed] = await captureStderr(async () => {
    await spawn(boom).wait().catch(() => {});
  });
  debug.hubExceptions(false);
  assert.match(printed, /error in green thread \d+:\nError: seen by hubExceptions/);
  debug.tpoolExceptions(true);
  assert.is(tpoolPrinting(), true, "evy/tpool's flag is debug's");
  setTpoolExceptions(false);
  assert.is(tpoolPrinting(), false);
  await assertClean();
});

test.run();
