// Greening the world (DESIGN §5): monkeyPatch() installs evy's green modules in
// place of Node's stock ones for the whole process; importPatched() loads one
// CommonJS module graph with them and leaves the rest of the process stock.
//
// Node's builtin module objects are shared: `require('net')`, `import net from
// 'node:net'` and the named ESM exports (after syncBuiltinESMExports) all read
// the same object. Patching assigns the green functions onto that object, so
// code that imported a module before the patch sees green functions too. Code
// that copied a function out (`const { connect } = require('net')`) before the
// patch keeps the stock one: monkeyPatch() looks for such copies among the
// loaded CommonJS modules and names them in a warning.
//
// Greening is lazy all the way down: monkeyPatch() loads none of the builtins
// it greens. One the program has not loaded yet is greened the moment the
// program first loads it (require, import, process.getBuiltinModule), so it
// captures whatever the program set up before (a stubbed binding), and a
// script that never touches it never pays for it. One Node has already loaded
// gets lazy accessors that apply the green module on first use.
import type ModuleType from 'node:module';
import * as path from 'node:path';
import { greenFetchGlobal, IN_PLACE } from './patched/inplace';

// `module.constructor` is the Module class without loading node:module (which
// loads Node's ES module loader): evy must not load what the program did not ask for.
const Module = module.constructor as typeof ModuleType;
type Module = ModuleType;
const { isBuiltin, syncBuiltinESMExports } = Module;

/** monkeyPatch's keywords: Evy's (`os`, `select`, `socket`, `thread`, `time`) and Node's module names. */
export interface MonkeyPatchOptions {
  /** Everything not switched off (the default when no keyword is true). */
  all?: boolean;
  os?: boolean;
  select?: boolean;
  /** Evy's socket: node:net, node:dns and node:tls. */
  socket?: boolean;
  /** Green Lock/RLock/Condition/local in evy/patched/threading (Node has no threading module to replace). */
  thread?: boolean;
  /** node:timers (adds sleep). */
  time?: boolean;
  net?: boolean;
  dns?: boolean;
  timers?: boolean;
  childProcess?: boolean;
  tls?: boolean;
  http?: boolean;
  /** evy/patched/zmq: only when named (it needs the optional zeromq package), never part of `all`. */
  zmq?: boolean;
}

type Keyword = Exclude<keyof MonkeyPatchOptions, 'all'>;

/** What each keyword greens: names of evy/patched/* modules. */
const KEYWORDS: Record<Keyword, string[]> = {
  os: ['os'],
  select: ['select'],
  socket: ['net', 'dns', 'tls'],
  thread: ['threading'],
  time: ['timers'],
  net: ['net'],
  dns: ['dns'],
  timers: ['timers'],
  childProcess: ['child_process'],
  tls: ['tls'],
  http: ['http'],
  zmq: ['zmq'],
};

/** The green modules that replace a Node builtin of the same name. */
const BUILTIN_GREEN = new Set(['net', 'dns', 'tls', 'timers', 'child_process', 'http', 'os']);
/** Green modules with no stock counterpart (import them from evy/patched/...). */
const STANDALONE_GREEN = new Set(['select', 'threading']);
const ALL_GREEN = [...BUILTIN_GREEN, ...STANDALONE_GREEN];
/** Standalone green modules that only their own keyword selects (imported from evy/patched/...). */
const OPT_IN_GREEN = ['zmq'];

const ALIASES: Record<string, string> = {
  childProcess: 'child_process',
  socket: 'net',
  time: 'timers',
  thread: 'threading',
};

/** A green module: the stock exports, the green ones, and an optional installer. */
/**
 * A green module: the stock exports, the green ones, and an optional
 * installer. Without an installer, monkeyPatch puts every export that differs
 * from the stock one onto the builtin; with one, only the names the builtin
 * lacks, and the installer does the rest.
 */
type GreenModule = Record<string, unknown> & { __evyPatch?: (builtin: Record<string, unknown>) => void };

const patched = new Set<string>();

function canonical(name: string): string {
  const bare = name.startsWith('node:') ? name.slice(5) : name.startsWith('evy/patched/') ? name.slice(12) : name;
  return ALIASES[bare] ?? bare;
}

/** Green modules being loaded: while one loads, builtins answer with their stock values. */
let loadingGreen = 0;

/** A green module is loading right now (also when user code required it directly). */
function greenLoading(): boolean {
  if (loadingGreen > 0) return true;
  const cache = (Module as unknown as { _cache: Record<string, { loaded: boolean } | undefined> })._cache;
  for (const name of BUILTIN_GREEN) {
    const m = cache[path.join(__dirname, 'patched', `${name}.js`)];
    if (m !== undefined && !m.loaded) return true;
  }
  return false;
}

function loadGreen(name: string): GreenModule {
  loadingGreen++;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(`./patched/${name}`) as GreenModule;
  } finally {
    loadingGreen--;
  }
}

/** The modules monkeyPatch(opts) greens, with Evy's keyword rules. */
export function selectModules(opts: MonkeyPatchOptions = {}): string[] {
  for (const key of Object.keys(opts)) {
    if (key !== 'all' && !(key in KEYWORDS)) {
      throw new TypeError(`monkeyPatch: unknown keyword ${JSON.stringify(key)} (${['all', ...Object.keys(KEYWORDS)].join(', ')})`);
    }
  }
  const on = (Object.keys(KEYWORDS) as Keyword[]).filter((k) => opts[k] === true);
  const off = (Object.keys(KEYWORDS) as Keyword[]).filter((k) => opts[k] === false);
  // Evy: naming any module true patches only those (plus all: true to add the
  // rest); otherwise everything except the ones switched off.
  let chosen: Set<string>;
  if (on.length > 0 && opts.all !== true) chosen = new Set(on.flatMap((k) => KEYWORDS[k]));
  else if (opts.all === false) chosen = new Set();
  else chosen = new Set(ALL_GREEN);
  for (const k of on) for (const m of KEYWORDS[k]) if (OPT_IN_GREEN.includes(m)) chosen.add(m);
  for (const k of off) for (const m of KEYWORDS[k]) chosen.delete(m);
  return [...ALL_GREEN, ...OPT_IN_GREEN].filter((m) => chosen.has(m));
}

/** `--patch net,dns` → monkeyPatch options: keywords or module names, comma-separated. */
export function optionsFromList(list: string): MonkeyPatchOptions {
  const opts: MonkeyPatchOptions = {};
  for (const raw of list.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (raw === 'all') {
      opts.all = true;
      continue;
    }
    const name = canonical(raw);
    const key = (Object.keys(KEYWORDS) as Keyword[]).find((k) => k === raw || (KEYWORDS[k].length === 1 && KEYWORDS[k][0] === name));
    if (key === undefined) throw new TypeError(`unknown module to patch: ${JSON.stringify(raw)} (${Object.keys(KEYWORDS).join(', ')}, or module names)`);
    opts[key] = true;
  }
  return opts;
}

/**
 * The names each green module adds to its builtin (beyond the stock ones), so
 * they exist before the module is loaded. tests/patcher/monkey.test.ts checks this
 * list against the modules themselves.
 */
export const GREEN_ADDITIONS: Record<string, readonly string[]> = {
  net: [],
  dns: ['AF_INET', 'AF_INET6', 'AF_UNSPEC', 'IPPROTO_TCP', 'IPPROTO_UDP', 'SOCK_DGRAM', 'SOCK_STREAM', 'gethostbyaddr', 'gethostbyname', 'getaddrinfo'],
  tls: ['GreenSSLSocket', 'wrapSocket'],
  timers: ['sleep'],
  child_process: ['CalledProcessError', 'Popen', 'TimeoutExpired', 'call', 'checkOutput', 'popen'],
  http: ['UrlResponse', 'urlopen', 'urlopenAgent'],
  os: ['close', 'pipe', 'read', 'write'],
};

/**
 * The stock names a green module replaces, where fewer than all: a builtin
 * Node loaded before monkeyPatch() makes only these (and its additions) lazy,
 * so Node's own reads of the rest (internal/abort_controller takes
 * timers.setTimeout as soon as anything loads node:stream) do not load the
 * green module. tests/patcher/lazy.test.ts checks this list against the modules.
 */
export const GREEN_REPLACES: Partial<Record<string, readonly string[]>> = {
  timers: [],
};

/**
 * Names a green module replaces only for its direct importers, never on the
 * builtin: evy/patched/timers' setTimeout and setImmediate exist so that
 * util.promisify of them gives evy's promises, which the builtin's own
 * functions already do once monkeyPatch() greens node:timers/promises in place.
 */
export const GREEN_DIRECT_ONLY: Partial<Record<string, readonly string[]>> = {
  timers: ['setImmediate', 'setTimeout'],
};

/**
 * Builtins that are a property of another one's green module: the green
 * `timers.promises` also replaces what `require('timers/promises')` returns.
 */
const SUBMODULES: Record<string, { parent: string; key: string }> = {
  'timers/promises': { parent: 'timers', key: 'promises' },
  'dns/promises': { parent: 'dns', key: 'promises' },
};

function greenFor(name: string): GreenModule {
  const sub = SUBMODULES[name];
  return sub === undefined ? loadGreen(name) : (loadGreen(sub.parent)[sub.key] as GreenModule);
}

/** Puts the green module's exports onto the builtin object (which `require` and ESM share). */
function applyGreen(name: string, builtin: Record<string, unknown>): void {
  if (name in IN_PLACE) {
    IN_PLACE[name].green(builtin); // fs/promises, events, stream/promises: greened in place (patched/inplace.ts)
    syncBuiltinESMExports();
    return;
  }
  const green = greenFor(name);
  const replaced = new Map<unknown, string>(); // stock function -> "net.connect"
  // A module with its own installer decides what it replaces; only the names
  // it adds are copied over (net must leave Node's classes in place: Node's
  // own modules call net.Socket as a function).
  const own = typeof green.__evyPatch === 'function';
  const subs = Object.entries(SUBMODULES).filter(([, s]) => s.parent === name);
  for (const key of Object.keys(green)) {
    if (key === '__evyPatch' || key === 'default') continue;
    if (subs.some(([, s]) => s.key === key)) continue; // the submodule object stays, greened in place (below)
    if (own && key in builtin) continue;
    if (GREEN_DIRECT_ONLY[name]?.includes(key) === true) continue;
    const value = green[key];
    const desc = Object.getOwnPropertyDescriptor(builtin, key);
    if (desc?.configurable === false) continue; // fixed by Node (tls.rootCertificates): stays stock
    const stock = stockValues.get(builtin)?.get(key) ?? builtin[key];
    if (stock === value) continue;
    if (typeof stock === 'function') replaced.set(stock, `${name}.${key}`);
    setProperty(builtin, key, value);
  }
  green.__evyPatch?.(builtin);
  for (const [sub, { key }] of subs) greenOnAccess(builtin, key, sub);
  syncBuiltinESMExports();
  if (replaced.size > 0) warnCaptured(replaced);
}

/** Stock values of the keys made lazy, per builtin object. */
const stockValues = new WeakMap<object, Map<string, unknown>>();

/**
 * Makes every stock key (or only those GREEN_REPLACES or IN_PLACE's `lazy`
 * name), and every green addition, of `builtin` a getter that applies the
 * green module (or greens in place) on first use: a script that never touches the
 * module never loads it, and start-up stays short. ESM imports read through
 * the getters too (Node builds a builtin's ESM facade from its properties).
 */
function patchLazily(name: string, builtin: Record<string, unknown>): void {
  // Data properties only: Node's accessors (http.globalAgent's setter, fixed
  // ones like tls.rootCertificates) keep working exactly as they are.
  for (const [sub, { parent, key }] of Object.entries(SUBMODULES)) if (parent === name) greenOnAccess(builtin, key, sub);
  const descriptors = new Map<string, PropertyDescriptor | undefined>();
  for (const k of [...(IN_PLACE[name]?.lazy ?? GREEN_REPLACES[name] ?? Object.keys(builtin)), ...(GREEN_ADDITIONS[name] ?? [])]) {
    const d = Object.getOwnPropertyDescriptor(builtin, k);
    if (d === undefined || ('value' in d && d.configurable === true)) descriptors.set(k, d);
  }
  const stock = new Map<string, unknown>();
  stockValues.set(builtin, stock);
  let applied = false;
  /** What each key holds once the green module is applied: the getter's answer if a saved descriptor puts it back. */
  const settled = new Map<string, unknown>();
  const apply = (): void => {
    if (applied) return;
    applied = true;
    for (const [k, d] of descriptors) {
      if (d === undefined) delete builtin[k];
      else Object.defineProperty(builtin, k, d);
    }
    applyGreen(name, builtin);
    for (const k of descriptors.keys()) settled.set(k, builtin[k]);
  };
  for (const k of descriptors.keys()) {
    stock.set(k, builtin[k]);
    // Code that saved this accessor's descriptor may define it again after
    // the green module was applied (node:test's mock.timers, sinon's
    // restore): then the property is this accessor once more, and reading it
    // through builtin[k] would call itself.
    const mine = (): boolean => Object.getOwnPropertyDescriptor(builtin, k)?.get === accessor.get;
    const accessor: PropertyDescriptor = {
      configurable: true,
      enumerable: true,
      get() {
        // A green module capturing the stock function it wraps gets the stock one.
        if (greenLoading()) return stock.get(k);
        apply();
        return mine() ? settled.get(k) : builtin[k];
      },
      set(v: unknown) {
        apply();
        if (mine()) Object.defineProperty(builtin, k, { value: v, writable: true, enumerable: true, configurable: true });
        else builtin[k] = v;
      },
    };
    Object.defineProperty(builtin, k, accessor);
  }
}

/**
 * `require('dns').promises` is `require('dns/promises')`, loaded by a getter
 * on first use: the getter now also greens that object (in place, so the two
 * stay one) when monkeyPatch chose it.
 */
function greenOnAccess(builtin: Record<string, unknown>, key: string, sub: string): void {
  const d = Object.getOwnPropertyDescriptor(builtin, key);
  if (d?.get === undefined || d.configurable !== true || submoduleGetters.has(d.get)) return;
  const get = d.get;
  const getter = function (this: unknown): unknown {
    const value: unknown = get.call(this);
    if (pending.has(sub) && loadingGreen === 0) greenOnLoad(sub);
    return value;
  };
  submoduleGetters.add(getter);
  Object.defineProperty(builtin, key, { ...d, get: getter });
}

const submoduleGetters = new WeakSet<() => unknown>();

/** Builtins monkeyPatch() chose that Node has not loaded yet: each is greened when the program first loads it. */
const pending = new Set<string>();

/** The stock process.getBuiltinModule (Node 20.16+): loads a builtin without fixing its ESM export names. */
const getBuiltinModule: ((id: string) => unknown) | undefined = process.getBuiltinModule?.bind(process);

/** The builtin object of `id`, through Node's internal loader when it can. */
function builtinObject(id: string): Record<string, unknown> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (getBuiltinModule?.(id) ?? require(`node:${id}`)) as Record<string, unknown>;
}

/** Whether Node has loaded builtin `id` (for itself or for the program). */
function loadedByNode(id: string): boolean {
  const list = (process as unknown as { moduleLoadList: string[] }).moduleLoadList;
  // dns.promises is internal/dns/promises until something loads dns/promises
  // (internal/net, on the other hand, is not net).
  return list.includes(`NativeModule ${id}`) || (id in SUBMODULES && list.includes(`NativeModule internal/${id}`));
}

/** `net`, `node:net`, `dns/promises` → the name of a builtin monkeyPatch greens; undefined for anything else. */
function greenableId(request: unknown): string | undefined {
  if (typeof request !== 'string') return undefined;
  const id = request.startsWith('node:') ? request.slice(5) : request;
  return BUILTIN_GREEN.has(id) || id in SUBMODULES || id in IN_PLACE ? id : undefined;
}

/**
 * Greens builtin `id` now, as the program loads it: before Node hands out its
 * object (and, loaded this way first, before Node fixes its ESM export names,
 * so the green additions are importable by name).
 */
function greenOnLoad(id: string): void {
  if (!pending.delete(id)) return;
  applyGreen(id, builtinObject(id));
  settle();
}

/**
 * Pending builtins Node loaded meanwhile for itself (http loads net): they
 * get the lazy accessors, so Node's own use of them (http's agent calls
 * net.createConnection) is green, as the program's will be.
 */
function settle(): void {
  // Applying one green module may load more of Node's: until none is left.
  for (let again = true; again; ) {
    again = false;
    for (const id of pending) {
      if (!loadedByNode(id)) continue;
      pending.delete(id);
      again = true;
      // A green module already loaded costs nothing to apply: then the
      // builtin's properties stay what they are (data, for mock.method).
      if (greenModuleLoaded(SUBMODULES[id]?.parent ?? id) || (id in IN_PLACE && IN_PLACE[id].lazy === undefined)) applyGreen(id, builtinObject(id));
      else patchLazily(id, builtinObject(id));
    }
  }
}

function greenModuleLoaded(name: string): boolean {
  const cache = (Module as unknown as { _cache: Record<string, { loaded: boolean } | undefined> })._cache;
  return cache[path.join(__dirname, 'patched', `${name}.js`)]?.loaded === true;
}

/**
 * util.promisify(timers.setTimeout) reads node:timers/promises through
 * Node's internal require, which no hook sees: a program that loads util may
 * promisify a timer, so timers/promises is greened first (a small module,
 * loaded only by such a program).
 */
function greenBeforeUtil(): void {
  if (pending.has('timers/promises')) greenOnLoad('timers/promises');
}

let loadHooksInstalled = false;

/**
 * Where the program loads builtins: require (Module._load), process.getBuiltinModule,
 * and ESM imports (the resolve/load hooks of cli/greenhooks.mts, which call
 * back through a global). Each greens a pending builtin before handing it out;
 * while a green module loads, the builtins it asks for are handed out stock.
 */
function installLoadHooks(): void {
  if (loadHooksInstalled) return;
  loadHooksInstalled = true;
  const M = Module as unknown as { _load: (request: string, parent: unknown, isMain: boolean) => unknown };
  const original = M._load;
  M._load = function (request, parent, isMain) {
    const id = pending.size > 0 || loadingGreen > 0 ? greenableId(request) : undefined;
    if (id !== undefined) {
      if (loadingGreen > 0) return builtinObject(id);
      greenOnLoad(id);
    } else if (pending.size > 0 && loadingGreen === 0 && (request === 'util' || request === 'node:util')) {
      greenBeforeUtil();
    }
    return original.call(this, request, parent, isMain);
  };
  if (getBuiltinModule !== undefined) {
    const stock = getBuiltinModule;
    process.getBuiltinModule = function getBuiltinModule(id: string) {
      const g = greenableId(id);
      if (g !== undefined && loadingGreen === 0) greenOnLoad(g);
      else if (loadingGreen === 0 && (id === 'util' || id === 'node:util')) greenBeforeUtil();
      return stock(id);
    } as typeof process.getBuiltinModule;
  }
  (globalThis as Record<symbol, unknown>)[GREEN_ON_IMPORT] = (id: string): void => {
    if (loadingGreen === 0 && greenableId(id) === id) greenOnLoad(id);
  };
  // A program already importing ES modules (not through evy run, whose hooks
  // include these) needs the ESM hooks now: its next import may be a builtin.
  if ((globalThis as Record<symbol, unknown>)[ESM_HOOKS] !== true && programUsesEsm()) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { register } = require('node:module') as typeof ModuleType;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { pathToFileURL } = require('node:url') as typeof import('node:url');
    register('./cli/greenhooks.mjs', pathToFileURL(__filename));
    (globalThis as Record<symbol, unknown>)[ESM_HOOKS] = true;
  }
}

/**
 * Whether the program already uses ES modules. Node 20 loads its ES module
 * loader only then (after the entry's run_main); Node 22 and later load it at
 * start-up for every program, and there the sign is an entry that is not
 * CommonJS (an ES module, -e, --input-type): registering the hooks boots a
 * loader thread (worker_threads, streams, net), which a CommonJS program
 * must not pay for.
 */
function programUsesEsm(): boolean {
  const list = (process as unknown as { moduleLoadList: string[] }).moduleLoadList;
  const esm = list.indexOf('NativeModule internal/modules/esm/translators');
  if (esm < 0) return false;
  const atStartup = esm < list.indexOf('NativeModule internal/modules/run_main');
  return !atStartup || require.main === undefined;
}

/** The global greenhooks.mts's generated modules call when the program imports a builtin. */
const GREEN_ON_IMPORT = Symbol.for('evy.greenOnImport');
/** Set once evy's ESM hooks for builtins are registered (by evy run's hooks.mts or here). */
const ESM_HOOKS = Symbol.for('evy.esmGreenHooks');

/**
 * Installs the green modules for the whole process. Idempotent: a module
 * patched once is left alone. Returns the names patched by this call.
 * Nothing is loaded here: a builtin the program has not loaded yet is greened
 * when it first loads it (require, `import`, process.getBuiltinModule); one
 * already loaded takes its green module on first use of any of its properties.
 */
export function monkeyPatch(opts: MonkeyPatchOptions = {}): string[] {
  const names = selectModules(opts).filter((n) => !patched.has(n));
  const builtins = names.filter((n) => BUILTIN_GREEN.has(n));
  for (const [sub, { parent }] of Object.entries(SUBMODULES)) if (builtins.includes(parent)) builtins.push(sub);
  for (const name of names) patched.add(name); // standalone ones (select, threading) are imported from evy/patched/...
  if (names.includes('http')) greenFetchGlobal();
  for (const [id, { with: by, parent }] of Object.entries(IN_PLACE)) {
    if (!names.includes(by)) continue;
    builtins.push(id);
    // require('fs').promises hands it out through a getter no hook sees: greened on that access too.
    if (parent !== undefined && loadedByNode(parent.id)) greenOnAccess(builtinObject(parent.id), parent.key, id);
  }
  if (builtins.length === 0) return names;
  for (const b of builtins) pending.add(b);
  installLoadHooks();
  settle();
  return names;
}

function setProperty(target: Record<string, unknown>, key: string, value: unknown): void {
  const desc = Object.getOwnPropertyDescriptor(target, key);
  if (desc === undefined || desc.writable === true || desc.set !== undefined) {
    target[key] = value;
  } else {
    Object.defineProperty(target, key, { value, writable: true, enumerable: desc.enumerable ?? true, configurable: true });
  }
}

/** Loaded CommonJS modules that hold a stock function monkeyPatch just replaced. */
export function findCapturedStock(replaced: Map<unknown, string>): Array<{ module: string; name: string; as: string }> {
  const found: Array<{ module: string; name: string; as: string }> = [];
  const cache = (Module as unknown as { _cache: Record<string, Module> })._cache;
  const self = path.resolve(__dirname, '..');
  for (const [file, mod] of Object.entries(cache)) {
    if (file.startsWith(self + path.sep)) continue;
    const exp = mod.exports as unknown;
    if (exp === null || (typeof exp !== 'object' && typeof exp !== 'function')) continue;
    if (replaced.has(exp)) found.push({ module: file, name: replaced.get(exp)!, as: 'module.exports' });
    for (const key of Object.keys(exp as object)) {
      let v: unknown;
      try {
        v = (exp as Record<string, unknown>)[key];
      } catch {
        continue; // a throwing getter: not ours to judge
      }
      if (replaced.has(v)) found.push({ module: file, name: replaced.get(v)!, as: key });
    }
  }
  return found;
}

function warnCaptured(replaced: Map<unknown, string>): void {
  for (const c of findCapturedStock(replaced)) {
    process.emitWarning(
      `${c.module} exports the stock ${c.name} (as ${c.as}), copied before monkeyPatch(); it stays stock. Patch before loading it, or look the function up on the module object at call time.`,
      { code: 'EVY_CAPTURED_STOCK' },
    );
  }
}

/**
 * Whether monkeyPatch() chose `name` ('net', 'node:net', 'childProcess',
 * 'socket', 'thread'...): its builtin is green, or will be the moment the
 * program first loads it (greening is lazy; the answer does not change then).
 */
export function isMonkeyPatched(name: string): boolean {
  if (typeof name !== 'string') throw new TypeError('isMonkeyPatched: name must be a string');
  return patched.has(canonical(name));
}

// ---- importPatched ---------------------------------------------------------------

/** A replacement for importPatched: a module name to green, or `{ name: moduleObject }`. */
export type Replacement = string | Record<string, unknown>;

interface Graph {
  replacements: Map<string, unknown>;
  cache: Map<string, Module>;
}

type Load = (request: string, parent: Module | undefined, isMain: boolean) => unknown;
type ResolveFilename = (request: string, parent: Module | undefined, isMain: boolean) => string;

const graphs = new WeakMap<Module, Graph>();
let loaderInstalled = false;

function installLoader(): void {
  if (loaderInstalled) return;
  loaderInstalled = true;
  const M = Module as unknown as { _load: Load; _resolveFilename: ResolveFilename; _nodeModulePaths(dir: string): string[] };
  const original = M._load;
  const evyRoot = path.resolve(__dirname, '..') + path.sep;
  M._load = function (request, parent, isMain) {
    const g = parent === undefined ? undefined : graphs.get(parent);
    if (g === undefined) return original.call(this, request, parent, isMain);
    const bare = request.startsWith('node:') ? request.slice(5) : request;
    if (g.replacements.has(bare)) return g.replacements.get(bare);
    if (isBuiltin(request)) return original.call(this, request, parent, isMain);
    const filename = M._resolveFilename(request, parent, false);
    // evy itself stays shared: one hub per process.
    if (filename.startsWith(evyRoot) || !path.isAbsolute(filename)) return original.call(this, request, parent, isMain);
    return loadInGraph(g, filename, parent, M._nodeModulePaths);
  };
}

function loadInGraph(g: Graph, filename: string, parent: Module | undefined, nodeModulePaths: (dir: string) => string[]): unknown {
  const cached = g.cache.get(filename);
  if (cached !== undefined) return cached.exports;
  const m = new Module(filename, parent);
  m.filename = filename;
  m.paths = nodeModulePaths(path.dirname(filename));
  graphs.set(m, g);
  g.cache.set(filename, m);
  try {
    (m as Module & { load(file: string): void }).load(filename);
  } catch (err) {
    g.cache.delete(filename);
    throw err;
  }
  return m.exports;
}

function callerFile(): string | undefined {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, importPatched);
  for (const line of (holder.stack ?? '').split('\n').slice(1)) {
    const m = /\(?((?:file:\/\/)?\/[^():]+):\d+:\d+\)?$/.exec(line.trim());
    if (m) return m[1].startsWith('file://') ? new URL(m[1]).pathname : m[1];
  }
  return undefined;
}

/**
 * Loads `name` (a path relative to the caller, or a package) and everything it
 * requires afresh, with the green modules in place of the stock ones; the rest
 * of the process keeps the stock modules and its own copies. `replacements`:
 * green module names to use ('net', 'dns'...; default all of them) and/or
 * objects mapping module names to the modules to hand out instead.
 * CommonJS graphs only (TypeScript too under `evy run`): Node 20 loads ES
 * modules through one shared loader.
 */
export async function importPatched<M = unknown>(name: string, ...replacements: Replacement[]): Promise<M> {
  if (typeof name !== 'string' || name === '') throw new TypeError('importPatched: name must be a module path or package name');
  const map = new Map<string, unknown>();
  const named = replacements.filter((r): r is string => typeof r === 'string');
  for (const r of replacements) {
    if (typeof r === 'string') continue;
    if (r === null || typeof r !== 'object') throw new TypeError('importPatched: a replacement is a module name or { name: module }');
    for (const [k, v] of Object.entries(r)) map.set(canonical(k), v);
  }
  const greens = named.length > 0 ? named.map(canonical) : [...BUILTIN_GREEN];
  for (const g of greens) {
    if (!BUILTIN_GREEN.has(g)) throw new TypeError(`importPatched: no green module replaces ${JSON.stringify(g)} (${[...BUILTIN_GREEN].join(', ')})`);
    if (!map.has(g)) map.set(g, loadGreen(g));
  }
  installLoader();
  const from = callerFile() ?? path.join(process.cwd(), 'importPatched');
  const anchor = new Module(from, undefined);
  anchor.filename = from;
  anchor.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(path.dirname(from));
  const graph: Graph = { replacements: map, cache: new Map() };
  graphs.set(anchor, graph);
  return (Module as unknown as { _load: Load })._load(name, anchor, false) as M;
}
