// The blocking watchdog's JavaScript side: starts and stops the native thread
// (src/watchdog.c) and hands its reports to a callback.
//
// The watchdog thread notices that the loop has not turned for `resolution`
// seconds; it then asks V8 (src/watchdog_stack.cc) for the JS stack of the
// code that holds the loop, source-maps it (an inline map, as evy run's
// TypeScript has), and writes the report to stderr itself, while the block is
// still going on: no JavaScript can run then. The same reports reach `onReport`
// once the loop turns again.
import * as path from 'node:path';
import { binding } from '../hub/binding';
import { getHub } from '../hub/hub';
import { liveThreads, type GreenThread } from '../green/greenthread';

/** One report of the watchdog. */
export interface BlockReport {
  /** 'blocking': the block is going on; 'ended': it is over, `seconds` is its total. */
  kind: 'blocking' | 'ended';
  /** How long the loop has been (or was) blocked, in seconds. */
  seconds: number;
  /** The green thread that last got the turn (0: the main one or none). */
  threadId: number;
  /** Its name, when it has one. */
  threadName: string | null;
  /** The JS stack, one frame a line (`    at fn (file.ts:3:5)`); empty if none was caught (native code). */
  stack: string;
  /** The full report as printed to stderr. */
  text: string;
}

interface WatchdogBinding {
  watchdogStart(resolution: number, slot: Int32Array, quiet: boolean, skip: string, report: (kind: number, seconds: number, id: number, stack: string, text: string) => void): void;
  watchdogStop(): void;
}

const native = binding as unknown as WatchdogBinding;
/** evy's compiled code: its frames are left out of the reports' stacks. */
const EVY_DIST = path.join(__dirname, '..') + path.sep;
const hub = getHub();
let on = false;
let listeners: ((r: BlockReport) => void)[] = [];

function nameOf(id: number): string | null {
  if (id === 0 || id === hub.main.id) return 'main';
  const last = hub.lastBlocked as GreenThread<unknown> | null;
  if (last !== null && last.id === id) return last.name ?? (last.entry?.name || null);
  for (const gt of liveThreads()) if (gt.id === id) return gt.name ?? (gt.entry?.name || null);
  return null;
}

function deliver(kind: number, seconds: number, id: number, stack: string, text: string): void {
  const r: BlockReport = { kind: kind === 0 ? 'blocking' : 'ended', seconds, threadId: id, threadName: nameOf(id), stack, text };
  for (const l of listeners) {
    try {
      l(r);
    } catch {
      // a listener's error must not stop the others
    }
  }
}

/**
 * Starts the watchdog (or changes its resolution). `quiet`: no stderr, the
 * callbacks only.
 * @internal
 */
export function startWatchdog(resolution: number, quiet = false, raise = false): void {
  if (on) native.watchdogStop();
  // Shared memory: the watchdog thread reads slot 0 (the thread with the turn) and writes slot 1 (the one to raise into).
  const slot = new Int32Array(new SharedArrayBuffer(12));
  slot[2] = hub.main.id;
  hub.turnSlot = slot;
  hub.blockedError = raise ? () => new BlockingDetected(resolution) : null;
  native.watchdogStart(resolution, slot, quiet, EVY_DIST, deliver);
  on = true;
}

/** Thrown into a green thread that blocked the loop, when hubBlockingDetection raises (Evy's RuntimeError). */
export class BlockingDetected extends Error {
  constructor(resolution: number) {
    super(`blocking detected: this green thread held the loop for more than ${resolution} s without yielding`);
    this.name = 'BlockingDetected';
  }
}

/** @internal Stops the watchdog; harmless when it is off. */
export function stopWatchdog(): void {
  if (!on) return;
  on = false;
  hub.turnSlot = null;
  hub.blockedError = null;
  hub.lastBlocked = null;
  native.watchdogStop();
}

/** @internal */
export function watchdogRunning(): boolean {
  return on;
}

/**
 * Calls `fn` with every report of the blocking watchdog (after the block, once
 * the loop turns). Returns a function that removes it.
 */
export function onBlockReport(fn: (r: BlockReport) => void): () => void {
  if (typeof fn !== 'function') throw new TypeError('onBlockReport needs a function');
  listeners.push(fn);
  return () => {
    listeners = listeners.filter((l) => l !== fn);
  };
}
