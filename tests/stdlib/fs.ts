// node:fs/promises scenarios, in a fresh temporary directory each: reading and
// writing, FileHandle, directories, links, copies, error codes and messages
// (paths scrubbed), options and flags, the AbortSignal of readFile and
// writeFile, and the promise API's identity.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Scenario, Trace } from './lib/trace';

async function inDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'evy-compat-fs-'));
  try {
    await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `[label, value]`, or `[label, error]` with the error's errno and syscall. */
async function attempt(t: Trace, label: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    t.log(label, await fn());
  } catch (err) {
    t.error(label, err);
    const e = err as NodeJS.ErrnoException;
    if (e.syscall !== undefined) t.log(`${label} errno`, { errno: e.errno ?? null, syscall: e.syscall });
    if ((e as { cause?: unknown }).cause !== undefined) t.log(`${label} cause`, (e as { cause?: unknown }).cause);
  }
}

export const scenarios: Scenario[] = [
  {
    name: 'fs.promises is fs/promises; every function, by name and arity',
    async run(t) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      t.log('same object', fs.promises === (require('fs/promises') as typeof fsp));
      const fns = Object.entries(fsp)
        .filter(([k, v]) => k !== 'default' && typeof v === 'function')
        .map(([k, v]) => [k, (v as (...a: unknown[]) => unknown).name, (v as (...a: unknown[]) => unknown).length]);
      t.log('functions', fns);
    },
  },
  {
    name: 'writeFile, appendFile, readFile with encodings and flags',
    async run(t) {
      await inDir(async (dir) => {
        const f = path.join(dir, 'a.txt');
        await fsp.writeFile(f, 'hello');
        await fsp.appendFile(f, ' world');
        t.log('utf8 string option', await fsp.readFile(f, 'utf8'));
        t.log('buffer', await fsp.readFile(f));
        t.log('encoding object', await fsp.readFile(f, { encoding: 'base64' }));
        t.log('null options', String(await fsp.readFile(f, null)));
        await fsp.writeFile(f, 'x', { flag: 'a' });
        t.log('flag a', await fsp.readFile(f, 'latin1'));
        await attempt(t, 'flag wx on an existing file', () => fsp.writeFile(f, 'y', { flag: 'wx' }));
        await fsp.writeFile(f, new Uint8Array([0x61, 0x62]));
        t.log('typed array', await fsp.readFile(f, 'utf8'));
        await fsp.writeFile(f, (async function* () {
          yield 'gen';
          yield 'erated';
        })());
        t.log('async iterable', await fsp.readFile(f, 'utf8'));
        await attempt(t, 'bad encoding', () => fsp.readFile(f, 'nope' as BufferEncoding));
        await attempt(t, 'options a number', () => fsp.readFile(f, 5 as never));
      });
    },
  },
  {
    name: 'errors: ENOENT, EISDIR, EEXIST, ENOTDIR, ENOTEMPTY, with their syscall',
    async run(t) {
      await inDir(async (dir) => {
        const missing = path.join(dir, 'missing');
        await attempt(t, 'readFile missing', () => fsp.readFile(missing));
        await attempt(t, 'readFile a directory', () => fsp.readFile(dir));
        await attempt(t, 'stat missing', () => fsp.stat(missing));
        await attempt(t, 'mkdir existing', () => fsp.mkdir(dir));
        fs.writeFileSync(path.join(dir, 'f'), '');
        await attempt(t, 'readdir a file', () => fsp.readdir(path.join(dir, 'f')));
        await attempt(t, 'rmdir non-empty', () => fsp.rmdir(dir));
        await attempt(t, 'unlink missing', () => fsp.unlink(missing));
        await attempt(t, 'open missing', () => fsp.open(missing, 'r'));
        await attempt(t, 'bad path type', () => fsp.stat(42 as never));
      });
    },
  },
  {
    name: 'FileHandle: open, read, write, stat, truncate, sync, close, and reading after close',
    async run(t) {
      await inDir(async (dir) => {
        const f = path.join(dir, 'h.txt');
        const h = await fsp.open(f, 'w+');
        t.log('fd is a number', typeof h.fd === 'number');
        t.log('write', (await h.write('abcdef')).bytesWritten);
        const buf = Buffer.alloc(4);
        const r = await h.read(buf, 0, 4, 1);
        t.log('read', { bytesRead: r.bytesRead, buffer: r.buffer });
        t.log('size', (await h.stat()).size);
        await h.truncate(3);
        await h.sync();
        await h.datasync();
        t.log('readFile on the handle', await h.readFile({ encoding: 'utf8' }));
        await h.close();
        t.log('fd after close', h.fd);
        await attempt(t, 'read after close', () => h.read(Buffer.alloc(1), 0, 1, 0));
        await attempt(t, 'close twice', () => h.close());
        t.log('file', fs.readFileSync(f, 'utf8'));
      });
    },
  },
  {
    name: 'directories: mkdir recursive, readdir with file types, opendir, mkdtemp, rm recursive',
    async run(t) {
      await inDir(async (dir) => {
        const deep = path.join(dir, 'a', 'b', 'c');
        const first = await fsp.mkdir(deep, { recursive: true });
        t.log('mkdir recursive returns the first made', first === path.join(dir, 'a'));
        t.log('again', await fsp.mkdir(deep, { recursive: true }));
        fs.writeFileSync(path.join(dir, 'a', 'f.txt'), 'x');
        t.log('readdir', (await fsp.readdir(path.join(dir, 'a'))).sort());
        t.log(
          'withFileTypes',
          (await fsp.readdir(path.join(dir, 'a'), { withFileTypes: true })).map((d) => [d.name, d.isDirectory(), d.isFile()]).sort(),
        );
        const d = await fsp.opendir(path.join(dir, 'a'));
        const names: string[] = [];
        for await (const e of d) names.push(e.name);
        t.log('opendir', names.sort());
        const tmp = await fsp.mkdtemp(path.join(dir, 'tmp-'));
        t.log('mkdtemp', [path.dirname(tmp) === dir, path.basename(tmp).startsWith('tmp-'), fs.statSync(tmp).isDirectory()]);
        await fsp.rm(path.join(dir, 'a'), { recursive: true });
        t.log('after rm', fs.readdirSync(dir).filter((n) => !n.startsWith('tmp-')));
        await attempt(t, 'rm missing', () => fsp.rm(path.join(dir, 'a')));
        t.log('rm missing with force', await fsp.rm(path.join(dir, 'a'), { force: true }));
      });
    },
  },
  {
    name: 'links, rename, copyFile, cp, realpath, access, chmod, utimes',
    async run(t) {
      await inDir(async (dir) => {
        const f = path.join(dir, 'f');
        await fsp.writeFile(f, 'data');
        await fsp.symlink(f, path.join(dir, 'sym'));
        t.log('readlink', (await fsp.readlink(path.join(dir, 'sym'))) === f);
        t.log('lstat is a link', (await fsp.lstat(path.join(dir, 'sym'))).isSymbolicLink());
        t.log('realpath', (await fsp.realpath(path.join(dir, 'sym'))) === fs.realpathSync(f));
        await fsp.link(f, path.join(dir, 'hard'));
        t.log('nlink', (await fsp.stat(f)).nlink);
        await fsp.rename(path.join(dir, 'hard'), path.join(dir, 'moved'));
        await fsp.copyFile(f, path.join(dir, 'copy'));
        await attempt(t, 'copyFile EXCL', () => fsp.copyFile(f, path.join(dir, 'copy'), fs.constants.COPYFILE_EXCL));
        fs.mkdirSync(path.join(dir, 'tree', 'sub'), { recursive: true });
        fs.writeFileSync(path.join(dir, 'tree', 'sub', 'x'), 'x');
        await fsp.cp(path.join(dir, 'tree'), path.join(dir, 'tree2'), { recursive: true });
        t.log('cp', fs.readFileSync(path.join(dir, 'tree2', 'sub', 'x'), 'utf8'));
        await attempt(t, 'cp a directory without recursive', () => fsp.cp(path.join(dir, 'tree'), path.join(dir, 'tree3')));
        t.log('access', await fsp.access(f, fs.constants.R_OK));
        await attempt(t, 'access missing', () => fsp.access(path.join(dir, 'nope')));
        await fsp.chmod(f, 0o640);
        t.log('mode', ((await fsp.stat(f)).mode & 0o777).toString(8));
        await fsp.utimes(f, 1000, 2000);
        const st = await fsp.stat(f);
        t.log('times', [st.atimeMs, st.mtimeMs]);
        await fsp.truncate(f, 2);
        t.log('truncated', fs.readFileSync(f, 'utf8'));
        t.log('entries', fs.readdirSync(dir).sort());
      });
    },
  },
  {
    name: 'readFile and writeFile with an AbortSignal: already aborted, and aborted while open() waits on a FIFO',
    async run(t) {
      await inDir(async (dir) => {
        const f = path.join(dir, 'f');
        fs.writeFileSync(f, 'content');
        await attempt(t, 'readFile already aborted', () => fsp.readFile(f, { signal: AbortSignal.abort('why') }));
        await attempt(t, 'writeFile already aborted', () => fsp.writeFile(f, 'new', { signal: AbortSignal.abort() }));
        t.log('unchanged', fs.readFileSync(f, 'utf8'));
        await attempt(t, 'a signal that is not one', () => fsp.readFile(f, { signal: 'nope' as never }));
        const fifo = path.join(dir, 'fifo');
        execFileSync('mkfifo', [fifo]);
        const ac = new AbortController();
        const reading = fsp.readFile(fifo, { signal: ac.signal, encoding: 'utf8' }).then(
          (v) => ['value', v],
          (e: Error & { cause?: unknown }) => ['error', e.name, e.cause],
        );
        ac.abort('stop');
        // Opening the writing end lets the reader's open finish; nothing is
        // written (the aborted reader may be gone by then: EPIPE).
        const w = await fsp.open(fifo, 'w');
        await w.close();
        t.log('aborted while opening', await reading);
      });
    },
  },
  {
    name: 'many operations at once finish, each with its own result',
    async run(t) {
      await inDir(async (dir) => {
        await Promise.all(['a', 'b', 'c', 'd'].map((n) => fsp.writeFile(path.join(dir, n), n.repeat(3))));
        t.log('reads', await Promise.all(['a', 'b', 'c', 'd'].map((n) => fsp.readFile(path.join(dir, n), 'utf8'))));
        const settled = await Promise.allSettled([fsp.stat(path.join(dir, 'a')), fsp.stat(path.join(dir, 'none'))]);
        t.log('allSettled', settled.map((s) => (s.status === 'fulfilled' ? ['ok', s.value.size] : ['err', (s.reason as NodeJS.ErrnoException).code])));
      });
    },
  },
];
