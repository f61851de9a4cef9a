// evy/tools/debug: Evy's debugging switches. spew() traces every switch into a
// green thread; the hub listings print what the hub holds (with the stacks
// that made it, once asked to record them); hubExceptions and tpoolExceptions
// say whether errors are printed; hubBlockingDetection starts the native
// watchdog that reports code that blocks the loop, with its stack, while it blocks.
import { getHub, type Parkable, type Waiter } from '../hub/hub';
import type { GreenThread } from '../green/greenthread';
import { callSite, formatHubListeners as listListeners, formatHubTimers as listTimers } from './introspect';
import { startWatchdog, stopWatchdog, watchdogRunning } from './watchdog';
import type { Worker } from 'node:worker_threads';
import type { SpewWorkerData } from './spewworker';

export { BlockingDetected, onBlockReport, type BlockReport } from './watchdog';

const hub = getHub();

// ---- spew ----

let spewStacksBefore = false;

function label(gt: Parkable): string {
  const t = gt as GreenThread<unknown>;
  if (gt === hub.main) return 'thread main';
  const name = t.name ?? (t.entry?.name || null);
  return `thread ${gt.id}${name !== null ? ` '${name}'` : ''}`;
}

function whatOf(w: Waiter<unknown>): string {
  const what = w.what;
  return what === null ? 'an evy operation' : typeof what === 'string' ? what : what.describeWait(w);
}

function showValue(v: unknown): string {
  const { inspect } = require('node:util') as typeof import('node:util'); // eslint-disable-line @typescript-eslint/no-require-imports
  return inspect(v, { depth: 2, breakLength: Infinity, maxStringLength: 80 });
}

/** The line tracer's worker while spew() runs, and its flags. */
let lineTracer: { worker: Worker; flags: Int32Array } | null = null;

/** How long spew() waits for the line tracer to set its breakpoints (ms). */
const LINE_TRACER_START = 30_000;

function startLineTracer(traceNames: string[] | null, showValues: boolean): void {
  let Worker: typeof import('node:worker_threads').Worker;
  try {
    require('node:inspector'); // eslint-disable-line @typescript-eslint/no-require-imports
    ({ Worker } = require('node:worker_threads') as typeof import('node:worker_threads')); // eslint-disable-line @typescript-eslint/no-require-imports
  } catch {
    return; // a Node without the inspector: switches only
  }
  const { join, resolve } = require('node:path') as typeof import('node:path'); // eslint-disable-line @typescript-eslint/no-require-imports
  const flags = new Int32Array(new SharedArrayBuffer(8));
  const workerData: SpewWorkerData = { flags, names: traceNames, showValues, evyDir: resolve(__dirname, '..'), fd: 1 };
  const worker = new Worker(join(__dirname, 'spewworker.js'), { workerData, stdout: false, stderr: false });
  worker.unref();
  worker.on('error', (err) => process.stderr.write(`evy spew: the line tracer failed: ${err.message}\n`));
  lineTracer = { worker, flags };
  // The worker sets its breakpoints through the main thread's inspector,
  // which answers it while this thread waits here.
  Atomics.wait(flags, 0, 0, LINE_TRACER_START);
}

function stopLineTracer(): void {
  if (lineTracer === null) return;
  const { worker, flags } = lineTracer;
  lineTracer = null;
  Atomics.store(flags, 1, 1); // no line is printed from now on
  // Held (the process does not end) until the worker has let go of the main thread's inspector.
  worker.ref();
  worker.on('message', (m: unknown) => {
    if (m === 'disconnected') setImmediate(() => worker.postMessage('bye'));
  });
  worker.postMessage('stop');
}

/**
 * Traces what runs, one line each on stdout, as Evy's spew: every source line
 * executed in the traced files (`spew: file:line: text`, source-mapped for
 * .ts, with `[name=value ...]` for the names on the line under `showValues`),
 * and every switch into a green thread: which thread resumes, after which
 * operation, where it parked (file:line:col), and, with `showValues`, the
 * value it resumes with. `traceNames` keeps only the files whose path
 * contains one of the names; without it, every file but Node's own, evy's
 * and those under node_modules. Lines are traced by a worker thread that
 * sets a breakpoint on every line through the inspector (the main thread
 * stops at each; it is slow, for debugging only), in the scripts loaded when
 * spew() is called and those loaded later, once the worker has seen them.
 * Turns on stack recording for threads while it runs.
 * @param traceNames file or module names to keep (null: every application file).
 * @param showValues print the values on each line, and the value each resumption brings.
 * @throws {TypeError} traceNames is not an array of strings or null.
 * @example
 * spew(['server.ts']); await serveABit(); unspew();
 */
export function spew(traceNames: string[] | null = null, showValues = false): void {
  if (traceNames !== null && (!Array.isArray(traceNames) || traceNames.some((n) => typeof n !== 'string'))) {
    throw new TypeError('spew: traceNames must be an array of strings or null');
  }
  if (hub.switchHook === null) spewStacksBefore = hub.threadStacks;
  hub.threadStacks = true;
  const keep = (site: string | null): boolean => traceNames === null || (site !== null && traceNames.some((n) => site.includes(n)));
  hub.switchHook = (gt, w) => {
    let line: string;
    if (w === null) {
      const site = callSite((gt as GreenThread<unknown>).spawnStack ?? null);
      if (!keep(site)) return;
      line = `spew: ${label(gt)} starts${site !== null ? ` (spawned at ${site})` : ''}`;
    } else {
      const site = callSite(w.stack);
      if (!keep(site)) return;
      line = `spew: ${label(gt)} resumes after ${whatOf(w)}${site !== null ? ` at ${site}` : ''}`;
      if (showValues) line += w.state === 3 ? ` <- throw ${showValue(w.value)}` : ` <- ${showValue(w.value)}`;
    }
    process.stdout.write(`${line}\n`);
  };
  stopLineTracer();
  startLineTracer(traceNames === null ? null : [...traceNames], Boolean(showValues));
}

/** Stops spew(). */
export function unspew(): void {
  stopLineTracer();
  if (hub.switchHook === null) return;
  hub.switchHook = null;
  hub.threadStacks = spewStacksBefore;
}

// ---- hub listings ----

let listenerStacks = false;
let timerStacks = false;

/** Every fd listener of the hub, one a line (with the stack that added it, under hubListenerStacks(true)). */
export function formatHubListeners(): string {
  return listListeners();
}

/** Every pending timer of the hub, one a line (with the stack that made it, under hubTimerStacks(true)). */
export function formatHubTimers(): string {
  return listTimers();
}

/** Records, from now on, the stack of each fd listener as it is added. */
export function hubListenerStacks(on: boolean): void {
  listenerStacks = Boolean(on);
  hub.captureStacks = listenerStacks || timerStacks;
}

/** Records, from now on, the stack of each timer as it is made. */
export function hubTimerStacks(on: boolean): void {
  timerStacks = Boolean(on);
  hub.captureStacks = listenerStacks || timerStacks;
}

/**
 * Prints every error a green thread ends with, as it ends, even one that
 * somebody waits for: to see how green threads terminate (off by default;
 * errors in timer callbacks and fd listeners, spawnN's and unobserved ones are
 * printed either way).
 */
export function hubExceptions(on: boolean): void {
  hub.debugExceptions = Boolean(on);
}

/** Whether errors raised in thread-pool tasks are printed where they happen (off by default): evy/tpool's setTpoolExceptions, as Evy's debug.tpool_exceptions. */
export function tpoolExceptions(on: boolean): void {
  getHub().debugTpoolExceptions = Boolean(on);
}

// ---- blocking detection ----

/**
 * Starts (or stops) the blocking watchdog: a native thread that notices when
 * the loop has not turned for `resolution` seconds and reports, while the
 * block goes on, how long it has lasted, the green thread that holds the
 * loop, and its JS stack (source-mapped for .ts); again every `resolution`
 * seconds while it goes on, and once more when it ends, with the total.
 * Reports go to stderr and to onBlockReport() listeners.
 * @param on start or stop.
 * @param resolution seconds (default 1); at least 0.001.
 * @throws {RangeError} `resolution` is not a positive number.
 * @example
 * hubBlockingDetection(true, 0.1);
 */
export function hubBlockingDetection(on: boolean, resolution = 1, opts: BlockingDetectionOptions = {}): void {
  if (!on) {
    stopWatchdog();
    return;
  }
  if (typeof resolution !== 'number' || !Number.isFinite(resolution) || resolution < 0.001) {
    throw new RangeError(`hubBlockingDetection: resolution must be a number of seconds ≥ 0.001, got ${String(resolution)}`);
  }
  startWatchdog(resolution, opts.quiet === true, opts.raise ?? true);
}

/** Whether hubBlockingDetection is on (its watchdog thread runs). */
export function hubBlockingDetectionOn(): boolean {
  return watchdogRunning();
}

/** What hubBlockingDetection() does when a block is seen, beyond reporting it. */
export interface BlockingDetectionOptions {
  /**
   * Throw a BlockingDetected into the green thread that blocked, once it
   * returns or next parks, as Evy raises in it (default true; `evy run
   * --block-warn` only reports).
   */
  raise?: boolean;
  /** No stderr: onBlockReport() listeners only. */
  quiet?: boolean;
}
