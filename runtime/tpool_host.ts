// A proxy host: the worker thread that owns the objects made by tpool.proxy().
// Each object gets a reference number; the main thread calls methods on it by
// number, and a result that is not plain data stays here under a new number
// (Evy's autowrap) instead of being cloned.
import { parentPort } from 'node:worker_threads';
import { loadExport, thrown, type ThrownMessage } from './tpool_worker';

/** A request from the main thread (not public API). */
export type HostRequest =
  | { id: number; op: 'new'; mod: string; name: string; args: unknown[] }
  | { id: number; op: 'call'; ref: number; method: string; args: unknown[] }
  | { id: number; op: 'get'; ref: number; prop: string }
  | { id: number; op: 'set'; ref: number; prop: string; value: unknown }
  | { id: 0; op: 'release'; ref: number };

/** A reply: a value, a reference to an object kept here, or an error (not public API). */
export type HostReply =
  | { id: number; value: unknown }
  | { id: number; ref: number }
  | { id: number; err: ThrownMessage };

/** How a proxy passed as an argument crosses: its reference number (not public API). */
export interface RefMarker {
  evyTpoolRef: number;
}

const objects = new Map<number, object>();
let nextRef = 1;

const CLONED = new Set<unknown>([
  Object.prototype,
  null,
  Array.prototype,
  Date.prototype,
  RegExp.prototype,
  Map.prototype,
  Set.prototype,
  ArrayBuffer.prototype,
  Error.prototype,
]);

/** Plain data crosses by cloning; class instances, functions and iterators stay here. */
function plain(v: unknown): boolean {
  if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return true;
  if (typeof v === 'function') return false;
  if (ArrayBuffer.isView(v) || v instanceof Error) return true;
  return CLONED.has(Object.getPrototypeOf(v));
}

function keep(obj: object): number {
  const ref = nextRef++;
  objects.set(ref, obj);
  return ref;
}

function target(ref: number): object {
  const obj = objects.get(ref);
  if (obj === undefined) throw new ReferenceError(`tpool proxy: object #${ref} was released`);
  return obj;
}

function unmark(args: unknown[]): unknown[] {
  return args.map((a) =>
    a !== null && typeof a === 'object' && typeof (a as RefMarker).evyTpoolRef === 'number' ? target((a as RefMarker).evyTpoolRef) : a,
  );
}

function reply(id: number, v: unknown): void {
  if (!plain(v)) {
    parentPort!.postMessage({ id, ref: keep(v as object) } satisfies HostReply);
    return;
  }
  try {
    parentPort!.postMessage({ id, value: v } satisfies HostReply);
  } catch {
    // DataCloneError: something inside cannot be cloned; keep the whole value here.
    parentPort!.postMessage({ id, ref: keep(v as object) } satisfies HostReply);
  }
}

async function handle(m: HostRequest): Promise<void> {
  if (m.op === 'release') {
    objects.delete(m.ref);
    return;
  }
  try {
    let v: unknown;
    if (m.op === 'new') {
      const C = await loadExport(m.mod, m.name);
      if (typeof C !== 'function') throw new TypeError(`tpool.proxy: export ${JSON.stringify(m.name)} of ${m.mod} is not a class or function (it is ${typeof C})`);
      const args = unmark(m.args);
      // A class or function with a prototype is constructed; an arrow factory is called.
      v = C.prototype !== undefined ? Reflect.construct(C, args) : (C as (...a: unknown[]) => unknown)(...args);
      if (v === null || (typeof v !== 'object' && typeof v !== 'function')) throw new TypeError(`tpool.proxy: ${m.name} of ${m.mod} made ${String(v)}, not an object`);
      parentPort!.postMessage({ id: m.id, ref: keep(v) } satisfies HostReply);
      return;
    }
    const obj = target(m.ref) as Record<string, unknown>;
    if (m.op === 'call') {
      const f = obj[m.method];
      if (typeof f !== 'function') throw new TypeError(`tpool proxy: ${m.method} is not a method of the proxied object (it is ${typeof f})`);
      v = await (f as (...a: unknown[]) => unknown).apply(obj, unmark(m.args));
    } else if (m.op === 'get') {
      v = obj[m.prop];
    } else {
      obj[m.prop] = unmark([m.value])[0];
      v = undefined;
    }
    reply(m.id, v);
  } catch (err) {
    parentPort!.postMessage({ id: m.id, err: thrown(err) } satisfies HostReply);
  }
}

parentPort!.on('message', (m: HostRequest) => void handle(m));
