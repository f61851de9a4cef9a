// Shared by the ports of eventlet's suites (tests/eventlet/*.test.ts).
import { test as uvuTest } from 'uvu';
import { limited } from './limited';

/**
 * uvu's test(), each body run under limited() (limited.ts): bounded, and the
 * hub checked clean against the counts the test started with.
 */
export function suite(seconds = 10): (name: string, fn: () => unknown) => void {
  return (name, fn) => uvuTest(name, limited(async () => void (await fn()), seconds));
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
