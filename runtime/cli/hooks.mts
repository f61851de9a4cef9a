// ESM hooks installed by `evy run`:
// - `import ... from 'evy'` (and 'evy/...') resolves to this copy of evy wherever
//   the script lives, so the script and the runtime share one hub;
// - the entry script loads as ESM when the CLI decided so (see run.ts).
const inside = new URL('../index.js', import.meta.url).href;

interface HookData {
  entryURL: string;
  entryIsModule: boolean;
}
interface ResolveResult {
  url: string;
  format?: string | null;
}
type Resolve = (specifier: string, context: { parentURL?: string }) => Promise<ResolveResult>;

let data: HookData = { entryURL: '', entryIsModule: false };

export function initialize(d: HookData): void {
  data = d;
}

export async function resolve(specifier: string, context: { parentURL?: string }, next: Resolve): Promise<ResolveResult> {
  if (specifier === 'evy' || specifier.startsWith('evy/')) return next(specifier, { ...context, parentURL: inside });
  const r = await next(specifier, context);
  if (data.entryIsModule && r.url === data.entryURL) return { ...r, format: 'module' };
  return r;
}
