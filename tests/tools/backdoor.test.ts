// evy/tools/backdoor in this process (line mode, as nc speaks it, and the
// protocol of `evy backdoor`), then end to end: `evy run --backdoor` serving
// HTTP while the `evy backdoor` CLI (through a pseudo-terminal) and nc drive it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync, spawn as spawnProcess, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { getHub, listen, Queue, sleep, spawn } from 'evy';
import { backdoor, backdoorServer, HANDSHAKE, kill, threads, type Backdoor, type Message } from 'evy/tools/backdoor';
import { assertClean } from '../helpers';

const root = resolve(__dirname, '..', '..');
const evyBin = join(root, 'bin', 'evy');
const dir = mkdtempSync(join(tmpdir(), 'evy-backdoor-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
/** node:repl's prompt for a statement's next line: `... ` on Node 20, `| ` on Node 24 (node:repl draws it). */
const MORE = Number(process.versions.node.split('.')[0]) >= 24 ? '| ' : '... ';
const MORE_RE = MORE.replace(/[.|]/g, '\\$&');

/** Collects what a socket (or process) prints; `until` waits for a pattern. */
class Output {
  text = '';
  private waiters: (() => void)[] = [];
  push(s: string): void {
    this.text += s;
    for (const w of this.waiters.splice(0)) w();
  }
  /** Resolves with the text once it matches `re` after `from`; fails after `seconds`. */
  async until(re: RegExp, from = 0, seconds = 20): Promise<string> {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      const t = this.text.slice(from);
      if (re.test(t)) return t;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} in:\n${t}`);
      await new Promise<void>((res) => {
        const timer = setTimeout(res, 100);
        this.waiters.push(() => {
          clearTimeout(timer);
          res();
        });
      });
    }
  }
}

/** A line-mode client (what nc is): raw text both ways. */
async function lineClient(port: number): Promise<{ sock: net.Socket; out: Output; send(s: string): Promise<string> }> {
  const sock = net.connect(port, '127.0.0.1');
  const out = new Output();
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => out.push(d));
  sock.on('error', () => {});
  await out.until(/evy> $/);
  return {
    sock,
    out,
    /** Sends a line and returns what came back before the next prompt. */
    async send(s: string) {
      const from = out.text.length;
      sock.write(`${s}\n`);
      const t = await out.until(new RegExp(`(evy> ?|${MORE_RE})$`), from);
      return t.replace(new RegExp(`(evy> ?|${MORE_RE})$`), '');
    },
  };
}

/** A protocol client (what `evy backdoor` is). */
async function protoClient(port: number) {
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => {});
  const msgs: Message[] = [];
  const out = new Output();
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const m = JSON.parse(buf.slice(0, i)) as Message;
      buf = buf.slice(i + 1);
      msgs.push(m);
      out.push(m.t === 'out' ? m.d : m.t === 'prompt' ? `<prompt ${JSON.stringify(m.p)} ${m.error}>` : `<${m.t}>`);
    }
  });
  await new Promise<void>((res) => sock.once('connect', () => res()));
  sock.write(`${HANDSHAKE}${JSON.stringify({ colors: false, columns: 100 })}\n`);
  await out.until(/<prompt "evy> " false>$/);
  const send = (m: Message): void => void sock.write(`${JSON.stringify(m)}\n`);
  return { sock, msgs, out, send };
}

function portOf(bd: Backdoor): number {
  return (bd.address as [string, number])[1];
}

async function closed(sock: net.Socket): Promise<void> {
  if (sock.destroyed) return;
  await new Promise<void>((res) => sock.once('close', () => res()));
}

test('line mode (nc): evaluates, awaits green calls, has evy, the locals and _', async () => {
  const bd = await backdoor(0, { answer: 42 });
  const c = await lineClient(portOf(bd));
  assert.match(c.out.text, /^evy backdoor: pid \d+/);
  assert.is((await c.send('1 + 2')).trim(), '3');
  assert.is((await c.send('answer')).trim(), '42');
  assert.is((await c.send('_ * 2')).trim(), '84');
  assert.is((await c.send('typeof evy.spawn')).trim(), "'function'");
  assert.is((await c.send('await evy.sleep(0.05); evy.getCurrent() === evy.getHub().main')).trim(), 'false');
  assert.is((await c.send('function f() {')).trim(), '');
  assert.ok(c.out.text.endsWith(MORE), 'a continuation prompt');
  assert.is((await c.send('return 5 }')).trim(), 'undefined');
  assert.is((await c.send('f()')).trim(), '5');
  assert.match(await c.send('throw new Error("boom")'), /Uncaught Error: boom/);
  assert.match(await c.send('await Promise.reject(new RangeError("later"))'), /Uncaught RangeError: later/);
  assert.match(await c.send('.help'), /\.threads[\s\S]*\.where ID[\s\S]*\.kill ID/);
  c.sock.end();
  await closed(c.sock);
  await bd.close();
  await assertClean();
});

test('a statement awaits in its own green thread while the rest of the process runs', async () => {
  const bd = await backdoor(0);
  const c = await lineClient(portOf(bd));
  let ticks = 0;
  const ticker = spawn(async () => {
    for (;;) {
      await sleep(0.01);
      ticks++;
    }
  });
  const before = ticks;
  assert.is((await c.send('await evy.sleep(0.3); "slept"')).trim(), "'slept'");
  assert.ok(ticks - before >= 5, `the process went on meanwhile (${ticks - before} ticks)`);
  ticker.kill();
  c.sock.end();
  await closed(c.sock);
  await bd.close();
  await assertClean();
});

test('.threads, .where and .kill see and kill a thread parked on a queue; so do their functions', async () => {
  const hub = getHub();
  hub.threadStacks = true;
  const q = new Queue<number>();
  const gt = spawn(async function consumer() {
    await q.get();
  }).named('the consumer');
  await sleep(0);
  const bd = await backdoor(0, { q });
  const c = await lineClient(portOf(bd));
  const table = await c.send('.threads');
  const row = table.split('\n').find((l) => l.includes('the consumer'));
  assert.ok(row, table);
  assert.match(row!, new RegExp(`^\\s*${gt.id}\\s+the consumer\\s+parked\\s+Queue\\.get for \\d+\\.\\d+ s\\s+parked at .*backdoor\\.test\\.ts:\\d+:\\d+\\s+spawned at .*backdoor\\.test\\.ts:\\d+`));
  assert.match(await c.send(`.where ${gt.id}`), /spawned:\n\s+at [\s\S]*parked:\n[\s\S]*consumer/);
  assert.match(await c.send('.where 999999'), /no live green thread with id 999999/);
  assert.match(await c.send('.kill nope'), /expected a green thread id/);
  assert.match(await c.send('threads()'), /the consumer/);
  assert.match(await c.send('hub()'), /threads \d+, runnable \d+, timers \d+, listeners \d+/);
  assert.match(await c.send(`.kill ${gt.id} enough`), new RegExp(`killed thread ${gt.id}`));
  assert.ok(gt.dead);
  assert.is(await gt.wait(), undefined, 'a GreenletExit: a clean exit');
  assert.throws(() => kill(gt.id), /no live green thread/);
  hub.threadStacks = false;
  c.sock.end();
  await closed(c.sock);
  await bd.close();
  await assertClean();
});

test('a client that disconnects in the middle of a statement kills that statement only', async () => {
  const bd = await backdoor(0);
  const other = spawn(async () => {
    await sleep(0.5);
    return 'other finished';
  });
  const c = await lineClient(portOf(bd));
  c.sock.write('await evy.sleep(100)\n');
  const parked = () => threads().some((t) => t.name === 'backdoor input' && t.parkedOn?.startsWith('sleep'));
  for (let i = 0; i < 500 && !parked(); i++) await sleep(0.01);
  assert.ok(parked(), "the statement's thread is parked in sleep");
  c.sock.destroy();
  for (let i = 0; i < 200 && bd.clients > 0; i++) await sleep(0.01);
  assert.is(bd.clients, 0);
  assert.is(await other.wait(), 'other finished');
  await bd.close();
  await assertClean(); // the sleep(100) is gone: no timer left
});

test('protocol: Ctrl-C interrupts the running statement, Tab completion is answered, -e style errors are flagged', async () => {
  const bd = await backdoor(0, { myLocalValue: 1 });
  const c = await protoClient(portOf(bd));
  let from = c.out.text.length;
  c.send({ t: 'line', d: 'await evy.sleep(100)' });
  await sleep(0.1);
  c.send({ t: 'interrupt' });
  const t = await c.out.until(/<prompt "evy> " true>$/, from);
  assert.match(t, /KeyboardInterrupt: interrupted \(Ctrl-C\)/);
  from = c.out.text.length;
  c.send({ t: 'complete', id: 7, d: 'myLocal' });
  await c.out.until(/<completion>/, from);
  const comp = c.msgs.find((m) => m.t === 'completion') as Extract<Message, { t: 'completion' }>;
  assert.is(comp.id, 7);
  assert.ok(comp.items.includes('myLocalValue'), JSON.stringify(comp));
  from = c.out.text.length;
  c.send({ t: 'line', d: '6 * 7' });
  assert.match(await c.out.until(/<prompt "evy> " false>$/, from), /^42\n/);
  // Ctrl-C with nothing running drops the half-typed statement
  from = c.out.text.length;
  c.send({ t: 'line', d: 'if (true) {' });
  await c.out.until(new RegExp(`<prompt "${MORE_RE}" false>$`), from);
  c.send({ t: 'interrupt' });
  await c.out.until(/<prompt "evy> " false>$/, from);
  c.sock.end();
  await closed(c.sock);
  await bd.close();
  await assertClean();
});

test('two clients at once, each in its own context', async () => {
  const bd = await backdoor(0);
  const a = await lineClient(portOf(bd));
  const b = await protoClient(portOf(bd));
  assert.is(bd.clients, 2);
  assert.is((await a.send('var mine = "a"; mine')).trim(), "'a'");
  const from = b.out.text.length;
  b.send({ t: 'line', d: 'typeof mine' });
  assert.match(await b.out.until(/<prompt "evy> " false>$/, from), /'undefined'/);
  a.sock.end();
  b.sock.end();
  await Promise.all([closed(a.sock), closed(b.sock)]);
  await bd.close();
  await assertClean();
});

test("errors an input leaves behind (a timer's throw, a rejection nobody handles) go to its client; the process lives", async () => {
  const bd = await backdoor(0);
  const c = await lineClient(portOf(bd));
  const other = await lineClient(portOf(bd));
  let from = c.out.text.length;
  await c.send("setTimeout(() => { throw new Error('from a timer') }, 10); 0");
  assert.match(await c.out.until(/Uncaught Error: from a timer\n[\s\S]*evy> $/, from), /^0\nevy> Uncaught Error: from a timer/);
  from = c.out.text.length;
  await c.send("Promise.reject(new RangeError('nobody handles it')); 1");
  assert.match(await c.out.until(/Uncaught RangeError: nobody handles it\n[\s\S]*evy> $/, from), /^1\nevy> Uncaught RangeError/);
  from = c.out.text.length;
  await c.send("const kept = Promise.reject(new Error('kept, not awaited'))");
  await c.out.until(/Uncaught Error: kept, not awaited/, from);
  from = c.out.text.length;
  await c.send("queueMicrotask(() => { throw new TypeError('in a microtask') })");
  await c.out.until(/Uncaught TypeError: in a microtask/, from);
  // while a statement runs: the stray error is shown, the statement goes on
  from = c.out.text.length;
  const t = await c.send("setTimeout(() => { throw new Error('meanwhile') }, 20); await evy.sleep(0.3); 'still here'");
  assert.match(c.out.text.slice(from), /Uncaught Error: meanwhile\n[\s\S]*'still here'\nevy> $/, t);
  assert.ok(!other.out.text.includes('Uncaught'), "the other client sees none of it");
  assert.is((await c.send('clearTimeout(setTimeout(() => {}, 1000)); typeof setTimeout[Symbol.for("nodejs.util.promisify.custom")]')).trim(), "'function'");
  assert.is((await c.send('.clear')).trim(), 'Clearing context...');
  assert.is((await c.send('typeof evy.spawn')).trim(), "'function'", 'a new context after .clear has evy again');
  c.sock.end();
  other.sock.end();
  await Promise.all([closed(c.sock), closed(other.sock)]);
  await bd.close();
  await assertClean();
});

test("node:domain's hook and patches stay out of the process; an application's own domain still works", () => {
  const r = spawnSync(process.execPath, ['--expose-internals', join(__dirname, 'domain_leakcheck.cjs')], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines, [
    'client attached: hooks before 0 destroy 0, EventEmitter unpatched, process.domain routed',
    'client gone: as before the backdoor',
    "the application's domain: EventEmitter patched, caught 'in a domain timer'",
  ]);
});

test('a non-loopback address is refused without allowRemote; bad arguments are named', async () => {
  let err = await backdoor(['0.0.0.0', 0]).then(() => null, (e: Error) => e);
  assert.match(String(err), /refusing to listen on 0\.0\.0\.0, which is not a loopback address/);
  err = await backdoor(['192.0.2.1', 0]).then(() => null, (e: Error) => e);
  assert.match(String(err), /allowRemote: true/);
  err = await backdoor(70000).then(() => null, (e: Error) => e);
  assert.instance(err, RangeError);
  err = await backdoor(0, 5 as unknown as Record<string, unknown>).then(() => null, (e: Error) => e);
  assert.match(String(err), /locals must be an object/);
  assert.throws(() => backdoorServer({} as net.Server), /listening GreenSocket or net\.Server/);
  await assertClean();
});

test('binary garbage, a line that never ends and abrupt disconnects do no harm', async () => {
  const bd = await backdoor(0);
  const port = portOf(bd);
  const send = (data: Buffer, destroyAfter: boolean) =>
    new Promise<void>((res) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.write(data);
        if (destroyAfter) s.destroy();
        else s.end();
      });
      s.on('error', () => {});
      s.on('data', () => {});
      s.on('close', () => res());
    });
  const garbage = Buffer.alloc(4096);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) & 0xff;
  await send(garbage, false);
  await send(garbage, true);
  await send(Buffer.from(HANDSHAKE.slice(0, 5)), true); // half a handshake
  await send(Buffer.from(`${HANDSHAKE}{not json\n\u0001\u0002{"t":"line"}\n[]\nnull\n`), false);
  await send(Buffer.alloc((1 << 20) + 10, 0x61), false); // a 1 MiB line: the client is dropped
  for (let i = 0; i < 300 && bd.clients > 0; i++) await sleep(0.01);
  assert.is(bd.clients, 0, 'every broken client is gone');
  const c = await lineClient(port);
  assert.is((await c.send('"still here"')).trim(), "'still here'");
  c.sock.end();
  await closed(c.sock);
  await bd.close();
  await assertClean();
});

test('a Unix socket is made with mode 0600; backdoorServer serves an evy GreenSocket', async () => {
  const path = join(dir, 'bd.sock');
  const bd = await backdoor(path);
  assert.is(statSync(path).mode & 0o777, 0o600);
  assert.is(bd.address, path);
  await bd.close();
  const sock = listen(['127.0.0.1', 0]);
  const gbd = backdoorServer(sock, { where: 'green' });
  const c = await lineClient((gbd.address as [string, number])[1]);
  assert.is((await c.send('where')).trim(), "'green'");
  assert.is((await c.send('await evy.sleep(0.01); 2')).trim(), '2');
  c.sock.end();
  await closed(c.sock);
  for (let i = 0; i < 200 && gbd.clients > 0; i++) await sleep(0.01);
  await gbd.close();
  await assertClean();
});

// ---- end to end: evy run --backdoor, the evy backdoor CLI, nc ----

function startServer(): Promise<{ child: ChildProcess; httpPort: number; bdPort: number; err: Output }> {
  const file = join(dir, 'server.ts');
  writeFileSync(
    file,
    [
      "import { listen } from 'evy';",
      "import { server } from 'evy/web/wsgi';",
      "const sock = listen(['127.0.0.1', 0]);",
      "console.log('http', (sock.getsockname() as [string, number])[1]);",
      "await server(sock, (env, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return ['ok']; }, { log: { write() {} } });",
    ].join('\n'),
  );
  const child = spawnProcess(process.execPath, [evyBin, 'run', '--backdoor', '0', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = new Output();
  const err = new Output();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => out.push(d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => err.push(d));
  return Promise.all([out.until(/http \d+/), err.until(/backdoor listening on 127\.0\.0\.1:\d+/)]).then(([o, e]) => ({
    child,
    httpPort: Number(/http (\d+)/.exec(o)![1]),
    bdPort: Number(/127\.0\.0\.1:(\d+)/.exec(e)![1]),
    err,
  }));
}

/** Keeps requesting over two keep-alive connections until stopped; counts what it got. */
function keepRequesting(port: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const stats = { ok: 0, failed: 0, stop: false };
  const loop = async (): Promise<void> => {
    while (!stats.stop) {
      await new Promise<void>((res) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (r) => {
          r.resume();
          r.on('end', () => {
            if (r.statusCode === 200) stats.ok++;
            else stats.failed++;
            res();
          });
        });
        req.on('error', () => {
          stats.failed++;
          res();
        });
      });
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const done = Promise.all([loop(), loop()]).then(() => agent.destroy());
  return { stats, done };
}

function cli(args: string[], home: string): { code: number | null; out: string; err: string } {
  try {
    const out = execFileSync(process.execPath, [evyBin, 'backdoor', ...args], {
      encoding: 'utf8',
      env: { ...process.env, HOME: home },
      timeout: 30_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { code: 0, out, err: '' };
  } catch (e) {
    const x = e as { status: number | null; stdout: string; stderr: string };
    return { code: x.status, out: x.stdout, err: x.stderr };
  }
}

test('evy run --backdoor: the CLI (-e and a pty) and nc drive a serving process, which never stops serving', async () => {
  const home = mkdtempSync(join(dir, 'home-'));
  const srv = await startServer();
  const load = keepRequesting(srv.httpPort);
  try {
    const seen = async (n: number): Promise<void> => {
      const want = load.stats.ok + n;
      for (let i = 0; i < 400 && load.stats.ok < want; i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(load.stats.ok >= want, `requests go on (${load.stats.ok})`);
    };
    await seen(5);

    // -e: a result, an awaited green call, an error's exit status
    let r = cli(['--port', String(srv.bdPort), '-e', '6 * 7'], home);
    assert.is(r.code, 0, r.err);
    assert.is(r.out.trim(), '42');
    r = cli(['--port', String(srv.bdPort), '-e', 'await evy.sleep(0.05); "awaited"'], home);
    assert.is(r.out.trim(), "'awaited'");
    r = cli(['--port', String(srv.bdPort), '-e', 'throw new Error("remote")'], home);
    assert.is(r.code, 1);
    assert.match(r.out, /Uncaught Error: remote/);
    r = cli(['--port', String(srv.bdPort), '-e', '.threads'], home);
    assert.match(r.out, /runConnection\s+parked\s+recv on fd \d+ peer 127\.0\.0\.1:\d+/);
    await seen(5);

    // nothing listening: said clearly
    const free = net.createServer().listen(0, '127.0.0.1');
    await new Promise((res) => free.once('listening', res));
    const freePort = (free.address() as net.AddressInfo).port;
    await new Promise((res) => free.close(res));
    r = cli(['--port', String(freePort), '-e', '1'], home);
    assert.is(r.code, 1);
    assert.match(r.err, /cannot connect to 127\.0\.0\.1:\d+: nothing is listening there/);

    // the interactive client, through a pseudo-terminal
    const pty = spawnProcess('script', ['-qfc', `${process.execPath} ${evyBin} backdoor --port ${srv.bdPort}`, '/dev/null'], {
      env: { ...process.env, HOME: home, TERM: 'dumb' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out = new Output();
    // colours, cursor moves and \r of the terminal are left out of what is matched
    const plain = (d: string): string => d.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
    pty.stdout!.setEncoding('utf8').on('data', (d: string) => out.push(plain(d)));
    pty.stderr!.setEncoding('utf8').on('data', (d: string) => out.push(plain(d)));
    const ptyExit = new Promise<number | null>((res) => pty.on('close', (code) => res(code)));
    await out.until(/evy> $/);
    let from = out.text.length;
    pty.stdin!.write('[1, 2].map(x => x * 10)\r');
    await out.until(/\[ 10, 20 \][\s\S]*evy> $/, from);
    from = out.text.length;
    pty.stdin!.write('.threads\r');
    const table = await out.until(/runConnection[\s\S]*evy> $/, from);
    const victim = /^\s*(\d+)\s+runConnection\s+parked\s+recv on fd/m.exec(table);
    assert.ok(victim, table);
    from = out.text.length;
    pty.stdin!.write(`.kill ${victim![1]}\r`);
    await out.until(new RegExp(`killed thread ${victim![1]}[\\s\\S]*evy> $`), from);
    await seen(5); // the client reconnects on its other socket and goes on
    from = out.text.length;
    pty.stdin!.write('await evy.sleep(100)\r');
    await new Promise((res) => setTimeout(res, 300));
    pty.stdin!.write('\u0003'); // Ctrl-C
    await out.until(/KeyboardInterrupt: interrupted \(Ctrl-C\)[\s\S]*evy> $/, from);
    await seen(3);
    pty.stdin!.write('\u0004'); // Ctrl-D
    assert.is(await ptyExit, 0);
    const history = readFileSync(join(home, '.evy_backdoor_history'), 'utf8');
    assert.match(history, /\[1, 2\]\.map\(x => x \* 10\)\n\.threads\n/);

    // nc, in line mode, while a statement of another client sleeps
    if (existsSync('/usr/bin/nc') || existsSync('/bin/nc')) {
      const nc = spawnProcess('nc', ['-q', '2', '127.0.0.1', String(srv.bdPort)], { stdio: ['pipe', 'pipe', 'ignore'] });
      const ncOut = new Output();
      nc.stdout!.setEncoding('utf8').on('data', (d: string) => ncOut.push(d));
      nc.stdin!.write('"n" + "c"\n');
      await ncOut.until(/'nc'\nevy> $/);
      nc.stdin!.write('await evy.sleep(10)\n');
      await new Promise((res) => setTimeout(res, 300));
      nc.kill(); // disconnects in the middle of the statement
      await new Promise((res) => nc.on('close', res));
    }
    r = cli(['--port', String(srv.bdPort), '-e', 'threads().split("\\n").filter((l) => l.includes("backdoor input")).length'], home);
    assert.is(r.out.trim(), '1', 'only this statement runs: the interrupted and disconnected ones are gone');
    await seen(5);
    assert.is(load.stats.failed <= 1, true, `failed requests: ${load.stats.failed} (one may be the killed connection's)`);
  } finally {
    load.stats.stop = true;
    await load.done;
    srv.child.kill();
    await new Promise((res) => srv.child.once('close', res));
  }
  assert.not.match(srv.err.text, /Error|crash/i, 'the server printed no error');
});

test.run();
