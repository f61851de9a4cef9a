import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as stockDns from 'node:dns';
import { GreenletExit, Timeout, sleep, spawn } from 'evy';
import * as gdns from 'evy/patched/dns';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, promises as fsp, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertClean, rejection } from '../helpers';

test.after.each(assertClean);

/**
 * Makes lookups wait while `fn` runs: getaddrinfo runs in libuv's thread
 * pool, so the pool's four threads are kept busy opening FIFOs nobody writes
 * to; afterwards a writer opens each and the pool drains.
 */
async function withSilentResolver<T>(fn: () => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'evy-dns-'));
  const fifos = [0, 1, 2, 3].map((i) => join(dir, `f${i}`));
  for (const f of fifos) execFileSync('mkfifo', [f]);
  const readers = fifos.map((f) => fsp.open(f, 'r'));
  try {
    return await fn();
  } finally {
    for (const f of fifos) closeSync(openSync(f, 'w'));
    for (const r of readers) await (await r).close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('every node:dns export is there, unchanged but for promises, whose waiting calls are green', () => {
  for (const key of Object.keys(stockDns)) {
    if (key === 'default' || key === 'promises') continue; // 'default': the ESM namespace's interop key
    assert.is((gdns as Record<string, unknown>)[key], (stockDns as Record<string, unknown>)[key], key);
  }
  const stockP = stockDns.promises as unknown as Record<string, unknown>;
  const greenP = gdns.promises as unknown as Record<string, unknown>;
  assert.equal(Object.keys(greenP).sort(), Object.keys(stockP).sort());
  assert.is.not(greenP.lookup, stockP.lookup);
  assert.is(greenP.Resolver, stockP.Resolver);
  assert.is(greenP.NOTFOUND, stockP.NOTFOUND);
});

test('dns.promises: results as stock; Timeout and kill interrupt a waiting call', async () => {
  assert.equal(await gdns.promises.lookup('localhost', { family: 4 }), await stockDns.promises.lookup('localhost', { family: 4 }));
  await withSilentResolver(async () => {
    const t = new Timeout(0.02);
    assert.is(await rejection(gdns.promises.lookup('localhost')), t);
    const gt = spawn(() => gdns.promises.lookupService('127.0.0.1', 22));
    await sleep(0);
    gt.kill();
    assert.is(await gt.wait(), undefined);
  });
});

test('gethostbyname: /etc/hosts names, and a dotted quad as it is', async () => {
  assert.is(await gdns.gethostbyname('localhost'), '127.0.0.1');
  assert.is(await gdns.gethostbyname('10.1.2.3'), '10.1.2.3');
});

test('getaddrinfo: Python-shaped tuples for each socket type', async () => {
  assert.equal(await gdns.getaddrinfo('127.0.0.1', 80, gdns.AF_INET, gdns.SOCK_STREAM), [
    [gdns.AF_INET, gdns.SOCK_STREAM, gdns.IPPROTO_TCP, '', ['127.0.0.1', 80]],
  ]);
  const all = await gdns.getaddrinfo('localhost', '8080', gdns.AF_INET);
  assert.ok(all.some((a) => a[1] === gdns.SOCK_STREAM && a[4][0] === '127.0.0.1' && a[4][1] === 8080));
  assert.ok(all.some((a) => a[1] === gdns.SOCK_DGRAM && a[2] === gdns.IPPROTO_UDP));
  const v6 = await gdns.getaddrinfo('::1', null, gdns.AF_INET6, gdns.SOCK_STREAM);
  assert.equal(v6[0][4], ['::1', 0]);
  assert.is(v6[0][0], gdns.AF_INET6);
});

test('gethostbyaddr: the name /etc/hosts gives 127.0.0.1', async () => {
  const [name, aliases, addrs] = await gdns.gethostbyaddr('127.0.0.1');
  assert.type(name, 'string');
  assert.ok(name.length > 0);
  assert.equal(aliases, []);
  assert.equal(addrs, ['127.0.0.1']);
});

test('a name that does not resolve: a clear error with its code and the name', async () => {
  const err = (await rejection(gdns.gethostbyname('does-not-exist.invalid'))) as NodeJS.ErrnoException & { hostname: string };
  assert.ok(['ENOTFOUND', 'EAI_AGAIN'].includes(err.code!), String(err.code));
  assert.is(err.hostname, 'does-not-exist.invalid');
  assert.match(err.message, /does-not-exist\.invalid/);
  const e2 = (await rejection(gdns.getaddrinfo('does-not-exist.invalid', 80))) as NodeJS.ErrnoException;
  assert.is(e2.syscall, 'getaddrinfo');
});

test('a Timeout interrupts a lookup that never answers', async () => {
  await withSilentResolver(async () => {
    const t = new Timeout(0.01);
    assert.is(await rejection(gdns.gethostbyname('slow.example')), t);
    const u = new Timeout(0.01);
    assert.is(await rejection(gdns.getaddrinfo('slow.example', 80)), u);
  });
});

test('kill interrupts a lookup in another thread', async () => {
  await withSilentResolver(async () => {
    const gt = spawn(() => gdns.gethostbyname('slow.example'));
    await sleep(0);
    gt.kill();
    assert.is(await gt.wait(), undefined);
    const custom = new Error('stop');
    const gt2 = spawn(() => gdns.gethostbyaddr('127.0.0.1').then(() => 'x'));
    gt2.kill(custom);
    assert.is(await rejection(gt2.wait()), custom);
    assert.not.instance(custom, GreenletExit);
  });
});

test('bad input is refused clearly', async () => {
  assert.match(String(await rejection(gdns.gethostbyname(5 as unknown as string))), /host must be a non-empty string/);
  assert.match(String(await rejection(gdns.getaddrinfo('localhost', 70000))), /port must be 0-65535/);
  assert.match(String(await rejection(gdns.gethostbyaddr('not-an-ip'))), /not an IP address/);
  assert.match(String(await rejection(gdns.getaddrinfo('localhost', 80, 99))), /unsupported family/);
});

test.run();
