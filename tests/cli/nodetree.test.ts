import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..', '..');
const evy = join(root, 'bin', 'evy');
const tree = join(__dirname, 'fixtures', 'node-tree');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodetree = require(join(root, 'dist', 'cli', 'nodetree.js')) as typeof import('../../runtime/cli/nodetree');
const scratch = mkdtempSync(join(tmpdir(), 'evy-nodetree-test-'));

function evyTest(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [evy, 'test', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** A copy of the fixture tree, with `edit` applied to it. */
function treeCopy(name: string, edit: (dir: string) => void): string {
  const dir = join(scratch, name);
  cpSync(tree, dir, { recursive: true });
  edit(dir);
  return dir;
}

/** Whether `pid` runs, waiting up to 5 s for a killed one to go (a zombie counts as gone). */
function stillRunning(pid: number): boolean {
  for (let i = 0; i < 50; i++) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return false;
    }
    if (/^\d+ \(.*\) Z/.test(stat)) return false;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
  return true;
}

test('the whole fixture tree: per-module lines, greened failures with output, the total over stock passes', () => {
  const pids = join(scratch, 'pids');
  const r = evyTest(['--node-tree', tree, '--timeout', '5'], { NODE_TREE_FIXTURE_PIDS: pids });
  assert.is(r.code, 1);
  assert.match(r.out, /^net: 2 of 2 pass on stock \(0 fail, 0 skipped\); greened: 1 passed, 1 failed$/m);
  // The greened failure, with its output.
  assert.match(r.out, /^ {2}✘ parallel\/test-net-evy-loaded\.js: greened, exited with code 1 \(stock: passed\)$/m);
  assert.match(r.out, /^ {6}\| AssertionError \[ERR_ASSERTION\]: evy is loaded$/m);
  // A test that fails on stock is listed, not counted.
  assert.match(r.out, /^dns: 0 of 1 pass on stock \(1 fail, 0 skipped\); greened: 0 passed, 0 failed$/m);
  assert.match(r.out, /^ {2}not counted, failing on stock: test-dns-newer-node\.js \(exited with code 1\)$/m);
  assert.match(r.out, /^tls: 0 of 1 pass on stock \(0 fail, 1 skipped\); greened: 0 passed, 0 failed$/m);
  // An ES module test.
  assert.match(r.out, /^http: 1 of 1 pass on stock \(0 fail, 0 skipped\); greened: 1 passed, 0 failed$/m);
  // test-timers-flags.js passes only with its `// Flags: --expose-gc`; the sequential one is run too.
  assert.match(r.out, /^timers: 2 of 2 pass on stock \(0 fail, 0 skipped\); greened: 2 passed, 0 failed$/m);
  assert.match(r.out, /not counted, failing on stock: test-child-process-hang\.js \(timed out after 5 s, killed\)$/m);
  // Not tests of these modules: http2, fs, a helper.
  assert.not.match(r.out, /http2|not-a-module|helper-not-a-test|^cluster:|^https:/m);
  assert.match(r.out, /\n4 passed, 1 failed\n$/);
  // The hanging test's child went with it (its process group).
  const childPid = Number(readFileSync(pids, 'utf8').trim());
  assert.ok(childPid > 0);
  assert.not.ok(stillRunning(childPid), `the hanging test's child ${childPid} is still running`);
});

test('a tree of another Node version gets a warning naming both versions', () => {
  const r = evyTest(['--node-tree', tree, 'test-net-echo']);
  assert.match(r.out, new RegExp(`Node v1\\.2\\.3's tests on Node ${process.version.replace(/\./g, '\\.')}`));
  assert.match(r.out, new RegExp(`^warning: the tree is Node v1\\.2\\.3, the running Node is ${process.version.replace(/\./g, '\\.')}: `, 'm'));
  assert.match(r.out, new RegExp(`a checkout of nodejs/node at tag ${process.version.replace(/\./g, '\\.')} matches`));
  assert.is(r.code, 0);
});

test("a tree of the running Node's version gets no warning; doc/changelogs and node_version.ts tell the version too", () => {
  const v = process.version.slice(1).split('.');
  const header = treeCopy('header', (d) =>
    writeFileSync(join(d, 'src', 'node_version.h'), `#define NODE_MAJOR_VERSION ${v[0]}\n#define NODE_MINOR_VERSION ${v[1]}\n#define NODE_PATCH_VERSION ${v[2]}\n`),
  );
  const r = evyTest(['--node-tree', header, 'test-net-echo']);
  assert.not.match(r.out, /warning/);
  assert.is(r.out.split('\n').slice(1).join('\n'), 'net: 1 of 1 pass on stock (0 fail, 0 skipped); greened: 1 passed, 0 failed\n1 passed, 0 failed\n');
  assert.is(r.code, 0);

  const changelog = treeCopy('changelog', (d) => {
    rmSync(join(d, 'src'), { recursive: true });
    mkdirSync(join(d, 'doc', 'changelogs'), { recursive: true });
    writeFileSync(join(d, 'doc', 'changelogs', 'CHANGELOG_V19.md'), '<a id="19.9.0"></a>\n');
    writeFileSync(join(d, 'doc', 'changelogs', 'CHANGELOG_V20.md'), '# Node.js 20 ChangeLog\n<a id="20.11.1"></a>\n## x\n<a id="20.11.0"></a>\n');
  });
  assert.is(nodetree.treeVersion(changelog), '20.11.1');
  const mirror = treeCopy('mirror', (d) => {
    rmSync(join(d, 'src'), { recursive: true });
    writeFileSync(join(d, 'node_version.ts'), 'export const version = "20.11.1";\n');
  });
  assert.is(nodetree.treeVersion(mirror), '20.11.1');
});

test('a tree that says no version gets a warning that it cannot tell', () => {
  const bare = treeCopy('bare', (d) => rmSync(join(d, 'src'), { recursive: true }));
  assert.is(nodetree.treeVersion(bare), null);
  const r = evyTest(['--node-tree', bare, 'test-net-echo']);
  assert.match(r.out, /^warning: cannot tell which Node version .* is from/m);
  assert.match(r.out, /\n1 passed, 0 failed\n$/);
});

test('patterns: module names, globs, parts of names; one matching nothing is a failure', () => {
  const mod = evyTest(['--node-tree', tree, 'net']);
  assert.match(mod.out, /^net: 2 of 2/m);
  assert.not.match(mod.out, /^(dns|tls|http|timers|child_process):/m);
  assert.match(mod.out, /\n1 passed, 1 failed\n$/);
  const glob = evyTest(['--node-tree', tree, 'test-timers-*', 'child-process-hang.js', '--timeout', '5']);
  assert.match(glob.out, /^timers: 2 of 2 pass on stock/m);
  assert.match(glob.out, /^child_process: 0 of 1 pass on stock \(1 fail/m);
  assert.match(glob.out, /\n2 passed, 0 failed\n$/);
  assert.is(glob.code, 0);
  const none = evyTest(['--node-tree', tree, 'net', 'test-no-such-*']);
  assert.is(none.code, 1);
  assert.match(none.out, /no net\/dns\/tls\/http\/https\/timers\/child_process\/cluster test in .* matches "test-no-such-\*"/);
  assert.match(none.out, /\n1 passed, 2 failed\n$/);
});

test('a run where no test passes on stock is a failure', () => {
  const r = evyTest(['--node-tree', tree, 'dns', 'tls']);
  assert.is(r.code, 1);
  assert.match(r.out, /evy test --node-tree: no test ran that passes on stock\n0 passed, 1 failed\n$/);
});

test('--jobs 2 runs the parallel tests two at a time, with the same results', () => {
  const r = evyTest(['--node-tree', tree, '-j', '2', 'net', 'http', 'timers']);
  assert.match(r.out, /^net: 2 of 2 pass on stock \(0 fail, 0 skipped\); greened: 1 passed, 1 failed$/m);
  assert.match(r.out, /^http: 1 of 1 pass on stock/m);
  assert.match(r.out, /^timers: 2 of 2 pass on stock \(0 fail, 0 skipped\); greened: 2 passed, 0 failed$/m);
  assert.match(r.out, /\n4 passed, 1 failed\n$/);
});

test('bad input: not a tree, a bad --jobs or --timeout, bad options to runNodeTree', async () => {
  const notTree = evyTest(['--node-tree', scratch]);
  assert.is(notTree.code, 1);
  assert.match(notTree.out, /is not a Node source tree \(no test\/parallel or test\/sequential\)\n0 passed, 1 failed\n$/);
  const jobs = evyTest(['--node-tree', tree, '-j', '0']);
  assert.is(jobs.code, 1);
  assert.match(jobs.out, /argument '0' is invalid\. expected a whole number, 1 or more/);
  const timeout = evyTest(['--node-tree', tree, '--timeout', 'soon']);
  assert.is(timeout.code, 1);
  assert.match(timeout.out, /argument 'soon' is invalid\. expected a number of seconds, more than 0/);
  let err: unknown;
  try {
    await nodetree.runNodeTree(tree, [], { jobs: 1.5, write: () => {} });
  } catch (e) {
    err = e;
  }
  assert.instance(err, RangeError);
  assert.match((err as Error).message, /jobs must be a whole number, 1 or more \(got 1\.5\)/);
  await nodetree.runNodeTree(tree, [], { timeoutMs: 0, write: () => {} }).then(
    () => assert.unreachable('a time limit of 0 was taken'),
    (e: Error) => assert.match(e.message, /time limit must be more than 0 ms \(got 0\)/),
  );
});

test('testModule, testFlags: the module from the file name, the first Flags: line', () => {
  const m = nodetree.testModule;
  assert.is(m('test-net-socket-timeout.js'), 'net');
  assert.is(m('test-dns.js'), 'dns');
  assert.is(m('test-http-client-abort.mjs'), 'http');
  assert.is(m('test-https-agent.js'), 'https');
  assert.is(m('test-child-process-fork.js'), 'child_process');
  assert.is(m('test-cluster-basic.js'), 'cluster');
  assert.is(m('test-timers.js'), 'timers');
  assert.is(m('test-http2-session.js'), null);
  assert.is(m('test-child-spawn.js'), null);
  assert.is(m('test-net-foo.json'), null);
  assert.is(m('net-helper.js'), null);
  assert.equal(nodetree.testFlags("'use strict';\n// Flags: --expose-internals  --no-warnings\n// Flags: --other\n"), [
    '--expose-internals',
    '--no-warnings',
  ]);
  assert.equal(nodetree.testFlags("'use strict';\n// no flags here\n"), []);
});

test.after(() => rmSync(scratch, { recursive: true, force: true }));

test.run();
