// The builtins monkeyPatch greens in place, by changing their own exports
// object (not by putting a green module's exports onto it): the promise APIs
// users await most. The patcher greens each when the program first loads it,
// as it does the others, or at once when Node already has (events always);
// the global fetch is greened by monkeyPatch() itself (a property swap that
// loads nothing: undici loads at the first call). The greening functions'
// modules load only then, and load no Node module of their own.
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
}

/* eslint-disable @typescript-eslint/no-require-imports */
/** By builtin id; `parent`: the already loaded builtin whose getter hands this one out. */
export const IN_PLACE: Readonly<Record<string, InPlaceGreen>> = {
  'fs/promises': {
    with: 'os',
    green: (e) => (require('./fs') as typeof import('./fs')).greenFsPromises(e),
    parent: { id: 'fs', key: 'promises' },
  },
  events: { with: 'net', green: (e) => (require('./events') as typeof import('./events')).greenEvents(e as never) },
  'stream/promises': { with: 'net', green: (e) => greenStream(e) },
  // stream loads stream/promises as it loads: its `promises` is at hand, and greening it
  // with stream covers require('stream').promises (a getter no hook sees).
  stream: { with: 'net', green: (e) => greenStream(e.promises as Record<string, unknown>) },
};

function greenStream(promises: Record<string, unknown>): void {
  (require('./stream') as typeof import('./stream')).greenStreamPromises(promises as never);
}

/**
 * Makes the global fetch green (monkeyPatch with `http`).
 * @internal
 */
export function greenFetchGlobal(): void {
  (require('./fetch') as typeof import('./fetch')).greenGlobalFetch(globalThis as { fetch?: typeof fetch });
}
/* eslint-enable @typescript-eslint/no-require-imports */
