// Greens node:fs/promises in place (monkeyPatch; `require('fs').promises` is
// the same object): each of its functions is an evy operation, so a Timeout or
// kill releases the waiting green thread at once. The stock call runs on in
// libuv's thread pool, and its late result is dropped: a late FileHandle or Dir
// is closed, a late mkdtemp directory removed, so nothing leaks. readFile
// also stops reading (through its AbortSignal) and closes its file. Writes run
// to their end: what they change is the caller's, interrupted or not.
//
// FileHandle's own methods stay stock: Node's streams over a FileHandle call
// them internally, outside any wait of the caller. `wait(fh.read(...))` makes
// one interruptible.
import * as fs from 'node:fs';
import type * as fsp from 'node:fs/promises';
import { awaitAbortable, combineSignal, ownSignal, type Link } from './abortable';

type Fn = (...args: unknown[]) => Promise<unknown>;
type Promises = Record<string, unknown>;

/** The functions of fs/promises that wait; tests/patched/fs.test.ts checks the builtin has no other. */
export const FS_WAITS: readonly string[] = [
  'access', 'appendFile', 'chmod', 'chown', 'copyFile', 'cp', 'lchmod', 'lchown', 'link', 'lstat', 'lutimes',
  'mkdir', 'mkdtemp', 'mkdtempDisposable', 'open', 'opendir', 'readFile', 'readdir', 'readlink', 'realpath',
  'rename', 'rm', 'rmdir', 'stat', 'statfs', 'symlink', 'truncate', 'unlink', 'utimes', 'writeFile',
]; // mkdtempDisposable: Node 24.4+
/** What fs/promises has besides: an async iterator with its own signal, and numbers. */
export const FS_OTHERS: readonly string[] = ['constants', 'glob', 'watch']; // glob: Node 22+, an async iterator, as watch

function ignore(): void {}

/** What a dropped result holds, given back to the system. */
const LATE: Record<string, (value: unknown) => void> = {
  open: (h) => void (h as fsp.FileHandle).close().catch(ignore),
  opendir: (d) => void (d as fs.Dir).close().catch(ignore),
  mkdtemp: (dir) => fs.rmdir(dir as string, ignore),
  mkdtempDisposable: (d) => void (d as { remove(): Promise<void> }).remove().catch(ignore), // Node 24.4+
};

/**
 * readFile's options with the signal of a link to the caller's (null: options
 * the stock call refuses, left to it). Through AbortSignal.any: the stock
 * readFile polls the signal and adds no listener to it.
 */
function readFileLink(options: unknown): { link: Link; options: object } | null {
  if (options === undefined || options === null) return withLink({}, undefined);
  if (typeof options === 'string') return withLink({ encoding: options }, undefined);
  if (typeof options !== 'object') return null;
  const user = (options as { signal?: unknown }).signal;
  return ownSignal(user) ? withLink(options, user) : null;
}

function withLink(options: object, user: AbortSignal | undefined): { link: Link; options: object } {
  const link = combineSignal(user);
  return { link, options: { ...options, signal: link.signal } };
}

/** V8's call sites, unformatted (formatting a stack costs far more than capturing it). */
const callSites = (_: Error, sites: NodeJS.CallSite[]): NodeJS.CallSite[] => sites;

/** Whether the function that called `fn` is Node's own (node:internal/...). */
function calledByNode(fn: (...a: never[]) => unknown): boolean {
  const { stackTraceLimit, prepareStackTrace } = Error;
  Error.stackTraceLimit = 1;
  Error.prepareStackTrace = callSites;
  const holder: { stack?: NodeJS.CallSite[] } = {};
  Error.captureStackTrace(holder, fn);
  const sites = holder.stack;
  Error.stackTraceLimit = stackTraceLimit;
  Error.prepareStackTrace = prepareStackTrace;
  return sites?.[0]?.getFileName()?.startsWith('node:internal/') === true;
}

const greened = new WeakSet<object>();

/**
 * Makes every waiting function of `promises` (node:fs/promises) an evy
 * operation, in place; once per object.
 * @internal
 */
export function greenFsPromises(promises: Promises): void {
  if (greened.has(promises)) return;
  greened.add(promises);
  for (const name of FS_WAITS) {
    const stock = promises[name];
    if (typeof stock !== 'function') continue;
    const late = LATE[name] ?? null;
    const green =
      name === 'readFile'
        ? function readFile(path: unknown, options?: unknown): Promise<unknown> {
            // Node's ESM loader reads each module with readFile(url), looked up
            // at call time: it stays stock, or a kill in the middle of an
            // import() would fail that module for every later importer. Only
            // this form of the call pays for looking at the caller.
            if (arguments.length === 1 && path instanceof URL && calledByNode(readFile)) return (stock as Fn)(path);
            const linked = readFileLink(options);
            if (linked === null) return awaitAbortable((stock as Fn).apply(promises, arguments as unknown as unknown[]), null);
            return awaitAbortable((stock as Fn)(path, linked.options), linked.link);
          }
        : {
            // Same name and length as the stock one.
            [name]: function (this: unknown): Promise<unknown> {
              return awaitAbortable((stock as Fn).apply(this, arguments as unknown as unknown[]), null, late);
            },
          }[name];
    Object.defineProperty(green, 'length', { value: (stock as Fn).length });
    promises[name] = green;
  }
}
