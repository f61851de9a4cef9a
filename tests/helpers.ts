// Shared helpers for the uvu suites.
import * as assert from 'uvu/assert';
import { getHub, sleep } from 'evy';
import { readdirSync } from 'node:fs';

/** Lets every runnable green thread finish what it can (a few loop turns). */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await sleep(0);
}

/** Asserts the hub holds nothing: no timer, listener, runnable entry or live thread. */
export async function assertClean(): Promise<void> {
  await settle();
  assert.equal(getHub().counts(), { timers: 0, listeners: 0, runnable: 0, threads: 0 }, 'the hub holds leftovers');
}

/** The open file descriptors of this process. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Resolves on the next macrotask: lets callbacks that are not green threads run. */
export function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
