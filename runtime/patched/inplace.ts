// The builtins monkeyPatch greens in place, by changing their own exports
// object (not by putting a green module's exports onto it): the promise APIs
// users await most. The patcher greens each when the program first loads it,
// as it does the others; one Node has already loaded (events, always) on the
// first use of what evy replaces (`lazy`). The global fetch becomes green when
// the program first reads it. The greening functions' modules (and the hub
// with them) load only then, and load no Node module of their own.
//
// fetch goes with `http` (the HTTP client), fs/promises with `os` (Evy's
// keyword for file descriptors), events.once and stream/promises with `net`
// (what they mostly wait on: servers and sockets).

export interface InPlaceGreen {
  /** The green module name (monkeyPatch's selection) that brings it. */
  readonly with: string;
  /** Greens the builtin's exports object in place; once per object. */
  readonly green: (exports: Record<string, unknown>) => void;
  /** The builtin whose getter hands out this one (`require('fs').promises`), and the getter's name. */
  readonly parent?: { readonly id: string; readonly key: string };
  /**
   * When Node has loaded the builtin already: the names whose first use
   * greens it (lazy accessors, as for the other builtins). Without: at once.
   */
  readonly lazy?: readonly string[];
}

/* eslint-disable @typescript-eslint/no-require-imports */
/** By builtin id; `parent`: the already loaded builtin whose getter hands this one out. */
export const IN_PLACE: Readonly<Record<string, InPlaceGreen>> = {
  'fs/promises': {
    with: 'os',
    green: (e) => (require('./fs') as typeof import('./fs')).greenFsPromises(e),
    parent: { id: 'fs', key: 'promises' },
  },
  // Node loads events before any program: greened on the first read of
  // events.once (EventEmitter.once), the one name evy replaces.
  events: { with: 'net', green: (e) => (require('./events') as typeof import('./events')).greenEvents(e as never), lazy: ['once'] },
  'stream/promises': { with: 'net', green: (e) => greenStream(e) },
  // stream loads stream/promises as it loads: its `promises` is at hand, and greening it
  // with stream covers require('stream').promises (a getter no hook sees).
  stream: { with: 'net', green: (e) => greenStream(e.promises as Record<string, unknown>) },
};

function greenStream(promises: Record<string, unknown>): void {
  (require('./stream') as typeof import('./stream')).greenStreamPromises(promises as never);
}

/**
 * Makes the global fetch green (monkeyPatch with `http`) on the program's
 * first read of it: until then `globalThis.fetch` is an accessor, and
 * evy/patched/fetch (with the hub) is not loaded. An assignment before any
 * read puts the assigned value there, as it would on stock. What the first
 * read finds is what patched/fetch greens: the stock fetch, or a mock put
 * there before monkeyPatch().
 * @internal
 */
export function greenFetchGlobal(): void {
  const g = globalThis as Record<string, unknown>;
  const d = Object.getOwnPropertyDescriptor(g, 'fetch');
  if (d === undefined || typeof d.value !== 'function' || d.configurable !== true || d.writable !== true) return;
  const put = (value: unknown): void => {
    Object.defineProperty(g, 'fetch', { value, writable: true, enumerable: d.enumerable, configurable: true });
  };
  const fetchFile = `${__dirname}/fetch.js`;
  Object.defineProperty(g, 'fetch', {
    configurable: true,
    enumerable: d.enumerable,
    get(): unknown {
      // evy/patched/fetch's own first line reads the stock fetch it wraps
      // (when the program imports it before any read of the global).
      const cached = require.cache[fetchFile];
      if (cached !== undefined && !cached.loaded) return d.value;
      put(d.value);
      (require('./fetch') as typeof import('./fetch')).greenGlobalFetch(g as { fetch?: typeof fetch });
      return g.fetch;
    },
    set(value: unknown) {
      put(value);
    },
  });
}
/* eslint-enable @typescript-eslint/no-require-imports */
