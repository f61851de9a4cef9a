// spew()'s line tracer: a worker thread with an inspector session on the main
// thread (inspector.Session.connectToMainThread). It sets a breakpoint on the
// first break location of every source line of the traced scripts; each time
// the main thread stops on one, the worker prints the line (source-mapped for
// .ts, with the values of the names on it under showValues) straight to fd 1,
// while the main thread waits, so the trace and the program's own output come
// in the order they happened. Then it resumes the main thread.
//
// Stepping (Debugger.stepInto) works from here too, but it stops in Node's
// internals at every statement (blackbox patterns did not keep it out of
// them), so breakpoints on the traced lines are what it uses. A session on
// the main thread itself can do the same (its paused handler runs inside the
// pause), but as JavaScript in the middle of the code it stopped; here the
// stopped thread runs nothing of ours.
import { readFileSync, writeSync } from 'node:fs';
import { Session } from 'node:inspector';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { parentPort, workerData } from 'node:worker_threads';

/** What spew() hands the worker. */
export interface SpewWorkerData {
  /** [0]: 1 once the breakpoints are set (the main thread waits for it); [1]: 1 once unspew() was called */
  flags: Int32Array;
  /** substrings of the script paths to trace; null: every script but Node's, evy's own and node_modules' */
  names: string[] | null;
  showValues: boolean;
  /** evy's own dist directory, never traced unless named */
  evyDir: string;
  /** where to write (1: stdout) */
  fd: number;
}

interface Script {
  path: string;
  map: SourceMap | null;
  /** the traced file's lines, by path */
  lines: Map<string, string[]>;
}

interface ProtocolLocation {
  scriptId: string;
  lineNumber: number;
  columnNumber?: number;
}

const data = workerData as SpewWorkerData;
const session = new Session();
parentPort!.on('message', (m: unknown) => {
  if (m === 'stop') stop();
  else if (m === 'bye') parentPort!.close(); // the main thread has let go of the session: this thread may end
});
session.connectToMainThread();

/** Messages posted and not yet answered: the session stays connected until none is (Node 20 aborts on an answer to a closed one). */
let inFlight = 0;
let onIdle: (() => void) | null = null;

function post<T>(method: string, params?: object): Promise<T> {
  inFlight++;
  return new Promise((resolve, reject) => {
    session.post(method, params ?? {}, (err: Error | null, res?: object) => {
      if (--inFlight === 0 && onIdle !== null) onIdle();
      if (err) reject(err);
      else resolve(res as T);
    });
  });
}

const scripts = new Map<string, Script>();
let last = '';

function pathOf(url: string): string {
  return url.startsWith('file://') ? fileURLToPath(url) : url;
}

function traced(path: string): boolean {
  if (data.names !== null) return data.names.some((n) => path.includes(n));
  return !path.startsWith('node:') && !path.startsWith(data.evyDir) && !path.includes('/node_modules/') && path !== '' && !path.startsWith('evalmachine');
}

function sourceMapOf(url: string | undefined): SourceMap | null {
  if (url === undefined || !url.startsWith('data:')) return null;
  try {
    const comma = url.indexOf(',');
    const body = url.slice(comma + 1);
    const json = url.slice(0, comma).endsWith(';base64') ? Buffer.from(body, 'base64').toString('utf8') : decodeURIComponent(body);
    return new SourceMap(JSON.parse(json) as ConstructorParameters<typeof SourceMap>[0]);
  } catch {
    return null;
  }
}

/** The original file, line (1-based) and column (1-based) of a generated location. */
function original(s: Script, line: number, col: number): [string, number, number] {
  if (s.map !== null) {
    const e = s.map.findEntry(line, col) as { originalSource?: string; originalLine?: number; originalColumn?: number };
    if (e.originalSource !== undefined && e.originalLine !== undefined) {
      return [pathOf(e.originalSource), e.originalLine + 1, (e.originalColumn ?? 0) + 1];
    }
  }
  return [s.path, line + 1, col + 1];
}

function sourceLine(s: Script, path: string, line: number): string {
  let lines = s.lines.get(path);
  if (lines === undefined) {
    try {
      lines = readFileSync(path, 'utf8').split('\n');
    } catch {
      lines = [];
    }
    s.lines.set(path, lines);
  }
  return (lines[line - 1] ?? '').trimEnd();
}

async function breakEveryLine(scriptId: string, endLine: number, s: Script): Promise<void> {
  const { locations } = await post<{ locations: ProtocolLocation[] }>('Debugger.getPossibleBreakpoints', {
    start: { scriptId, lineNumber: 0, columnNumber: 0 },
    end: { scriptId, lineNumber: endLine + 1, columnNumber: 0 },
  });
  const seen = new Set<string>();
  for (const l of locations) {
    const [path, line] = original(s, l.lineNumber, l.columnNumber ?? 0);
    const key = `${path}:${line}`;
    if (seen.has(key)) continue;
    seen.add(key);
    await post('Debugger.setBreakpoint', { location: l }).catch(() => {});
  }
}

interface CallFrame {
  location: ProtocolLocation;
  scopeChain: { type: string; object: { objectId?: string } }[];
}

interface Property {
  name: string;
  value?: { type: string; value?: unknown; description?: string; unserializableValue?: string };
}

function show(v: Property['value']): string {
  if (v === undefined) return 'undefined';
  if (v.type === 'undefined') return 'undefined';
  if (v.unserializableValue !== undefined) return v.unserializableValue;
  if (v.type === 'string') return inspect(v.value);
  if (v.type === 'number' || v.type === 'boolean' || (v.type === 'object' && v.value === null)) return String(v.value);
  if (v.type === 'function') {
    const name = /^(?:async\s+)?(?:function\*?|class)\s*([\w$]*)/.exec(v.description ?? '')?.[1] ?? '';
    return `[Function${name !== '' ? `: ${name}` : ''}]`;
  }
  return v.description ?? v.type;
}

/** `name=value` for each name on the line that a local, block or module scope of the frame has, innermost first. */
async function values(frame: CallFrame, text: string): Promise<string> {
  const names = new Set(text.replace(/(['"`])(?:\\.|(?!\1).)*\1/g, '').match(/[A-Za-z_$][\w$]*/g) ?? []);
  const found = new Map<string, string>();
  for (const scope of frame.scopeChain) {
    if (!['local', 'block', 'module', 'script', 'catch'].includes(scope.type) || scope.object.objectId === undefined) continue;
    const { result } = await post<{ result: Property[] }>('Runtime.getProperties', { objectId: scope.object.objectId, ownProperties: true });
    for (const p of result) if (names.has(p.name) && !found.has(p.name)) found.set(p.name, show(p.value));
  }
  return [...names].filter((n) => found.has(n)).map((n) => `${n}=${found.get(n)!}`).join(' '); // in the line's order
}

session.on('Debugger.paused', (m) => {
  void (async () => {
    const params = m.params as { callFrames: CallFrame[]; reason: string };
    try {
      if (Atomics.load(data.flags, 1) === 1) return;
      const frame = params.callFrames[0];
      const s = frame === undefined ? undefined : scripts.get(frame.location.scriptId);
      if (s === undefined) return;
      const [path, line] = original(s, frame.location.lineNumber, frame.location.columnNumber ?? 0);
      const key = `${path}:${line}`;
      if (key === last) return;
      last = key;
      const text = sourceLine(s, path, line);
      let out = `spew: ${path}:${line}: ${text.trim()}`;
      if (data.showValues) {
        const v = await values(frame, text).catch(() => '');
        if (v !== '') out += `  [${v}]`;
      }
      writeSync(data.fd, `${out}\n`);
    } finally {
      void post('Debugger.resume').catch(() => {});
    }
  })();
});

session.on('Debugger.scriptParsed', (m) => {
  const p = m.params as { scriptId: string; url: string; endLine: number; sourceMapURL?: string };
  const path = pathOf(p.url);
  if (!traced(path)) return;
  const s: Script = { path, map: sourceMapOf(p.sourceMapURL), lines: new Map() };
  scripts.set(p.scriptId, s);
  if (started) void breakEveryLine(p.scriptId, p.endLine, s).catch(() => {});
  else pending.push([p.scriptId, p.endLine, s]);
});

let started = false;
const pending: [string, number, Script][] = [];

let stopping = false;

/** unspew(): breakpoints off, then, once every message has its answer, the session ends. */
function stop(): void {
  if (stopping) return;
  stopping = true;
  void post('Debugger.disable')
    .catch(() => {})
    .then(() => {
      // The main thread answers the disconnect by writing to this thread:
      // it must still be alive then (Node 20 aborts otherwise), so it ends
      // when the main thread says 'bye', after it has run since.
      const end = (): void => {
        session.disconnect();
        parentPort!.postMessage('disconnected');
      };
      if (inFlight === 0) end();
      else onIdle = end;
    });
}

void (async () => {
  try {
    await post('Debugger.enable');
    started = true;
    for (const [id, end, s] of pending.splice(0)) await breakEveryLine(id, end, s);
  } catch (err) {
    writeSync(2, `evy spew: the line tracer could not start: ${(err as Error).message}\n`);
  }
  Atomics.store(data.flags, 0, 1);
  Atomics.notify(data.flags, 0);
})();
