// evy as npm users get it: `npm pack`, then `npm install` of the tarball into a
// fresh `npm init -y` project (npm 11 writes "type": "commonjs" there), and in
// that project: the README's first example under `npx evy run`, a plain .mjs
// import of evy's main entry, `tsc` (strict, skipLibCheck false) over the public
// entry points and every shipped declaration file, and `npx evy test`.
//
// It packs dist/ as built (`make test` builds first); the install builds the
// addon from source and takes its dependencies from the npm cache when it can.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'evy-package-'));
const packDir = join(tmp, 'pack');
const app = join(tmp, 'app');
const cleanup = (): void => rmSync(tmp, { recursive: true, force: true });
process.on('exit', cleanup);

// npm's own variables from an enclosing `npm test` would describe this
// repository, not the fresh project; the user's npm config stays.
const env: NodeJS.ProcessEnv = { FORCE_COLOR: '0', NO_COLOR: '1', EVY_CACHE_DIR: join(tmp, 'ts-cache') };
for (const [k, v] of Object.entries(process.env)) {
  if (/^npm_(package|lifecycle)_|^npm_config_local_prefix$|^INIT_CWD$|^FORCE_COLOR$/i.test(k)) continue;
  env[k] ??= v;
}

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

function sh(cmd: string, args: string[], cwd: string, timeout = 60_000): Ran {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout });
  const err = (r.stderr ?? '') + (r.error ? `\n${cmd}: ${r.error.message}` : '');
  return { code: r.status, out: r.stdout ?? '', err };
}

function ok(r: Ran, what: string): Ran {
  assert.is(r.code, 0, `${what} exited ${r.code}\n${r.out}\n${r.err}`);
  return r;
}

/** The README's first ```ts block: its opening example. */
function readmeExample(): string {
  const m = /^```ts\n([\s\S]*?)^```$/m.exec(readFileSync(join(root, 'README.md'), 'utf8'));
  if (m === null) throw new Error('README.md has no ```ts block');
  return m[1];
}

// Pack and install once, before the checks (each check needs the installed project).
let setupError: Error | null = null;
try {
  mkdirSync(packDir);
  mkdirSync(app);
  const pack = ok(sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], root), 'npm pack');
  const [{ filename }] = JSON.parse(pack.out) as { filename: string }[];
  ok(sh('npm', ['init', '-y'], app), 'npm init -y');
  ok(
    sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', join(packDir, filename)], app, 150_000),
    'npm install of the tarball',
  );
} catch (err) {
  setupError = err as Error;
}

function installed(): void {
  if (setupError !== null) throw setupError;
}

test.after(cleanup);

test('the project is what npm 11 makes: "type": "commonjs"', () => {
  installed();
  const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { type?: string; dependencies?: Record<string, string> };
  assert.ok(pkg.dependencies?.evy, 'evy is a dependency');
  // Older npm writes no type; then the check below is the type-less case.
  if (pkg.type !== undefined) assert.is(pkg.type, 'commonjs');
});

test('the README example runs under `npx evy run app.ts`', () => {
  installed();
  writeFileSync(join(app, 'app.ts'), readmeExample());
  const r = ok(sh('npx', ['--no', 'evy', 'run', 'app.ts'], app), 'npx evy run app.ts');
  assert.is(r.out, 'hello, world\n1\n4\n9\n');
  assert.is(r.err, '');
});

test('a plain .mjs ES module imports evy\'s main entry', () => {
  installed();
  writeFileSync(
    join(app, 'plain.mjs'),
    [
      "import evy, { GreenPool, Timeout, sleep, spawn } from 'evy';",
      'const gt = spawn(async (n) => { await sleep(0.001); return n * 2; }, 21);',
      'const squares = [];',
      'for await (const sq of new GreenPool(2).imap(async (n) => n * n, [1, 2, 3])) squares.push(sq);',
      "console.log(await gt.wait(), squares.join(','), typeof Timeout, evy.spawn === spawn);",
    ].join('\n'),
  );
  const r = ok(sh(process.execPath, ['plain.mjs'], app), 'node plain.mjs');
  assert.is(r.out, '42 1,4,9 function true\n');
});

test('tsc, strict with skipLibCheck false: the public entry points and every shipped .d.ts', () => {
  installed();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
  const entries = Object.keys(pkg.exports)
    .filter((k) => k !== './package.json')
    .map((k) => (k === '.' ? 'evy' : `evy/${k.slice(2)}`));
  assert.ok(entries.length > 10, 'the exports map lists the entry points');
  // An ES module file (.mts): the README example as it is, top-level await included.
  const imports = entries.map((e, i) => `import * as e${i} from '${e}';`).join('\n');
  const uses = `export const all = [${entries.map((_, i) => `e${i}`).join(', ')}];`;
  writeFileSync(join(app, 'check.mts'), `${readmeExample()}\n${imports}\n${uses}\n`);
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        types: ['node'],
        // @types/node is the user's to install; here, the repository's copy.
        typeRoots: [join(root, 'node_modules', '@types')],
      },
      include: ['check.mts', 'node_modules/evy/dist/**/*.d.ts', 'node_modules/evy/dist/**/*.d.mts'],
    }),
  );
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = sh(process.execPath, [tsc, '-p', 'tsconfig.json', '--listFilesOnly'], app);
  ok(r, 'tsc --listFilesOnly');
  const dist = join(app, 'node_modules', 'evy', 'dist');
  const shipped = (readdirSync(dist, { recursive: true }) as string[]).filter((f) => /\.d\.m?ts$/.test(f)).map((f) => join(dist, f));
  assert.ok(shipped.length > 10, 'the package ships declarations');
  const inProgram = new Set(r.out.split('\n').map((f) => resolve(app, f.trim())));
  assert.equal(shipped.filter((f) => !inProgram.has(f)), [], 'every shipped .d.ts is in the program');
  const c = sh(process.execPath, [tsc, '-p', 'tsconfig.json'], app);
  assert.is(c.out + c.err, '', 'no type errors');
  assert.is(c.code, 0);
});

test('`npx evy test net` runs the shipped scenarios; a name matching nothing fails', () => {
  installed();
  const r = ok(sh('npx', ['--no', 'evy', 'test', 'net'], app, 90_000), 'npx evy test net');
  const summary = /^net: (\d+) passed, 0 failed$/m.exec(r.out);
  assert.ok(summary !== null && Number(summary[1]) > 0, `net scenarios ran and passed:\n${r.out}`);
  const none = sh('npx', ['--no', 'evy', 'test', 'nosuchname'], app);
  assert.is.not(none.code, 0, 'a module with no scenarios is a failure');
  assert.match(none.out, /nosuchname: no scenario file/);
  const filtered = sh('npx', ['--no', 'evy', 'test', 'net', '--filter', 'nosuchname'], app);
  assert.is.not(filtered.code, 0, 'a filter matching nothing is a failure');
  assert.match(filtered.out, /no scenario ran/);
});

test.run();
