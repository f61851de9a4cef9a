// Shared by the ports of eventlet's suites (tests/eventlet/*.test.ts).
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { getHub, sleep, type Hub } from 'evy';
import { settle } from '../helpers';

type HubCounts = ReturnType<Hub['counts']>;

/**
 * uvu's test(), with the hub checked clean after each test (as assertClean
 * does). uvu runs after.each again inside its catch, and a throw there ends
 * the whole suite without reporting the remaining tests; so after a failure
 * the hook only lets the leftovers drain, and what a failed test leaves parked
 * for good becomes the baseline the later tests are compared with.
 */
export function suite(): (name: string, fn: () => unknown) => void {
  let failed = false;
  let baseline: HubCounts = { timers: 0, listeners: 0, runnable: 0, threads: 0 };
  uvuTest.after.each(async () => {
    if (failed) {
      failed = false;
      await sleep(0.2);
      baseline = getHub().counts();
      return;
    }
    await settle();
    const now = getHub().counts();
    if (JSON.stringify(now) !== JSON.stringify(baseline)) {
      failed = true;
      assert.equal(now, baseline, 'the hub holds leftovers');
    }
  });
  return (name, fn) =>
    uvuTest(name, async () => {
      try {
        await fn();
      } catch (err) {
        failed = true;
        throw err;
      }
    });
}

/** A small seeded generator (mulberry32): eventlet's tests use random.Random(0); the sequence differs, the role is the same. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** All the values of an async iterable. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

/** Python's range(a, b) / range(b). */
export function range(a: number, b?: number): number[] {
  const [lo, hi] = b === undefined ? [0, a] : [a, b];
  const out: number[] = [];
  for (let i = lo; i < hi; i++) out.push(i);
  return out;
}
