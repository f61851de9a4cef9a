import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..', '..');
const evy = join(root, 'bin', 'evy');
const fixtures = join(__dirname, 'fixtures', 'stdlib');

function evyTest(args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [evy, 'test', '--scenarios-dir', fixtures, ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    // hang.ts's scenario never finishes: a short per-scenario limit in the runner.
    env: { ...process.env, EVY_STDLIB_TIMEOUT_MS: '300' },
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

test('agreeing scenarios: the per-module line, the final line, exit 0', () => {
  const r = evyTest(['agree']);
  assert.is(r.out, 'agree: 2 passed, 0 failed\n2 passed, 0 failed\n');
  assert.is(r.code, 0);
});

test('a diverging trace and a throwing scenario are failures, with the first differing entry', () => {
  const r = evyTest(['diverge']);
  assert.is(r.code, 1);
  assert.match(r.out, /^diverge: 1 passed, 2 failed$/m);
  assert.match(r.out, /✘ diverge › reads the mode: trace differs at entry #1/);
  assert.match(r.out, /stock: +\["mode","stock"\]/);
  assert.match(r.out, /patched: +\["mode","patched"\]/);
  assert.match(r.out, /✘ diverge › throws: failed on stock: .*scenario bug/);
  assert.match(r.out, /\n1 passed, 2 failed\n$/);
});

test('every module by default; an unknown module is a failure', () => {
  const all = evyTest([]);
  assert.match(all.out, /^agree: 2 passed, 0 failed$/m);
  assert.match(all.out, /^diverge: 1 passed, 2 failed$/m);
  assert.match(all.out, /^hang: 1 passed, 1 failed$/m);
  assert.match(all.out, /\n4 passed, 3 failed\n$/);
  const none = evyTest(['nosuchmodule']);
  assert.is(none.code, 1);
  assert.match(none.out, /nosuchmodule: no scenario file/);
  assert.match(none.out, /\n0 passed, 1 failed\n$/);
});

test('a scenario over the time limit is a failure; the runner goes on', () => {
  const r = evyTest(['hang']);
  assert.is(r.code, 1);
  assert.match(r.out, /✘ hang › never finishes: failed on stock: .*did not finish within/);
  assert.match(r.out, /\n1 passed, 1 failed\n$/);
});

test('--filter picks scenarios by name', () => {
  const r = evyTest(['diverge', '--filter', 'agrees']);
  assert.is(r.out, 'diverge: 1 passed, 0 failed\n1 passed, 0 failed\n');
  assert.is(r.code, 0);
});

test('a run that checks nothing fails: a filter matching no scenario, an empty scenarios dir', () => {
  const r = evyTest(['agree', '--filter', 'no scenario is called this']);
  assert.is(r.code, 1);
  assert.match(r.out, /evy test: no scenario ran \(no scenario name contains "no scenario is called this"\)/);
  assert.match(r.out, /\n0 passed, 1 failed\n$/);
  const empty = mkdtempSync(join(tmpdir(), 'evy-noscenarios-'));
  try {
    const e = spawnSync(process.execPath, [evy, 'test', '--scenarios-dir', empty], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    assert.is(e.status, 1);
    assert.match(e.stdout, /evy test: no scenario files in /);
    assert.match(e.stdout, /\n0 passed, 1 failed\n$/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test.run();
