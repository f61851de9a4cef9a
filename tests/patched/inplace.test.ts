// The builtins greened in place (runtime/patched/inplace.ts), as lazily as the
// rest: monkeyPatch() loads none of them, each is greened when the program
// first loads it, whichever way, and the keywords choose them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'evy-inplace-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a CommonJS script (after monkeyPatch(opts)) in a plain node; its last line, parsed. */
function run(opts: string, body: string): unknown {
  const p = join(dir, `s${Math.random().toString(36).slice(2)}.cjs`);
  writeFileSync(
    p,
    `const evy = require(${JSON.stringify(root)});
const loaded = (m) => process.moduleLoadList.includes('NativeModule ' + m);
const green = (f) => String(f).includes('awaitAbortable');
evy.monkeyPatch(${opts});
${body}`,
  );
  const r = spawnSync(process.execPath, [p], { encoding: 'utf8', timeout: 30_000 });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

test('monkeyPatch() loads none of them; each is green once the program loads it, through a getter too', () => {
  const got = run(
    '',
    `const before = ['fs/promises', 'internal/fs/promises', 'stream', 'stream/promises'].map(loaded);
console.log(JSON.stringify([
  before,
  green(require('fs').promises.stat),
  green(require('fs/promises').readFile),
  green(require('stream').promises.pipeline),
  green(require('stream/promises').finished),
  green(require('util').promisify(require('stream').finished)),
  green(require('events').once),
  green(require('events').EventEmitter.once),
  green(fetch),
]));`,
  );
  assert.equal(got, [[false, false, false, false], true, true, true, true, true, true, true, true]);
});

test("the global fetch and events.once are greened on the program's first read: until then no evy module of theirs is loaded", () => {
  const got = run(
    '',
    `const evyLoaded = () => Object.keys(require.cache).filter((f) => /[\\/]dist[\\/]patched[\\/](fetch|events|abortable)\\.js$/.test(f)).length;
const before = evyLoaded();
const d = Object.getOwnPropertyDescriptor(globalThis, 'fetch');
const accessor = typeof d.get === 'function' && d.enumerable === true && d.configurable === true;
const events = require('events');
const afterRequire = evyLoaded();
const once = events.once;
const afterOnce = evyLoaded();
const f = globalThis.fetch;
const settled = Object.getOwnPropertyDescriptor(globalThis, 'fetch');
console.log(JSON.stringify([before, accessor, afterRequire, afterOnce > 0, green(once), once === events.EventEmitter.once, green(f),
  settled.value === f && settled.writable && settled.enumerable && settled.configurable, fetch === f]));`,
  );
  assert.equal(got, [0, true, 0, true, true, true, true, true, true]);
});

test('a fetch assigned before the first read is what the program gets; one put there before monkeyPatch() is wrapped', () => {
  const assigned = run(
    '',
    `const mock = () => Promise.resolve('mock');
globalThis.fetch = mock;
const d = Object.getOwnPropertyDescriptor(globalThis, 'fetch');
console.log(JSON.stringify([fetch === mock, d.value === mock && d.writable, Object.keys(require.cache).some((f) => f.endsWith('fetch.js'))]));`,
  );
  assert.equal(assigned, [true, true, false]);
  const p = join(dir, 'mock-first.cjs');
  writeFileSync(
    p,
    `const mock = function fetch() { return Promise.resolve({ mocked: true }); };
globalThis.fetch = mock;
require(${JSON.stringify(root)}).monkeyPatch();
const direct = require(${JSON.stringify(join(root, 'dist', 'patched', 'fetch.js'))});
const f = globalThis.fetch;
f('http://127.0.0.1:1/').then((v) => console.log(JSON.stringify([f !== mock, String(f).includes('awaitAbortable'), v.mocked, typeof direct.fetch])));`,
  );
  const r = spawnSync(process.execPath, [p], { encoding: 'utf8', timeout: 30_000 });
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim()), [true, true, true, 'function']);
});

test('the keywords: http brings fetch, os fs/promises, net events and stream', () => {
  const probe = `console.log(JSON.stringify([green(fetch), green(require('fs/promises').stat), green(require('events').once), green(require('stream/promises').pipeline)]));`;
  assert.equal(run('{ http: true }', probe), [true, false, false, false]);
  assert.equal(run('{ os: true }', probe), [false, true, false, false]);
  assert.equal(run('{ net: true }', probe), [false, false, true, true]);
  assert.equal(run('{ http: false, os: false, net: false }', probe), [false, false, false, false]);
});

test('named ESM imports get the green functions', () => {
  const p = join(dir, 'esm.mjs');
  writeFileSync(
    p,
    `import { monkeyPatch } from ${JSON.stringify(join(root, 'dist', 'index.js'))};
monkeyPatch();
const { readFile } = await import('node:fs/promises');
const { once } = await import('node:events');
const { pipeline } = await import('node:stream/promises');
const { promises } = await import('node:stream');
console.log(JSON.stringify([readFile, once, pipeline, promises.finished].map((f) => String(f).includes('awaitAbortable'))));`,
  );
  const r = spawnSync(process.execPath, [p], { encoding: 'utf8', timeout: 30_000 });
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim()), [true, true, true, true]);
});

test.run();
