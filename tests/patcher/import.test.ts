// importPatched: one module graph with green modules, the rest of the process stock.
// (monkeyPatch is never called in this process: see monkey.test.ts.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join, relative } from 'node:path';
import { importPatched, isMonkeyPatched } from 'evy';
import * as greenDns from 'evy/patched/dns';
import { rejection, scratchDir } from '../helpers';

const { dir, file } = scratchDir('evy-import-', test.after);

file('helper.cjs', 'module.exports = { made: Symbol("copy") };\n');
file(
  'lib.cjs',
  [
    "const dns = require('dns');",
    "const nodeDns = require('node:dns');",
    "const helper = require('./helper.cjs');",
    'module.exports = { dns, nodeDns, helper, lookup: () => typeof dns.gethostbyname };',
  ].join('\n'),
);

type Lib = { dns: Record<string, unknown>; nodeDns: unknown; helper: { made: symbol }; lookup(): string };

test('the graph gets the green module; the process keeps the stock one', async () => {
  const lib = await importPatched<Lib>(join(dir, 'lib.cjs'));
  assert.is(lib.dns.gethostbyname, greenDns.gethostbyname, 'require("dns") inside is evy/patched/dns');
  assert.is(lib.nodeDns, lib.dns, "'node:dns' and 'dns' are the same green module");
  assert.is(lib.lookup(), 'function');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const stockDns = require('dns') as Record<string, unknown>;
  assert.is(stockDns.gethostbyname, undefined, 'require("dns") elsewhere is stock');
  assert.not.ok(isMonkeyPatched('dns'));
});

test('the graph\'s modules are its own copies; the same file twice in one graph is one module', async () => {
  const a = await importPatched<Lib>(join(dir, 'lib.cjs'));
  const b = await importPatched<Lib>(join(dir, 'lib.cjs'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const stock = require(join(dir, 'lib.cjs')) as Lib;
  assert.is.not(a.helper.made, stock.helper.made);
  assert.is.not(a.helper.made, b.helper.made, 'each importPatched is a fresh graph');
  assert.is(stock.dns.gethostbyname, undefined);
});

test('relative names resolve from the caller; replacements choose modules', async () => {
  const fake = { gethostbyname: () => 'fake' };
  const rel = relative(__dirname, join(dir, 'lib.cjs')); // ../../../tmp/evy-import-.../lib.cjs
  const lib = await importPatched<Lib>(rel.startsWith('.') ? rel : `./${rel}`, { dns: fake });
  assert.is(lib.dns, fake as unknown);
  const only = await importPatched<Lib>(join(dir, 'lib.cjs'), 'net');
  assert.is(only.dns.gethostbyname, undefined, "only 'net' was asked for: dns stays stock");
});

test('net in a graph is green; require("net") elsewhere stays stock', async () => {
  file('uses-net.cjs', "const net = require('net');\nmodule.exports = { Socket: net.Socket, connect: net.connect };\n");
  const lib = await importPatched<{ Socket: { prototype: Record<string, unknown> }; connect: unknown }>(join(dir, 'uses-net.cjs'), 'net');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const greenNet = require('evy/patched/net') as Record<string, unknown>;
  assert.is(lib.connect, greenNet.connect);
  assert.type(lib.Socket.prototype.recv, 'function');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const stockNet = require('net') as { createServer: unknown };
  assert.is.not(stockNet.createServer, greenNet.createServer, "the process's net keeps its own functions");
});

test('bad input names the problem', async () => {
  assert.match(String(await rejection(importPatched(''))), /name must be/);
  assert.match(String(await rejection(importPatched(join(dir, 'lib.cjs'), 'nosuch'))), /no green module replaces "nosuch"/);
  assert.match(String(await rejection(importPatched(join(dir, 'missing.cjs')))), /Cannot find module/);
});

test.run();
