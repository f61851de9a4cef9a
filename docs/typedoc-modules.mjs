// A TypeDoc plugin for `make docs`: names each module of the reference as users
// import it (evy, evy/queue, evy/patched/http) instead of by its path under
// runtime/ (index, sync/queue, patched/http), from typedoc.config.mjs's map.
import { Converter } from 'typedoc';
import { entryPoints } from '../typedoc.config.mjs';

const bySource = new Map(Object.entries(entryPoints).map(([name, source]) => [source.replace(/^runtime\//, '').replace(/\.m?ts$/, ''), name]));

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const mod of context.project.children ?? []) {
      const name = bySource.get(mod.name);
      if (name !== undefined) mod.name = name;
    }
  });
}
