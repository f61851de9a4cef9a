// TypeDoc (`make docs`): the API reference in docs/api/, from the TSDoc of the
// package's public entry points, one module per entry of package.json's
// "exports" (each named as users import it: evy, evy/queue, evy/patched/http...).
import { existsSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));

/** The first "types" path in an exports entry, whatever its conditions' nesting. */
function typesOf(target) {
  if (typeof target !== 'object' || target === null) return undefined;
  if (typeof target.types === 'string') return target.types;
  for (const v of Object.values(target)) {
    const t = typesOf(v);
    if (t !== undefined) return t;
  }
  return undefined;
}

/** Import specifier -> its TypeScript source in runtime/, for every public entry point. */
export const entryPoints = Object.fromEntries(
  Object.entries(pkg.exports).flatMap(([sub, target]) => {
    const types = typesOf(target);
    if (types === undefined) return [];
    const base = types.replace(/^\.\/dist\//, 'runtime/').replace(/\.d\.m?ts$/, '');
    const source = [`${base}.ts`, `${base}.mts`].find((f) => existsSync(new URL(f, import.meta.url)));
    if (source === undefined) throw new Error(`typedoc.config.mjs: no runtime/ source for ${types}`);
    return [[sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`, source]];
  }),
);

/** @type {Partial<import('typedoc').TypeDocOptions>} */
export default {
  name: pkg.name,
  entryPoints: Object.values(entryPoints),
  tsconfig: 'tsconfig.json',
  out: 'docs/api',
  readme: 'none',
  excludeInternal: true,
  excludePrivate: true,
  excludeProtected: true,
  excludeExternals: true,
  sort: ['source-order'],
  validation: { notExported: true, invalidLink: true, notDocumented: true },
  // What tests/cli/docs.test.ts requires a doc comment on: every export of an entry point.
  requiredToBeDocumented: ['Namespace', 'Enum', 'Variable', 'Function', 'Class', 'Interface', 'TypeAlias'],
  // A method of an inline object type: Selectable's own comment says what it is.
  intentionallyNotDocumented: ['evy/patched/select.Selectable.__type.fileno'],
  logLevel: 'Warn',
  plugin: ['./docs/typedoc-modules.mjs'],
};
