// evy's start path compiled from V8's code cache (runtime/cli/compilecache.ts):
// written by the first run, read by the next, never stale, and only for the
// files under the root it is given, while it is on.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from '../helpers';

const root = join(__dirname, '..', '..');
const evy = join(root, 'bin', 'evy');
const cacheModule = join(root, 'dist', 'cli', 'compilecache.js');
const { dir, file } = scratchDir('evy-compilecache-', test.after);

/** Runs node with `args` and EVY_CACHE_DIR=`cacheDir`; its stdout. */
function node(args: string[], cacheDir: string): string {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, EVY_CACHE_DIR: cacheDir } });
  assert.is(r.status, 0, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return r.stdout;
}

const cacheFiles = (d: string): string[] => (existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.v8cache')) : []);

test('evy run writes the cache on its first run and reads it on the next, its script unchanged', () => {
  const cacheDir = join(dir, 'run-cache');
  const script = file('hello.js', "console.log('hello', typeof require('evy').spawn);\n");
  assert.is(node([evy, 'run', script], cacheDir), 'hello function\n');
  const [name] = cacheFiles(cacheDir);
  assert.ok(name !== undefined, 'the first run wrote a cache');
  const path = join(cacheDir, name);
  const first = statSync(path).mtimeMs;
  const size = statSync(path).size;
  assert.ok(size > 1000, `the cache holds bytecode (${size} bytes)`);
  assert.is(node([evy, 'run', script], cacheDir), 'hello function\n');
  assert.is(statSync(path).mtimeMs, first, 'a run that found everything cached writes nothing');
  // An ES module entry: run.js's import() comes from a cached function.
  const mjs = file('hello.mjs', "import { spawn } from 'evy';\nconsole.log('esm', typeof spawn);\n");
  assert.is(node([evy, 'run', mjs], cacheDir), 'esm function\n');
});

/** A script that loads `lib` (under `libRoot`) with the cache on, then prints what it exports. */
function loader(libRoot: string, lib: string): string {
  return file(
    `load${Math.random().toString(36).slice(2)}.js`,
    `const cache = require(${JSON.stringify(cacheModule)});
cache.startCompileCache(${JSON.stringify(libRoot)});
const value = require(${JSON.stringify(lib)}).value();
cache.stopCompileCache();
console.log(JSON.stringify(value));`,
  );
}

test('a changed file compiles afresh, even at the same size; a damaged cache is ignored and written again', () => {
  const cacheDir = join(dir, 'lib-cache');
  const libRoot = join(dir, 'lib');
  mkdirSync(libRoot);
  const lib = join(libRoot, 'm.js');
  writeFileSync(lib, "exports.value = () => 'one';\n");
  const script = loader(libRoot, lib);
  assert.is(node([script], cacheDir), '"one"\n');
  const [name] = cacheFiles(cacheDir);
  assert.ok(name !== undefined);
  assert.is(node([script], cacheDir), '"one"\n', 'from the cache');
  writeFileSync(lib, "exports.value = () => 'two';\n"); // same length: V8's own check would take the old bytecode
  const mtime = statSync(lib).mtimeMs;
  assert.is(node([script], cacheDir), '"two"\n');
  writeFileSync(join(cacheDir, name), 'not a cache');
  assert.is(node([script], cacheDir), '"two"\n');
  assert.ok(readFileSync(join(cacheDir, name)).length > 'not a cache'.length, 'written again');
  assert.is(statSync(lib).mtimeMs, mtime);
});

test('files outside the root, and files loaded after stopCompileCache(), compile as usual', () => {
  const cacheDir = join(dir, 'outside-cache');
  const libRoot = join(dir, 'inside');
  mkdirSync(libRoot);
  const outside = file('outside.js', "exports.value = () => 'outside';\n");
  assert.is(node([loader(libRoot, outside)], cacheDir), '"outside"\n');
  assert.equal(cacheFiles(cacheDir), [], 'nothing of its own to cache: nothing written');
  const late = join(libRoot, 'late.js');
  writeFileSync(late, "exports.value = () => 'late';\n");
  const script = file(
    'late-load.js',
    `const cache = require(${JSON.stringify(cacheModule)});
cache.startCompileCache(${JSON.stringify(libRoot)});
cache.stopCompileCache();
console.log(JSON.stringify(require(${JSON.stringify(late)}).value()));`,
  );
  assert.is(node([script], cacheDir), '"late"\n');
  assert.equal(cacheFiles(cacheDir), []);
});

test.run();
