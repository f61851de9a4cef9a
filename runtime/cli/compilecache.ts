// V8's code cache for evy's own start path (bin/evy turns it on before
// loading the CLI; run.ts turns it off once the hub is loaded). Each of evy's
// files loaded meanwhile compiles from the bytecode kept by the last run
// instead of being parsed again: on Node 20, where module.enableCompileCache
// does not exist, that is a third of what `evy run` adds to plain node's
// start-up. One file holds the cache, next to the TypeScript cache
// (tscompile.ts), keyed by each file's path, size and mtime; V8 itself
// rejects a cache made by another Node or with other V8 flags, and a file
// whose cache is missing or rejected makes the run write it again, at exit.
// The program's own files, and evy's files loaded after start-up, compile as
// usual (and get their source maps when those are on).
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import type ModuleType from 'node:module';
import { dirname, join, sep } from 'node:path';
import type { Script as ScriptType } from 'node:vm';

type Compile = (this: ModuleType, content: string, filename: string) => unknown;
interface ModuleClass {
  prototype: { _compile: Compile };
  wrap(content: string): string;
  _resolveFilename(request: string, parent: ModuleType, isMain: boolean, options?: unknown): string;
  _resolveLookupPaths(request: string, parent: ModuleType): string[] | null;
  _extensions: NodeJS.RequireExtensions;
  _cache: NodeJS.Dict<NodeJS.Module>;
}

/** Where the cache lives: the TypeScript cache's directory (os.tmpdir()'s rule, without loading node:os). */
function cacheFile(): string {
  const tmp = (process.env.TMPDIR ?? process.env.TMP ?? process.env.TEMP ?? '/tmp').replace(/(.)\/+$/, '$1');
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  const dir = process.env.EVY_CACHE_DIR ?? join(tmp, `evy-ts-${uid}`);
  return join(dir, `start-${process.version}-${process.arch}.v8cache`);
}

interface Entry {
  /** `size:mtimeMs` of the source the data was made from */
  key: string;
  data: Buffer;
}

/** The cache file: a 4-byte header length, a JSON header ([path, key, length] per file), the data. */
function readCache(file: string): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  let blob: Buffer;
  try {
    blob = readFileSync(file);
  } catch {
    return entries;
  }
  try {
    const headerLength = blob.readUInt32LE(0);
    const header = JSON.parse(blob.toString('utf8', 4, 4 + headerLength)) as Array<[string, string, number]>;
    let at = 4 + headerLength;
    for (const [path, key, length] of header) {
      entries.set(path, { key, data: blob.subarray(at, at + length) });
      at += length;
    }
  } catch {
    entries.clear(); // a damaged file: written again
  }
  return entries;
}

function writeCache(file: string, entries: Map<string, Entry>): void {
  const header = Buffer.from(JSON.stringify([...entries].map(([path, e]) => [path, e.key, e.data.length])));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length, 0);
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}`;
    writeFileSync(tmp, Buffer.concat([length, header, ...[...entries.values()].map((e) => e.data)]), { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    // no cache (a read-only temp dir): the next run compiles as usual
  }
}

/** Node's own `require` for a module, as its loader makes it (makeRequireFunction). */
function requireFor(M: ModuleClass, mod: ModuleType): NodeJS.Require {
  const require = function require(id: string): unknown {
    return mod.require(id);
  } as NodeJS.Require;
  const resolve = function resolve(request: string, options?: { paths?: string[] }): string {
    return M._resolveFilename(request, mod, false, options);
  } as NodeJS.RequireResolve;
  resolve.paths = (request: string) => M._resolveLookupPaths(request, mod);
  require.resolve = resolve;
  require.main = process.mainModule;
  require.extensions = M._extensions;
  require.cache = M._cache;
  return require;
}

let stop: (() => void) | null = null;

/** A call of import() with an argument (not the words `import()` in a message). */
const DYNAMIC_IMPORT = /\bimport\(\s*[^)\s]/;

/**
 * Compiles evy's own files (those under `root`) from the code cache until
 * stopCompileCache(). Does nothing where it cannot help or could get in the
 * way: no vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER (Node before 20.12:
 * run.js's import() needs it), V8 coverage, or source maps already on.
 * @internal
 */
export function startCompileCache(root: string): void {
  if (stop !== null || process.env.NODE_V8_COVERAGE !== undefined) return;
  if ((process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled === true) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const vm = require('node:vm') as typeof import('node:vm');
  const constants = vm.constants as Partial<typeof vm.constants> | undefined;
  const dynamicImport = constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER;
  if (dynamicImport === undefined) return;
  const M = module.constructor as unknown as ModuleClass;
  const original = M.prototype._compile;
  const file = cacheFile();
  const cache = readCache(file);
  const compiled: Array<[string, string, ScriptType]> = [];
  let stale = false;
  const under = root.endsWith(sep) ? root : root + sep;
  M.prototype._compile = function (content, filename) {
    // import() in a function that came from the cache finds no loader on Node 20: such files compile as usual.
    if (!filename.startsWith(under) || !filename.endsWith('.js') || DYNAMIC_IMPORT.test(content)) return original.call(this, content, filename);
    const st = statSync(filename);
    const key = `${st.size}:${st.mtimeMs}`;
    const hit = cache.get(filename);
    const cachedData = hit?.key === key ? hit.data : undefined;
    const script = new vm.Script(M.wrap(content), { filename, cachedData, importModuleDynamically: dynamicImport });
    if (cachedData === undefined || script.cachedDataRejected === true) stale = true;
    compiled.push([filename, key, script]);
    const fn = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return fn.call(this.exports, this.exports, requireFor(M, this), this, filename, dirname(filename));
  };
  stop = () => {
    M.prototype._compile = original;
    if (!stale) return;
    // Written as the process ends, with the bytecode of every function of
    // these files compiled by then: those start-up ran after this point too.
    process.once('exit', () => {
      for (const [filename, key, script] of compiled) cache.set(filename, { key, data: script.createCachedData() });
      writeCache(file, cache);
    });
  };
}

/**
 * Ends startCompileCache(): later files compile as usual; a cache that
 * missed is written when the process exits.
 * @internal
 */
export function stopCompileCache(): void {
  const s = stop;
  stop = null;
  s?.();
}
