// Node's own `repl`, without what `node:domain` costs the rest of the process.
//
// node:repl requires node:domain as it loads, and a REPLServer creates a
// domain unless it is given one (lib/repl.js: `options.domain ||
// domain.create()`). Both tax the whole process, for as long as it lives:
// - domain.create() enables an async hook (init, before, after, destroy) that
//   is never disabled again: every callback and every promise of the process
//   pays for it (echo ran at 0.62-0.84 with a backdoor client attached);
// - loading the module patches EventEmitter (`init` defines a `domain` own
//   property on each new emitter, `emit` goes through a wrapper: constructing
//   an emitter and emitting twice went from 0.15 to 0.57 µs), makes
//   `process.domain` an accessor, takes `process.setUncaughtExceptionCaptureCallback`
//   away and adds two `process` listeners.
// So each REPLServer gets a ReplDomain, a plain emitter with the three methods
// the REPL calls on its domain (no hook), and loadRepl() puts back what
// loading node:domain changed, unless the application had loaded node:domain
// itself. If the application uses node:domain later, its first `create()`
// (or a look at `Domain`) puts node:domain's patches back first.
//
// What the domain did for the REPL is done without hooks: an error thrown by
// an input, or a rejection it awaits, reaches the REPL through its eval
// callback; a rejection nobody handles, of a promise rejected while an input's
// code runs, reaches that input's ReplDomain through `process.domain` (Node
// files an unhandled rejection under `process.domain` as it happens), which
// startRepl() turns into an accessor asking `inputDomain` while REPLs are
// open. The backdoor wraps the timer functions of each context for the rest.
import { EventEmitter } from 'node:events';
import type { REPLServer, ReplOptions } from 'node:repl';

type ReplModule = typeof import('node:repl');

/**
 * What a REPLServer gets for its domain: it binds its eval with it, listens to
 * its 'error' events (the errors of the inputs, which the REPL prints) and
 * emits them; `enter` and `exit` are no-ops (nothing is entered: no hook).
 */
export class ReplDomain extends EventEmitter {
  /** Sees each 'error' first; returning false keeps it from the listeners (it counts as handled). */
  onError: ((err: unknown) => boolean) | null = null;
  bind<F extends (...args: never[]) => unknown>(fn: F): F {
    return fn;
  }
  enter(): void {}
  exit(): void {}
  override emit(name: string | symbol, ...args: unknown[]): boolean {
    if (name === 'error' && this.onError !== null && !this.onError(args[0])) return true;
    return super.emit(name, ...args);
  }
}

interface DomainPatches {
  init: unknown;
  emit: unknown;
  usingDomains: unknown;
  setCapture: unknown;
  processDomain: PropertyDescriptor;
  newListener: ((...args: unknown[]) => void)[];
  removeListener: ((...args: unknown[]) => void)[];
}

const EE = EventEmitter as unknown as { init: unknown; usingDomains: unknown; prototype: { emit: unknown } };
const proc = process as unknown as Record<string, unknown>;
/** process, as the plain emitter it is for the events used here */
const pe = process as unknown as EventEmitter;

let repl: ReplModule | null = null;
/** node:domain's patches while they are taken out (null: in place, or never made). */
let outPatches: DomainPatches | null = null;
/** What was there before node:domain patched it, as put back. */
let before: DomainPatches | null = null;

function patches(): DomainPatches {
  return {
    init: EE.init,
    emit: EE.prototype.emit,
    usingDomains: EE.usingDomains,
    setCapture: proc.setUncaughtExceptionCaptureCallback,
    processDomain: Object.getOwnPropertyDescriptor(process, 'domain') ?? { value: null, writable: true, enumerable: true, configurable: true },
    newListener: pe.listeners('newListener') as ((...args: unknown[]) => void)[],
    removeListener: pe.listeners('removeListener') as ((...args: unknown[]) => void)[],
  };
}

function install(from: DomainPatches, to: DomainPatches): void {
  if (EE.init === from.init) EE.init = to.init;
  if (EE.prototype.emit === from.emit) EE.prototype.emit = to.emit;
  EE.usingDomains = to.usingDomains;
  if (proc.setUncaughtExceptionCaptureCallback === from.setCapture) proc.setUncaughtExceptionCaptureCallback = to.setCapture;
  const value = proc.domain;
  Object.defineProperty(process, 'domain', to.processDomain);
  if (to.processDomain.set !== undefined || to.processDomain.writable === true) proc.domain = value;
  for (const ev of ['newListener', 'removeListener'] as const) {
    for (const l of from[ev]) if (!to[ev].includes(l)) pe.removeListener(ev, l);
    for (const l of to[ev]) if (!from[ev].includes(l)) pe.on(ev, l);
  }
}

/** Puts node:domain's patches back, for an application that uses domains after all. */
function restoreDomain(): void {
  if (outPatches === null || before === null) return;
  routingOff();
  install(before, outPatches);
  outPatches = null;
}

/**
 * node:repl, loaded on first use, with node:domain's load-time patches taken
 * out again (unless the application had loaded node:domain before).
 * @throws {Error} node:domain refused to load: the process has an uncaught-exception capture callback.
 */
export function loadRepl(): ReplModule {
  if (repl !== null) return repl;
  if (Object.getOwnPropertyDescriptor(process, 'domain')?.get !== undefined) {
    repl = require('node:repl') as ReplModule; // eslint-disable-line @typescript-eslint/no-require-imports
    return repl;
  }
  const was = patches();
  try {
    repl = require('node:repl') as ReplModule; // eslint-disable-line @typescript-eslint/no-require-imports
  } finally {
    const now = patches();
    install(now, was);
    outPatches = now;
    before = was;
  }
  // The application's first domain brings node:domain's patches back.
  const domain = require('node:domain') as Record<string, unknown>; // eslint-disable-line @typescript-eslint/no-require-imports
  for (const name of ['create', 'createDomain'] as const) {
    const fn = domain[name] as (...a: unknown[]) => unknown;
    domain[name] = function (this: unknown, ...args: unknown[]) {
      restoreDomain();
      return fn.apply(this, args);
    };
  }
  const Domain = domain.Domain;
  Object.defineProperty(domain, 'Domain', {
    configurable: true,
    enumerable: true,
    get() {
      restoreDomain();
      Object.defineProperty(domain, 'Domain', { value: Domain, writable: true, configurable: true, enumerable: true });
      return Domain;
    },
  });
  return repl;
}

// ---- open REPLs: routing unhandled rejections, the REPL's process listener ----

let open = 0;
let inputDomain: () => ReplDomain | null = () => null;
/** The REPL's own `process.on('newListener')` guard (Node 20 adds it once and keeps it). */
let replGuard: ((...args: unknown[]) => void) | null = null;
/** process.domain's value while it is routingOn()'s accessor. */
let routing: { value: unknown } | null = null;

function routingOn(): void {
  const d = Object.getOwnPropertyDescriptor(process, 'domain');
  if (routing !== null || d?.get !== undefined) return; // node:domain's own accessor: the application uses domains
  const state = { value: d?.value ?? null };
  routing = state;
  Object.defineProperty(process, 'domain', {
    configurable: true,
    enumerable: true,
    get: () => state.value ?? inputDomain(),
    set: (v: unknown) => {
      state.value = v;
    },
  });
}

function routingOff(): void {
  if (routing === null) return;
  Object.defineProperty(process, 'domain', { value: routing.value, writable: true, enumerable: true, configurable: true });
  routing = null;
}

/**
 * Starts a REPLServer with a ReplDomain; while REPLs are open, an unhandled
 * rejection from an input's code goes to the ReplDomain `lookup` names for
 * the code running when the promise was rejected. Call replClosed() when it closes.
 */
export function startRepl(options: ReplOptions, domain: ReplDomain, lookup: () => ReplDomain | null): REPLServer {
  const r = loadRepl();
  inputDomain = lookup;
  const listeners = pe.listeners('newListener');
  const server = r.start({ ...options, domain } as ReplOptions);
  for (const l of pe.listeners('newListener')) if (!listeners.includes(l)) replGuard = l as (...args: unknown[]) => void;
  if (replGuard !== null && !pe.listeners('newListener').includes(replGuard)) pe.prependListener('newListener', replGuard);
  open++;
  routingOn();
  return server;
}

/** A REPL from startRepl() has closed: the last one takes the routing and the REPL's process listener away. */
export function replClosed(): void {
  if (open === 0) return;
  if (--open > 0) return;
  routingOff();
  if (replGuard !== null) pe.removeListener('newListener', replGuard);
}
