// evy as npm users get it: `npm pack`, then `npm install` of the tarball into a
// fresh `npm init -y` project (npm 11 writes "type": "commonjs" there), and in
// that project: the README's first example under `npx evy run`, a plain .mjs
// import of evy's main entry, `tsc` (strict, skipLibCheck false) over the public
// entry points and every shipped declaration file, and `npx evy test`. A second
// project installs the tarball with --ignore-scripts: the shipped prebuilt addon
// loads, and without it the error names `npm rebuild evy`, which then works.
//
// It packs dist/ and prebuilds/ as built (`make test` builds first); installs
// take their dependencies from the npm cache when they can.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'evy-package-'));
const packDir = join(tmp, 'pack');
const app = join(tmp, 'app');
const bare = join(tmp, 'bare'); // installed with --ignore-scripts
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

/** The addon files a fresh process loads with evy: what `require('evy')` picked. */
const LOADED_ADDON = "require('evy'); console.log(Object.keys(require.cache).filter((f) => f.endsWith('.node')).join(','))";

// Pack and install once, before the checks (each check needs the installed project).
let setupError: Error | null = null;
try {
  mkdirSync(packDir);
  const pack = ok(sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], root), 'npm pack');
  const [{ filename }] = JSON.parse(pack.out) as { filename: string }[];
  mkdirSync(app);
  mkdirSync(bare);
  ok(sh('npm', ['init', '-y'], app), 'npm init -y');
  writeFileSync(join(bare, 'package.json'), readFileSync(join(app, 'package.json'), 'utf8').replace('"name": "app"', '"name": "bare"'));
  for (const [dir, flags] of [[app, []], [bare, ['--ignore-scripts']]] as const) {
    const args = ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...flags, join(packDir, filename)];
    ok(sh('npm', args, dir, 150_000), `npm ${args.join(' ')}`);
  }
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

test('the install script uses the shipped prebuilt addon: nothing is compiled', () => {
  installed();
  const evy = join(app, 'node_modules', 'evy');
  assert.ok(existsSync(join(evy, 'prebuilds', 'linux-x64', 'evy.glibc.node')), 'the package ships prebuilds/linux-x64/evy.glibc.node');
  assert.not.ok(existsSync(join(evy, 'build')), 'no build/ directory: node-gyp did not run');
  const r = ok(sh(process.execPath, ['-e', LOADED_ADDON], app), 'node -e require(evy)');
  assert.is(r.out.trim(), join(evy, 'prebuilds', 'linux-x64', 'evy.glibc.node'));
});

test('installed with --ignore-scripts, evy loads its prebuilt addon and runs', () => {
  installed();
  const evy = join(bare, 'node_modules', 'evy');
  assert.not.ok(existsSync(join(evy, 'build')), 'no install script ran');
  const r = ok(sh(process.execPath, ['-e', LOADED_ADDON], bare), 'node -e require(evy)');
  assert.is(r.out.trim(), join(evy, 'prebuilds', 'linux-x64', 'evy.glibc.node'));
  const echo = [
    "const evy = require('evy');",
    "const server = evy.listen(['127.0.0.1', 0]);",
    'evy.spawn(async () => { const [conn] = await server.accept(); await conn.sendall(await conn.recv(5)); conn.close(); });',
    '(async () => {',
    '  const c = await evy.connect(server.getsockname());',
    "  await c.sendall(Buffer.from('hello'));",
    '  console.log(String(await c.recv(5)));',
    '  c.close();',
    '  server.close();',
    '})();',
  ].join('\n');
  assert.is(ok(sh(process.execPath, ['-e', echo], bare), 'a green echo').out, 'hello\n');
});

test('with no addon that fits, the error names `npm rebuild evy`, and that builds one from source', () => {
  installed();
  const evy = join(bare, 'node_modules', 'evy');
  rmSync(join(evy, 'prebuilds'), { recursive: true, force: true });
  const missing = sh(process.execPath, ['-e', "require('evy')"], bare);
  assert.is.not(missing.code, 0, 'require(evy) fails without an addon');
  assert.match(missing.err, /evy: no native hub for linux-x64 in /);
  assert.match(missing.err, /Run `npm rebuild evy` to build it from source/);
  ok(sh('npm', ['rebuild', 'evy', '--loglevel=error'], bare, 150_000), 'npm rebuild evy');
  const r = ok(sh(process.execPath, ['-e', LOADED_ADDON], bare), 'node -e require(evy) after npm rebuild evy');
  assert.is(r.out.trim(), join(evy, 'build', 'Release', 'evy.node'));
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

// `using` is syntax of Node 24 (V8 13.6) and of TypeScript, not of Node 20 or
// 22: the README says so, and gives the form plain JavaScript takes there.
test('the README example in plain JavaScript: try/finally everywhere, `using` on Node 24', () => {
  installed();
  const body = (guard: string): string =>
    [
      "import { GreenPool, Timeout, sleep, spawn } from 'evy';",
      "const gt = spawn(async (name) => { await sleep(0.01); return `hello, ${name}`; }, 'world');",
      'console.log(await gt.wait());',
      guard,
      'const pool = new GreenPool(4);',
      'for await (const sq of pool.imap(async (n) => n * n, [1, 2, 3])) console.log(sq);',
    ].join('\n');
  const tryFinally = 'const t = new Timeout(0.05);\ntry { await sleep(10); } catch (err) { if (!(err instanceof Timeout)) throw err; } finally { t.cancel(); }';
  writeFileSync(join(app, 'plain20.mjs'), body(tryFinally));
  assert.is(ok(sh(process.execPath, ['plain20.mjs'], app), 'node plain20.mjs').out, 'hello, world\n1\n4\n9\n');
  const using = 'try {\n  using _t = new Timeout(0.05);\n  await sleep(10);\n} catch (err) {\n  if (!(err instanceof Timeout)) throw err;\n}';
  writeFileSync(join(app, 'plain24.mjs'), body(using));
  const r = sh(process.execPath, ['plain24.mjs'], app);
  if (Number(process.versions.node.split('.')[0]) >= 24) {
    assert.is(r.code, 0, r.err);
    assert.is(r.out, 'hello, world\n1\n4\n9\n');
  } else {
    assert.is.not(r.code, 0, `Node ${process.version} has \`using\` now: the README's note is out of date`);
    assert.match(r.err, /SyntaxError/);
  }
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
