// ESM hooks installed by `evy run` (they run in Node's module loader thread):
// - `import ... from 'evy'` (and 'evy/...') resolves to this copy of evy wherever
//   the script lives, so the script and the runtime share one hub;
// - TypeScript: .ts/.mts/.tsx files that are ES modules (by extension, package
//   type, ES syntax, or a top-level await) compile through tscompile (esbuild,
//   cached); CommonJS ones go to the require hook of tsrequire.ts;
//   `./x.js` finds x.ts, and `./x` finds x.ts or x/index.ts, as TypeScript resolves;
// - the entry script loads as ESM when the CLI decided so (see run.ts);
// - imports of the builtins evy greens go through greenhooks.mts, so that
//   monkeyPatch() greens each when the program first imports it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { greenLoad, greenResolve, type Load, type LoadResult, type Resolve, type ResolveResult } from './greenhooks.mjs';
import { compileTs, TS_EXTENSIONS, tsFormat } from './tscompile.js';

const inside = new URL('../index.js', import.meta.url).href;

interface HookData {
  entryURL: string;
  entryIsModule: boolean;
}

let data: HookData = { entryURL: '', entryIsModule: false };

export function initialize(d: HookData): void {
  data = d;
}

function tsCandidates(specifier: string): string[] {
  const js = /^(.*)\.(m|c)?js$/.exec(specifier);
  if (js !== null) return [`${js[1]}.${js[2] ?? ''}ts`, ...(js[2] === undefined ? [`${js[1]}.tsx`] : [])];
  if (/\.[a-z]+$/i.test(specifier)) return [];
  return [`${specifier}.ts`, `${specifier}.tsx`, `${specifier}/index.ts`];
}

export async function resolve(specifier: string, context: { parentURL?: string }, next: Resolve): Promise<ResolveResult> {
  if (specifier === 'evy' || specifier.startsWith('evy/')) return next(specifier, { ...context, parentURL: inside });
  const green = greenResolve(specifier, context.parentURL);
  if (green !== undefined) return green;
  let r: ResolveResult;
  try {
    r = await next(specifier, context);
  } catch (err) {
    const relative = specifier.startsWith('./') || specifier.startsWith('../');
    if (!relative || (err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    r = await firstResolving(tsCandidates(specifier), context, next, err);
  }
  if (data.entryIsModule && r.url === data.entryURL) return { ...r, format: 'module' };
  return r;
}

async function firstResolving(candidates: string[], context: { parentURL?: string }, next: Resolve, original: unknown): Promise<ResolveResult> {
  for (const c of candidates) {
    try {
      return await next(c, context);
    } catch {
      // try the next one
    }
  }
  throw original;
}

export async function load(url: string, context: { format?: string | null }, next: Load): Promise<LoadResult> {
  const green = greenLoad(url);
  if (green !== undefined) return green;
  if (url.startsWith('file:') && TS_EXTENSIONS.some((e) => url.endsWith(e))) {
    const file = fileURLToPath(url);
    const source = readFileSync(file, 'utf8');
    const esm = url === data.entryURL ? data.entryIsModule : tsFormat(file, source) === 'module';
    if (!esm) return { format: 'commonjs', shortCircuit: true }; // tsrequire.ts's require hook compiles it
    return { format: 'module', source: compileTs(source, file, 'module'), shortCircuit: true };
  }
  return next(url, context);
}
