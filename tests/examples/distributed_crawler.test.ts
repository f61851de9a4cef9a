// examples/distributed_crawler.ts as its README lines say: a producer and two
// fetcher processes crawl a small site this test serves. As root (where `ip
// netns` works) the fetchers run in a network namespace of their own, joined
// to this one by a veth pair, so every URL, page and result crosses between
// namespaces as between hosts; elsewhere everything is on loopback ports.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn as spawnChild, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import { join, resolve } from 'node:path';
import { wait } from 'evy';
import { assertClean } from '../helpers';
import { exited, run } from './run';

const root = resolve(__dirname, '..', '..');

// / → /a, /b; /a → /b, /c and another host; /b → /missing (404); /c → / and /a#part.
const PAGES: Record<string, string> = {
  '/': '<a href="/a">a</a> <a href="/b">b</a>',
  '/a': '<a href="b">b</a> <a href=\'/c\'>c</a> <a href="http://elsewhere.invalid/x">out</a>',
  '/b': '<a href="/missing">gone</a>',
  '/c': '<a href="/">home</a> <a href="/a#part">a again</a>',
};

/** The namespace of this run (its name, the veth's, a /30 of 10/8 from the pid), or null on loopback. */
interface Netns {
  name: string;
  here: string;
  there: string;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

/**
 * Makes the fetchers' namespace, or returns null where `ip netns` cannot (not
 * root, no ip, no permission) or EVY_TEST_NO_NETNS is set (to run the loopback way).
 */
function makeNetns(): Netns | null {
  if (process.getuid?.() !== 0 || process.env.EVY_TEST_NO_NETNS) return null;
  const pid = process.pid;
  const name = `evy-crawl-${pid}`;
  const net = `10.${(pid >> 14) & 255}.${(pid >> 6) & 255}`;
  const low = (pid & 63) * 4;
  const ns = { name, here: `${net}.${low + 1}`, there: `${net}.${low + 2}` };
  const [va, vb] = [`evc${pid}a`, `evc${pid}b`];
  try {
    ip('netns', 'add', name);
  } catch {
    return null;
  }
  try {
    ip('link', 'add', va, 'type', 'veth', 'peer', 'name', vb);
    ip('link', 'set', vb, 'netns', name);
    ip('addr', 'add', `${ns.here}/30`, 'dev', va);
    ip('link', 'set', va, 'up');
    ip('netns', 'exec', name, 'ip', 'addr', 'add', `${ns.there}/30`, 'dev', vb);
    ip('netns', 'exec', name, 'ip', 'link', 'set', vb, 'up');
    ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
  } catch (err) {
    ip('netns', 'del', name); // takes the veth pair with it
    throw err;
  }
  return ns;
}

let ns: Netns | null = null;
let server: http.Server;
const hits: string[] = [];
const from = new Set<string>();
const fetchers = new Set<ChildProcess>();

test.before(async () => {
  ns = makeNetns();
  console.log(ns === null ? '  (loopback: `ip netns` is not usable here)' : `  (fetchers in network namespace ${ns.name}, ${ns.there})`);
  server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    from.add(req.socket.remoteAddress ?? '');
    const page = PAGES[req.url ?? ''];
    res.writeHead(page === undefined ? 404 : 200, { 'content-type': 'text/html' });
    res.end(page ?? 'not here');
  });
  await wait(new Promise<void>((res) => server.listen(0, ns?.here ?? '127.0.0.1', res)));
});

/** Ends the fetchers this file started (each by its pid) and removes the namespace: after the tests, or at the runner's timeout. */
function cleanUp(): void {
  for (const f of fetchers) f.kill('SIGKILL'); // only if a test failed midway
  fetchers.clear();
  if (ns !== null) ip('netns', 'del', ns.name);
  ns = null;
}
// The runner's timeout sends SIGTERM, and then no after hook runs.
process.once('SIGTERM', () => {
  cleanUp();
  process.exit(1);
});

test.after(() => {
  server.close();
  cleanUp();
});
test.after.each(assertClean);

/** A fetcher process, in the namespace when there is one; resolves with its output once it exits by itself. */
function fetcher(host: string, port: string, n: number): Promise<{ code: number | null; out: string }> {
  const cmd = [process.execPath, join(root, 'bin', 'evy'), 'run', join(root, 'examples', 'distributed_crawler.ts'), 'fetcher', host, port, String(n)];
  const child = ns === null ? spawnChild(cmd[0], cmd.slice(1), { cwd: root }) : spawnChild('ip', ['netns', 'exec', ns.name, ...cmd], { cwd: root });
  fetchers.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return wait(
    new Promise((res) =>
      child.once('exit', (code) => {
        fetchers.delete(child);
        res({ code, out });
      }),
    ),
  );
}

test('a producer and two fetcher processes find every page of the site exactly once', async () => {
  const host = ns?.here ?? '127.0.0.1';
  const base = `http://${host}:${(server.address() as { port: number }).port}`;
  const producer = run('distributed_crawler.ts', ['producer', `${base}/`, host, '0']);
  const [, at, port] = await producer.line(/fetcher (\S+) (\d+)\n/);
  assert.is(at, host);
  const done = [fetcher(host, port, 3), fetcher(host, port, 2)];
  assert.is(await exited(producer), 0, producer.out());
  const outs = await Promise.all(done.map((d) => wait(d)));
  for (const o of outs) assert.is(o.code, 0, o.out);
  assert.match(producer.out(), /\n5 pages\n$/);
  for (const p of ['/', '/a', '/b', '/c']) assert.match(producer.out(), new RegExp(`\\n200 ${base}${p}\\n`));
  assert.match(producer.out(), new RegExp(`\\n404 ${base}/missing\\n`));
  assert.equal([...hits].sort(), ['/', '/a', '/b', '/c', '/missing'], 'every page once, none elsewhere');
  const fetched = outs.map((o) => Number(/fetched (\d+) pages/.exec(o.out)?.[1]));
  assert.is(fetched[0] + fetched[1], 5, `each page fetched by one fetcher (${fetched.join(' + ')})`);
  assert.equal([...from], [ns?.there ?? '127.0.0.1'], ns === null ? 'on loopback' : 'every request came from the other namespace');
});

test('bad usage prints how to call it', async () => {
  for (const args of [[], ['producer'], ['nonsense', 'x']]) {
    const r = run('distributed_crawler.ts', args);
    assert.is(await exited(r), 2, args.join(' '));
    assert.match(r.out(), /usage: evy run examples\/distributed_crawler\.ts producer START_URL/);
  }
});

test.run();
