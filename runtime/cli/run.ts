// `evy run <script> [args...]`: runs a TypeScript or JavaScript script, ESM or
// CommonJS, with its top level as the main green thread.
import { existsSync, readFileSync, statSync } from 'node:fs';
import type ModuleType from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Hub } from '../hub/hub';
import { monkeyPatch, type MonkeyPatchOptions } from '../patcher';
import { stopCompileCache } from './compilecache';
import { compileTsFile, isModuleFile, TS_EXTENSIONS, tsFormat } from './tscompile';
import { installTsRequire, registerTsHooks } from './tsrequire';

// The Module class without loading node:module (Node's ES module loader with it).
const Module = module.constructor as typeof ModuleType;

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

/** What `evy run` reports as one message, without a stack (a missing script, a bad option). */
export class ScriptError extends Error {
  override name = 'ScriptError';
}

/** The name and the parent pid of process `pid` (Linux, /proc), or null. */
function procStat(pid: number): { comm: string; ppid: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')'); // the name may hold spaces and parentheses
    return { comm: stat.slice(stat.indexOf('(') + 1, close), ppid: Number(stat.slice(close + 2).split(' ')[1]) };
  } catch {
    return null;
  }
}

const SHELLS = new Set(['sh', 'dash', 'bash', 'ash', 'zsh']);

/**
 * Ends this process when what started it goes without passing a signal on:
 * npm (`npx evy run`, `npm run`) runs evy through `sh -c`, and on SIGTERM the
 * shell dies and leaves evy behind, while on SIGINT the shell waits on for evy,
 * which never got the signal, after npm is gone. So under npm evy watches its
 * parent and, when the parent is a shell, the shell's parent; so does the Node
 * that `evy run` started with Node flags (EVY_RUN_PARENT) for that `evy run`.
 * A look five times a second, on an unref'd timer; when one is gone, SIGTERM
 * to itself (the script's handlers run; with none, the process ends).
 */
export function watchParent(): void {
  const parent = process.ppid;
  const ours = process.env.EVY_RUN_PARENT === String(parent);
  if (!ours && process.env.npm_command === undefined) return;
  if (ours) delete process.env.EVY_RUN_PARENT;
  const shell = ours ? null : procStat(parent);
  const grandparent = shell !== null && SHELLS.has(shell.comm) ? shell.ppid : -1;
  const t = setInterval(() => {
    if (process.ppid === parent && (grandparent < 0 || procStat(parent)?.ppid === grandparent)) return;
    clearInterval(t);
    process.kill(process.pid, 'SIGTERM');
  }, 200);
  t.unref();
}

function findScript(script: string): string {
  const abs = path.resolve(script);
  if (!existsSync(abs)) throw new ScriptError(`evy run: no such script: ${script}`);
  if (!statSync(abs).isFile()) throw new ScriptError(`evy run: not a file: ${script}`);
  if (!SCRIPT_EXTENSIONS.includes(path.extname(abs))) {
    throw new ScriptError(`evy run: ${script}: expected a script ending in ${SCRIPT_EXTENSIONS.join(', ')}`);
  }
  return abs;
}

/**
 * Whether the entry script is an ES module: isModuleFile's rule, and for
 * TypeScript also a top-level await, whatever package.json says (tsFormat).
 */
export function entryIsModule(abs: string, source = readFileSync(abs, 'utf8')): boolean {
  return TS_EXTENSIONS.includes(path.extname(abs)) ? tsFormat(abs, source) === 'module' : isModuleFile(abs, source);
}

/** Runs a CommonJS script as the main module (require.main), as `node script.js` would. */
function loadMain(abs: string): void {
  (Module as unknown as { _load(request: string, parent: null, isMain: boolean): unknown })._load(abs, null, true);
}

export interface RunOptions {
  /** monkeyPatch() before the script runs: true (everything), false, or the options to use. */
  patch?: boolean | MonkeyPatchOptions;
  /** `--backdoor [HOST:]PORT|PATH`: a backdoor for the script (evy/tools/backdoor) */
  backdoor?: string;
  /** `--backdoor-allow-remote`: let --backdoor bind a non-loopback address */
  backdoorAllowRemote?: boolean;
  /** `--block-warn SECONDS`: blocking detection (evy/tools/debug) */
  blockWarn?: number;
}

/** `[HOST:]PORT` or a Unix socket path, as backdoor() takes it. */
export function parseBackdoorAddress(spec: string): number | [string, number] | string {
  if (/^\d+$/.test(spec)) return Number(spec);
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(spec);
  if (m) return [m[1], Number(m[2])];
  return spec;
}

/** Starts what --backdoor and --block-warn ask for, before the script's first line. */
async function startTools(opts: RunOptions): Promise<void> {
  if (opts.backdoor !== undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { backdoor } = require('../tools/backdoor') as typeof import('../tools/backdoor');
    const bd = await backdoor(parseBackdoorAddress(opts.backdoor), {}, { allowRemote: opts.backdoorAllowRemote === true });
    const a = bd.address;
    process.stderr.write(`evy: backdoor listening on ${typeof a === 'string' ? a : `${a[0]}:${a[1]}`}\n`);
  }
}

/**
 * Loads the script as the main green thread. Resolves when its top level has
 * run; the process then lives on while green threads, timers or I/O remain.
 */
export async function runScript(script: string, args: string[], opts: RunOptions = {}): Promise<void> {
  const abs = findScript(script);
  // The hub (and with it the native addon) loads only now, when a script
  // runs: before monkeyPatch() (node-gyp-build, which binding.ts falls back
  // to, loads node:os, which must not be greened by a hub half loaded), and
  // before source maps are on (Node would read the maps of its files).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const hub = (require('../hub/hub') as { getHub(): Hub }).getHub();
  stopCompileCache(); // evy's start path is loaded: what loads from here compiles as usual
  // The world is green before the script's first line (evy run's promise).
  const patch = opts.patch ?? true;
  if (patch !== false) monkeyPatch(patch === true ? {} : patch);
  if (opts.backdoor !== undefined) await startTools(opts);
  process.argv = [process.argv[0], abs, ...args];
  // TypeScript (ESM and CommonJS), with source maps for stacks. ESM goes
  // through hooks.mts in Node's loader thread; CommonJS through require.
  installTsRequire();
  redirectRequire();
  const entryURL = pathToFileURL(abs).href;
  const source = readFileSync(abs, 'utf8');
  // A TypeScript entry compiles here, before any hook runs: its errors are
  // reported as such, and the loader thread finds it cached. One that uses
  // top-level await is an ES module whatever package.json says.
  const esm = entryIsModule(abs, source);
  if (TS_EXTENSIONS.includes(path.extname(abs))) compileTsFile(source, abs, esm ? 'module' : 'commonjs');
  // The ESM hooks live in a loader thread that takes a third of the start-up
  // budget to boot: a CommonJS script gets them only if it may import().
  if (esm || /\bimport\s*\(/.test(source)) registerTsHooks(entryURL, esm);
  process.setSourceMapsEnabled(true);
  if (opts.blockWarn !== undefined) {
    // Started here, once the entry is compiled: its compile is start-up, not a block.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { hubBlockingDetection } = require('../tools/debug') as typeof import('../tools/debug');
    hubBlockingDetection(true, opts.blockWarn, { raise: false });
  }

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
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    if (esm) await hub.storage.run(hub.main, () => (require('./importentry') as typeof import('./importentry')).importEntry(entryURL));
    else hub.storage.run(hub.main, () => loadMain(abs));
  } finally {
    mainDone = true;
  }
}
