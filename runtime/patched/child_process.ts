// evy/patched/child_process: node:child_process (unchanged), plus a green,
// Python-subprocess-like API: popen() and its Popen object, checkOutput(),
// call(). Every wait is an evy operation: a Timeout or a kill of the waiting
// green thread interrupts it, and then kills the child and reaps it (no child
// outlives the thread that was waiting for it, no zombie is left).
//
// The blocking calls (execSync, execFileSync, spawnSync) are stock; with
// EVY_WARN_BLOCKING=1 each call first prints where it was made from, since it
// freezes every green thread until the child exits.
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { wait } from '../green/greenthread';
import { binding } from '../hub/binding';
import { getHub } from '../hub/hub';
import { Timeout } from '../sync/timeout';
import { checkTimeout } from '../sync/waitlist';
import { dropIn } from './dropin';

export * from 'node:child_process';

const hub = getHub();

/** How one of the child's standard streams is connected. */
export type StdioMode = 'pipe' | 'ignore' | 'inherit';

export interface PopenOptions {
  /** the child's working directory */
  cwd?: string;
  /** the child's environment (default: this process's) */
  env?: NodeJS.ProcessEnv;
  /** default 'inherit', as in Python */
  stdin?: StdioMode;
  /** default 'inherit', as in Python */
  stdout?: StdioMode;
  /** default 'inherit'; 'stdout': into the same pipe or file as stdout (Python's STDOUT) */
  stderr?: StdioMode | 'stdout';
}

export interface RunOptions extends PopenOptions {
  /** written to the child's stdin (which becomes a pipe), then stdin is closed */
  input?: string | Buffer;
  /** seconds: past them the child is killed and reaped, and TimeoutExpired is thrown */
  timeout?: number | null;
}

/** The command line, for messages: arguments with spaces are quoted. */
function showCmd(cmd: readonly string[]): string {
  return cmd.map((a) => (a === '' || /[\s'"\\$]/.test(a) ? JSON.stringify(a) : a)).join(' ');
}

/** Python's subprocess.TimeoutExpired: a wait ran out of time (the child is still running). */
export class TimeoutExpired extends Error {
  /** the output read so far (communicate), or null */
  output: Buffer | null = null;
  /** the standard error read so far (communicate), or null */
  stderr: Buffer | null = null;

  constructor(
    readonly cmd: readonly string[],
    readonly timeout: number,
  ) {
    super(`Command '${showCmd(cmd)}' timed out after ${timeout} second${timeout === 1 ? '' : 's'}`);
    this.name = 'TimeoutExpired';
  }

  /** Python's alias of output. */
  get stdout(): Buffer | null {
    return this.output;
  }
}

/** Python's subprocess.CalledProcessError: the child exited with a non-zero status. */
export class CalledProcessError extends Error {
  constructor(
    /** the exit code, or -N when signal N killed the child */
    readonly returncode: number,
    readonly cmd: readonly string[],
    /** its standard output, when it was captured */
    readonly output: Buffer | null = null,
    /** its standard error, when it was captured */
    readonly stderr: Buffer | null = null,
  ) {
    super(
      returncode < 0
        ? `Command '${showCmd(cmd)}' died with signal ${signalName(-returncode)} (${-returncode})`
        : `Command '${showCmd(cmd)}' returned non-zero exit status ${returncode}`,
    );
    this.name = 'CalledProcessError';
  }

  /** Python's alias of output. */
  get stdout(): Buffer | null {
    return this.output;
  }
}

function signalName(n: number): string {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name;
  return String(n);
}

function signalNumber(sig: NodeJS.Signals): number {
  const n = (osConstants.signals as Record<string, number | undefined>)[sig];
  if (n === undefined) throw new RangeError(`unknown signal ${sig}`);
  return n;
}

function checkMode(mode: unknown, what: string, allowStdout: boolean): StdioMode | 'stdout' {
  if (mode === undefined) return 'inherit';
  if (mode === 'pipe' || mode === 'ignore' || mode === 'inherit' || (allowStdout && mode === 'stdout')) return mode;
  const allowed = `'pipe', 'ignore', 'inherit'${allowStdout ? " or 'stdout'" : ''}`;
  throw new TypeError(`popen: ${what} must be ${allowed}, got ${JSON.stringify(mode)}`);
}

/** Collects what a stream gives until it closes. */
class Collector {
  readonly chunks: Buffer[] = [];
  error: unknown = null;
  readonly done: Promise<void>;

  constructor(stream: Readable) {
    this.done = new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer | string) => {
        this.chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      });
      stream.once('error', (err: unknown) => {
        this.error = err;
        resolve();
      });
      stream.once('close', () => resolve());
    });
  }

  take(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/**
 * A child process, Python's subprocess.Popen. Made by popen(), once the child
 * is running.
 */
export class Popen {
  /** command and arguments, as given */
  readonly args: readonly string[];
  readonly pid: number;
  /** null while the child runs; its exit code; or -N when signal N ended it (as in Python) */
  returncode: number | null = null;
  /** the child's stdin, when it is a pipe */
  readonly stdin: Writable | null;
  /** the child's stdout (and stderr, with stderr: 'stdout'), when it is a pipe */
  readonly stdout: Readable | null;
  /** the child's stderr, when it is a pipe of its own */
  readonly stderr: Readable | null;
  /** @internal the Node child process */
  readonly child: cp.ChildProcess;
  /** Resolves with the returncode once the child exited and was reaped. */
  private readonly exited: Promise<number>;
  private out: Collector | null = null;
  private err: Collector | null = null;
  private communicating = false;

  /** @internal use popen() */
  constructor(args: readonly string[], child: cp.ChildProcess, stdout: Readable | null) {
    this.args = args;
    this.child = child;
    this.pid = child.pid!;
    this.stdin = child.stdin;
    this.stdout = stdout;
    this.stderr = child.stderr;
    // A later 'error' (a failed kill) must not crash the process: kill() reports it.
    child.on('error', () => {});
    this.exited = new Promise<number>((resolve) => {
      child.once('exit', (code, signal) => {
        this.returncode = signal !== null ? -signalNumber(signal) : (code ?? 0);
        resolve(this.returncode);
      });
    });
  }

  /** The returncode if the child has exited, else null. Never waits. */
  poll(): number | null {
    return this.returncode;
  }

  /**
   * Waits for the child to exit; resolves its returncode. After `timeout`
   * seconds throws TimeoutExpired and leaves the child running (Python's
   * Popen.wait). A Timeout or kill of the waiting green thread kills the child
   * (SIGKILL) and reaps it before the error goes on.
   */
  wait(timeout?: number | null): Promise<number> {
    const secs = checkTimeout(timeout, 'Popen.wait');
    if (this.returncode !== null) return hub.check() ?? Promise.resolve(this.returncode);
    return this.guard(this.exited, secs, null);
  }

  /**
   * Sends `input` to stdin (then closes it) while reading stdout and stderr to
   * their end, without deadlock however much either side writes; then waits
   * for the child. Resolves `[stdout, stderr]` — null for a stream that is not
   * a pipe. After `timeout` seconds throws TimeoutExpired (with what was read
   * so far) and leaves the child running: call communicate() again to go on.
   * A Timeout or kill of the waiting green thread kills and reaps the child.
   */
  async communicate(input?: string | Buffer | null, timeout?: number | null): Promise<[Buffer | null, Buffer | null]> {
    const secs = checkTimeout(timeout, 'Popen.communicate');
    if (input !== undefined && input !== null && typeof input !== 'string' && !Buffer.isBuffer(input)) {
      throw new TypeError('Popen.communicate: input must be a string, a Buffer or null');
    }
    if (!this.communicating) {
      this.communicating = true;
      if (this.stdout !== null) this.out = new Collector(this.stdout);
      if (this.stderr !== null) this.err = new Collector(this.stderr);
      const stdin = this.stdin;
      if (stdin !== null) {
        // A child that exits without reading its input is no error (Python ignores EPIPE too).
        stdin.on('error', () => {});
        if (input !== undefined && input !== null) stdin.end(input);
        else stdin.end();
      } else if (input !== undefined && input !== null && input.length > 0) {
        throw new Error("Popen.communicate: input was given but the child's stdin is not a pipe (use stdin: 'pipe')");
      }
    }
    const done = Promise.all([this.exited, this.out?.done, this.err?.done]);
    await this.guard(done, secs, (e) => {
      e.output = this.out?.take() ?? null;
      e.stderr = this.err?.take() ?? null;
    });
    for (const c of [this.out, this.err]) if (c !== null && c.error !== null) throw c.error;
    return [this.out?.take() ?? null, this.err?.take() ?? null];
  }

  /** Sends `signal` (a name or number; default SIGTERM) unless the child has exited. */
  sendSignal(signal: NodeJS.Signals | number = 'SIGTERM'): void {
    if (this.returncode !== null || this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      process.kill(this.pid, signal);
    } catch (err) {
      // It exited but its exit was not reported yet.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  /** SIGTERM. */
  terminate(): void {
    this.sendSignal('SIGTERM');
  }

  /** SIGKILL by default, as in Python. */
  kill(signal: NodeJS.Signals | number = 'SIGKILL'): void {
    this.sendSignal(signal);
  }

  /** @internal kills the child and waits (uninterruptibly) until it is reaped */
  async killAndReap(): Promise<void> {
    this.kill('SIGKILL');
    await this.exited;
  }

  /** Awaits `p` as an evy operation, with Python's timeout and evy's kill-on-interrupt rules. */
  private async guard<T>(p: Promise<T>, secs: number | null, fill: ((e: TimeoutExpired) => void) | null): Promise<T> {
    const expired = secs === null ? null : new TimeoutExpired(this.args, secs);
    const t = secs === null ? null : new Timeout(secs, expired);
    try {
      return await wait(p);
    } catch (err) {
      if (expired !== null && err === expired) {
        if (fill !== null) fill(expired);
        throw err;
      }
      // Interrupted: the child must not outlive the wait.
      await this.killAndReap();
      for (const s of [this.stdin, this.stdout, this.stderr]) s?.destroy();
      throw err;
    } finally {
      t?.cancel();
    }
  }
}

/**
 * Starts `command` with `args` (no shell) and resolves a Popen once it runs.
 * A missing executable rejects with Node's ENOENT error (code, syscall
 * 'spawn <command>', path). Standard streams default to 'inherit'.
 */
export async function popen(command: string, args: readonly string[] = [], opts: PopenOptions = {}): Promise<Popen> {
  if (typeof command !== 'string' || command.length === 0) {
    throw new TypeError(`popen: command must be a non-empty string, got ${JSON.stringify(command)}`);
  }
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) throw new TypeError('popen: args must be an array of strings');
  const stdin = checkMode(opts.stdin, 'stdin', false) as StdioMode;
  const stdout = checkMode(opts.stdout, 'stdout', false) as StdioMode;
  const stderr = checkMode(opts.stderr, 'stderr', true);
  const pending = hub.check();
  if (pending !== null) await pending;

  // stderr into stdout: both get the write end of one pipe (or stdout's own fd).
  let merged: [number, number] | null = null;
  let stdio: cp.StdioOptions;
  if (stderr === 'stdout') {
    if (stdout === 'pipe') {
      merged = binding.pipe();
      stdio = [stdin, merged[1], merged[1]];
    } else {
      stdio = [stdin, stdout, stdout === 'inherit' ? 1 : 'ignore'];
    }
  } else {
    stdio = [stdin, stdout, stderr];
  }

  let child: cp.ChildProcess;
  try {
    child = cp.spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio });
  } catch (err) {
    if (merged !== null) for (const fd of merged) fs.closeSync(fd);
    throw err;
  }
  let mergedOut: Readable | null = null;
  if (merged !== null) {
    fs.closeSync(merged[1]); // the child has its copies
    if (child.pid === undefined) fs.closeSync(merged[0]);
    else mergedOut = new net.Socket({ fd: merged[0], readable: true, writable: false });
  }

  let onSpawn!: () => void;
  let onError!: (err: Error) => void;
  const started = new Promise<void>((resolve, reject) => {
    onSpawn = resolve;
    onError = reject;
    child.once('spawn', onSpawn);
    child.once('error', onError);
  });
  // The 'spawn' or 'error' event comes on the next tick: this wait is short.
  const proc = child.pid === undefined ? null : new Popen([command, ...args], child, mergedOut ?? child.stdout);
  try {
    await wait(started);
  } catch (err) {
    if (proc !== null) {
      await proc.killAndReap();
      for (const s of [proc.stdin, proc.stdout, proc.stderr]) s?.destroy();
    }
    throw err;
  } finally {
    child.removeListener('spawn', onSpawn);
    child.removeListener('error', onError);
  }
  return proc!;
}

async function runChild(
  what: string,
  cmd: string,
  args: readonly string[],
  opts: RunOptions,
  capture: boolean,
): Promise<[Popen, Buffer | null, Buffer | null]> {
  const { input, timeout, ...popts } = opts;
  const secs = checkTimeout(timeout, what);
  const hasInput = input !== undefined && input !== null;
  if (hasInput && popts.stdin !== undefined && popts.stdin !== 'pipe') {
    throw new TypeError(`${what}: input and stdin: '${popts.stdin}' do not go together`);
  }
  const p = await popen(cmd, args, { ...popts, stdin: hasInput ? 'pipe' : popts.stdin, stdout: capture ? 'pipe' : popts.stdout });
  try {
    const [out, err] = await p.communicate(hasInput ? input : null, secs);
    return [p, out, err];
  } catch (e) {
    // Python's run(): on its timeout the child is killed and reaped too.
    if (e instanceof TimeoutExpired) await p.killAndReap();
    throw e;
  }
}

/**
 * Runs the command and resolves its stdout; rejects with CalledProcessError
 * (returncode, output, stderr) when it exits non-zero. Python's check_output.
 */
export async function checkOutput(cmd: string, args: readonly string[] = [], opts: RunOptions = {}): Promise<Buffer> {
  const [p, out, err] = await runChild('checkOutput', cmd, args, opts, true);
  if (p.returncode !== 0) throw new CalledProcessError(p.returncode!, p.args, out, err);
  return out!;
}

/** Runs the command and resolves its returncode. Python's subprocess.call. */
export async function call(cmd: string, args: readonly string[] = [], opts: RunOptions = {}): Promise<number> {
  const [p] = await runChild('call', cmd, args, opts, false);
  return p.returncode!;
}

// ---- the blocking calls ------------------------------------------------------

const stock = {
  execSync: cp.execSync,
  execFileSync: cp.execFileSync,
  spawnSync: cp.spawnSync,
};

/** evy's own compiled files: frames there are not the caller. */
const evyRoot = path.dirname(__dirname) + path.sep;

/** `<file>:<line>:<col>` of the first caller frame outside evy and Node's internals. */
function callerLocation(skip: (...args: never[]) => unknown): string {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 30;
  Error.captureStackTrace(holder, skip);
  Error.stackTraceLimit = limit;
  for (const line of (holder.stack ?? '').split('\n').slice(1)) {
    const m = /\(?((?:file:\/\/)?[^\s()]+?):(\d+):(\d+)\)?\s*$/.exec(line.trim());
    if (m === null) continue;
    let file = m[1];
    if (file.startsWith('file://')) file = fileURLToPath(file);
    if (file.startsWith('node:') || file.startsWith(evyRoot)) continue;
    return `${file}:${m[2]}:${m[3]}`;
  }
  return '<unknown>';
}

function warnBlocking(name: string, skip: (...args: never[]) => unknown): void {
  if (process.env.EVY_WARN_BLOCKING !== '1') return;
  process.stderr.write(`evy: blocking call ${name}() at ${callerLocation(skip)} freezes every green thread\n`);
}

/** Stock execSync; with EVY_WARN_BLOCKING=1 it first prints where it was called from. */
export const execSync: typeof cp.execSync = function execSync(this: unknown, ...args: unknown[]) {
  warnBlocking('execSync', execSync);
  return (stock.execSync as (...a: unknown[]) => unknown).apply(this, args);
} as typeof cp.execSync;

/** Stock execFileSync; with EVY_WARN_BLOCKING=1 it first prints where it was called from. */
export const execFileSync: typeof cp.execFileSync = function execFileSync(this: unknown, ...args: unknown[]) {
  warnBlocking('execFileSync', execFileSync);
  return (stock.execFileSync as (...a: unknown[]) => unknown).apply(this, args);
} as typeof cp.execFileSync;

/** Stock spawnSync; with EVY_WARN_BLOCKING=1 it first prints where it was called from. */
export const spawnSync: typeof cp.spawnSync = function spawnSync(this: unknown, ...args: unknown[]) {
  warnBlocking('spawnSync', spawnSync);
  return (stock.spawnSync as (...a: unknown[]) => unknown).apply(this, args);
} as typeof cp.spawnSync;

/**
 * Monkey-patching hook: on the `node:child_process` module object, replaces
 * execSync, execFileSync and spawnSync with the warning wrappers and adds
 * popen, checkOutput and call. Idempotent.
 */
export function __evyPatch(builtin: object): void {
  Object.assign(builtin, { execSync, execFileSync, spawnSync, popen, checkOutput, call, Popen, CalledProcessError, TimeoutExpired });
}

// A drop-in superset of node:child_process: every stock name, read and written through to the builtin (see ./dropin).
module.exports = dropIn('child_process', module.exports as object);
