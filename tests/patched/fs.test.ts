// fs/promises greened in place, as monkeyPatch() leaves it (the whole process:
// this suite patches its own).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Event, Timeout, monkeyPatch, sleep, spawn } from 'evy';
import { FS_OTHERS, FS_WAITS } from '../../dist/patched/fs';
import { assertClean, openFds, rejection, tick } from '../helpers';

const stock: Record<string, (...a: unknown[]) => unknown> = { ...(fsp as unknown as Record<string, (...a: unknown[]) => unknown>) };
monkeyPatch({ os: true });

const dir = fs.mkdtempSync(join(tmpdir(), 'evy-fs-'));
const file = join(dir, 'a.txt');
fs.writeFileSync(file, 'contents');
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.after.each(assertClean);

/** The fds of this process that point at `path`. */
function fdsOn(path: string): number {
  let n = 0;
  for (const e of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${e}`) === path) n++;
    } catch {
      // closed between readdir and readlink
    }
  }
  return n;
}

/** Waits (a bounded number of loop turns) until `cond()` holds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await sleep(0.005);
  assert.ok(cond(), what);
}

let fifoN = 0;
/** A FIFO: opening it for reading waits in libuv's thread pool until a writer opens it. */
function fifo(): string {
  const p = join(dir, `fifo${fifoN++}`);
  execFileSync('mkfifo', [p]);
  return p;
}

/** Opens the FIFO's writing end (which lets a pending open for reading finish), writes, closes. */
function writeFifo(p: string, data = ''): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.open(p, 'w', (err, fd) => {
      if (err) return reject(err);
      fs.write(fd, data, () => fs.close(fd, () => resolve()));
    });
  });
}

/**
 * A green thread that has been killed while it awaited a foreign promise: its
 * next evy operation throws at once. `then` is what it calls then.
 */
async function killedBefore(then: () => Promise<unknown>): Promise<void> {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const gt = spawn(async () => {
    await gate; // a foreign await: the kill waits for the next evy operation
    await then();
    return 'not killed';
  });
  await sleep(0);
  gt.kill();
  open();
  assert.is(await gt.wait(), undefined);
}

test('every function of fs/promises is known: the waits are greened, the rest left stock', () => {
  const fns = Object.keys(stock).filter((k) => k !== 'default');
  const [major, minor] = process.versions.node.split('.').map(Number);
  const since: Record<string, [number, number]> = { glob: [22, 0], mkdtempDisposable: [24, 4] };
  const listed = [...FS_WAITS, ...FS_OTHERS].filter((k) => !(k in since) || major > since[k][0] || (major === since[k][0] && minor >= since[k][1]));
  assert.equal(fns.sort(), listed.sort(), 'a new Node function is listed in FS_WAITS or FS_OTHERS');
  for (const name of FS_WAITS.filter((k) => listed.includes(k))) {
    const green = (fsp as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
    assert.is.not(green, stock[name], name);
    assert.is(green.name, stock[name].name, `${name}.name`);
    assert.is(green.length, stock[name].length, `${name}.length`);
  }
  for (const name of FS_OTHERS) assert.is((fsp as unknown as Record<string, unknown>)[name], stock[name], name);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  assert.is(fs.promises, require('fs/promises'), 'fs.promises is the same object');
  assert.is(fs.promises.readFile, fsp.readFile);
});

test('the green functions give the stock results and errors', async () => {
  assert.is(await fsp.readFile(file, 'utf8'), 'contents');
  assert.is(String(await fsp.readFile(file)), 'contents');
  assert.is(await fsp.readFile(file, { encoding: 'utf8', flag: 'r' }), 'contents');
  assert.is((await fsp.stat(file)).size, 8);
  assert.ok((await fsp.readdir(dir)).includes('a.txt'));
  await fsp.writeFile(join(dir, 'b.txt'), 'bee');
  await fsp.appendFile(join(dir, 'b.txt'), '!');
  assert.is(fs.readFileSync(join(dir, 'b.txt'), 'utf8'), 'bee!');
  const h = await fsp.open(file);
  assert.is((await h.read(Buffer.alloc(4), 0, 4, 0)).bytesRead, 4);
  await h.close();
  const missing = join(dir, 'missing');
  const [g, s] = [(await rejection(fsp.stat(missing))) as NodeJS.ErrnoException, (await rejection(stock.stat(missing) as Promise<unknown>)) as NodeJS.ErrnoException];
  assert.equal([g.code, g.message], [s.code, s.message]);
  const [gr, sr] = [(await rejection(fsp.readFile(file, 5 as never))) as NodeJS.ErrnoException, (await rejection(stock.readFile(file, 5) as Promise<unknown>)) as NodeJS.ErrnoException];
  assert.equal([gr.code, gr.message], [sr.code, sr.message], 'bad options: the stock error');
});

test('other green threads run while a readFile waits', async () => {
  const ev = new Event<string>();
  spawn(() => ev.send('ran'));
  const [text, other] = await Promise.all([fsp.readFile(file, 'utf8'), ev.wait()]);
  assert.equal([text, other], ['contents', 'ran']);
});

test('a Timeout releases a thread waiting in open(); the late FileHandle is closed', async () => {
  const p = fifo();
  const fds = openFds();
  const t = new Timeout(0.05);
  assert.is(await rejection(fsp.open(p, 'r')), t);
  assert.is(fdsOn(p), 0, 'nothing open yet');
  await writeFifo(p); // the stock open completes now, after the wait was given up
  await until(() => fdsOn(p) === 0 && openFds() <= fds, 'the late FileHandle was closed');
});

test('kill while waiting in readFile(): the thread ends, readFile stops and closes its file', async () => {
  const p = fifo();
  const gt = spawn(() => fsp.readFile(p, 'utf8'));
  await sleep(0.02);
  gt.kill();
  assert.is(await gt.wait(), undefined);
  await writeFifo(p, 'late');
  await until(() => fdsOn(p) === 0, 'readFile closed its fd');
});

test("readFile: the caller's own signal still aborts, with Node's AbortError", async () => {
  const e = (await rejection(fsp.readFile(file, { signal: AbortSignal.abort('why') }))) as Error & { code: string; cause: unknown };
  assert.is(e.name, 'AbortError');
  assert.is(e.cause, 'why');
  const p = fifo();
  const ac = new AbortController();
  const pending = rejection(fsp.readFile(p, { signal: ac.signal }));
  await sleep(0.01);
  ac.abort();
  await writeFifo(p, 'x');
  assert.is(((await pending) as Error).name, 'AbortError');
  assert.is(((await rejection(fsp.readFile(file, { signal: {} as AbortSignal }))) as NodeJS.ErrnoException).code, 'ERR_INVALID_ARG_TYPE');
});

test('an open, opendir or mkdtemp abandoned by a killed thread leaves no fd and no directory', async () => {
  const fds = openFds();
  await killedBefore(() => fsp.open(file));
  await killedBefore(() => fsp.opendir(dir));
  const prefix = join(dir, 'tmp-');
  await killedBefore(() => fsp.mkdtemp(prefix));
  await until(() => openFds() <= fds, 'the late FileHandle and Dir were closed');
  await until(() => fs.readdirSync(dir).every((n) => !n.startsWith('tmp-')), 'the late temporary directory was removed');
  if (typeof stock.mkdtempDisposable === 'function') {
    // Node 24.4+: the late directory's own remove() takes it away.
    await killedBefore(() => (fsp as unknown as Record<string, (p: string) => Promise<unknown>>).mkdtempDisposable(prefix));
    await until(() => fs.readdirSync(dir).every((n) => !n.startsWith('tmp-')), 'the late disposable directory was removed');
  }
});

test('an interrupted write still completes: what it changes is the caller\'s', async () => {
  const target = join(dir, 'written.txt');
  await killedBefore(() => fsp.writeFile(target, 'all of it'));
  await until(() => fs.existsSync(target) && fs.readFileSync(target, 'utf8') === 'all of it', 'the write finished');
});

/** How this Node's ESM loader reads a module's source: fs/promises' readFile (Node 20) or readFileSync (Node 24). */
function loaderRead(): string {
  const mod = join(dir, 'probe.mjs');
  fs.writeFileSync(mod, 'export const x = 1;');
  const code = `const fs = require('node:fs'), fsp = require('node:fs/promises'), seen = [];
for (const [o, k] of [[fsp, 'readFile'], [fs, 'readFile'], [fs, 'readFileSync']]) {
  const f = o[k];
  o[k] = function (...a) { if (String(a[0]).endsWith('probe.mjs')) seen.push((o === fsp ? 'fs/promises.' : 'fs.') + k); return f.apply(this, a); };
}
import(require('node:url').pathToFileURL(${JSON.stringify(mod)}).href).then(() => console.log(seen.join(' ')));`;
  return execFileSync(process.execPath, ['-e', code], { encoding: 'utf8' }).trim();
}

test("a kill during an import() leaves Node's ESM loader stock: the module loads for the next importer", () => {
  // In its own plain node process: here tsx's hooks load modules off-thread.
  // Node 20 reads the module with fs/promises' readFile(url), which stays
  // stock for it: the kill lands mid-read (of a FIFO). Node 24 reads it with
  // readFileSync (a FIFO would block the process): the kill lands in the
  // module's top-level await. Both run where the loader reads asynchronously.
  const read = loaderRead();
  const major = Number(process.versions.node.split('.')[0]);
  if (major === 20) assert.is(read, 'fs/promises.readFile');
  if (major >= 24) assert.is(read, 'fs.readFileSync');
  const scenarios = read === 'fs/promises.readFile' ? ['fifo', 'await'] : ['await'];
  for (const how of scenarios) {
    const mod = join(dir, `mod-${how}.mjs`);
    if (how === 'fifo') execFileSync('mkfifo', [mod]); // the loader's read of it waits until a writer comes
    else fs.writeFileSync(mod, 'await globalThis.gate;\nexport const x = 1;\n');
    const script = join(dir, `importer-${how}.cjs`);
    fs.writeFileSync(
      script,
      `const evy = require(${JSON.stringify(resolve(__dirname, '..', '..', 'dist', 'index.js'))});
const fs = require('node:fs');
evy.monkeyPatch();
const url = require('node:url').pathToFileURL(${JSON.stringify(mod)}).href;
let open;
globalThis.gate = new Promise((r) => (open = r));
(async () => {
  const gt = evy.spawn(() => import(url));
  await evy.sleep(0.2); // the loader is reading the FIFO, or the module waits for the gate
  gt.kill();
  if (${JSON.stringify(how)} === 'fifo') fs.open(${JSON.stringify(mod)}, 'w', (e, fd) => fs.write(fd, 'export const x = 1;', () => fs.close(fd, () => {})));
  else open();
  if ((await gt.wait()) !== undefined) console.log('the import was not interrupted');
  try {
    console.log('x =', (await import(url)).x);
  } catch (err) {
    console.log('the second import failed:', err.name);
  }
})();
`,
    );
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 30_000 });
    assert.is(r.stdout + r.stderr, 'x = 1\n', how);
  }
});

test('named ESM imports of node:fs/promises are the green functions', async () => {
  const esm = (await import('node:fs/promises')) as unknown as Record<string, unknown>;
  assert.is(esm.readFile, fsp.readFile);
  assert.is(esm.open, fsp.open);
  await tick();
});

test.run();
