// `evy run --workers N` (runtime/cli/workers.ts): the supervisor run as a user
// runs it, with an unchanged WSGI script. Everything is ordered by the
// supervisor's log lines and the workers' own output, not by sleeps; every
// wait is bounded; every pid seen is checked gone at the end.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GreenSocket } from 'evy';
import { AF_INET, SO_REUSEPORT, SOL_SOCKET } from 'evy/patched/socket';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { alive, evy, sandbox } from './sandbox';

const box = sandbox('evy-workers-');
test.after(() => box.remove());

const WAIT = 60_000; // the longest any one step may take (a loaded machine)

// The WSGI app the tests run, unchanged for --workers: every response says
// which worker made it. /slow is in flight until the worker is told to stop,
// /stuck for 30 s whatever happens.
box.script('app.ts', `
import { listen, sleep, Event } from 'evy';
import { server, type StartResponse } from 'evy/web/wsgi';
const sock = listen(['127.0.0.1', Number(process.argv[2])]);
const stopping = new Event<void>();
process.on('SIGTERM', () => { if (!stopping.ready()) stopping.send(); });
async function app(env: Record<string, unknown>, start: StartResponse): Promise<string[]> {
  if (env.PATH_INFO === '/slow') {
    console.log('slow request started');
    await stopping.wait();
    await sleep(0.2); // still busy a little after the stop began
  }
  if (env.PATH_INFO === '/stuck') {
    console.log('stuck request started');
    await sleep(30);
  }
  start('200 OK', [['Content-Type', 'text/plain']]);
  return [\`\${process.env.EVY_WORKER} \${process.pid}\`];
}
await server(sock, app, { log: null });
console.log('server returned');
`);
box.script('broken.ts', 'import { listen } from "evy";\nconst x: number = ;\n');
box.script('crashy.ts', `
import { listen } from 'evy';
listen(['127.0.0.1', Number(process.argv[2])]);
console.error('crashy fails after listening');
process.exit(3);
`);
box.script('ticker.ts', "setInterval(() => {}, 1000);\nconsole.log('up');\n");
box.script('plain.ts', 'console.log(`worker ${process.env.EVY_WORKER} of ${process.env.EVY_WORKERS}`);\n');

/** A port for the workers, held (bound, not listening, SO_REUSEPORT) until the suite ends: nobody else takes it. */
function reservePort(): number {
  const s = new GreenSocket(AF_INET);
  s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
  s.bind(['127.0.0.1', 0]);
  reserved.push(s);
  return (s.getsockname() as [string, number])[1];
}
const reserved: GreenSocket[] = [];
test.after(() => {
  for (const s of reserved) s.close();
});

/** The supervisors not yet ended: killed if the runner stops this file half-way (its timeout's SIGTERM). */
const running = new Set<Supervisor>();
process.on('SIGTERM', () => {
  for (const s of running) s.kill();
  process.exit(1);
});

/** A supervisor, its output as lines ([wI] lines and `evy workers:` lines), and a wait for one. */
class Supervisor {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: (() => void)[] = [];

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [evy, 'run', ...args], { cwd: box.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(this);
    this.child.on('exit', () => running.delete(this));
    for (const s of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: s, crlfDelay: Infinity }).on('line', (l) => {
        this.lines.push(l);
        for (const w of this.waiters.splice(0)) w();
      });
    }
    this.exit = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** The first line from index `from` on that matches `re` (waits for it, at most WAIT ms). */
  async line(re: RegExp, from = 0): Promise<{ m: RegExpExecArray; at: number }> {
    const deadline = Date.now() + WAIT;
    for (;;) {
      for (let i = from; i < this.lines.length; i++) {
        const m = re.exec(this.lines[i]);
        if (m) return { m, at: i };
      }
      if (Date.now() > deadline) throw new Error(`no line matching ${re} in:\n${this.lines.join('\n')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The pids of the workers, from the ready lines. */
  pids(): number[] {
    return this.lines.flatMap((l) => {
      const m = /^evy workers: w\d+ \(pid (\d+)\) ready/.exec(l);
      return m ? [Number(m[1])] : [];
    });
  }

  async stop(sig: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill(sig);
    return this.exit;
  }

  /** Kills the supervisor if a test failed half-way (its pid only). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

function assertGone(pids: number[]): void {
  for (const pid of pids) assert.not.ok(alive(pid), `worker ${pid} is left behind`);
}

/** How many TCP sockets listen on 127.0.0.1:port (/proc/net/tcp, state 0A). */
function listeners(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').filter((l) => {
    const f = l.trim().split(/\s+/);
    return f[1] === local && f[3] === '0A';
  }).length;
}

/** GET path on port: [status, body], on a fresh connection or through `agent`. */
function get(port: number, path = '/', agent: http.Agent | false = false): Promise<[number, string]> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve([res.statusCode ?? 0, body]));
      res.on('error', reject);
    });
    req.setTimeout(WAIT, () => req.destroy(new Error('request timed out')));
    req.on('error', (err: Error) => reject(Object.assign(err, { reused: req.reusedSocket })));
  });
}

/** What load clients got back (`EVY_WORKER pid` bodies), and a wait for enough of them from given workers. */
class Answers {
  readonly bodies: string[] = [];
  private progress = (): void => {};

  add(body: string): void {
    this.bodies.push(body);
    this.progress();
  }

  /** Resolves once `n` answers came from the workers `pids` (at most WAIT ms). */
  from(n: number, pids: number[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`fewer than ${n} answers from ${pids.join(', ')}`)), WAIT);
      this.progress = () => {
        if (this.bodies.filter((a) => pids.includes(Number(a.split(' ')[1]))).length >= n) {
          clearTimeout(t);
          this.progress = () => {};
          resolve();
        }
      };
      this.progress();
    });
  }
}

test('requests spread over the workers, each knows its EVY_WORKER; kill -9 gets a worker restarted', async () => {
  const port = reservePort();
  const sup = new Supervisor(['--workers', '2', 'app.ts', String(port)]);
  try {
    await sup.line(/^evy workers: all 2 ready$/);
    const seen = new Map<string, number>();
    for (let i = 0; i < 400 && seen.size < 2; i++) {
      const [status, body] = await get(port);
      assert.is(status, 200);
      const [worker, pid] = body.split(' ');
      seen.set(worker, Number(pid));
    }
    assert.equal([...seen.keys()].sort(), ['1', '2'], 'both workers answered');
    assert.equal(new Set(seen.values()).size, 2, 'two processes');
    assert.equal([...seen.values()].sort(), sup.pids().sort(), 'the pids the supervisor reported');
    assert.is(listeners(port), 1, 'one listening socket, shared: one accept queue');

    const victim = seen.get('1')!;
    process.kill(victim, 'SIGKILL');
    const died = await sup.line(new RegExp(`^evy workers: w1 \\(pid ${victim}\\) was killed by SIGKILL: restarting in 0\\.1 s$`));
    const back = await sup.line(/^evy workers: w1 \(pid (\d+)\) ready, listening on 127\.0\.0\.1:\d+$/, died.at);
    const fresh = Number(back.m[1]);
    assert.is.not(fresh, victim);
    let reached = false;
    for (let i = 0; i < 400 && !reached; i++) reached = (await get(port))[1] === `1 ${fresh}`;
    assert.ok(reached, 'the restarted worker serves');
    assert.is(listeners(port), 1, 'the restarted worker shares it too');
    assert.not.ok(alive(victim));

    assert.equal(await sup.stop(), { code: 0, signal: null });
    assert.ok(sup.lines.includes('[w1] server returned') && sup.lines.includes('[w2] server returned'), 'the servers returned: a drain, not a kill');
    assert.ok(sup.lines.includes('evy workers: stopped'));
    assertGone(sup.pids());
  } finally {
    sup.kill();
  }
});

test('SIGTERM: in-flight requests complete, then the workers and the supervisor exit 0', async () => {
  const port = reservePort();
  const sup = new Supervisor(['--workers', '2', '--grace', '30', 'app.ts', String(port)]);
  try {
    await sup.line(/^evy workers: all 2 ready$/);
    const slow = get(port, '/slow');
    const started = await sup.line(/^\[w(\d)\] slow request started$/);
    const before = sup.lines.length;
    sup.child.kill('SIGTERM');
    await sup.line(/^evy workers: SIGTERM: stopping; the workers finish their requests \(grace 30 s\)$/, before);
    const [status, body] = await slow;
    assert.is(status, 200);
    assert.is(body.split(' ')[0], started.m[1], 'answered by the worker that had it');
    assert.equal(await sup.exit, { code: 0, signal: null });
    assert.not.ok(sup.lines.some((l) => /killed/.test(l)), 'nobody was killed');
    await get(port).then(
      () => assert.unreachable('nothing listens any more'),
      (err: NodeJS.ErrnoException) => assert.is(err.code, 'ECONNREFUSED'),
    );
    assertGone(sup.pids());
  } finally {
    sup.kill();
  }
});

test('SIGINT twice (Ctrl-C twice): the second one does not wait for in-flight requests', async () => {
  const port = reservePort();
  const sup = new Supervisor(['--workers', '1', 'app.ts', String(port)]);
  try {
    await sup.line(/^evy workers: all 1 ready$/);
    const stuck = get(port, '/stuck').then(() => 'answered', (err: Error) => err.message);
    await sup.line(/^\[w1\] stuck request started$/);
    sup.child.kill('SIGINT');
    await sup.line(/^evy workers: SIGINT: stopping/);
    sup.child.kill('SIGINT');
    await sup.line(/^evy workers: SIGINT again: killing the workers now$/);
    assert.equal(await sup.exit, { code: 0, signal: null });
    assert.ok(sup.lines.some((l) => /^evy workers: w1 \(pid \d+\) was killed by SIGKILL$/.test(l)));
    assert.is.not(await stuck, 'answered');
    assertGone(sup.pids());
  } finally {
    sup.kill();
  }
});

test('SIGHUP under continuous load: new workers take over and no request is dropped', async () => {
  const port = reservePort();
  const sup = new Supervisor(['--workers', '2', 'app.ts', String(port)]);
  const agents: http.Agent[] = [];
  try {
    await sup.line(/^evy workers: all 2 ready$/);
    const oldPids = sup.pids();
    const answers = new Answers();
    const failures: string[] = [];
    let retried = 0;
    let running = true;
    // Four keep-alive clients, each one request after another. A request sent
    // on a reused keep-alive connection that the server closed at the same
    // moment gets no byte back: it is sent again, as RFC 9112 9.3.1 says
    // clients do (Node's req.reusedSocket is there for that); anything
    // else that fails is a dropped request.
    const client = async (): Promise<void> => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      while (running) {
        try {
          const [status, body] = await get(port, '/', agent);
          if (status !== 200) failures.push(`status ${status}`);
          answers.add(body);
        } catch (err) {
          const e = err as NodeJS.ErrnoException & { reused?: boolean };
          if (e.reused === true && (e.code === 'ECONNRESET' || e.message === 'socket hang up')) retried++;
          else failures.push(`${e.code ?? ''} ${e.message}`);
        }
      }
    };
    const clients = [client(), client(), client(), client()];
    await answers.from(50, oldPids);
    const before = sup.lines.length;
    sup.child.kill('SIGHUP');
    const done = await sup.line(/^evy workers: reloaded: 2 new workers ready, the old ones finishing their requests$/, before);
    for (const pid of oldPids) await sup.line(new RegExp(`^evy workers: w\\d \\(pid ${pid}\\) stopped$`), before);
    const newPids = sup.pids().filter((p) => !oldPids.includes(p));
    assert.is(newPids.length, 2);
    for (const pid of newPids) assert.ok(sup.lines.findIndex((l) => l.includes(`(pid ${pid}) ready`)) < done.at, 'new workers ready before the old ones go');
    await answers.from(50, newPids);
    running = false;
    await Promise.all(clients);
    assert.equal(failures, [], `dropped requests (${retried} retried on closed keep-alive connections)`);
    assert.ok(answers.bodies.length >= 100);
    assert.equal(await sup.stop(), { code: 0, signal: null });
    assertGone(sup.pids());
  } finally {
    for (const a of agents) a.destroy();
    sup.kill();
  }
});

test('SIGHUP three times under load, a new connection per request: not one request dropped', async () => {
  const port = reservePort();
  const sup = new Supervisor(['--workers', '2', 'app.ts', String(port)]);
  try {
    await sup.line(/^evy workers: all 2 ready$/);
    const answers = new Answers();
    const failures: string[] = [];
    let running = true;
    // Eight clients, each one request after another, each on a connection of
    // its own (no agent: connect, GET, Connection: close). A reload must not
    // lose one: neither those queued for a stopping worker nor one it took.
    const client = async (): Promise<void> => {
      while (running) {
        try {
          const [status, body] = await get(port);
          if (status !== 200) failures.push(`status ${status}`);
          answers.add(body);
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          failures.push(`${e.code ?? ''} ${e.message}`);
        }
      }
    };
    const clients = Array.from({ length: 8 }, client);
    let pids = sup.pids();
    const all = [...pids];
    await answers.from(50, pids);
    for (let reload = 1; reload <= 3; reload++) {
      const before = sup.lines.length;
      sup.child.kill('SIGHUP');
      await sup.line(/^evy workers: reloaded: 2 new workers ready, the old ones finishing their requests$/, before);
      for (const pid of pids) await sup.line(new RegExp(`^evy workers: w\\d \\(pid ${pid}\\) stopped$`), before);
      pids = sup.pids().filter((p) => !all.includes(p));
      assert.is(pids.length, 2, `reload ${reload}: two new workers`);
      all.push(...pids);
      await answers.from(50, pids);
    }
    running = false;
    await Promise.all(clients);
    assert.equal(failures, [], `dropped requests, of ${answers.bodies.length + failures.length}`);
    assert.ok(answers.bodies.length >= 200);
    assert.equal(await sup.stop(), { code: 0, signal: null });
    assertGone(all);
  } finally {
    sup.kill();
  }
});

test('the supervisor killed with SIGKILL: its workers notice, drain and exit by themselves', async () => {
  const port = reservePort();
  const sup = new Supervisor(['--workers', '2', 'app.ts', String(port)]);
  try {
    await sup.line(/^evy workers: all 2 ready$/);
    const pids = sup.pids();
    assert.is(pids.length, 2);
    sup.child.kill('SIGKILL');
    await sup.exit;
    const deadline = Date.now() + WAIT;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assertGone(pids);
  } finally {
    sup.kill();
  }
});

test('SIGHUP with the script now broken: the reload is abandoned and the old workers serve on', async () => {
  const port = reservePort();
  const app = box.script('reloadable.ts', readFileSync(`${box.dir}/app.ts`, 'utf8'));
  const sup = new Supervisor(['--workers', '2', 'reloadable.ts', String(port)]);
  try {
    await sup.line(/^evy workers: all 2 ready$/);
    const pids = sup.pids();
    writeFileSync(app, 'const x: number = ;\n');
    const before = sup.lines.length;
    sup.child.kill('SIGHUP');
    await sup.line(/^evy workers: w[12] \(pid \d+\) exited with code 1 before it was ready: the reload is abandoned, the running workers stay$/, before);
    const [status, body] = await get(port);
    assert.is(status, 200);
    assert.ok(pids.includes(Number(body.split(' ')[1])), 'an old worker answered');
    assert.not.match(sup.lines.join('\n'), /cannot start|restarting/);
    assert.equal(await sup.stop(), { code: 0, signal: null });
    assertGone(pids);
  } finally {
    sup.kill();
  }
});

test('a worker that cannot start (a syntax error): a clear error, no restarts, exit 1', async () => {
  const sup = new Supervisor(['--workers', '2', 'broken.ts']);
  try {
    const r = await sup.exit;
    assert.is(r.code, 1);
    const out = sup.lines.join('\n');
    assert.match(out, /^\[w[12]\] .*broken\.ts.*$/m, 'the compile error, prefixed with the worker');
    assert.match(out, /^evy workers: w[12] \(pid \d+\) exited with code 1 before it was ready: it cannot start \(its output is above, prefixed \[w[12]\]\); stopping$/m);
    assert.not.match(out, /restarting/);
    assert.ok(sup.lines.filter((l) => / cannot start /.test(l)).length === 1, 'one verdict');
  } finally {
    sup.kill();
  }
});

test('a worker that crashes after starting is restarted with a growing back-off, then given up on', async () => {
  const port = reservePort();
  const sup = new Supervisor(['--workers', '1', 'crashy.ts', String(port)]);
  try {
    const r = await sup.exit;
    assert.is(r.code, 1);
    const delays = sup.lines.flatMap((l) => {
      const m = /^evy workers: w1 \(pid \d+\) exited with code 3: restarting in ([\d.]+) s$/.exec(l);
      return m ? [Number(m[1])] : [];
    });
    assert.equal(delays, [0.1, 0.2, 0.4, 0.8]);
    assert.ok(sup.lines.includes('evy workers: w1 crashed 5 times in a row, each within 5 s of starting; stopping'));
    assert.ok(sup.lines.some((l) => l.startsWith('[w1] ') && l.includes('crashy fails after listening')));
    assertGone(sup.pids());
  } finally {
    sup.kill();
  }
});

test('--workers auto: one per core; output prefixed with the index; workers that end are not restarted', async () => {
  const n = availableParallelism();
  const sup = new Supervisor(['--workers', 'auto', 'plain.ts']);
  try {
    assert.equal(await sup.exit, { code: 0, signal: null });
    assert.ok(sup.lines.includes(`evy workers: starting ${n} worker${n === 1 ? '' : 's'} of ${box.dir}/plain.ts (supervisor pid ${sup.child.pid})`));
    for (let i = 1; i <= n; i++) assert.ok(sup.lines.includes(`[w${i}] worker ${i} of ${n}`), `worker ${i}'s line`);
    assert.ok(sup.lines.includes('evy workers: every worker ended'));
    assert.not.match(sup.lines.join('\n'), /restarting/);
  } finally {
    sup.kill();
  }
});

test('SIGTERM to a worker with no listener to drain and no handler: it ends at once, not after the grace', async () => {
  const sup = new Supervisor(['--workers', '1', '--grace', '600', 'ticker.ts']);
  try {
    await sup.line(/^\[w1\] up$/);
    sup.child.kill('SIGTERM');
    assert.equal(await sup.exit, { code: 0, signal: null });
    assert.ok(sup.lines.some((l) => /^evy workers: w1 \(pid \d+\) was killed by SIGTERM$/.test(l)), sup.lines.join('\n'));
    assert.not.match(sup.lines.join('\n'), /grace period/);
  } finally {
    sup.kill();
  }
});

test('bad --workers and --grace values: a clear error naming the option', () => {
  const cases: [string[], RegExp][] = [
    [['--workers', '0', 'plain.ts'], /^evy run --workers: expected a whole number ≥ 1 or 'auto', got '0'$/],
    [['--workers=two', 'plain.ts'], /^evy run --workers: expected a whole number ≥ 1 or 'auto', got 'two'$/],
    [['--workers', '2', '--grace', '-1', 'plain.ts'], /^evy run --workers: --grace: expected a number of seconds ≥ 0, got '-1'$/],
    [['--workers', '2', '--backdoor', '3000', 'plain.ts'], /^evy run --workers: --backdoor listens in one process/],
    [['--workers', '2'], /^evy run --workers: no script to run$/],
    [['--workers', '2', 'nosuch.ts'], /^evy run: no such script: nosuch\.ts$/],
  ];
  for (const [args, re] of cases) {
    const r = box.run(['run', ...args]);
    assert.is(r.code, 1, args.join(' '));
    assert.match(r.err.trim(), re);
  }
  // `--` ends evy's options.
  const dashes = box.run(['run', '--workers', '1', '--', 'plain.ts']);
  assert.is(dashes.code, 0);
  assert.match(dashes.out, /^\[w1\] worker 1 of 1$/m);
  // After the script, --workers is the script's own argument.
  const own = box.script('argv.mjs', 'console.log(JSON.stringify(process.argv.slice(2)));');
  const r = box.run(['run', own, '--workers', '2']);
  assert.is(r.code, 0);
  assert.equal(JSON.parse(r.out), ['--workers', '2']);
  assert.match(box.run(['run', '--help']).out, /--workers <n>/);
});

test.run();
