// The builtins monkeyPatch greens in place, by changing their own exports
// object (not by putting a green module's exports onto it): the promise APIs
// users await most, and the global fetch. Each entry names what it greens, the
// monkeyPatch keyword that switches it, and the function that greens the
// builtin's exports object when it is loaded; the functions' modules load only
// then, so reading this table costs nothing.
//
// fetch goes with `http` (the HTTP client), fs/promises with `os` (Evy's
// keyword for file descriptors), events.once and stream/promises with `net`
// (what they mostly wait on: servers and sockets).
import { syncBuiltinESMExports } from 'node:module';

export interface InPlaceGreen {
  /** The builtin whose exports object `green` changes ('fs/promises'), or 'globalThis' for the global fetch. */
  readonly builtin: string;
  /** The green module name (monkeyPatch's selection) that brings it. */
  readonly with: string;
  readonly green: (exports: Record<string, unknown>) => void;
}

/* eslint-disable @typescript-eslint/no-require-imports */
export const IN_PLACE: readonly InPlaceGreen[] = [
  { builtin: 'globalThis', with: 'http', green: (g) => (require('./fetch') as typeof import('./fetch')).greenGlobalFetch(g) },
  { builtin: 'fs/promises', with: 'os', green: (e) => (require('./fs') as typeof import('./fs')).greenFsPromises(e) },
  { builtin: 'events', with: 'net', green: (e) => (require('./events') as typeof import('./events')).greenEvents(e as never) },
  {
    builtin: 'stream/promises',
    with: 'net',
    green: (e) => (require('./stream') as typeof import('./stream')).greenStreamPromises(e as never),
  },
];

/**
 * Greens, now, what the green modules `names` bring (monkeyPatch's selection).
 * @internal
 */
export function greenInPlace(names: readonly string[]): void {
  let any = false;
  for (const entry of IN_PLACE) {
    if (!names.includes(entry.with)) continue;
    entry.green(entry.builtin === 'globalThis' ? (globalThis as Record<string, unknown>) : (require(`node:${entry.builtin}`) as Record<string, unknown>));
    any = true;
  }
  if (any) syncBuiltinESMExports(); // named ESM imports (`import { once } from 'node:events'`) follow
}
/* eslint-enable @typescript-eslint/no-require-imports */
