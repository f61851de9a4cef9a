// evy/tools introspection: what the live green threads, timers and listeners
// are doing, as data and as text. The backdoor's `.threads`, `.where`, `.kill`
// and `.hub` and evy/tools/debug's listings are built on this file.
//
// The core keeps this cheap: a parked thread's Waiter holds a constant label or
// the object it waits on (hub.ts WaitLabel) and the time it parked; stacks are
// recorded only while `hub.threadStacks` is on. Everything is formatted here,
// when someone looks.
import { getHub, Waiter, type Listener, type Timer } from '../hub/hub';
import { GreenletExit, GreenThread, liveThreads } from '../green/greenthread';

const hub = getHub();

/** The state of a green thread, as `.threads` shows it. */
export type ThreadState = 'scheduled' | 'running' | 'parked' | 'runnable' | 'foreign' | 'dead';

/** One green thread, as the introspection tools see it. */
export interface ThreadInfo {
  id: number;
  /** its name (GreenThread.name), else its function's name, else null */
  name: string | null;
  state: ThreadState;
  /** what it is parked on ('Queue.get', 'recv on fd 12 peer 127.0.0.1:5000', 'sleep, 2.0 s left'), or null */
  parkedOn: string | null;
  /** seconds since it parked (or since the state began, when known), or null */
  since: number | null;
  /** file:line of its spawn, when stack capture was on */
  spawnedAt: string | null;
  /** file:line of its park, when stack capture was on */
  parkedAt: string | null;
}

/** Turns stack recording for green threads on or off (where each was spawned and where it parked). */
export function threadStacks(on: boolean): void {
  hub.threadStacks = Boolean(on);
}

function describe(w: Waiter<unknown>): string {
  const what = w.what;
  let text = what === null ? 'an evy operation' : typeof what === 'string' ? what : what.describeWait(w);
  const due = hub.waiterDeadline(w);
  if (due !== null) {
    const left = Math.max(0, due - hub.clock());
    text += what === 'sleep' ? ` until +${left.toFixed(3)} s` : ` (timeout in ${left.toFixed(3)} s)`;
  }
  return text;
}

/** The first frame of a recorded stack outside evy's own code: file:line:col. */
export function callSite(err: Error | null): string | null {
  if (err === null) return null;
  const lines = (err.stack ?? '').split('\n').slice(1);
  for (const l of lines) {
    if (/[\\/]dist[\\/](hub|green|sync|io|tools|patched|web)[\\/]|[\\/]runtime[\\/]|node:internal/.test(l)) continue;
    const m = /\(([^()]+:\d+:\d+)\)\s*$/.exec(l) ?? /at (\S+:\d+:\d+)\s*$/.exec(l);
    if (m) return m[1];
  }
  const first = lines[0]?.trim();
  return first ? first.replace(/^at /, '') : null;
}

function stateOf(gt: GreenThread<unknown>): [ThreadState, Waiter<unknown> | null] {
  if (gt.dead) return ['dead', null];
  if (!gt.started) return ['scheduled', null];
  if (hub.turnHolder() === gt) return ['running', null];
  const w = gt.waiter;
  if (w !== null) return [w.parked ? 'parked' : 'runnable', w];
  return ['foreign', null];
}

function infoOf(gt: GreenThread<unknown>): ThreadInfo {
  const [state, w] = stateOf(gt);
  const name = gt.name ?? (gt.entry?.name || null);
  return {
    id: gt.id,
    name,
    state,
    parkedOn: w !== null ? describe(w) : state === 'foreign' ? 'a promise that is not an evy operation' : null,
    since: w !== null ? (Date.now() - w.since) / 1000 : null,
    spawnedAt: callSite(gt.spawnStack),
    parkedAt: w !== null ? callSite(w.stack) : null,
  };
}

/** Every live spawned green thread (the main one first, when it is parked), oldest first. */
export function threads(): ThreadInfo[] {
  const out = liveThreads().map(infoOf);
  const main = hub.main as GreenThread<unknown>;
  if (main.waiter !== null) out.unshift({ ...infoOf(main), name: 'main' });
  return out;
}

/** `.threads`: a table of every live green thread. */
export function formatThreads(): string {
  const rows = threads();
  if (rows.length === 0) return 'no live green threads\n';
  const lines = rows.map((t) => {
    let s = `${String(t.id).padStart(5)}  ${(t.name ?? '-').padEnd(16)} ${t.state.padEnd(9)} ${t.parkedOn ?? ''}`;
    if (t.since !== null) s += ` for ${t.since.toFixed(3)} s`;
    if (t.parkedAt !== null) s += `  parked at ${t.parkedAt}`;
    if (t.spawnedAt !== null) s += `  spawned at ${t.spawnedAt}`;
    return s;
  });
  const note = hub.threadStacks ? '' : '(spawn and park sites: threadStacks(true), then look again at new threads)\n';
  return `   id  name             state     parked on\n${lines.join('\n')}\n${note}`;
}

function findThread(id: number): GreenThread<unknown> {
  if (!Number.isInteger(id)) throw new TypeError(`a green thread id must be an integer, got ${String(id)}`);
  if (id === hub.main.id) return hub.main as GreenThread<unknown>;
  for (const gt of liveThreads()) if (gt.id === id) return gt;
  throw new RangeError(`no live green thread with id ${id}`);
}

/** `.where ID`: the full stacks of a thread's spawn and of its park. */
export function formatWhere(id: number): string {
  const gt = findThread(id);
  const info = infoOf(gt);
  let out = `thread ${gt.id}${info.name !== null ? ` '${info.name}'` : ''}: ${info.state}`;
  if (info.parkedOn !== null) out += ` on ${info.parkedOn}`;
  if (info.since !== null) out += ` for ${info.since.toFixed(3)} s`;
  out += '\n';
  const strip = (e: Error): string => (e.stack ?? '').split('\n').slice(1).join('\n');
  out += gt.spawnStack !== null ? `spawned:\n${strip(gt.spawnStack)}\n` : 'spawned: (no stack: it was spawned while threadStacks was off)\n';
  const w = gt.waiter;
  if (w !== null) out += w.stack !== null ? `parked:\n${strip(w.stack)}\n` : 'parked: (no stack: it parked while threadStacks was off)\n';
  return out;
}

/** `.kill ID [message]`: throws a GreenletExit (with `message`) into a green thread. */
export function killThread(id: number, message?: string): string {
  const gt = findThread(id);
  if (gt === hub.main) throw new RangeError('the main green thread cannot be killed from here');
  gt.kill(new GreenletExit(message ?? `killed from the backdoor`));
  return `killed thread ${id}\n`;
}

// ---- hub listings ----

function fmtStack(stack: string | undefined): string {
  return stack === undefined ? '' : `\n${stack.split('\n').slice(1).join('\n')}`;
}

function timerName(t: Timer): string {
  const cb = t.cb as ((...a: unknown[]) => unknown) | null;
  return cb === null ? '(cancelled)' : cb.name || '(anonymous)';
}

/** Every pending timer with its deadline and callback, and the stack that made it when hubTimerStacks is on. */
export function formatHubTimers(): string {
  const now = hub.clock();
  const ts = [...hub.pendingTimers()].sort((a, b) => a.deadline - b.deadline);
  if (ts.length === 0) return 'no pending timers\n';
  return ts.map((t) => `timer in ${(t.deadline - now).toFixed(3)} s: ${timerName(t)}${fmtStack(t.stack)}`).join('\n') + '\n';
}

/** Every fd listener with its kind and callback, and the stack that made it when hubListenerStacks is on. */
export function formatHubListeners(): string {
  const ls: Listener[] = hub.listeners();
  if (ls.length === 0) return 'no fd listeners\n';
  return ls.map((l) => `${l.kind} listener on fd ${l.fd}: ${l.cb?.name || '(anonymous)'}${fmtStack(l.stack)}`).join('\n') + '\n';
}

/** `.hub`: the hub's counts, its listeners and its timers. */
export function formatHub(): string {
  const c = hub.counts();
  return (
    `threads ${c.threads}, runnable ${c.runnable}, timers ${c.timers}, listeners ${c.listeners}\n` +
    formatHubListeners() +
    formatHubTimers()
  );
}
