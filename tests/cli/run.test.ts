import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evy, root, sandbox } from './sandbox';

const box = sandbox('evy-cli-');
const { dir, run, script } = box;

test.after(() => box.remove());

test('--version and --help', () => {
  const v = run(['--version']);
  assert.is(v.code, 0);
  assert.match(v.out, /^\d+\.\d+\.\d+/);
  const h = run(['--help']);
  assert.is(h.code, 0);
  assert.match(h.out, /run \[options\] <script> \[args\.\.\.\]/);
  const rh = run(['run', '--help']);
  assert.is(rh.code, 0);
  assert.match(rh.out, /\.ts \.mts \.cts \.tsx \.js \.mjs \.cjs/, '.tsx is listed');
  assert.match(rh.out, /Node flags before the script go to Node/);
});

test('a TypeScript ESM script with top-level await runs as the main green thread', () => {
  script('main.ts', [
    "import { getCurrent, spawn, sleep } from 'evy';",
    'const main = getCurrent();',
    'const child = spawn(async (n: number) => { await sleep(0.001); return [n * 2, getCurrent() !== main]; }, 21);',
    'console.log(JSON.stringify(await child.wait()), getCurrent() === main);',
  ].join('\n'));
  const r = run(['run', 'main.ts']);
  assert.is(r.err, '');
  assert.is(r.out.trim(), '[42,true] true');
  assert.is(r.code, 0);
});

test('process.argv is [node, script, ...args], options included', () => {
  const file = script('argv.mjs', 'console.log(JSON.stringify(process.argv.slice(1)));');
  const r = run(['run', 'argv.mjs', 'a', '--flag', '-x']);
  assert.equal(JSON.parse(r.out), [file, 'a', '--flag', '-x']);
});

test('CommonJS scripts (.js, .cjs, .cts) require evy', () => {
  script('c.cjs', "const evy = require('evy'); console.log(typeof evy.spawn);");
  script('c.cts', "const { spawn } = require('evy');\nspawn(async () => 5).wait().then((v: number) => console.log('got', v));");
  script('plain.js', "const { sleep } = require('evy/greenthread');\nsleep(0).then(() => console.log('slept'));");
  assert.is(run(['run', 'c.cjs']).out.trim(), 'function');
  assert.is(run(['run', 'c.cts']).out.trim(), 'got 5');
  assert.is(run(['run', 'plain.js']).out.trim(), 'slept');
});

test('a package.json type decides for ambiguous extensions', () => {
  const pkg = join(dir, 'cjspkg');
  mkdirSync(pkg);
  writeFileSync(join(pkg, 'package.json'), '{"type":"commonjs"}');
  writeFileSync(join(pkg, 's.ts'), "import { sleep } from 'evy';\nconsole.log(typeof __dirname);\nsleep(0);");
  const r = run(['run', join(pkg, 's.ts')]);
  assert.is(r.out.trim(), 'string', 'CommonJS: __dirname exists');
});

test('top-level await makes a .ts file an ES module even where package.json says commonjs', () => {
  const pkg = join(dir, 'npm11');
  mkdirSync(pkg);
  writeFileSync(join(pkg, 'package.json'), '{"name":"npm11","type":"commonjs"}'); // what npm 11's `npm init -y` writes
  writeFileSync(join(pkg, 'lib.ts'), 'export const v: number = await Promise.resolve(5);');
  writeFileSync(join(pkg, 'tla.ts'), [
    "import { sleep, spawn } from 'evy';",
    'const gt = spawn(async (n: number) => { await sleep(0.001); return n * 2; }, 21);',
    "const { v } = await import('./lib.ts');",
    'console.log(await gt.wait(), v, typeof __dirname);',
  ].join('\n'));
  for (let i = 0; i < 2; i++) { // the second run from the compile cache
    const r = run(['run', join(pkg, 'tla.ts')]);
    assert.is(r.err, '');
    assert.is(r.out.trim(), '42 5 undefined');
    assert.is(r.code, 0);
  }
  // What cannot work says what to change, without esbuild's stack.
  writeFileSync(join(pkg, 'req.ts'), "import { v } from './lib';\nconsole.log(v);");
  const req = run(['run', join(pkg, 'req.ts')]);
  assert.is(req.code, 1);
  assert.match(req.err, /lib\.ts uses top-level await, so it is an ES module, which require\(\) cannot load/);
  assert.match(req.err, /"type": "module" in package\.json/);
  assert.not.match(req.err, /esbuild|    at /);
  writeFileSync(join(pkg, 'c.cts'), "await Promise.resolve();\nconsole.log('never');");
  const cts = run(['run', join(pkg, 'c.cts')]);
  assert.is(cts.code, 1);
  assert.match(cts.err, /c\.cts:1:1: Top-level await/);
  assert.match(cts.err, /A \.cts file is CommonJS, which has no top-level await: rename it \.ts or \.mts/);
  assert.not.match(cts.err, /esbuild|    at /);
});

test('a TypeScript syntax error is file:line:col and the line, not esbuild\'s stack', () => {
  script('syntax.ts', 'const ok = 1;\nconst x: number = ;\n');
  const r = run(['run', 'syntax.ts']);
  assert.is(r.code, 1);
  assert.match(r.err, /syntax\.ts:2:19: Unexpected ";"\n {4}const x: number = ;\n {22}\^/);
  assert.not.match(r.err, /esbuild|    at /);
  assert.is(r.out, '');
});

test('a syntax error in a TypeScript file the entry imports is a code frame too, ESM or CommonJS', () => {
  script('broken.ts', 'export const x: number = 1;\nexport const y: number = ;\n');
  script('imports.ts', "import { x, y } from './broken.ts';\nconsole.log(x, y);\nexport {};\n");
  script('requires.cts', "const { x } = require('./broken.ts');\nconsole.log(x);\n");
  for (const entry of ['imports.ts', 'requires.cts']) {
    const r = run(['run', entry]);
    assert.is(r.code, 1, entry);
    assert.match(r.err, /broken\.ts:2:26: Unexpected ";"\n {4}export const y: number = ;\n {29}\^/, entry);
    assert.not.match(r.err, /esbuild|    at |TsCompileError/, `${entry}: no stack`);
    assert.is(r.out, '');
  }
});

test('the exit code is the script\'s', () => {
  script('code.js', 'process.exitCode = 7;');
  assert.is(run(['run', 'code.js']).code, 7);
  script('exit.js', 'process.exit(4);');
  assert.is(run(['run', 'exit.js']).code, 4);
});

test('an uncaught error prints a source-mapped stack and exits 1', () => {
  script('boom.ts', [
    "import { sleep } from 'evy';",
    'type N = number;',
    'function fail(x: N): never {',
    "  throw new Error('boom ' + x);",
    '}',
    'await sleep(0);',
    'fail(1);',
  ].join('\n'));
  const r = run(['run', 'boom.ts']);
  assert.is(r.code, 1);
  assert.match(r.err, /Error: boom 1/);
  assert.match(r.err, /boom\.ts:4:9/, 'the line and column of the TypeScript source');
});

test('a main thread blocked forever exits 13 with a deadlock message', () => {
  script('dead.ts', "import { Event } from 'evy';\nawait new Event().wait();\nconsole.log('never');");
  const r = run(['run', 'dead.ts']);
  assert.is(r.code, 13);
  assert.match(r.err, /deadlock/);
  assert.is(r.out, '');
});

test('spawnN errors are printed and the process goes on', () => {
  script('n.ts', [
    "import { spawnN, sleep } from 'evy';",
    "spawnN(() => { throw new Error('worker failed'); });",
    'await sleep(0.01);',
    "console.log('still here');",
  ].join('\n'));
  const r = run(['run', 'n.ts']);
  assert.is(r.code, 0);
  assert.match(r.err, /worker failed/);
  assert.is(r.out.trim(), 'still here');
});

test('bad input: a missing script, a directory, a wrong extension', () => {
  const missing = run(['run', 'nope.ts']);
  assert.is(missing.code, 1);
  assert.match(missing.err, /no such script: nope\.ts/);
  assert.match(run(['run', '.']).err, /not a file/);
  script('data.txt', 'x');
  assert.match(run(['run', 'data.txt']).err, /expected a script ending in/);
  const none = run(['run']);
  assert.not.equal(none.code, 0);
  assert.match(none.err, /missing required argument 'script'/);
});

test('the world is green before the first line; --no-patch and --patch choose', () => {
  const f = script(
    'green.ts',
    [
      "import dns from 'node:dns';",
      "import { isMonkeyPatched } from 'evy';",
      "const d = dns as unknown as Record<string, unknown>;",
      "console.log(JSON.stringify([typeof d.gethostbyname, isMonkeyPatched('dns'), isMonkeyPatched('http'), process.argv.slice(2)]));",
    ].join('\n'),
  );
  const all = run(['run', f, '--patch', 'x']);
  assert.is(all.code, 0, all.err);
  assert.equal(JSON.parse(all.out), ['function', true, true, ['--patch', 'x']], 'options after the script are the script\'s');
  const none = run(['run', '--no-patch', f]);
  assert.equal(JSON.parse(none.out), ['undefined', false, false, []]);
  const some = run(['run', '--patch', 'dns,childProcess', f]);
  assert.equal(JSON.parse(some.out), ['function', true, false, []]);
  const bad = run(['run', '--patch', 'nope', f]);
  assert.is(bad.code, 1);
  assert.match(bad.err, /unknown module to patch: "nope"/);
});

test('a long-running evy run keeps no esbuild process once its TypeScript is compiled', () => {
  const cache = mkdtempSync(join(tmpdir(), 'evy-cache-')); // nothing cached: esbuild compiles both files
  try {
    script('dep.ts', 'export const seven: number = 7;\n');
    // The script, both files compiled, looks for esbuild among its own children (every thread's, from /proc).
    script('compiles.ts', [
      "import { readdirSync, readFileSync } from 'node:fs';",
      "import { sleep } from 'evy';",
      "import { seven } from './dep.ts';",
      'await sleep(0.1);',
      'const kids = readdirSync(`/proc/${process.pid}/task`).flatMap((t) =>',
      "  readFileSync(`/proc/${process.pid}/task/${t}/children`, 'utf8').split(' ').filter((k) => k !== ''));",
      "const esbuild = kids.filter((k) => { try { return readFileSync(`/proc/${k}/cmdline`, 'utf8').includes('esbuild'); } catch { return false; } });",
      'console.log(JSON.stringify([seven, esbuild]));',
    ].join('\n'));
    const r = spawnSync(process.execPath, [evy, 'run', 'compiles.ts'], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, EVY_CACHE_DIR: cache } });
    assert.is(r.status, 0, r.stderr);
    assert.ok(readdirSync(cache).length >= 2, 'both files were compiled, not read from a cache');
    assert.equal(JSON.parse(r.stdout), [7, []], 'no esbuild service left running');
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test('examples/hello.ts runs as the README says', () => {
  const r = run(['run', 'examples/hello.ts', '3'], root);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /^hello, world$/m);
  assert.match(r.out, /^interrupted: timed out after 0\.05 seconds$/m);
  assert.match(r.out, /^squares: 0 1 4 9 16 25 36 49 64 81 100 121 144 169 196 225 256 289 324 361$/m);
  assert.match(r.out, /^at most [123] of 3 workers ran at once$/m);
});

test.run();
