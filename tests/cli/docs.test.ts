// The API reference (`make docs`): TypeDoc over every public entry point of
// package.json's "exports" (typedoc.config.mjs), and every export documented.
// The check is TypeDoc's own validation.notDocumented, run without emitting;
// a fixture with one undocumented export shows that it does catch one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..', '..');
const typedoc = join(root, 'node_modules', 'typedoc', 'bin', 'typedoc');

/** TypeDoc's output, without colours, and the names it says have no documentation. */
function run(args: string[], cwd = root): { code: number | null; out: string; undocumented: string[] } {
  const r = spawnSync(process.execPath, [typedoc, '--emit', 'none', ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 100_000,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
  });
  // eslint-disable-next-line no-control-regex
  const out = ((r.stdout ?? '') + (r.stderr ?? '')).replace(/\x1b\[[0-9;]*m/g, '');
  const undocumented = [...out.matchAll(/^\[warning\] (\S+ \(\w+\)), defined in \S+, does not have any documentation$/gm)].map((m) => m[1]);
  return { code: r.status, out, undocumented };
}

interface Config {
  entryPoints: Record<string, string>;
  default: { requiredToBeDocumented: string[] };
}
const config = (): Promise<Config> => import(join(root, 'typedoc.config.mjs')) as Promise<Config>;

test('the reference covers every entry point of package.json exports', async () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
  const { entryPoints } = await config();
  const subpaths = Object.keys(pkg.exports).filter((k) => k !== './package.json');
  const names = subpaths.map((k) => (k === '.' ? 'evy' : `evy/${k.slice(2)}`));
  assert.equal(Object.keys(entryPoints).sort(), names.sort());
});

test('every public export has a doc comment (TypeDoc validation.notDocumented)', () => {
  const r = run([]);
  assert.is(r.code, 0, r.out);
  assert.ok(/Found 0 errors/.test(r.out), r.out);
  assert.equal(r.undocumented, [], `exports with no doc comment:\n${r.undocumented.join('\n')}`);
});

test('the check sees an undocumented export (fixture)', async () => {
  // The fixture's folder has no TypeDoc config: the check's options are passed as they are in typedoc.config.mjs.
  const kinds = (await config()).default.requiredToBeDocumented.flatMap((k) => ['--requiredToBeDocumented', k]);
  const r = run(['--entryPoints', 'entry.ts', '--tsconfig', 'tsconfig.json', '--validation.notDocumented', ...kinds], join(root, 'tests', 'cli', 'fixtures', 'docs'));
  assert.equal(r.undocumented, ['undocumented (CallSignature)'], r.out);
});

test.run();
