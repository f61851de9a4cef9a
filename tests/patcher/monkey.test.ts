// monkeyPatch / isMonkeyPatched: the whole process, so this suite has its own.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMonkeyPatched, monkeyPatch } from 'evy';
import { findCapturedStock, GREEN_ADDITIONS, selectModules } from 'evy/patcher';
import * as greenDns from 'evy/patched/dns';
import * as greenOs from 'evy/patched/os';

const dir = mkdtempSync(join(tmpdir(), 'evy-monkey-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const ALL = ['net', 'dns', 'tls', 'timers', 'child_process', 'http', 'os', 'select', 'threading'];

test('Evy\'s keyword rules: all by default, only the true ones, all but the false ones', () => {
  assert.equal(selectModules(), ALL);
  assert.equal(selectModules({ all: true }), ALL);
  assert.equal(selectModules({ socket: true }), ['net', 'dns', 'tls']);
  assert.equal(selectModules({ time: true, childProcess: true }), ['timers', 'child_process']);
  assert.equal(selectModules({ socket: false, thread: false }), ['timers', 'child_process', 'http', 'os', 'select']);
  assert.equal(selectModules({ all: true, os: false }), ALL.filter((m) => m !== 'os'));
  assert.equal(selectModules({ all: false }), []);
  assert.throws(() => selectModules({ sockets: true } as never), /unknown keyword "sockets"/);
});

test('the declared additions are what the green modules add', () => {
  for (const [name, declared] of Object.entries(GREEN_ADDITIONS)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const stock = require(`node:${name}`) as Record<string, unknown>;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const green = require(`evy/patched/${name}`) as Record<string, unknown>;
    const added = Object.keys(green).filter((k) => !(k in stock) && k !== '__evyPatch' && k !== 'default').sort();
    assert.equal(added, [...declared].sort(), `evy/patched/${name}`);
  }
});

test('a module that copied a stock function before the patch is found', () => {
  const stockLookup = () => 'stock';
  const p = join(dir, 'captured.cjs');
  writeFileSync(p, 'module.exports = { lookup: globalThis.__evyStockLookup };\n');
  (globalThis as Record<string, unknown>).__evyStockLookup = stockLookup;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(p);
  const found = findCapturedStock(new Map([[stockLookup, 'dns.lookup']]));
  assert.equal(found, [{ module: p, name: 'dns.lookup', as: 'lookup' }]);
});

test('before the patch: stock, nothing patched', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  assert.is((require('dns') as Record<string, unknown>).gethostbyname, undefined);
  assert.not.ok(isMonkeyPatched('dns'));
});

test('monkeyPatch greens the builtin objects: require, node: and bare names, code loaded before', async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const heldBefore = require('node:dns') as Record<string, unknown>;
  assert.equal(monkeyPatch({ socket: true, os: true }), ['net', 'dns', 'tls', 'os']);
  assert.is(heldBefore.gethostbyname, greenDns.gethostbyname, 'an object held from before sees the green function');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  assert.is((require('dns') as Record<string, unknown>).gethostbyname, greenDns.gethostbyname);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  assert.is((require('os') as Record<string, unknown>).pipe, greenOs.pipe);
  // ESM: the default export is the patched object. (A named import of a name
  // the green module adds works only if nothing imported the builtin through
  // ESM before the patch: Node fixes a builtin's export names on first import.)
  const m = join(dir, 'esm.mjs');
  writeFileSync(m, "import dns, { lookup } from 'node:dns';\nimport os from 'os';\nexport default [dns.gethostbyname, typeof lookup, os.read];\n");
  const [viaDefault, lookupType, osRead] = (await import(pathToFileURL(m).href)).default as unknown[];
  assert.is(viaDefault, greenDns.gethostbyname);
  assert.is(lookupType, 'function', 'stock exports are still there');
  assert.is(osRead, greenOs.read);
});

test('isMonkeyPatched takes module names, node: names and keywords', () => {
  for (const n of ['net', 'node:net', 'dns', 'tls', 'socket', 'os']) assert.ok(isMonkeyPatched(n), n);
  for (const n of ['http', 'timers', 'time', 'childProcess', 'child_process', 'thread', 'select']) assert.not.ok(isMonkeyPatched(n), n);
  assert.throws(() => isMonkeyPatched(3 as never), /name must be a string/);
});

test('twice changes nothing; later calls add what was left out', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dns = require('dns') as Record<string, unknown>;
  const before = Object.getOwnPropertyNames(dns).map((k) => [k, Object.getOwnPropertyDescriptor(dns, k)]);
  assert.equal(monkeyPatch({ socket: true, os: true }), []);
  assert.equal(monkeyPatch({ dns: true }), []);
  const after = Object.getOwnPropertyNames(dns).map((k) => [k, Object.getOwnPropertyDescriptor(dns, k)]);
  assert.equal(after, before);
  assert.equal(monkeyPatch(), ['timers', 'child_process', 'http', 'select', 'threading']);
  assert.ok(isMonkeyPatched('thread'));
  assert.equal(monkeyPatch(), []);
});

test('replaced stock functions and submodules: child_process.execSync, timers/promises', async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const greenCp = require('evy/patched/child_process') as Record<string, unknown>;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const greenTimers = require('evy/patched/timers') as { promises: Record<string, unknown>; sleep: unknown };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  assert.is((require('child_process') as Record<string, unknown>).execSync, greenCp.execSync);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  assert.is((require('timers/promises') as Record<string, unknown>).setTimeout, greenTimers.promises.setTimeout);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  assert.is((require('node:timers') as Record<string, unknown>).sleep, greenTimers.sleep);
  const m = join(dir, 'esm2.mjs');
  writeFileSync(m, "import cp from 'node:child_process';\nimport { setTimeout as st } from 'timers/promises';\nexport default [cp.execSync, st];\n");
  const [execSync, st] = (await import(pathToFileURL(m).href)).default as unknown[];
  assert.is(execSync, greenCp.execSync);
  assert.is(st, greenTimers.promises.setTimeout, 'named ESM imports of replaced stock names are synced');
});

test('a CommonJS module loaded after the patch captures the green function', () => {
  const p = join(dir, 'third-party.cjs');
  writeFileSync(p, "const { gethostbyname } = require('dns');\nmodule.exports = { gethostbyname };\n");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  assert.is((require(p) as Record<string, unknown>).gethostbyname, greenDns.gethostbyname);
});

test('net: a module that takes net.connect after the patch makes sockets with the green calls', async () => {
  const p = join(dir, 'client-lib.cjs');
  writeFileSync(p, "const { connect, createServer } = require('net');\nmodule.exports = { connect, createServer };\n");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const lib = require(p) as { connect: typeof import('net').connect; createServer: typeof import('net').createServer };
  type Green = { recv(): Promise<Buffer>; sendall(d: string): Promise<void>; connected(): Promise<void>; accept(): Promise<[Green, unknown]> };
  const server = lib.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as import('net').AddressInfo).port;
  const c = lib.connect(port, '127.0.0.1') as unknown as Green & import('net').Socket;
  const [s] = await (server as unknown as Green).accept();
  await c.sendall('green');
  assert.is(String(await s.recv()), 'green');
  c.destroy();
  (s as unknown as import('net').Socket).destroy();
  await new Promise((r) => server.close(r));
});

test('accessors Node defines stay accessors (http.globalAgent can still be replaced)', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const http = require('http') as typeof import('http');
  const agent = new http.Agent();
  const old = http.globalAgent;
  http.globalAgent = agent;
  assert.is(http.globalAgent, agent);
  assert.ok(typeof Object.getOwnPropertyDescriptor(http, 'globalAgent')?.get === 'function');
  http.globalAgent = old;
});

test('a saved lazy descriptor defined again after the green module applied reads and writes without recursing (sinon, mock.timers)', () => {
  // In a fresh process: whether os is applied yet depends on the tests before.
  // os is loaded before the patch, so it gets the lazy accessors (one loaded
  // after it is greened as it loads, with no accessors).
  const script = `
    const { monkeyPatch } = require('evy/patcher');
    const os = require('node:os');
    monkeyPatch();
    const saved = Object.getOwnPropertyDescriptor(os, 'hostname');
    if (typeof saved.get !== 'function') throw new Error('not lazy');
    os.hostname(); // applies the green module
    const greenOs = require('evy/patched/os');
    Object.defineProperty(os, 'hostname', saved); // the restore
    const read = os.hostname === greenOs.hostname;
    os.hostname = () => 'mine';
    console.log(JSON.stringify({ read, written: os.hostname() }));`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: join(__dirname, '..', '..'), encoding: 'utf8', timeout: 30_000 });
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), { read: true, written: 'mine' });
});

test.run();
