// TypeScript for `evy run`: esbuild strips the types, and the result is kept in
// a cache keyed by the source, so a script that did not change starts without
// loading esbuild at all (start-up is the budget of issue 4: under 150 ms).
// Shared by the CommonJS require hook (run.ts) and the ESM load hook (hooks.mts).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export const TS_EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx'];

export type Format = 'module' | 'commonjs';

/** The `type` of the nearest package.json above `dir`, if it declares one. */
export function packageType(dir: string): string | undefined {
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        return (JSON.parse(readFileSync(file, 'utf8')) as { type?: string }).type;
      } catch {
        return undefined;
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** ES syntax at the start of a line: import/export statements or top-level await. */
export function hasModuleSyntax(source: string): boolean {
  return /^(?:import[\s{*'"]|export[\s{*]|await[\s(])/m.test(source);
}

/**
 * Whether a file is an ES module: .mts/.mjs are, .cts/.cjs are not; otherwise
 * the package.json `type` decides, and when it says nothing, ES syntax does
 * (Node's detect-module rule, which lets a standalone script.ts use top-level await).
 */
export function isModuleFile(file: string, source?: string): boolean {
  const ext = path.extname(file);
  if (ext === '.mts' || ext === '.mjs') return true;
  if (ext === '.cts' || ext === '.cjs') return false;
  const type = packageType(path.dirname(file));
  if (type !== undefined) return type === 'module';
  return hasModuleSyntax(source ?? readFileSync(file, 'utf8'));
}

let cacheDir: string | null | undefined;

function getCacheDir(): string | null {
  if (cacheDir !== undefined) return cacheDir;
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  // node:os on first compile only: a JavaScript script under evy run never loads it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dir = process.env.EVY_CACHE_DIR ?? path.join((require('node:os') as typeof import('node:os')).tmpdir(), `evy-ts-${uid}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    cacheDir = dir;
  } catch {
    cacheDir = null; // no cache: compile every time
  }
  return cacheDir;
}

type Transform = (source: string, options: Record<string, unknown>) => { code: string };
let transformSync: Transform | null = null;

/**
 * esbuild's transformSync, in its one-shot mode: each call runs the esbuild
 * binary once and waits for it, so nothing of esbuild outlives a compile. (By
 * default it starts a worker thread that keeps an esbuild service process for
 * the life of the process: a long-running script would keep it too. The
 * one-shot call costs about 13 ms a file, against a first call of 90 ms or
 * more for the worker, and cached files need neither.) The mode is read when
 * esbuild loads, from ESBUILD_WORKER_THREADS, which the script then sees as it was.
 */
function esbuildTransform(): Transform {
  if (transformSync !== null) return transformSync;
  const before = process.env.ESBUILD_WORKER_THREADS;
  process.env.ESBUILD_WORKER_THREADS = '0';
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    transformSync = (require('esbuild') as { transformSync: Transform }).transformSync;
  } finally {
    if (before === undefined) delete process.env.ESBUILD_WORKER_THREADS;
    else process.env.ESBUILD_WORKER_THREADS = before;
  }
  return transformSync;
}

const COMPILER_VERSION = '2';

/** FNV-1a over a string, as 8 hex digits (no crypto module to load at start-up). */
function fnv1a(text: string, seed = 0x811c9dc5): string {
  let h = seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/**
 * esbuild could not compile a file: its messages as `file:line:col: text` with
 * the offending line, and no esbuild frames (the CLI prints the message only).
 */
export class TsCompileError extends Error {
  override name = 'TsCompileError';
}

interface EsbuildMessage {
  text: string;
  location: { file: string; line: number; column: number; lineText: string } | null;
}

const TLA_CJS = /^Top-level await is currently not supported with the "cjs" output format/;

function describe(messages: EsbuildMessage[], filename: string): string {
  return messages
    .map((m) => {
      const l = m.location;
      if (l === null) return `${filename}: ${m.text}`;
      return `${l.file || filename}:${l.line}:${l.column + 1}: ${m.text}\n    ${l.lineText}\n    ${' '.repeat(l.column)}^`;
    })
    .join('\n');
}

/** Where the cache file of (filename, format) would be, or null without a cache. */
function cachePath(filename: string, format: string): string | null {
  const dir = getCacheDir();
  const id = `${COMPILER_VERSION}\0${format}\0${filename}`;
  return dir === null ? null : path.join(dir, `${fnv1a(id)}${fnv1a(id, 0x12345678)}.js`);
}

/** The first line of a cache file: the source it was made from (two hashes and the length) and the format it holds. */
function stampOf(source: string, format: Format): string {
  return `//evy:${fnv1a(source)}${fnv1a(source, 0x9e3779b9)}:${source.length}:${format}\n`;
}

function readCache(file: string | null, source: string): { format: Format; code: string } | null {
  if (file === null) return null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null; // not cached yet
  }
  for (const format of ['commonjs', 'module'] as const) {
    const stamp = stampOf(source, format);
    if (text.startsWith(stamp)) return { format, code: text.slice(stamp.length) };
  }
  return null;
}

function writeCache(file: string | null, source: string, format: Format, code: string): void {
  if (file === null) return;
  try {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, stampOf(source, format) + code);
    renameSync(tmp, file); // atomic: a concurrent reader sees all or nothing
  } catch {
    // a cache we cannot write only costs time
  }
}

function transform(source: string, filename: string, format: Format): { code: string } | { errors: EsbuildMessage[] } {
  try {
    return esbuildTransform()(source, {
      loader: filename.endsWith('.tsx') ? 'tsx' : 'ts',
      format: format === 'module' ? 'esm' : 'cjs',
      target: 'node20',
      sourcemap: 'inline',
      sourcefile: filename,
      supported: { 'dynamic-import': true },
    });
  } catch (err) {
    const errors = (err as { errors?: EsbuildMessage[] }).errors;
    if (Array.isArray(errors) && errors.length > 0) return { errors };
    throw err;
  }
}

/**
 * A TypeScript file compiled in the format it asks for, with an inline source
 * map, from the on-disk cache when the source did not change.
 *
 * `format` is what the file's extension and package.json say. CommonJS cannot
 * have a top-level `await`, so a .ts/.tsx file that uses one is an ES module
 * whatever package.json says (npm 11's `npm init` writes "type": "commonjs"):
 * the result then says `format: 'module'`. A .cts file has no such way out.
 */
export function compileTsFile(source: string, filename: string, format: Format): { format: Format; code: string } {
  if (last !== null && last.filename === filename && last.asked === format && last.source === source) return last.result;
  const result = compileUncached(source, filename, format);
  last = { filename, asked: format, source, result };
  return result;
}

/** The last compile, for the entry script (compiled once to decide its format, again to load it). */
let last: { filename: string; asked: Format; source: string; result: { format: Format; code: string } } | null = null;

function compileUncached(source: string, filename: string, format: Format): { format: Format; code: string } {
  const cached = cachePath(filename, format);
  const hit = readCache(cached, source);
  if (hit !== null) return hit;
  let r = transform(source, filename, format);
  let made: Format = format;
  if ('errors' in r && format === 'commonjs' && r.errors.every((e) => TLA_CJS.test(e.text))) {
    if (filename.endsWith('.cts')) {
      throw new TsCompileError(
        `${describe(r.errors.slice(0, 1), filename)}\n` +
          'A .cts file is CommonJS, which has no top-level await: rename it .ts or .mts, or move the awaits into an async function.',
      );
    }
    made = 'module';
    r = transform(source, filename, 'module');
    if (!('errors' in r)) writeCache(cachePath(filename, 'module'), source, 'module', r.code);
  }
  if ('errors' in r) throw new TsCompileError(describe(r.errors, filename));
  writeCache(cached, source, made, r.code);
  return { format: made, code: r.code };
}

/** JavaScript for a TypeScript file, in `format` exactly (see compileTsFile). */
export function compileTs(source: string, filename: string, format: Format): string {
  const r = compileTsFile(source, filename, format);
  if (r.format !== format) {
    throw new TsCompileError(
      `${filename} uses top-level await, so it is an ES module, which require() cannot load (a CommonJS file's ` +
        '`import` is a require()). Make the importing file an ES module ("type": "module" in package.json, or .mts), ' +
        'load this one with `await import()`, or move its awaits into an async function.',
    );
  }
  return r.code;
}

/**
 * The format a TypeScript file runs as: isModuleFile's answer, except that a
 * file CommonJS by package.json that uses top-level await is an ES module
 * (which takes a compile to know; the compile is cached for the load).
 */
export function tsFormat(file: string, source: string): Format {
  if (isModuleFile(file, source)) return 'module';
  if (file.endsWith('.cts') || !/\bawait\b/.test(source)) return 'commonjs';
  return compileTsFile(source, file, 'commonjs').format;
}
