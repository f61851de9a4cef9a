// node:child_process scenarios: exec / execFile / spawn / fork and their sync
// forms; stdio options, exit codes, signals, 'exit' vs 'close', ENOENT,
// timeouts, maxBuffer, AbortSignal. Every child is reaped before a scenario ends.
import * as cp from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Scenario, Trace } from './lib/trace';
import { collect, deferred, thrown } from './lib/util';

const NODE = process.execPath;

interface ExecResult {
  err: unknown;
  stdout: unknown;
  stderr: unknown;
}

function execP(cmd: string, opts: cp.ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    cp.exec(cmd, opts, (err, stdout, stderr) => resolve({ err, stdout, stderr }));
  });
}

function execFileP(file: string, args: string[], opts: cp.ExecFileOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    cp.execFile(file, args, opts, (err, stdout, stderr) => resolve({ err, stdout, stderr }));
  });
}

/** The deterministic fields of an exec error. */
function execError(t: Trace, label: string, err: unknown): void {
  if (err === null) {
    t.log(label, null);
    return;
  }
  const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null; cmd?: string };
  t.error(label, e);
  t.log(`${label} fields`, { code: e.code ?? null, killed: e.killed ?? null, signal: e.signal ?? null, cmd: typeof e.cmd === 'string' ? e.cmd.replace(NODE, '<node>') : null });
}

/** The events of a spawned child, in order, until 'close'. */
function lifecycle(child: cp.ChildProcess): Promise<unknown[]> {
  const events: unknown[] = [];
  const done = deferred<unknown[]>();
  child.on('spawn', () => events.push('spawn'));
  child.on('error', (e: NodeJS.ErrnoException) => events.push(['error', e.code ?? e.message]));
  child.on('exit', (code, signal) => events.push(['exit', code, signal]));
  child.on('close', (code, signal) => {
    events.push(['close', code, signal]);
    done.resolve(events);
  });
  return done.promise;
}

let scratch: string | null = null;
/** A temp dir for this process's fork scripts, removed at exit. */
function scratchDir(): string {
  if (!scratch) {
    scratch = mkdtempSync(path.join(tmpdir(), 'evy-compat-cp-'));
    const dir = scratch;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return scratch;
}

export const scenarios: Scenario[] = [
  {
    name: 'exec: stdout and stderr of a shell command',
    async run(t) {
      const r = await execP('echo hello; echo oops 1>&2');
      t.log('result', r);
    },
  },
  {
    name: 'exec: a non-zero exit code is an error with code',
    async run(t) {
      const r = await execP('echo partial; exit 3');
      execError(t, 'err', r.err);
      t.log('stdout', r.stdout);
    },
  },
  {
    name: 'exec: an unknown command exits 127',
    async run(t) {
      const r = await execP('definitely-not-a-command-evy');
      const e = r.err as { code?: unknown };
      t.log('code', e.code);
      t.log('stderr mentions it', String(r.stderr).includes('definitely-not-a-command-evy'));
    },
  },
  {
    name: 'exec: env and cwd options',
    async run(t) {
      const r = await execP('echo "$EVY_X" && pwd', { env: { EVY_X: 'from env', PATH: process.env.PATH }, cwd: '/' });
      t.log('stdout', r.stdout);
    },
  },
  {
    name: 'exec: encoding buffer gives buffers',
    async run(t) {
      const r = await execP('printf abc', { encoding: 'buffer' });
      t.log('buffers', [Buffer.isBuffer(r.stdout), Buffer.isBuffer(r.stderr)]);
      t.log('stdout', r.stdout);
    },
  },
  {
    name: 'execFile: arguments are not shell-interpreted',
    async run(t) {
      const r = await execFileP('echo', ['$HOME', '*', 'a b']);
      t.log('stdout', r.stdout);
    },
  },
  {
    name: 'execFile: node child with exit code',
    async run(t) {
      const r = await execFileP(NODE, ['-e', 'process.stdout.write("out"); process.stderr.write("err"); process.exit(7)']);
      execError(t, 'err', r.err);
      t.log('output', [r.stdout, r.stderr]);
    },
  },
  {
    name: 'execFile: ENOENT',
    async run(t) {
      const r = await execFileP('/nonexistent/evy-cmd', ['x']);
      const e = r.err as NodeJS.ErrnoException & { path?: string; spawnargs?: string[] };
      t.error('err', e);
      t.log('fields', { errno: e.errno, syscall: e.syscall, path: e.path, spawnargs: e.spawnargs });
      t.log('output', [r.stdout, r.stderr]);
    },
  },
  {
    name: 'execFile: timeout kills with SIGTERM',
    async run(t) {
      const r = await execFileP(NODE, ['-e', 'setTimeout(() => {}, 20000)'], { timeout: 100 });
      execError(t, 'err', r.err);
    },
  },
  {
    name: 'execFile: timeout with killSignal SIGKILL',
    async run(t) {
      const r = await execFileP(NODE, ['-e', 'process.on("SIGTERM", () => {}); setTimeout(() => {}, 20000)'], { timeout: 100, killSignal: 'SIGKILL' });
      execError(t, 'err', r.err);
    },
  },
  {
    name: 'execFile: maxBuffer exceeded',
    async run(t) {
      const r = await execFileP(NODE, ['-e', 'process.stdout.write("x".repeat(5000))'], { maxBuffer: 100 });
      execError(t, 'err', r.err);
      t.log('stdout kept', String(r.stdout).length);
    },
  },
  {
    name: 'execFile: AbortSignal',
    async run(t) {
      const ac = new AbortController();
      const p = execFileP(NODE, ['-e', 'setTimeout(() => {}, 20000)'], { signal: ac.signal });
      setTimeout(() => ac.abort(), 20);
      const r = await p;
      execError(t, 'err', r.err);
    },
  },
  {
    name: 'util.promisify(exec) and promisify(execFile)',
    async run(t) {
      const exec = promisify(cp.exec);
      const execFile = promisify(cp.execFile);
      t.log('exec', await exec('echo promised'));
      t.log('execFile', await execFile('echo', ['file', 'promised']));
      try {
        await exec('echo out; echo err 1>&2; exit 2');
      } catch (err) {
        const e = err as { code?: unknown; stdout?: unknown; stderr?: unknown };
        t.error('rejected', err);
        t.log('rejection fields', { code: e.code, stdout: e.stdout, stderr: e.stderr });
      }
    },
  },
  {
    name: "spawn: 'spawn', 'exit' then 'close'",
    async run(t) {
      const child = cp.spawn(NODE, ['-e', 'process.stdout.write("data"); process.exitCode = 4']);
      const out = collect(child.stdout);
      t.log('events', await lifecycle(child));
      t.log('stdout', await out);
      t.log('state', { exitCode: child.exitCode, signalCode: child.signalCode, killed: child.killed, pid: typeof child.pid });
    },
  },
  {
    name: "spawn: ENOENT gives 'error' (and 'close' with the errno)",
    async run(t) {
      const child = cp.spawn('/nonexistent/evy-cmd', ['a']);
      const events = lifecycle(child);
      const [err] = await new Promise<[NodeJS.ErrnoException]>((r) => child.once('error', (e: NodeJS.ErrnoException) => r([e])));
      t.error('error', err);
      t.log('pid', child.pid ?? null);
      t.log('events', await events);
    },
  },
  {
    name: 'spawn: bad cwd is ENOENT',
    async run(t) {
      const child = cp.spawn('pwd', [], { cwd: '/nonexistent/evy-dir' });
      t.log('events', await lifecycle(child));
    },
  },
  {
    name: 'spawn: stdin piped through cat',
    async run(t) {
      const child = cp.spawn('cat');
      const events = lifecycle(child);
      const out = collect(child.stdout);
      child.stdin.write('line one\n');
      child.stdin.end('line two\n');
      t.log('stdout', await out);
      t.log('events', await events);
    },
  },
  {
    name: "spawn: stdio 'ignore' and 'inherit' leave no streams",
    async run(t) {
      const a = cp.spawn('true', [], { stdio: 'ignore' });
      t.log('ignore', [a.stdin, a.stdout, a.stderr, a.stdio.length]);
      t.log('ignore events', await lifecycle(a));
      const b = cp.spawn('true', [], { stdio: ['ignore', 'inherit', 'inherit'] });
      t.log('inherit', [b.stdin, b.stdout, b.stderr]);
      t.log('inherit events', await lifecycle(b));
      const c = cp.spawn('true', [], { stdio: ['pipe', 'ignore', 'pipe'] });
      t.log('mixed', [c.stdin !== null, c.stdout, c.stderr !== null]);
      c.stdin?.end();
      c.stderr?.resume();
      t.log('mixed events', await lifecycle(c));
    },
  },
  {
    name: 'spawn: an extra pipe on fd 3',
    async run(t) {
      const child = cp.spawn(NODE, ['-e', 'require("fs").writeSync(3, "to fd3")'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
      const events = lifecycle(child);
      const fd3 = child.stdio[3] as NodeJS.ReadableStream & import('node:stream').Readable;
      const got = await collect(fd3);
      t.log('fd3', got);
      t.log('events', await events);
    },
  },
  {
    name: 'spawn: kill() with SIGTERM',
    async run(t) {
      const child = cp.spawn(NODE, ['-e', 'process.stdout.write("ready"); setTimeout(() => {}, 20000)']);
      const events = lifecycle(child);
      await new Promise((r) => child.stdout.once('data', r));
      t.log('kill returns', child.kill());
      t.log('killed', child.killed);
      t.log('events', await events);
      t.log('state', { exitCode: child.exitCode, signalCode: child.signalCode });
    },
  },
  {
    name: 'spawn: kill with SIGKILL by name and a handled SIGTERM',
    async run(t) {
      const child = cp.spawn(NODE, ['-e', 'process.on("SIGTERM", () => { process.stdout.write("got TERM"); process.exit(0) }); process.stdout.write("ready"); setTimeout(() => {}, 20000)']);
      const events = lifecycle(child);
      let out = '';
      child.stdout.setEncoding('utf8');
      await new Promise<void>((r) =>
        child.stdout.on('data', (d: string) => {
          out += d;
          if (out === 'ready') r();
        }),
      );
      child.kill('SIGTERM');
      t.log('events', await events);
      t.log('stdout', out);
      const k = cp.spawn(NODE, ['-e', 'setTimeout(() => {}, 20000)']);
      const kEvents = lifecycle(k);
      await new Promise((r) => k.once('spawn', r));
      k.kill('SIGKILL');
      t.log('SIGKILL events', await kEvents);
    },
  },
  {
    name: 'spawn: a child killing itself by signal',
    async run(t) {
      const child = cp.spawn(NODE, ['-e', 'process.kill(process.pid, "SIGINT")']);
      t.log('events', await lifecycle(child));
      t.log('killed (not by us)', child.killed);
    },
  },
  {
    name: 'kill() with an unknown signal throws ERR_UNKNOWN_SIGNAL',
    async run(t) {
      const child = cp.spawn('cat');
      const events = lifecycle(child);
      t.error('kill', thrown(() => child.kill('SIGNOPE' as NodeJS.Signals)));
      child.stdin.end();
      t.log('events', await events);
    },
  },
  {
    name: 'spawn: shell option',
    async run(t) {
      const child = cp.spawn('echo $((6 * 7)) | tr 4 X', { shell: true });
      const out = collect(child.stdout);
      t.log('events', await lifecycle(child));
      t.log('stdout', await out);
      t.log('spawnargs', child.spawnargs.slice(1));
    },
  },
  {
    name: 'spawn: argument validation',
    async run(t) {
      t.error('spawn(123)', thrown(() => cp.spawn(123 as unknown as string)));
      t.error("spawn('')", thrown(() => cp.spawn('')));
      t.error('args not an array', thrown(() => cp.spawn('echo', 'x' as unknown as string[])));
      t.error('bad stdio', thrown(() => cp.spawn('echo', [], { stdio: 'sideways' as unknown as 'pipe' })));
      t.error('exec without command', thrown(() => cp.exec(undefined as unknown as string)));
      t.error('null byte', thrown(() => cp.spawn('echo', ['a\0b'])));
    },
  },
  {
    name: 'stdout setEncoding and a lot of output',
    async run(t) {
      const child = cp.spawn(NODE, ['-e', 'for (let i = 0; i < 2000; i++) console.log("line " + i)']);
      child.stdout.setEncoding('utf8');
      let chunksAreStrings = true;
      let text = '';
      child.stdout.on('data', (d: unknown) => {
        if (typeof d !== 'string') chunksAreStrings = false;
        text += d as string;
      });
      t.log('events', await lifecycle(child));
      const lines = text.trim().split('\n');
      t.log('result', { chunksAreStrings, lines: lines.length, first: lines[0], last: lines[lines.length - 1] });
    },
  },
  {
    name: 'fork: messages both ways, then disconnect',
    async run(t) {
      const file = path.join(scratchDir(), 'child.js');
      writeFileSync(file, "process.on('message', (m) => { if (m === 'bye') process.disconnect(); else process.send({ echo: m, argv: process.argv.slice(2) }); });\nprocess.send('hello');\n");
      const child = cp.fork(file, ['a1'], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
      const events = lifecycle(child);
      const msgs: unknown[] = [];
      child.on('disconnect', () => msgs.push('disconnect event'));
      await new Promise<void>((r) =>
        child.on('message', (m) => {
          msgs.push(m);
          if (m === 'hello') child.send({ n: 1 });
          else {
            child.send('bye');
            r();
          }
        }),
      );
      t.log('events', await events);
      t.log('messages', msgs);
      t.log('connected', child.connected);
    },
  },
  {
    name: 'spawn with an ipc channel: send() after exit is an error',
    async run(t) {
      const child = cp.spawn(NODE, ['-e', 'process.send("up"); process.disconnect()'], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
      const events = lifecycle(child);
      const [m] = await new Promise<[unknown]>((r) => child.once('message', (x) => r([x])));
      t.log('message', m);
      t.log('events', await events);
      const cbErr = deferred<unknown>();
      child.on('error', () => {});
      t.log('send returns', child.send('late', (e) => cbErr.resolve(e)));
      t.error('send callback', await cbErr.promise);
    },
  },
  {
    name: 'execSync / execFileSync / spawnSync',
    async run(t) {
      t.log('execSync', cp.execSync('echo sync', { encoding: 'utf8' }));
      t.log('execFileSync', cp.execFileSync('echo', ['file', 'sync']).toString());
      const e = thrown(() => cp.execSync('echo x; exit 5', { stdio: 'pipe' })) as Error & { status?: number; stdout?: Buffer };
      t.error('execSync failure', e);
      t.log('failure fields', { status: e.status, stdout: String(e.stdout) });
      const r = cp.spawnSync('sh', ['-c', 'echo so; echo se 1>&2; exit 6']);
      t.log('spawnSync', { status: r.status, signal: r.signal, stdout: String(r.stdout), stderr: String(r.stderr), output: r.output.length });
      const n = cp.spawnSync('/nonexistent/evy-cmd');
      t.error('spawnSync ENOENT', n.error);
      t.log('spawnSync ENOENT fields', { status: n.status, pid: n.pid });
      const k = cp.spawnSync(NODE, ['-e', 'setTimeout(() => {}, 20000)'], { timeout: 100 });
      t.log('spawnSync timeout', { status: k.status, signal: k.signal, code: (k.error as NodeJS.ErrnoException | undefined)?.code ?? null });
    },
  },
  {
    name: 'spawnSync input option',
    async run(t) {
      const r = cp.spawnSync('cat', { input: 'fed via input', encoding: 'utf8' });
      t.log('stdout', r.stdout);
    },
  },
  {
    name: 'exitCode and signalCode before and after',
    async run(t) {
      const child = cp.spawn('sh', ['-c', 'read x; exit $x']);
      t.log('before', { exitCode: child.exitCode, signalCode: child.signalCode, connected: child.connected });
      child.stdin.end('9\n');
      t.log('events', await lifecycle(child));
      t.log('after', { exitCode: child.exitCode, signalCode: child.signalCode });
    },
  },
];
