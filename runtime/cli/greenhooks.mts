// ESM half of monkeyPatch()'s lazy greening (runs in Node's module loader
// thread). An `import` of a builtin evy greens (`node:net`, `net`,
// `dns/promises`...) resolves to a small generated module that first calls
// back into the main thread, where the patcher greens the builtin if
// monkeyPatch() chose it and the program had not loaded it yet, and then
// re-exports the builtin itself: its default export is Node's object, and its
// named exports are Node's live bindings (green once greened). evy run's
// hooks.mts chains these; monkeyPatch() registers this file alone when the
// program already uses ES modules outside evy run.

/** The builtins evy has green modules for (patcher.ts's BUILTIN_GREEN and SUBMODULES), and those it greens in place (patched/inplace.ts). */
const GREENABLE = new Set(['net', 'dns', 'tls', 'timers', 'child_process', 'http', 'os', 'dns/promises', 'timers/promises', 'fs/promises', 'events', 'stream', 'stream/promises']);
const SCHEME = 'evy-green:';
const APPLY = '?apply';

/** Node's module hook types (the shapes evy's hooks use). */
export interface ResolveResult {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
}
export interface LoadResult {
  format: string;
  source?: string | Buffer | null;
  shortCircuit?: boolean;
}
export type Resolve = (specifier: string, context: { parentURL?: string }) => Promise<ResolveResult>;
export type Load = (url: string, context: { format?: string | null }) => Promise<LoadResult>;

/** The generated module's URL for `specifier`, when it names a builtin evy greens (and the importer is not that module). */
export function greenResolve(specifier: string, parentURL: string | undefined): ResolveResult | undefined {
  if (specifier.startsWith(SCHEME)) return { url: specifier, shortCircuit: true };
  if (parentURL?.startsWith(SCHEME)) return undefined; // the generated module's own import of the builtin
  const id = specifier.startsWith('node:') ? specifier.slice(5) : specifier;
  return GREENABLE.has(id) ? { url: SCHEME + id, shortCircuit: true } : undefined;
}

/** The source of a generated module. */
export function greenLoad(url: string): LoadResult | undefined {
  if (!url.startsWith(SCHEME)) return undefined;
  if (url.endsWith(APPLY)) {
    const id = JSON.stringify(url.slice(SCHEME.length, -APPLY.length));
    return { format: 'module', source: `globalThis[Symbol.for('evy.greenOnImport')]?.(${id});\n`, shortCircuit: true };
  }
  const builtin = JSON.stringify(`node:${url.slice(SCHEME.length)}`);
  // Imports evaluate in order: the builtin is green before anything reads it.
  const source = `import ${JSON.stringify(url + APPLY)};\nexport * from ${builtin};\nexport { default } from ${builtin};\n`;
  return { format: 'module', source, shortCircuit: true };
}

export async function resolve(specifier: string, context: { parentURL?: string }, next: Resolve): Promise<ResolveResult> {
  return greenResolve(specifier, context.parentURL) ?? next(specifier, context);
}

export async function load(url: string, context: { format?: string | null }, next: Load): Promise<LoadResult> {
  return greenLoad(url) ?? next(url, context);
}
