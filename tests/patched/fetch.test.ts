import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn as spawnChild, spawnSync } from 'node:child_process';
import { getEventListeners, once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Event, Timeout, monkeyPatch, sleep, spawn, wait } from 'evy';
import { fetch, greenGlobalFetch } from 'evy/patched/fetch';
import { assertClean, rejection, settle, tick } from '../helpers';

const stockFetch = globalThis.fetch;

/** Node timers alive now (undici's own included). */
function nodeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

test.after.each(async () => {
  await assertClean();
  for (let i = 0; i < 5 && nodeTimers() > 0; i++) await tick();
  assert.is(nodeTimers(), 0, 'no Node timer is left behind');
});

/** The server's side of each connection: its socket, a promise of its 'close', and the paths it was asked for. */
interface Conn {
  socket: Socket;
  closed: Promise<void>;
  urls: string[];
}

/**
 * Undici 7 (Node 24's fetch) dials a fresh connection, which carries no
 * request, for the client whose request was aborted: so the tests follow the
 * connection each request came on (`served`), not the order of connections.
 */
const undici7 = Number(process.versions.undici.split('.')[0]) >= 7;

/**
 * A loopback server: `/` says hello, `/json` sends JSON, `/echo` sends the
 * request body back, `/silent` never answers, `/drip` sends its head and a
 * first piece of a longer body, then nothing. `asked` fires on each request;
 * `served` is the connection of each request, in order.
 */
async function serve(): Promise<{ server: http.Server; base: string; conns: Conn[]; served: Conn[]; asked: Event<string>[] }> {
  const conns: Conn[] = [];
  const served: Conn[] = [];
  const asked: Event<string>[] = [new Event<string>()];
  const server = http.createServer((req, res) => {
    const conn = conns.find((c) => c.socket === req.socket)!;
    conn.urls.push(req.url ?? '');
    served.push(conn);
    asked[asked.length - 1].send(req.url ?? '');
    asked.push(new Event<string>());
    if (req.url === '/silent') return;
    if (req.url === '/drip') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      return;
    }
    if (req.url === '/json') return void res.end(JSON.stringify({ a: [1, 2] }));
    if (req.url === '/echo') return void req.pipe(res);
    res.end('hello');
  });
  server.on('connection', (socket: Socket) => conns.push({ socket, closed: new Promise((r) => socket.once('close', () => r())), urls: [] }));
  server.listen(0, '127.0.0.1');
  await wait(once(server, 'listening'));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, conns, served, asked };
}

async function stop(server: http.Server): Promise<void> {
  server.closeAllConnections();
  const closed = once(server, 'close');
  server.close();
  await wait(closed);
  await settle();
}

test('fetch has the stock name and length, and gets what the stock one gets', async () => {
  assert.is(fetch.name, 'fetch');
  assert.is(fetch.length, stockFetch.length);
  const { server, base } = await serve();
  const r = await fetch(`${base}/`);
  assert.is(r.status, 200);
  assert.instance(r, Response);
  assert.is(await r.text(), 'hello');
  assert.equal(await (await fetch(`${base}/json`)).json(), { a: [1, 2] });
  const posted = await fetch(`${base}/echo`, { method: 'POST', body: 'ping', headers: { 'x-a': 'b' } });
  assert.is(Buffer.from(await posted.arrayBuffer()).toString(), 'ping');
  assert.is(await (await fetch(new Request(`${base}/`))).text(), 'hello', 'a Request as input');
  assert.is(await (await fetch(new URL(`${base}/`), null as unknown as RequestInit)).text(), 'hello', 'a URL, and init null');
  await stop(server);
});

test('other green threads run while fetch waits', async () => {
  const { server, base } = await serve();
  const ran = new Event<string>();
  spawn(() => ran.send('ran'));
  const [page, other] = await Promise.all([fetch(`${base}/`).then((r) => r.text()), ran.wait()]);
  assert.equal([page, other], ['hello', 'ran']);
  await stop(server);
});

test('a Timeout while waiting for the response aborts the request: the server sees its socket close', async () => {
  const { server, base, conns } = await serve();
  const t = new Timeout(0.05);
  assert.is(await rejection(fetch(`${base}/silent`)), t);
  assert.is(conns.length, 1);
  await wait(conns[0].closed);
  await stop(server);
});

test('kill while waiting for the response: the thread ends, the connection closes, the pool still works', async () => {
  const { server, base, conns, served, asked } = await serve();
  const gt = spawn(async () => {
    await fetch(`${base}/silent`);
    return 'not killed';
  });
  assert.is(await asked[0].wait(), '/silent');
  gt.kill();
  assert.is(await gt.wait(), undefined);
  await wait(served[0].closed);
  // Three requests after it, a turn apart (undici frees a socket a turn after
  // the body ends, stock as green): none on the aborted connection, and on
  // undici 6 (Node 20) one new connection kept alive for all three.
  for (let i = 0; i < 3; i++) {
    assert.is(await (await fetch(`${base}/`)).text(), 'hello');
    await tick();
  }
  assert.equal(served[0].urls, ['/silent'], 'the aborted connection was not reused');
  if (!undici7) {
    const after = new Set(served.slice(1));
    assert.is(after.size, 1, 'one connection, kept alive, for the requests after it');
    assert.is(conns.length, 2, 'no other connection was made');
  }
  // Undici 7 (Node 24), stock as green: after an aborted request it redials
  // a connection that carries nothing, and the next requests may each come on
  // a fresh one; so there only the aborted connection is checked.
  await stop(server);
});

test('a Timeout in text() aborts the body: the server sees its socket close', async () => {
  const { server, base, conns } = await serve();
  const r = await fetch(`${base}/drip`);
  assert.is(r.status, 200);
  const t = new Timeout(0.05);
  assert.is(await rejection(r.text()), t);
  await wait(conns[0].closed);
  assert.is(await (await fetch(`${base}/json`)).text(), '{"a":[1,2]}', 'the pool still works');
  await stop(server);
});

test('kill in json(), arrayBuffer() or blob() ends the thread and closes the connection', async () => {
  const { server, base, served } = await serve();
  for (const [i, method] of (['json', 'arrayBuffer', 'blob'] as const).entries()) {
    const r = await fetch(`${base}/drip`);
    const parked = new Event();
    const gt = spawn(async () => {
      const p = r[method]();
      parked.send();
      await p;
      return 'read';
    });
    await parked.wait();
    await sleep(0.01);
    gt.kill();
    assert.is(await gt.wait(), undefined, method);
    await wait(served[i].closed);
  }
  await stop(server);
});

test("the caller's signal aborts with its own reason, and keeps no listener from evy", async () => {
  const { server, base } = await serve();
  const ac = new AbortController();
  const p = fetch(`${base}/silent`, { signal: ac.signal });
  await sleep(0.01);
  ac.abort('why');
  assert.is(await rejection(p), 'why', 'the reason, as stock fetch rejects with it');
  const done = new AbortController();
  assert.is(await (await fetch(`${base}/`, { signal: done.signal })).text(), 'hello');
  assert.is(getEventListeners(done.signal, 'abort').length, 0, 'no listener on the caller\'s signal');
  const e = await rejection(fetch(`${base}/`, { signal: AbortSignal.abort('early') }));
  assert.is(e, 'early');
  // A Request's own signal is followed too.
  const rac = new AbortController();
  const rp = fetch(new Request(`${base}/silent`, { signal: rac.signal }));
  await sleep(0.01);
  rac.abort('request');
  assert.is(await rejection(rp), 'request');
  await stop(server);
});

test("the caller's signal and a Timeout together: whichever comes first wins", async () => {
  const { server, base, conns } = await serve();
  const ac = new AbortController();
  const t = new Timeout(0.05);
  assert.is(await rejection(fetch(`${base}/silent`, { signal: ac.signal })), t);
  assert.not.ok(ac.signal.aborted, 'the caller\'s signal is left alone');
  await wait(conns[0].closed);
  await stop(server);
});

test('what the stock fetch refuses, it refuses with its own error', async () => {
  const refused = async (f: typeof fetch, ...args: unknown[]) => {
    const e = (await rejection((f as (...a: unknown[]) => Promise<Response>)(...args))) as Error;
    return `${e.name}: ${e.message}`;
  };
  for (const args of [[], ['not a url'], ['http://127.0.0.1:1/', 5], ['http://127.0.0.1:1/', { signal: 'nope' }], ['http://127.0.0.1:1/']]) {
    assert.is(await refused(fetch, ...args), await refused(stockFetch, ...args), JSON.stringify(args));
  }
});

test('a Timeout already due when fetch is called: the request is abandoned at once', async () => {
  const { server, base, conns } = await serve();
  const gt = spawn(async () => {
    await new Promise<void>((r) => setImmediate(r)); // a foreign await: the kill is deferred to the next evy operation
    return fetch(`${base}/silent`);
  });
  await sleep(0);
  gt.kill();
  assert.is(await gt.wait(), undefined);
  for (let i = 0; i < 20 && conns.length > 0; i++) await sleep(0.01);
  for (const c of conns) await wait(c.closed); // a connection made before the abort landed is closed
  await stop(server);
});

test('greening the global fetch loads nothing of undici until the first call', () => {
  const dist = resolve(__dirname, '..', '..', 'dist');
  const code = `require(${JSON.stringify(join(dist, 'patched', 'fetch.js'))}).greenGlobalFetch();
const undici = () => process.moduleLoadList.some((m) => m.includes('undici'));
console.log(undici(), typeof fetch, undici());`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
  assert.is(r.stdout + r.stderr, 'false function false\n');
});

test('greenGlobalFetch greens the global once; a fetch someone else put there is wrapped', async () => {
  const target: { fetch?: typeof fetch } = { fetch: stockFetch };
  greenGlobalFetch(target);
  assert.is(target.fetch, fetch, 'the stock one becomes this module\'s fetch');
  greenGlobalFetch(target);
  assert.is(target.fetch, fetch, 'twice changes nothing');
  const calls: unknown[] = [];
  const mock = (async (input: unknown) => {
    calls.push(input);
    return new Response('mocked');
  }) as typeof fetch;
  const mocked: { fetch?: typeof fetch } = { fetch: mock };
  greenGlobalFetch(mocked);
  assert.is.not(mocked.fetch, mock);
  assert.is(await (await mocked.fetch!('http://x.invalid/')).text(), 'mocked');
  assert.equal(calls, ['http://x.invalid/']);
  const none: { fetch?: typeof fetch } = {};
  greenGlobalFetch(none);
  assert.is(none.fetch, undefined, 'no fetch, nothing to green');
});

test('monkeyPatch({ http: true }) makes the global fetch this one; a Timeout interrupts it', async () => {
  monkeyPatch({ http: true });
  assert.is(globalThis.fetch, fetch);
  const { server, base, conns } = await serve();
  const t = new Timeout(0.05);
  assert.is(await rejection(globalThis.fetch(`${base}/silent`)), t);
  await wait(conns[0].closed);
  await stop(server);
});

test('under evy run the global fetch is green: a Timeout aborts it, the server sees the socket close', async () => {
  const { server, base, conns } = await serve();
  const dir = mkdtempSync(join(tmpdir(), 'evy-fetch-'));
  const script = join(dir, 'script.ts');
  writeFileSync(
    script,
    [
      "import { Timeout } from 'evy';",
      'try {',
      '  using _t = new Timeout(0.05);',
      `  await fetch('${base}/silent');`,
      "  console.log('answered');",
      '} catch (err) {',
      "  console.log(err instanceof Timeout ? 'timed out' : String(err));",
      '}',
    ].join('\n'),
  );
  try {
    const child = spawnChild(process.execPath, [resolve(__dirname, '..', '..', 'bin', 'evy'), 'run', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000); // a stock fetch would never return: fail, not hang
    const [code] = (await wait(once(child, 'exit'))) as [number];
    clearTimeout(guard);
    assert.equal([code, out], [0, 'timed out\n']);
    await wait(conns[0].closed);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await stop(server);
  }
});

test.run();
