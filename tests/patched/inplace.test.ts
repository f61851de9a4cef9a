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
