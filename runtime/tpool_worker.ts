// The code every tpool worker runs: it loads a task (a module's export, or a
// function sent by its source) and runs it. Piscina calls the default export
// with one message per execute(); the proxy hosts (tpool_host.ts) use
// loadExport() for their constructors.
import { pathToFileURL } from 'node:url';
import { isAbsolute } from 'node:path';

/** One execute() call, as it crosses to the worker (not public API). */
export interface TaskMessage {
  /** a module specifier (file URL or package name) and an export, or null for a function */
  mod: string | null;
  name: string;
  /** the function's source when mod is null */
  src: string | null;
  args: unknown[];
}

/** An error thrown in a worker, as it crosses back (not public API). */
export interface ThrownMessage {
  evyTpoolError: true;
  name: string;
  message: string;
  stack: string | undefined;
  code: unknown;
}

const modules = new Map<string, Promise<Record<string, unknown>>>();
const functions = new Map<string, (...a: unknown[]) => unknown>();

/** A module specifier the worker can import: absolute paths become file URLs. @internal */
export function specifier(mod: string): string {
  return isAbsolute(mod) ? pathToFileURL(mod).href : mod;
}

/** The export `name` of module `mod` ('default': the module itself for CommonJS). @internal */
export async function loadExport(mod: string, name: string): Promise<unknown> {
  let m = modules.get(mod);
  if (m === undefined) {
    m = import(mod) as Promise<Record<string, unknown>>;
    modules.set(mod, m);
    m.catch(() => modules.delete(mod));
  }
  const ns = await m;
  if (!(name in ns)) {
    const def = ns.default as Record<string, unknown> | undefined;
    // A CommonJS module's named exports that Node's static analysis missed.
    if (def !== null && typeof def === 'object' && name in def) return def[name];
    if (def !== null && typeof def === 'function' && name in def) return (def as unknown as Record<string, unknown>)[name];
    throw new TypeError(`tpool: module ${mod} has no export named ${JSON.stringify(name)}`);
  }
  return ns[name];
}

function compile(src: string): (...a: unknown[]) => unknown {
  let fn = functions.get(src);
  if (fn === undefined) {
    // The function sees `require` (of this worker) and the globals, nothing of its caller.
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    fn = new Function('require', `"use strict"; return (${src});`)(require) as (...a: unknown[]) => unknown;
    if (typeof fn !== 'function') throw new TypeError('tpool: the task source did not evaluate to a function');
    functions.set(src, fn);
  }
  return fn;
}

/** Turns what a worker threw into plain data that keeps its name, message, stack and code. @internal */
export function thrown(err: unknown): ThrownMessage {
  if (err instanceof Error) {
    return { evyTpoolError: true, name: err.name, message: err.message, stack: err.stack, code: (err as { code?: unknown }).code };
  }
  return { evyTpoolError: true, name: 'Error', message: `a non-Error value was thrown: ${String(err)}`, stack: undefined, code: undefined };
}

/** Exports already loaded, by module and name: the common case runs without an await. */
const loaded = new Map<string, (...a: unknown[]) => unknown>();

async function slowRun(task: TaskMessage): Promise<unknown> {
  try {
    const fn = await loadExport(task.mod!, task.name);
    if (typeof fn !== 'function') throw new TypeError(`tpool: export ${JSON.stringify(task.name)} of ${task.mod} is not a function (it is ${typeof fn})`);
    loaded.set(`${task.mod}\0${task.name}`, fn as (...a: unknown[]) => unknown);
    return { ok: await (fn as (...a: unknown[]) => unknown)(...task.args) };
  } catch (err) {
    return { err: thrown(err) };
  }
}

function settled(v: unknown): unknown {
  if (v !== null && typeof v === 'object' && typeof (v as PromiseLike<unknown>).then === 'function') {
    return Promise.resolve(v).then(
      (ok) => ({ ok }),
      (err: unknown) => ({ err: thrown(err) }),
    );
  }
  return { ok: v };
}

/** Piscina's task handler. A throw comes back as a ThrownMessage, so nothing of it is lost in cloning. */
export default function run(task: TaskMessage): unknown {
  try {
    const fn = task.mod === null ? compile(task.src!) : loaded.get(`${task.mod}\0${task.name}`);
    if (fn === undefined) return slowRun(task);
    return settled(fn(...task.args));
  } catch (err) {
    return { err: thrown(err) };
  }
}
