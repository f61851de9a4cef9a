// Blocking detection: the native watchdog reports code that holds the loop,
// while it holds it, with the green thread and its source-mapped stack.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sleep, spawn } from 'evy';
import { BlockingDetected, hubBlockingDetection, hubBlockingDetectionOn as watchdogRunning, onBlockReport, type BlockReport } from 'evy/tools/debug';
import { assertClean, rejection } from '../helpers';

const root = resolve(__dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'evy-blocking-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** OS threads of this process: the watchdog's must be gone after each test. */
/** This process's OS threads named evy-watchdog (V8 starts and ends threads of its own, so a bare count is not a measure). */
function watchdogThreads(): number {
  return readdirSync('/proc/self/task').filter((t) => {
    try {
      return readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'evy-watchdog';
    } catch {
      return false; // the thread ended while we looked
    }
  }).length;
}

function evyRun(args: string[], source: string): { code: number | null; out: string; err: string; file: string } {
  const file = join(dir, `s${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(file, source);
  const r = spawnSync(process.execPath, [join(root, 'bin', 'evy'), 'run', ...args, file], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr, file };
}

test('a busy loop in a named function of a green thread is reported while it blocks, with its .ts line', () => {
  const r = evyRun(['--block-warn', '0.1'], [
    "import { spawn } from 'evy';",
    "import { writeSync } from 'node:fs';",
    '',
    'function spinHard(ms: number): void {',
    '  const t = Date.now() + ms;',
    '  while (Date.now() < t) {}',
    '}',
    '',
    "const gt = spawn(function worker() { spinHard(600); }).named('spinner');",
    'await gt.wait();',
    "writeSync(2, 'SPIN OVER\\n');", // the same fd as the reports: their order is the order of events
  ].join('\n'));
  assert.is(r.code, 0, r.err);
  const [during, after] = r.err.split('SPIN OVER\n');
  assert.match(during, /evy: the loop has been blocked for 0\.\d{3} s, in green thread \d+:\n\s+at spinHard \(.*\.ts:6:\d+\)\n\s+at worker \(.*\.ts:9:\d+\)/);
  const n = during.match(/has been blocked/g)!.length;
  assert.ok(n >= 2, `reported again while it goes on (${n} reports)`);
  assert.match(after ?? '', /evy: the loop was blocked for 0\.[5-9]\d{2} s in all/, 'and once more at the end, with the total');
});

test('execSync is reported while it blocks, and its caller once it returns', () => {
  const r = evyRun(['--block-warn', '0.2'], [
    "import { execSync } from 'node:child_process';",
    "import { writeSync } from 'node:fs';",
    "function runTool() { execSync('sleep 1'); }",
    'runTool();',
    "writeSync(2, 'EXEC OVER\\n');",
  ].join('\n'));
  assert.is(r.code, 0, r.err);
  const [during, after] = r.err.split('EXEC OVER\n');
  assert.match(during, /evy: the loop has been blocked for 0\.\d{3} s, in the main green thread \(no JS stack yet: it is in native code/);
  // V8 runs the stack interrupt at its next check after execSync returns,
  // which may come after the script's last frame (then the end report has no stack).
  const end = /blocked for \d\.\d{3} s in all, in the main green thread(, at:\n[\s\S]*)?$/m.exec(during + after);
  assert.ok(end !== null, r.err);
  // The stack is where V8 first stopped after execSync returned: in it, in
  // its caller, or on a later line of the script.
  if (end[1] !== undefined) assert.match(end[1], /at (execSync|runTool|.*\.ts:[345]:\d+)/, r.err);
});

test('a busy server that yields gets no report; the callbacks get the reports of a real block', async () => {
  assert.is(watchdogThreads(), 0, 'no watchdog thread before');
  const got: BlockReport[] = [];
  const off = onBlockReport((r) => got.push(r));
  hubBlockingDetection(true, 0.5, { quiet: true, raise: false });
  assert.ok(watchdogRunning());
  for (let i = 0; i < 200 && watchdogThreads() === 0; i++) await sleep(0.01); // it names itself as it starts
  assert.is(watchdogThreads(), 1, 'one watchdog thread while it runs');
  const workers = [];
  const stopAt = Date.now() + 1500;
  for (let i = 0; i < 8; i++) {
    workers.push(
      spawn(async () => {
        let n = 0;
        while (Date.now() < stopAt) {
          for (let k = 0; k < 1000; k++) n += k; // a little work, then a yield
          await sleep(0);
        }
        return n;
      }),
    );
  }
  for (const w of workers) await w.wait();
  await sleep(0.1);
  assert.equal(got, [], 'no report for a loop that keeps turning');
  const gt = spawn(function hog() {
    const t = Date.now() + 1200;
    while (Date.now() < t) {}
  }).named('the hog');
  await gt.wait();
  for (let i = 0; i < 100 && !got.some((r) => r.kind === 'ended'); i++) await sleep(0.01);
  const blocking = got.filter((r) => r.kind === 'blocking');
  assert.ok(blocking.length >= 1, JSON.stringify(got));
  assert.is(blocking[0].threadId, gt.id);
  assert.is(blocking[0].threadName, 'the hog');
  assert.match(blocking[0].stack, /at hog \(.*blocking\.test\.ts:\d+:\d+\)/);
  const end = got.find((r) => r.kind === 'ended')!;
  assert.ok(end.seconds >= 1.0 && end.seconds < 30, `the total: ${end.seconds}`);
  hubBlockingDetection(false);
  off();
  assert.not.ok(watchdogRunning());
  for (let i = 0; i < 200 && watchdogThreads() > 0; i++) await sleep(0.01); // it is joined as its handles close
  assert.is(watchdogThreads(), 0, 'the watchdog thread is gone');
  await assertClean();
});

test('it raises BlockingDetected in the thread that blocked (as Evy does), unless told not to; bad resolutions are refused', async () => {
  hubBlockingDetection(true, 0.1, { quiet: true });
  const spin = (): void => {
    const t = Date.now() + 400;
    while (Date.now() < t) {}
  };
  const err = await rejection(spawn(spin).wait());
  assert.instance(err, BlockingDetected);
  hubBlockingDetection(true, 0.1, { quiet: true, raise: false });
  assert.is(await spawn(spin).wait(), undefined);
  hubBlockingDetection(false);
  hubBlockingDetection(false); // harmless twice
  assert.throws(() => hubBlockingDetection(true, 0), RangeError);
  assert.throws(() => hubBlockingDetection(true, Number.NaN), /resolution must be a number of seconds/);
  assert.not.ok(watchdogRunning());
  await assertClean();
});

test('evy run --block-warn refuses a bad number', () => {
  const r = evyRun(['--block-warn', 'soon'], 'console.log(1);');
  assert.is(r.code, 1);
  assert.match(r.err, /--block-warn: expected a positive number of seconds, got 'soon'/);
});

test.run();
