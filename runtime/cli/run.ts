// `evy run <script> [args...]`: runs a TypeScript or JavaScript script, ESM or
// CommonJS, with its top level as the main green thread.
import { existsSync, readFileSync, statSync } from 'node:fs';
import Module, { register as registerHooks } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { getHub } from '../hub/hub';
import { monkeyPatch, type MonkeyPatchOptions } from '../patcher';

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

/** The `type` of the nearest package.json above `dir`, if it declares one. */
function packageType(dir: string): string | undefined {
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

/**
 * Whether the entry script is an ES module. .mts/.mjs are, .cts/.cjs are not;
 * otherwise the package.json `type` decides, and when it says nothing, ES
 * syntax (import/export, top-level await) does — modern Node's detect-module
 * rule, which lets a standalone script.ts use top-level await.
 */
export function entryIsModule(abs: string): boolean {
  const ext = path.extname(abs);
  if (ext === '.mts' || ext === '.mjs') return true;
  if (ext === '.cts' || ext === '.cjs') return false;
  const type = packageType(path.dirname(abs));
  if (type !== undefined) return type === 'module';
  return /^(?:import[\s{*'"]|export[\s{*]|await[\s(])/m.test(readFileSync(abs, 'utf8'));
}

/**
 * Loads the script as the main green thread. Resolves when its top level has
 * run; the process then lives on while green threads, timers or I/O remain.
 */
export interface RunOptions {
  /** monkeyPatch() before the script runs: true (everything), false, or the options to use. */
  patch?: boolean | MonkeyPatchOptions;
}

export async function runScript(script: string, args: string[], opts: RunOptions = {}): Promise<void> {
  const abs = findScript(script);
  // The world is green before the script's first line (evy run's promise).
  const patch = opts.patch ?? true;
  if (patch !== false) monkeyPatch(patch === true ? {} : patch);
  process.argv = [process.argv[0], abs, ...args];
  // TypeScript (ESM and CommonJS), with source maps for stacks.
  const tsxCjs = (await import('tsx/cjs/api')) as typeof import('tsx/cjs/api');
  const tsxEsm = (await import('tsx/esm/api')) as typeof import('tsx/esm/api');
  tsxCjs.register();
  tsxEsm.register();
  redirectRequire();
  const entryURL = pathToFileURL(abs).href;
  registerHooks('./hooks.mjs', pathToFileURL(__filename), { data: { entryURL, entryIsModule: entryIsModule(abs) } });
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
    await hub.storage.run(hub.main, () => import(entryURL));
  } finally {
    mainDone = true;
  }
}
