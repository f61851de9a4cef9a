// `evy test --node-tree DIR [pattern...]`: Node's own tests, on stock Node and
// greened. The test/parallel and test/sequential files of a Node source tree
// for the modules evy greens run one at a time, each first on stock Node and
// then with monkeyPatch() preloaded (greenpreload.js, the world as `evy run`
// makes it), with the file's `// Flags:` and a time limit. A test passes when
// its process exits 0, as Node's tools/test.py has it. The counts are over the
// tests that pass on stock: a test the running Node fails by itself says
// nothing about evy.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** The modules whose tests `--node-tree` runs, in report order. */
export const NODE_TREE_MODULES = ['net', 'dns', 'tls', 'http', 'https', 'timers', 'child_process', 'cluster'] as const;

export type NodeTreeModule = (typeof NODE_TREE_MODULES)[number];

/** One test file of the tree. */
export interface NodeTreeTest {
  module: NodeTreeModule;
  /** 'parallel' or 'sequential': sequential tests never run next to another. */
  suite: 'parallel' | 'sequential';
  /** `parallel/test-net-foo.js`: the name in the report. */
  name: string;
  file: string;
}

export interface NodeTreeOptions {
  /** Tests run at the same time (sequential ones always run alone). Default 1. */
  jobs?: number;
  /** Per-run time limit, ms; past it the test's process group is killed. Default 60 s. */
  timeoutMs?: number;
  /** Where the report goes (default process.stdout). */
  write?: (text: string) => void;
}

export interface NodeTreeResult {
  /** Tests that pass on stock and greened. */
  passed: number;
  /** Tests that pass on stock and fail greened, plus patterns matching nothing. */
  failed: number;
}

/** How one run of one test went. */
interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  skipped: boolean;
  output: string;
}

const PRELOAD = path.join(__dirname, 'greenpreload.js');
/** Output kept per run (its tail), and lines of it shown for a failure. */
const OUTPUT_CAP = 256 * 1024;
const SHOWN_LINES = 40;
/** After a test's process exits, how long its pipes may stay open (held by a child of its own). */
const CLOSE_GRACE_MS = 2_000;

/** The module a test file belongs to, from its name (`test-child-process-fork.js`), or null. */
export function testModule(fileName: string): NodeTreeModule | null {
  const m = /^test-([a-z0-9]+)(?:-([a-z0-9]+))?.*\.m?js$/.exec(fileName);
  if (!m) return null;
  if (m[1] === 'child') return m[2] === 'process' ? 'child_process' : null;
  return (NODE_TREE_MODULES as readonly string[]).includes(m[1]) ? (m[1] as NodeTreeModule) : null;
}

/** The flags of a test's `// Flags:` line (the first one, as tools/test.py reads it). */
export function testFlags(source: string): string[] {
  const m = /\/\/\s+Flags:(.*)/.exec(source);
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
}

/**
 * The Node version a tree is from (`20.11.1`): its src/node_version.h, else
 * the newest entry of its doc/changelogs/CHANGELOG_V<major>.md, else a
 * node_version.ts/js at its root (test-only mirrors such as
 * denoland/node_test keep one); null when none of them says.
 */
export function treeVersion(dir: string): string | null {
  const read = (p: string): string | null => {
    try {
      return readFileSync(path.join(dir, p), 'utf8');
    } catch {
      return null;
    }
  };
  const header = read(path.join('src', 'node_version.h'));
  if (header) {
    const part = (n: string): string | undefined => new RegExp(`#define NODE_${n}_VERSION (\\d+)`).exec(header)?.[1];
    const [major, minor, patch] = [part('MAJOR'), part('MINOR'), part('PATCH')];
    if (major && minor && patch) return `${major}.${minor}.${patch}`;
  }
  const changelogs = path.join(dir, 'doc', 'changelogs');
  if (existsSync(changelogs)) {
    const majors = readdirSync(changelogs)
      .map((f) => /^CHANGELOG_V(\d+)\.md$/.exec(f)?.[1])
      .filter((v): v is string => v !== undefined)
      .map(Number)
      .sort((a, b) => b - a);
    const log = majors.length ? read(path.join('doc', 'changelogs', `CHANGELOG_V${majors[0]}.md`)) : null;
    const newest = log && /<a id="(\d+\.\d+\.\d+)"><\/a>/.exec(log);
    if (newest) return newest[1];
  }
  for (const f of ['node_version.ts', 'node_version.js']) {
    const v = /version\s*=\s*["'](\d+\.\d+\.\d+)["']/.exec(read(f) ?? '');
    if (v) return v[1];
  }
  return null;
}

/** The tree's tests for the greened modules, by module then suite then name. */
export function listTreeTests(dir: string): NodeTreeTest[] {
  const tests: NodeTreeTest[] = [];
  for (const suite of ['parallel', 'sequential'] as const) {
    const where = path.join(dir, 'test', suite);
    if (!existsSync(where)) continue;
    for (const f of readdirSync(where).sort()) {
      const module = testModule(f);
      if (module) tests.push({ module, suite, name: `${suite}/${f}`, file: path.join(where, f) });
    }
  }
  const order = (t: NodeTreeTest): number => NODE_TREE_MODULES.indexOf(t.module);
  return tests.sort((a, b) => order(a) - order(b) || (a.suite < b.suite ? -1 : a.suite > b.suite ? 1 : 0));
}

/**
 * What a pattern picks: a module name (`child_process` or `child-process`),
 * a glob over file names (`test-net-connect-*`), or else part of a name.
 */
function patternMatcher(pattern: string): (t: NodeTreeTest) => boolean {
  const module = pattern.replace(/-/g, '_');
  if ((NODE_TREE_MODULES as readonly string[]).includes(module)) return (t) => t.module === module;
  const base = (t: NodeTreeTest): string => path.basename(t.name);
  if (!/[*?]/.test(pattern)) return (t) => t.name.includes(pattern);
  const re = new RegExp(
    '^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '(\\.m?js)?$',
  );
  return (t) => re.test(base(t)) || re.test(t.name);
}

function runTest(t: NodeTreeTest, greened: boolean, env: NodeJS.ProcessEnv, cwd: string, limitMs: number): Promise<Outcome> {
  const flags = testFlags(readFileSync(t.file, 'utf8'));
  const args = [...(greened ? ['--require', PRELOAD] : []), ...flags, t.file];
  return new Promise((resolve) => {
    // Its own process group: a time limit, or its end, takes its children too.
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    const take = (d: string): void => {
      output += d;
      if (output.length > 2 * OUTPUT_CAP) output = output.slice(-OUTPUT_CAP);
    };
    child.stdout.setEncoding('utf8').on('data', take);
    child.stderr.setEncoding('utf8').on('data', take);
    let timedOut = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    };
    const limit = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, limitMs);
    let grace: NodeJS.Timeout | undefined;
    const finish = (): void => {
      clearTimeout(limit);
      clearTimeout(grace);
      const { code, signal } = exited ?? { code: null, signal: null };
      output = output.length > OUTPUT_CAP ? output.slice(-OUTPUT_CAP) : output;
      const skipped = code === 0 && /^1\.\.0 # Skipped:/m.test(output);
      resolve({ code, signal, timedOut, skipped, output });
    };
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      killGroup();
      // A child that left its group may hold the pipes open: do not wait on it.
      grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish();
      }, CLOSE_GRACE_MS);
    });
    child.on('close', finish);
    child.on('error', (e) => {
      take(String(e));
      finish();
    });
  });
}

function passed(o: Outcome): boolean {
  return o.code === 0 && !o.timedOut && !o.skipped;
}

function how(o: Outcome, limitMs: number): string {
  if (o.timedOut) return `timed out after ${limitMs / 1000} s, killed`;
  if (o.skipped) return 'skipped';
  if (o.signal) return `killed by ${o.signal}`;
  return `exited with code ${o.code}`;
}

function shown(output: string): string {
  if (!output.trim()) return '      (no output)\n';
  const lines = output.replace(/\n$/, '').split('\n');
  const tail = lines.slice(-SHOWN_LINES);
  const head = lines.length > tail.length ? [`… ${lines.length - tail.length} lines before`] : [];
  return [...head, ...tail].map((l) => `      | ${l}\n`).join('');
}

function sameVersion(a: string, b: string): boolean {
  return a.replace(/^v/, '') === b.replace(/^v/, '');
}

/**
 * Runs a Node source tree's tests for net, dns, tls, http, https, timers,
 * child_process and cluster (those `patterns` pick; all when empty) on stock
 * Node and with monkeyPatch() preloaded. Prints, per module, how many pass on
 * stock and how many of those fail greened (each with its output), then
 * `N passed, N failed` over the tests that pass on stock. Warns when the
 * tree is not the running Node's version.
 *
 * @param dir - the tree's root (the folder holding test/).
 * @param patterns - module names, file-name globs or parts of names.
 * @throws RangeError when `jobs` or `timeoutMs` is not a positive number.
 * @example
 * ```ts
 * const r = await runNodeTree('/src/node', ['net', 'test-dns-*']);
 * if (r.failed > 0) process.exitCode = 1;
 * ```
 */
export async function runNodeTree(dir: string, patterns: string[], opts: NodeTreeOptions = {}): Promise<NodeTreeResult> {
  const write = opts.write ?? ((s: string) => void process.stdout.write(s));
  const jobs = opts.jobs ?? 1;
  const limitMs = opts.timeoutMs ?? 60_000;
  if (!Number.isInteger(jobs) || jobs < 1) throw new RangeError(`evy test --node-tree: jobs must be a whole number, 1 or more (got ${jobs})`);
  if (!(limitMs > 0)) throw new RangeError(`evy test --node-tree: the time limit must be more than 0 ms (got ${limitMs})`);
  const root = path.resolve(dir);
  const total: NodeTreeResult = { passed: 0, failed: 0 };
  if (!existsSync(path.join(root, 'test', 'parallel')) && !existsSync(path.join(root, 'test', 'sequential'))) {
    write(`evy test --node-tree: ${root} is not a Node source tree (no test/parallel or test/sequential)\n0 passed, 1 failed\n`);
    return { passed: 0, failed: 1 };
  }

  const version = treeVersion(root);
  write(`evy test --node-tree ${root}: Node ${version ? `v${version}` : '(version unknown)'}'s tests on Node ${process.version}, stock then greened\n`);
  if (version === null) {
    write(
      `warning: cannot tell which Node version ${root} is from (no src/node_version.h, doc/changelogs or node_version.ts); ` +
        `tests of another version may fail on stock (they are not counted): a checkout of nodejs/node at tag ${process.version} matches\n`,
    );
  } else if (!sameVersion(version, process.version)) {
    write(
      `warning: the tree is Node v${version}, the running Node is ${process.version}: tests that changed in between may fail on stock ` +
        `(they are not counted); a checkout of nodejs/node at tag ${process.version} matches\n`,
    );
  }

  let tests = listTreeTests(root);
  if (patterns.length) {
    const matchers = patterns.map((p) => ({ p, match: patternMatcher(p) }));
    for (const { p, match } of matchers) {
      if (!tests.some(match)) {
        total.failed++;
        write(`evy test --node-tree: no ${NODE_TREE_MODULES.join('/')} test in ${root} matches ${JSON.stringify(p)}\n`);
      }
    }
    tests = tests.filter((t) => matchers.some(({ match }) => match(t)));
  }

  // Each job slot has its own tmpdir (test/common/tmpdir.js: NODE_TEST_DIR and
  // TEST_THREAD_ID), outside the tree, so the tree may be read-only.
  const scratch = mkdtempSync(path.join(tmpdir(), 'evy-node-tree-'));
  const envFor = (slot: number): NodeJS.ProcessEnv => ({ ...process.env, NODE_TEST_DIR: scratch, TEST_THREAD_ID: String(slot) });
  const both = async (t: NodeTreeTest, slot: number): Promise<{ stock: Outcome; green: Outcome | null }> => {
    const stock = await runTest(t, false, envFor(slot), root, limitMs);
    // A test that fails on stock is not counted: no need to run it greened.
    const green = passed(stock) ? await runTest(t, true, envFor(slot), root, limitMs) : null;
    return { stock, green };
  };

  try {
    for (const module of NODE_TREE_MODULES) {
      const mine = tests.filter((t) => t.module === module);
      if (!mine.length) continue;
      const results = new Map<NodeTreeTest, { stock: Outcome; green: Outcome | null }>();
      // Parallel tests `jobs` at a time, each slot taking the next; then the sequential ones alone.
      const queue = mine.filter((t) => t.suite === 'parallel');
      await Promise.all(
        Array.from({ length: Math.min(jobs, queue.length) }, async (_, slot) => {
          for (let t = queue.shift(); t; t = queue.shift()) results.set(t, await both(t, slot));
        }),
      );
      for (const t of mine.filter((x) => x.suite === 'sequential')) results.set(t, await both(t, 0));

      let onStock = 0;
      let greenPass = 0;
      const notCounted: string[] = [];
      let skipped = 0;
      let failures = '';
      for (const t of mine) {
        const { stock, green } = results.get(t) as { stock: Outcome; green: Outcome | null };
        if (stock.skipped) skipped++;
        else if (!passed(stock)) notCounted.push(`${path.basename(t.name)} (${how(stock, limitMs)})`);
        if (!green) continue;
        onStock++;
        if (passed(green)) greenPass++;
        else failures += `  ✘ ${t.name}: greened, ${how(green, limitMs)} (stock: passed)\n${shown(green.output)}`;
      }
      total.passed += greenPass;
      total.failed += onStock - greenPass;
      write(
        `${module}: ${onStock} of ${mine.length} pass on stock (${notCounted.length} fail, ${skipped} skipped); ` +
          `greened: ${greenPass} passed, ${onStock - greenPass} failed\n` +
          failures +
          (notCounted.length ? `  not counted, failing on stock: ${notCounted.join(', ')}\n` : ''),
      );
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  // A run that checked nothing is a failure (a tree without such tests, or
  // patterns that pick none that pass on stock).
  if (total.passed + total.failed === 0) {
    total.failed = 1;
    write(`evy test --node-tree: no test ran that passes on stock\n`);
  }
  write(`${total.passed} passed, ${total.failed} failed\n`);
  return total;
}

/**
 * A commander option parser for `--jobs` ('count': a whole number, 1 or
 * more) or `--timeout` ('seconds': more than 0); a bad value is commander's
 * "argument ... is invalid" error.
 */
export function cliNumber(kind: 'count' | 'seconds'): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (n > 0 && (kind === 'seconds' || Number.isInteger(n))) return n;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { InvalidArgumentError } = require('commander') as typeof import('commander');
    throw new InvalidArgumentError(kind === 'count' ? 'expected a whole number, 1 or more' : 'expected a number of seconds, more than 0');
  };
}
