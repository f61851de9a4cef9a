// Eventlet's LimitedTestCase for the ported suites: a test that deadlocks fails
// after `seconds` instead of ending the process (a parked green thread does not
// keep Node's loop alive). The watchdog is a plain Node timer, not a hub timer,
// so it changes nothing in the hub's order of events.
//
// It also does assertClean's job inside the test, against the counts the test
// started with: uvu's after.each hook, when it throws after a failed test,
// aborts the whole file without printing any failure, so one leftover would
// hide every result of the file.
import * as assert from 'uvu/assert';
import { getHub } from 'evy';
import { settle } from '../helpers';

export function limited(body: () => Promise<void> | void, seconds = 2): () => Promise<void> {
  return async () => {
    const before = getHub().counts();
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`test timed out after ${seconds} s (deadlock?)`)), seconds * 1000);
    });
    try {
      await Promise.race([Promise.resolve().then(body), watchdog]);
      await settle();
      assert.equal(getHub().counts(), before, 'the hub holds leftovers');
    } catch (err) {
      await drain(before.timers);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * After a failure: lets the failed test's own timers fire (up to 1 s), so they
 * do not go off in the middle of the next test and fail its count check.
 * Threads parked for good stay parked and simply raise the next baseline.
 */
async function drain(timers: number): Promise<void> {
  const end = Date.now() + 1000;
  while (getHub().counts().timers > timers && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 10));
  }
  await settle();
}

/** Python's RuntimeError / ValueError / OSError stand-ins. */
export class RuntimeError extends Error {
  override name = 'RuntimeError';
}
export class ValueError extends Error {
  override name = 'ValueError';
}
