// TypeScript for `evy run`: esbuild strips the types, and the result is kept in
// a cache keyed by the source, so a script that did not change starts without
// loading esbuild at all (start-up is the budget of issue 4: under 150 ms).
// Shared by the CommonJS require hook (run.ts) and the ESM load hook (hooks.mts).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export const TS_EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx'];

type Format = 'module' | 'commonjs';

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
  const dir = process.env.EVY_CACHE_DIR ?? path.join(tmpdir(), `evy-ts-${uid}`);
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

function esbuildTransform(): Transform {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  transformSync ??= (require('esbuild') as { transformSync: Transform }).transformSync;
  return transformSync;
}

const COMPILER_VERSION = '1';

/** FNV-1a over a string, as 8 hex digits (no crypto module to load at start-up). */
function fnv1a(text: string, seed = 0x811c9dc5): string {
  let h = seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** JavaScript for a TypeScript file, in `format`, with an inline source map. */
export function compileTs(source: string, filename: string, format: Format): string {
  const dir = getCacheDir();
  // One cache file per compiled file and format; its first line names the
  // source it was made from (two hashes and the length), checked on read.
  const id = `${COMPILER_VERSION}\0${format}\0${filename}`;
  const cached = dir === null ? null : path.join(dir, `${fnv1a(id)}${fnv1a(id, 0x12345678)}.js`);
  const stamp = `//evy:${fnv1a(source)}${fnv1a(source, 0x9e3779b9)}:${source.length}\n`;
  if (cached !== null) {
    try {
      const text = readFileSync(cached, 'utf8');
      if (text.startsWith(stamp)) return text.slice(stamp.length);
    } catch {
      // not cached yet
    }
  }
  const { code } = esbuildTransform()(source, {
    loader: filename.endsWith('.tsx') ? 'tsx' : 'ts',
    format: format === 'module' ? 'esm' : 'cjs',
    target: 'node20',
    sourcemap: 'inline',
    sourcefile: filename,
    supported: { 'dynamic-import': true },
  });
  if (cached !== null) {
    try {
      const tmp = `${cached}.${process.pid}.tmp`;
      writeFileSync(tmp, stamp + code);
      renameSync(tmp, cached); // atomic: a concurrent reader sees all or nothing
    } catch {
      // a cache we cannot write only costs time
    }
  }
  return code;
}
