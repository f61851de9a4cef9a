// A safety net for the long network suites. A failing test must not leave
// sockets or threads behind: uvu runs after.each again when a test throws, and
// a throw there then ends the whole suite. Every test closes what it opens and
// waits for its threads; this mops up after a failure, bounds each test, and
// turns a thread that a passing test left running into a failure of that test
// (after killing it, so assertClean can still judge the hub).
import type { Test } from 'uvu';
import { spawn, Timeout, withTimeout, type GreenSocket, type GreenThread } from 'evy';
import { assertClean, settle } from './helpers';

export interface SafetyNet {
  /** uvu's test(), remembering whether the body threw, and failing after the limit instead of hanging. */
  test(name: string, fn: () => Promise<void>): void;
  /** Remembers `s` for the mop-up after a failing test. */
  own<S extends GreenSocket>(s: S): S;
  /** spawn() whose thread is killed by the mop-up if a failing test leaves it running. */
  go<T>(fn: () => T | PromiseLike<T>): GreenThread<Awaited<T>>;
  /** Closes the sockets own() remembered so far (closing twice is harmless), and forgets them. */
  closeOwned(): void;
}

export interface SafetyOptions {
  /** seconds a test may take */
  limit: number;
  /** run only the tests whose name contains this (for working on one) */
  only?: string;
  /** print each test's duration */
  timings?: boolean;
}

export function safetyNet(suite: Test, opts: SafetyOptions): SafetyNet {
  const opened: GreenSocket[] = [];
  const threads: GreenThread<unknown>[] = [];
  let failing = false;
  // What the failing test threw: when the mop-up then throws too, uvu ends the
  // suite without printing either, so the mop-up prints it first.
  let thrown: { name: string; err: unknown } | null = null;
  suite.after.each(async () => {
    try {
      const alive = threads.splice(0).filter((gt) => !gt.dead);
      for (const gt of alive) gt.kill();
      for (const s of opened.splice(0)) s.close();
      await settle();
      if (alive.length > 0 && !failing) throw new Error(`the test left ${alive.length} green thread(s) running`);
      await assertClean();
    } catch (err) {
      if (thrown !== null) console.error(`✘ ${thrown.name}\n`, thrown.err, '\nand then the clean-up failed:\n', err);
      throw err;
    } finally {
      thrown = null;
    }
  });
  return {
    test(name, fn) {
      if (opts.only !== undefined && !name.includes(opts.only)) return;
      suite(name, async () => {
        failing = true;
        const limit = new Timeout(opts.limit);
        const t0 = performance.now();
        try {
          await fn();
        } catch (err) {
          thrown = { name, err: err === limit ? new Error(`the test did not finish within ${opts.limit} s`) : err };
          throw thrown.err;
        } finally {
          limit.cancel();
        }
        if (opts.timings) console.log(`${(performance.now() - t0).toFixed(0)} ms  ${name}`);
        failing = false;
      });
    },
    own(s) {
      opened.push(s);
      return s;
    },
    go(fn) {
      const gt = spawn(fn);
      threads.push(gt as GreenThread<unknown>);
      return gt;
    },
    closeOwned() {
      for (const s of opened.splice(0)) s.close();
    },
  };
}

/** `gt.wait()`, but a thread that a bug leaves parked fails the test after `secs` instead of hanging the suite. */
export function finish<T>(gt: GreenThread<T>, secs = 10): Promise<T> {
  return withTimeout(secs, () => gt.wait());
}
