// `evy run --workers N script.ts`: a supervisor that runs N processes of the
// script (pre-fork, as gunicorn and Spawning do). The workers share each
// listening TCP socket: one socket, one accept queue. The first worker starts
// alone; when it listens on a port asked for explicitly (evy's listen() sets
// SO_REUSEPORT there, and binds as without --workers), it sends the
// supervisor a duplicate of the socket over the IPC channel (a raw libuv
// handle, which Node passes without listening on it). Every worker started
// after (the others, a restarted one, a reload's) inherits that fd, and its
// green socket adopts it in bind() instead of binding a socket of its own.
// So a stopping worker only stops accepting: what is queued stays for the
// others, and the one connection libuv had accepted ahead is served
// (GreenSocket.closeListener()), not reset. The supervisor restarts a crashed
// worker (with back-off), stops when a worker cannot start, drains them on
// SIGTERM/SIGINT and replaces them on SIGHUP, new workers listening before
// the old ones stop accepting. Each worker's output lines go out prefixed
// with `[wI] `, and the worker finds its index in EVY_WORKER.
//
// The worker side (workerSide(), in each worker before its script) tells the
// supervisor over the IPC channel when the script listens, and on SIGTERM (or
// SIGINT, or the supervisor gone) closes every listening green socket: a
// server on one (evy/web/wsgi's server(), serve()) then stops accepting,
// finishes its in-flight requests and returns, so the script ends by itself.
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { ScriptError } from './run';

/** What `evy run --workers` was asked to do. */
export interface WorkersOptions {
  /** how many workers (processes of the script) */
  workers: number;
  /** seconds a stopping worker has to finish its in-flight requests before it is killed (default 30) */
  grace?: number;
  /** Node flags for each worker (before evy's own) */
  nodeArgs?: string[];
  /** evy run's flags for each worker (`--no-patch`, `--patch LIST`, `--block-warn S`) */
  evyArgs?: string[];
}

/**
 * What a worker tells its supervisor over the IPC channel: it listens (the
 * first time: it is ready). `share`: the message carries a duplicate of the
 * listening socket (a TCP port asked for explicitly, not yet shared), for the
 * workers started after.
 */
interface WorkerMessage {
  evy: 'listening';
  address?: string;
  share?: boolean;
}

/** The env marker of a worker's IPC channel to its supervisor (removed at once: not inherited). */
const CHANNEL_ENV = 'EVY_WORKER_CHANNEL';
/** The shared listening sockets a worker inherits: `address=fd` pairs, space-separated (removed at once). */
const SOCKETS_ENV = 'EVY_WORKER_SOCKETS';
/** The first fd a worker inherits shared sockets on (0-2 stdio, 3 the IPC channel). */
const FIRST_SHARED_FD = 4;

/** A raw libuv TCP handle of Node's, as its IPC channel sends and receives one (`net.Native`). */
interface NativeTcp {
  readonly fd: number;
  open(fd: number): number;
  close(cb?: () => void): void;
}

/** Node's TCP handle class: the one kind of handle its IPC channel passes without listening on it. */
function nativeTcp(): new (type: number) => NativeTcp {
  const b = (process as unknown as { binding(name: string): { TCP: new (type: number) => NativeTcp } }).binding('tcp_wrap');
  return b.TCP;
}

/** `host:port` (`[host]:port` for IPv6), the key of a shared socket and the address in the log. */
function addressKey(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
const DEFAULT_GRACE = 30;
/** a worker that never listens counts as started once it has lived this long (ms) */
const READY_WITHOUT_LISTEN = 5000;
/** a crash within this long (ms) of being ready is a fast one: the back-off grows */
const FAST_CRASH = 5000;
/** this many fast crashes in a row of one worker: the supervisor gives up */
const MAX_FAST_CRASHES = 5;
const BACKOFF_FIRST = 100;
const BACKOFF_MAX = 10_000;

function fail(what: string): never {
  throw new ScriptError(`evy run --workers: ${what}`);
}

/** `--workers` value: a whole number ≥ 1, or `auto` (one per core). */
export function parseWorkers(v: string | undefined): number {
  if (v === 'auto') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const os = require('node:os') as typeof import('node:os');
    return os.availableParallelism();
  }
  if (v === undefined || !/^\d+$/.test(v) || Number(v) < 1) fail(`expected a whole number ≥ 1 or 'auto', got ${v === undefined ? 'nothing' : `'${v}'`}`);
  return Number(v);
}

function parseGrace(v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || v === '' || !Number.isFinite(n) || n < 0) fail(`--grace: expected a number of seconds ≥ 0, got ${v === undefined ? 'nothing' : `'${v}'`}`);
  return n;
}

/** What follows `evy run` when --workers comes before the script. */
export interface WorkersCommand extends WorkersOptions {
  script: string;
  args: string[];
}

/**
 * Reads `evy run`'s arguments (`argv.slice(3)`): null when no `--workers`
 * comes before the script (a plain run; a `--workers` after the script is the
 * script's). `nodeFlagsWithValue` are the Node flags whose value is the next
 * argument (main.ts's list). Help goes to commander: null too.
 * @throws {ScriptError} a bad --workers or --grace value, a missing script, --backdoor.
 */
export function parseWorkersCommand(rest: string[], nodeFlagsWithValue: ReadonlySet<string>): WorkersCommand | null {
  let workers: string | undefined;
  let seen = false;
  let grace: number | undefined;
  const nodeArgs: string[] = [];
  const evyArgs: string[] = [];
  let i = 0;
  const value = (a: string, name: string): string | undefined => (a.startsWith(`${name}=`) ? a.slice(name.length + 1) : rest[++i]);
  for (; i < rest.length && rest[i].startsWith('-'); i++) {
    const a = rest[i];
    if (a === '--help' || a === '-h') return null;
    if (a === '--') {
      i++;
      break;
    }
    if (a === '--workers' || a.startsWith('--workers=')) {
      seen = true;
      workers = value(a, '--workers');
    } else if (a === '--grace' || a.startsWith('--grace=')) grace = parseGrace(value(a, '--grace'));
    else if (/^--backdoor(-allow-remote)?(=|$)/.test(a)) fail('--backdoor listens in one process: it does not go with --workers');
    else if (a === '--no-patch') evyArgs.push(a);
    else if (a === '--patch' || a === '--block-warn') evyArgs.push(a, rest[++i] ?? '');
    else if (a.startsWith('--patch=') || a.startsWith('--block-warn=')) evyArgs.push(a);
    else {
      nodeArgs.push(a);
      if (nodeFlagsWithValue.has(a) && i + 1 < rest.length) nodeArgs.push(rest[++i]);
    }
  }
  if (!seen) return null;
  const n = parseWorkers(workers);
  if (i >= rest.length) fail('no script to run');
  return { workers: n, grace, nodeArgs, evyArgs, script: rest[i], args: rest.slice(i + 1) };
}

/** One process of the script. */
interface Worker {
  index: number;
  child: ChildProcess;
  pid: number;
  ready: boolean;
  /** when it became ready (performance.now()) */
  readyAt: number;
  /** listening on (the first address it listened on), for the log */
  address: string | null;
  /** the shared sockets it inherited or listens on, by address */
  sockets: Set<string>;
  /** SIGTERM sent: it is finishing its in-flight requests */
  draining: boolean;
  exited: boolean;
  timers: NodeJS.Timeout[];
}

/**
 * Runs the supervisor: N workers of `script`, until SIGTERM/SIGINT (a
 * graceful stop), every worker ending by itself, or a worker that cannot start.
 * Resolves with the exit code: 0 after a stop, 1 when it gave up.
 * @throws {ScriptError} a bad option (no script file, workers < 1).
 * @example await runWorkers('app.ts', ['8080'], { workers: 2 });
 */
export function runWorkers(script: string, args: string[], opts: WorkersOptions): Promise<number> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createInterface } = require('node:readline') as typeof import('node:readline');
  if (!Number.isInteger(opts.workers) || opts.workers < 1) fail(`expected a whole number ≥ 1, got ${opts.workers}`);
  const n = opts.workers;
  const grace = opts.grace ?? DEFAULT_GRACE;
  const bin = path.join(__dirname, '..', '..', 'bin', 'evy');
  const command = [...(opts.nodeArgs ?? []), bin, 'run', ...(opts.evyArgs ?? []), script, ...args];
  const log = (line: string): void => {
    process.stderr.write(`evy workers: ${line}\n`);
  };
  const name = (w: Worker): string => `w${w.index} (pid ${w.pid})`;

  /** the serving workers, by index - 1 */
  const slots: (Worker | null)[] = new Array<Worker | null>(n).fill(null);
  /** a reload's new workers, by index - 1, until all are ready */
  let pending: (Worker | null)[] | null = null;
  /** old workers finishing their requests */
  const old = new Set<Worker>();
  const fastCrashes = new Array<number>(n).fill(0);
  const restarts: (NodeJS.Timeout | null)[] = new Array<NodeJS.Timeout | null>(n).fill(null);
  /** set once a worker listened: from then on a worker is ready when it listens, not by living long */
  let listens = false;
  let started = false;
  /** the first worker starts alone, the others once it is ready: they inherit the sockets it shared */
  let restStarted = n === 1;
  let stopping = false;
  let exitCode = 0;
  let done!: (code: number) => void;
  const finished = new Promise<number>((resolve) => {
    done = resolve;
  });

  /**
   * The listening sockets the workers share, by address: the first worker to
   * listen on a TCP port sends the supervisor a duplicate, the workers started
   * after inherit it. One socket, one accept queue: a stopping worker leaves
   * what is queued to the others.
   */
  const shared = new Map<string, NativeTcp>();
  /** EVY_WORKERS_REUSEPORT=1 (for bench/workers.sh): no sharing, each worker binds its own SO_REUSEPORT socket as before */
  const ownSockets = process.env.EVY_WORKERS_REUSEPORT === '1';

  const all = (): Worker[] => [...slots, ...(pending ?? []), ...old].filter((w): w is Worker => w !== null && !w.exited);

  function pipeLines(from: NodeJS.ReadableStream, to: NodeJS.WritableStream, prefix: string): void {
    const rl = createInterface({ input: from, crlfDelay: Infinity });
    rl.on('line', (line) => to.write(`${prefix}${line}\n`));
  }

  function start(index: number): Worker {
    const fds = [...shared.values()].map((h) => h.fd);
    const sockets = [...shared.keys()].map((a, i) => `${a}=${FIRST_SHARED_FD + i}`).join(' ');
    const child = spawn(process.execPath, command, {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc', ...fds],
      env: { ...process.env, EVY_WORKER: String(index), EVY_WORKERS: String(n), [CHANNEL_ENV]: '1', [SOCKETS_ENV]: sockets },
    });
    const w: Worker = { index, child, pid: child.pid ?? -1, ready: false, readyAt: 0, address: null, sockets: new Set(shared.keys()), draining: false, exited: false, timers: [] };
    pipeLines(child.stdout!, process.stdout, `[w${index}] `);
    pipeLines(child.stderr!, process.stderr, `[w${index}] `);
    child.on('message', (m: WorkerMessage, handle?: NativeTcp) => {
      if (m?.evy !== 'listening') return;
      if (handle !== undefined) {
        if (m.share === true && m.address !== undefined && !shared.has(m.address) && !stopping && !ownSockets) shared.set(m.address, handle);
        else handle.close();
      }
      if (m.address !== undefined && shared.has(m.address)) w.sockets.add(m.address);
      if (w.address !== null) return;
      w.address = m.address ?? '';
      listens = true;
      becameReady(w);
    });
    child.on('error', (err) => {
      log(`w${index}: could not start ${process.execPath}: ${err.message}`);
      if (child.pid === undefined && !w.exited) exited(w, 1, null); // no process: no 'exit' either
    });
    child.on('exit', (code, signal) => exited(w, code, signal));
    const t = setTimeout(() => {
      if (!listens) becameReady(w);
    }, READY_WITHOUT_LISTEN);
    w.timers.push(t);
    return w;
  }

  function becameReady(w: Worker): void {
    if (w.ready || w.exited) return;
    w.ready = true;
    w.readyAt = performance.now();
    log(`${name(w)} ready${w.address ? `, listening on ${w.address}` : ''}`);
    if (pending !== null) {
      if (pending.every((p) => p?.ready)) finishReload();
    } else if (!restStarted) {
      startRest();
    } else if (!started && slots.every((s) => s?.ready)) {
      started = true;
      log(`all ${n} ready`);
    }
  }

  /** The first worker is up (or ended cleanly), its listening sockets shared: the others start, inheriting them. */
  function startRest(): void {
    restStarted = true;
    for (let i = 1; i < n; i++) if (slots[i] === null && !stopping) slots[i] = start(i + 1);
  }

  function drain(w: Worker): void {
    if (w.draining || w.exited) return;
    w.draining = true;
    w.child.kill('SIGTERM');
    const t = setTimeout(() => {
      log(`${name(w)} still running after the ${grace} s grace period: killed`);
      w.child.kill('SIGKILL');
    }, grace * 1000);
    w.timers.push(t);
  }

  function giveUp(why: string): void {
    log(`${why}; stopping`);
    exitCode = 1;
    stop();
  }

  function exited(w: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    w.exited = true;
    for (const t of w.timers) clearTimeout(t);
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
    const i = w.index - 1;
    if (old.delete(w) || stopping || w.draining) {
      log(`${name(w)} ${signal === null && code === 0 ? 'stopped' : how}`);
    } else if (pending !== null && pending[i] === w) {
      // A reload's new worker died: the old workers serve on.
      log(`${name(w)} ${how}${w.ready ? '' : ' before it was ready'}: the reload is abandoned, the running workers stay`);
      const failed = pending;
      pending = null;
      for (const p of failed) {
        if (p === null || p === w) continue;
        old.add(p);
        drain(p);
      }
    } else if (slots[i] === w) {
      slots[i] = null;
      const clean = signal === null && code === 0;
      if (!w.ready && !clean) return giveUp(`${name(w)} ${how} before it was ready: it cannot start (its output is above, prefixed [w${w.index}])`);
      if (clean) {
        log(`${name(w)} ended (code 0): not restarted`);
        if (!restStarted) startRest();
      }
      else {
        fastCrashes[i] = performance.now() - w.readyAt < FAST_CRASH ? fastCrashes[i] + 1 : 1;
        if (fastCrashes[i] >= MAX_FAST_CRASHES) return giveUp(`w${w.index} crashed ${fastCrashes[i]} times in a row, each within ${FAST_CRASH / 1000} s of starting`);
        const delay = Math.min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (fastCrashes[i] - 1));
        log(`${name(w)} ${how}: restarting in ${delay / 1000} s`);
        restarts[i] = setTimeout(() => {
          restarts[i] = null;
          if (!stopping) slots[i] = start(w.index);
        }, delay);
      }
    }
    if (!restarts.some((t) => t !== null)) {
      // A port no worker has any more (a reload's script listens elsewhere) is closed: refused, not queued.
      const live = all();
      for (const [address, h] of shared) {
        if (live.some((l) => l.sockets.has(address))) continue;
        h.close();
        shared.delete(address);
      }
    }
    if (all().length === 0 && !restarts.some((t) => t !== null)) {
      if (!stopping) log('every worker ended');
      else log('stopped');
      finish();
    }
  }

  function reload(): void {
    if (stopping) return;
    if (pending !== null) return log('SIGHUP: a reload is already under way');
    log(`SIGHUP: starting ${n} new workers; the old ones stop once these are ready`);
    pending = Array.from({ length: n }, (_, i) => start(i + 1));
  }

  function finishReload(): void {
    const fresh = pending!;
    pending = null;
    for (let i = 0; i < n; i++) {
      const w = slots[i];
      if (w !== null) {
        old.add(w);
        drain(w);
      }
      if (restarts[i] !== null) {
        clearTimeout(restarts[i]!);
        restarts[i] = null;
      }
      slots[i] = fresh[i];
      fastCrashes[i] = 0;
    }
    started = true;
    log(`reloaded: ${n} new workers ready, the old ones finishing their requests`);
  }

  function stop(signal?: NodeJS.Signals): void {
    if (signal === 'SIGINT' && stopping) {
      // Ctrl-C twice: no more waiting.
      log('SIGINT again: killing the workers now');
      for (const w of all()) w.child.kill('SIGKILL');
      return;
    }
    if (stopping) return;
    stopping = true;
    if (signal !== undefined) log(`${signal}: stopping; the workers finish their requests (grace ${grace} s)`);
    for (let i = 0; i < n; i++) {
      if (restarts[i] !== null) {
        clearTimeout(restarts[i]!);
        restarts[i] = null;
      }
    }
    // The workers close theirs as they stop: the port then closes with the last of them.
    for (const h of shared.values()) h.close();
    shared.clear();
    const left = all();
    for (const w of left) drain(w);
    if (left.length === 0) {
      log('stopped');
      finish();
    }
  }

  const onStop = (sig: NodeJS.Signals): void => stop(sig);
  const onHup = (): void => reload();
  function finish(): void {
    removeSignals();
    for (const h of shared.values()) h.close();
    shared.clear();
    done(exitCode);
  }
  function removeSignals(): void {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
  }
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  log(`starting ${n} worker${n === 1 ? '' : 's'} of ${script} (supervisor pid ${process.pid})`);
  slots[0] = start(1);
  return finished;
}

/**
 * In a worker, before its script: reports each listening green socket to the
 * supervisor and, on SIGTERM or SIGINT or when the supervisor is gone, closes
 * them all (a graceful drain: servers stop accepting and finish what they
 * have). Does nothing outside a supervised worker.
 */
export function workerSide(): void {
  if (process.env[CHANNEL_ENV] === undefined || typeof process.send !== 'function') return;
  delete process.env[CHANNEL_ENV]; // the script's own children are no workers
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { GreenSocket, SOCK_STREAM, AF_INET, AF_INET6 } = require('../io/socket') as typeof import('../io/socket');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { binding } = require('../hub/binding') as typeof import('../hub/binding');
  type Sock = InstanceType<typeof GreenSocket>;
  const listening = new Set<Sock>();
  /** the supervisor's shared sockets this worker inherited: address -> fd */
  const inherited = new Map<string, number>();
  for (const pair of (process.env[SOCKETS_ENV] ?? '').split(' ')) {
    const at = pair.lastIndexOf('=');
    if (at > 0) inherited.set(pair.slice(0, at), Number(pair.slice(at + 1)));
  }
  delete process.env[SOCKETS_ENV];
  /** TCP sockets bound to a port asked for explicitly (not 0): the address to share; adopted ones are already shared */
  const shareable = new WeakMap<Sock, string>();
  const adopted = new WeakSet<Sock>();
  const tell = (m: WorkerMessage): void => {
    if (process.connected) process.send!(m);
  };
  let draining = false;
  const proto = GreenSocket.prototype;
  const bind = proto.bind;
  proto.bind = function (this: Sock, addr: Parameters<Sock['bind']>[0], opts?: Parameters<Sock['bind']>[1]): void {
    if (typeof addr !== 'string' && this.type === SOCK_STREAM && (this.family === AF_INET || this.family === AF_INET6) && !this.closed && addr[1] !== 0) {
      const host = addr[0] === '' ? (this.family === AF_INET6 ? '::' : '0.0.0.0') : addr[0];
      const key = addressKey(host, addr[1]);
      const fd = inherited.get(key);
      if (fd !== undefined) {
        // The supervisor's socket, already bound and listening: this one becomes it, listen() joins its queue.
        binding.dupFd(fd, this.fileno());
        adopted.add(this);
        return;
      }
      bind.call(this, addr, opts);
      shareable.set(this, key);
      return;
    }
    bind.call(this, addr, opts);
  };
  const listen = proto.listen;
  proto.listen = function (this: Sock, backlog?: number): void {
    listen.call(this, backlog);
    if (draining) return void this.close();
    for (const s of listening) if (s.closed) listening.delete(s);
    listening.add(this);
    let address = '';
    try {
      const a = this.getsockname();
      address = typeof a === 'string' ? a : addressKey(a[0], a[1]);
    } catch {
      // unnamed: the supervisor logs no address
    }
    const key = shareable.get(this);
    if (key === undefined || adopted.has(this) || !process.connected) return tell({ evy: 'listening', address });
    // A port of its own: a duplicate goes to the supervisor, for the workers started after.
    const h = new (nativeTcp())(0);
    h.open(binding.dupFd(this.fileno(), -1));
    process.send!({ evy: 'listening', address: key, share: true } satisfies WorkerMessage, h as never, () => h.close());
  };
  const signals = ['SIGTERM', 'SIGINT'] as const;
  const onSignal = (sig: NodeJS.Signals): void => drain(sig);
  const onDisconnect = (): void => drain('SIGTERM');
  function drain(sig: NodeJS.Signals): void {
    if (draining) return;
    draining = true;
    for (const s of listening) if (s.closed) listening.delete(s);
    if (listening.size === 0 && process.listenerCount(sig) === 1) {
      // Nothing to drain and no handler of the script's: the signal does what it does without evy.
      for (const s of signals) process.off(s, onSignal);
      process.off('disconnect', onDisconnect);
      process.kill(process.pid, sig);
      return;
    }
    // A shared socket stays open in the supervisor and the other workers: what
    // is queued is theirs; the connection libuv took ahead is served here.
    for (const s of listening) s.closeListener();
    listening.clear();
  }
  for (const s of signals) process.on(s, onSignal);
  process.on('disconnect', onDisconnect);
  // The channel must not keep a finished script alive.
  (process.channel as { unref?(): void } | undefined)?.unref?.();
}

/**
 * main.ts's hook for `evy run`: in a worker, workerSide() and false (the run
 * goes on); with --workers before the script, the supervisor and true.
 * `nodeFlagsWithValue`: the Node flags that take the next argument.
 */
export function workersMain(argv: string[], nodeFlagsWithValue: ReadonlySet<string>): boolean {
  if (process.env[CHANNEL_ENV] !== undefined) {
    workerSide();
    return false;
  }
  let cmd: WorkersCommand | null;
  try {
    cmd = parseWorkersCommand(argv.slice(3), nodeFlagsWithValue);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
    return true;
  }
  if (cmd === null) return false;
  const abs = path.resolve(cmd.script);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { existsSync } = require('node:fs') as typeof import('node:fs');
  if (!existsSync(abs)) {
    process.stderr.write(`evy run: no such script: ${cmd.script}\n`);
    process.exitCode = 1;
    return true;
  }
  runWorkers(abs, cmd.args, cmd).then((code) => {
    process.exitCode = code;
  });
  return true;
}
