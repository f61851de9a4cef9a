// `evy run <script> [args...]`: runs a TypeScript or JavaScript script, ESM or
// CommonJS, with its top level as the main green thread.
import { existsSync, readFileSync, statSync } from 'node:fs';
import Module, { register as registerHooks } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { getHub } from '../hub/hub';
import { monkeyPatch, type MonkeyPatchOptions } from '../patcher';
import { compileTs, isModuleFile } from './tscompile';

const SCRIPT_EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx', '.js', '.mjs', '.cjs', '.jsx'];

/** Makes `require('evy')` resolve to this copy of evy, from anywhere. */
function redirectRequire(): void {
  type ResolveFilename = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;
  const M = Module as unknown as { _resolveFilename: ResolveFilename };
  const original = M._resolveFilename;
  const self = module; // a module inside this package: 'evy' resolves from here by self-reference
  M._resolveFilename = function (request, parent, isMain, options) {
    if (request === 'evy' || request.startsWith('evy/')) return original.call(this, request, self, isMain, options);
    return original.call(this, request, parent, isMain, options);
  };
}

export class ScriptError extends Error {}

function findScript(script: string): string {
  const abs = path.resolve(script);
  if (!existsSync(abs)) throw new ScriptError(`evy run: no such script: ${script}`);
  if (!statSync(abs).isFile()) throw new ScriptError(`evy run: not a file: ${script}`);
  if (!SCRIPT_EXTENSIONS.includes(path.extname(abs))) {
    throw new ScriptError(`evy run: ${script}: expected a script ending in ${SCRIPT_EXTENSIONS.join(', ')}`);
  }
  return abs;
}

/** Whether the entry script is an ES module (see isModuleFile). */
export function entryIsModule(abs: string): boolean {
  return isModuleFile(abs);
}

let tsRequireInstalled = false;

/**
 * TypeScript through require(): .ts/.cts/.tsx compile to CommonJS (cached), and
 * `require('./x.js')` finds x.ts as TypeScript's own resolution does.
 */
function installTsRequire(): void {
  if (tsRequireInstalled) return;
  tsRequireInstalled = true;
  type Compile = (this: Module, content: string, filename: string) => void;
  type Extension = (module: Module, filename: string) => void;
  type ResolveFilename = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;
  const M = Module as unknown as { _extensions: Record<string, Extension>; _resolveFilename: ResolveFilename };
  const loadTs: Extension = (module, filename) => {
    const js = compileTs(readFileSync(filename, 'utf8'), filename, 'commonjs');
    (module as Module & { _compile: Compile })._compile(js, filename);
  };
  for (const ext of ['.ts', '.cts', '.tsx']) M._extensions[ext] = loadTs;
  const original = M._resolveFilename;
  M._resolveFilename = function (request, parent, isMain, options) {
    try {
      return original.call(this, request, parent, isMain, options);
    } catch (err) {
      const m = /^(\.{1,2}\/.*)\.(m|c)?js$/.exec(request);
      if (m === null || (err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
      return original.call(this, `${m[1]}.${m[2] ?? ''}ts`, parent, isMain, options);
    }
  };
}

/** Runs a CommonJS script as the main module (require.main), as `node script.js` would. */
function loadMain(abs: string): void {
  (Module as unknown as { _load(request: string, parent: null, isMain: boolean): unknown })._load(abs, null, true);
}

export interface RunOptions {
  /** monkeyPatch() before the script runs: true (everything), false, or the options to use. */
  patch?: boolean | MonkeyPatchOptions;
}

/**
 * Loads the script as the main green thread. Resolves when its top level has
 * run; the process then lives on while green threads, timers or I/O remain.
 */
export async function runScript(script: string, args: string[], opts: RunOptions = {}): Promise<void> {
  const abs = findScript(script);
  // The world is green before the script's first line (evy run's promise).
  const patch = opts.patch ?? true;
  if (patch !== false) monkeyPatch(patch === true ? {} : patch);
  process.argv = [process.argv[0], abs, ...args];
  // TypeScript (ESM and CommonJS), with source maps for stacks. ESM goes
  // through hooks.mts in Node's loader thread; CommonJS through require.
  installTsRequire();
  redirectRequire();
  const entryURL = pathToFileURL(abs).href;
  const source = readFileSync(abs, 'utf8');
  const esm = isModuleFile(abs, source);
  // The ESM hooks live in a loader thread that takes a third of the start-up
  // budget to boot: a CommonJS script gets them only if it may import().
  if (esm || /\bimport\s*\(/.test(source)) {
    registerHooks('./hooks.mjs', pathToFileURL(__filename), { data: { entryURL, entryIsModule: esm } });
  }
  process.setSourceMapsEnabled(true);

  const hub = getHub();
  let mainDone = false;
  process.on('beforeExit', () => {
    if (mainDone) return;
    mainDone = true;
    process.stderr.write(
      'evy: the main green thread is still waiting, but nothing is left that could wake it (deadlock); exiting\n',
    );
    process.exitCode = 13;
  });
  try {
    if (esm) await hub.storage.run(hub.main, () => import(entryURL));
    else hub.storage.run(hub.main, () => loadMain(abs));
  } finally {
    mainDone = true;
  }
}
