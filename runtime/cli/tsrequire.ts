// TypeScript support for a Node process, shared by `evy run` (run.ts) and the
// runners of `evy test` (tsload.ts): the require hook for CommonJS TypeScript
// and the ESM hooks (hooks.mts) in Node's loader thread. Loads no hub.
import { readFileSync } from 'node:fs';
import type ModuleType from 'node:module';
import { pathToFileURL } from 'node:url';
import { compileTs } from './tscompile';

// The Module class without loading node:module (and with it Node's ES module
// loader), which a CommonJS script under evy run must not pay for.
const Module = module.constructor as typeof ModuleType;
type Module = ModuleType;

let tsRequireInstalled = false;

/**
 * TypeScript through require(): .ts/.cts/.tsx compile to CommonJS (cached), and
 * `require('./x.js')` finds x.ts as TypeScript's own resolution does.
 */
export function installTsRequire(): void {
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

/**
 * Registers hooks.mts: 'evy' imports resolve to this copy of evy, TypeScript
 * ES modules compile, and the entry (`entryURL`, '' for none) loads as an ES
 * module when `entryIsModule`.
 */
export function registerTsHooks(entryURL: string, entryIsModule: boolean): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { register } = require('node:module') as typeof ModuleType;
  register('./hooks.mjs', pathToFileURL(__filename), { data: { entryURL, entryIsModule } });
  // hooks.mts includes greenhooks.mts: monkeyPatch() need not register it.
  (globalThis as Record<symbol, unknown>)[Symbol.for('evy.esmGreenHooks')] = true;
}
