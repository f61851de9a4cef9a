// Lazy greening: monkeyPatch() and require('evy') load none of the builtins
// evy greens; each is greened when the program first loads it, after whatever
// the program set up (a stubbed binding); and dns.promises is the real object,
// greened in place, so dns.setServers() reaches it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kill, monkeyPatch, sleep, spawn, Timeout, withTimeout } from 'evy';
import { GREEN_DIRECT_ONLY, GREEN_REPLACES } from 'evy/patcher';
import { rejection, scratchDir } from '../helpers';

const root = join(__dirname, '..', '..');
const evy = join(root, 'bin', 'evy');
const { dir, file } = scratchDir('evy-lazy-', test.after);

/** Runs node (or evy) with `args`; its stdout's last line, parsed as JSON. */
function run(args: string[]): unknown {
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const GREENED = ['net', 'dns', 'tls', 'crypto', 'http', 'https', 'child_process', 'stream', 'module'];
const loadedOf = (list: string[]): string[] => GREENED.filter((m) => list.includes(`NativeModule ${m}`));

test('evy run of a one-line script loads no Node module that plain node does not', () => {
  // The script writes the load list before anything else, so its own
  // output's modules are not in it. Plain node with --enable-source-maps:
  // evy run turns source maps on, as that flag does. And plain node runs an
  // AsyncLocalStorage, as the hub does to run the script as the main green
  // thread (Node 20 has loaded all of it already; Node 24 loads its parts then).
  const write = "require('fs').writeFileSync(process.argv[2], JSON.stringify(process.moduleLoadList));\n";
  const script = file('one.js', write);
  const withStorage = file('storage.js', `new (require('async_hooks').AsyncLocalStorage)().run(0, () => {});\n${write}`);
  const out = (name: string): string => join(dir, name);
  for (const [name, args] of [
    ['plain.json', ['--enable-source-maps', withStorage, out('plain.json')]],
    ['evy.json', [evy, 'run', script, out('evy.json')]],
  ] as const) {
    const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 0, `${name}: ${r.stderr}`);
  }
  const plain = new Set(JSON.parse(readFileSync(out('plain.json'), 'utf8')) as string[]);
  const underEvy = JSON.parse(readFileSync(out('evy.json'), 'utf8')) as string[];
  // node:vm is evy's own: its start path compiles from V8's code cache (cli/compilecache.ts).
  const extra = underEvy.filter((m) => !plain.has(m) && m !== 'NativeModule vm');
  assert.equal(extra, [], 'modules evy run loaded that plain node did not');
  assert.ok(underEvy.length > 20, 'the list was read');
});

test("require('evy') and monkeyPatch() load none of net, dns, tls, crypto, http, child_process, stream, module", () => {
  // A file, not -e (which loads node:module itself).
  const got = run([
    file(
      'require-evy.cjs',
      `const evy = require(${JSON.stringify(root)});
     const afterRequire = process.moduleLoadList.slice();
     evy.monkeyPatch();
     console.log(JSON.stringify([afterRequire, process.moduleLoadList, evy.isMonkeyPatched('net')]));`,
    ),
  ]) as [string[], string[], boolean];
  assert.equal(loadedOf(got[0]), [], "after require('evy')");
  assert.equal(loadedOf(got[1]), [], 'after monkeyPatch()');
  assert.ok(got[2], 'isMonkeyPatched: chosen, greened when loaded');
});

test("Node's own reads of a stock name do not load the green module (stream's abort_controller reads timers)", () => {
  const got = run([
    file(
      'stream-first.cjs',
      `const evy = require(${JSON.stringify(root)});
       evy.monkeyPatch();
       require('stream');
       const before = Object.keys(require.cache).some((f) => f.endsWith('/patched/timers.js'));
       const timers = require('timers');
       const sleep = typeof timers.sleep;
       const after = Object.keys(require.cache).some((f) => f.endsWith('/patched/timers.js'));
       console.log(JSON.stringify({ before, sleep, after }));`,
    ),
  ]);
  assert.equal(got, { before: false, sleep: 'function', after: true });
});

test("monkeyPatch() keeps node:timers' own setTimeout and setImmediate, which promisify to the greened timers/promises", () => {
  const got = run([
    file(
      'promisify-timers.cjs',
      `const evy = require(${JSON.stringify(root)});
       evy.monkeyPatch();
       const timers = require('timers');
       const { promisify } = require('util');
       console.log(JSON.stringify([
         timers.setTimeout === globalThis.setTimeout,
         timers.setImmediate === globalThis.setImmediate,
         promisify(timers.setTimeout) === require('timers/promises').setTimeout,
         promisify(timers.setImmediate) === require('timers/promises').setImmediate,
         promisify(timers.setTimeout) === require(${JSON.stringify(join(root, 'dist', 'patched', 'timers.js'))}).promises.setTimeout,
       ]));`,
    ),
  ]);
  assert.equal(got, [true, true, true, true, true]);
});

test('GREEN_REPLACES names every stock name its green modules replace', () => {
  for (const [name, declared] of Object.entries(GREEN_REPLACES)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const stock = require(`node:${name}`) as Record<string, unknown>;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const green = require(`evy/patched/${name}`) as Record<string, unknown>;
    const submodules = name === 'timers' || name === 'dns' ? ['promises'] : [];
    const direct = GREEN_DIRECT_ONLY[name] ?? [];
    const replaced = Object.keys(green)
      .filter((k) => k in stock && green[k] !== stock[k] && !submodules.includes(k) && !direct.includes(k))
      .sort();
    assert.equal(replaced, [...(declared ?? [])].sort(), `evy/patched/${name}`);
  }
});

test('a builtin is greened when the program loads it: require, node:, process.getBuiltinModule', () => {
  const got = run([
    '-e',
    `const evy = require(${JSON.stringify(root)});
     evy.monkeyPatch();
     const loaded = (m) => process.moduleLoadList.includes('NativeModule ' + m);
     const before = [loaded('dns'), loaded('child_process')];
     const dns = require('dns');
     const cp = process.getBuiltinModule('node:child_process');
     console.log(JSON.stringify({ before, dns: typeof dns.gethostbyname, cp: typeof cp.checkOutput,
       same: require('node:dns') === dns, promises: dns.promises === require('dns/promises') }));`,
  ]);
  assert.equal(got, { before: [false, false], dns: 'function', cp: 'function', same: true, promises: true });
});

// test-dns-lookup.js's way: stub the binding, then load dns. Node's modules
// capture their bindings as they load, so a builtin loaded by monkeyPatch()
// would keep the real one.
const stubThenLookup = (load: string): string => `
  const { internalBinding } = require('internal/test/binding');
  const cares = internalBinding('cares_wrap');
  cares.getaddrinfo = () => internalBinding('uv').UV_ENOMEM;
  ${load}
  dns.lookup('stubbed.invalid', (err) => console.log(JSON.stringify({ code: err && err.code, green: typeof dns.gethostbyname })));`;

test('a binding stubbed before the program loads the builtin is the one it uses (CommonJS)', () => {
  const stock = run(['--expose-internals', '--no-warnings', '-e', stubThenLookup("const dns = require('dns');")]);
  assert.equal(stock, { code: 'ENOMEM', green: 'undefined' });
  const patched = run([
    '--expose-internals',
    '--no-warnings',
    '-e',
    `require(${JSON.stringify(root)}).monkeyPatch();` + stubThenLookup("const dns = require('dns');"),
  ]);
  assert.equal(patched, { code: 'ENOMEM', green: 'function' });
});

test('a binding stubbed before the program imports the builtin is the one it uses (ESM, node and evy run)', () => {
  const body = (patch: string): string =>
    [
      "import { createRequire } from 'node:module';",
      'const require = createRequire(import.meta.url);',
      patch,
      stubThenLookup("const ns = await import('node:dns'); const dns = ns.default; if (ns.lookup !== dns.lookup) throw new Error('named export');"),
    ].join('\n');
  const plain = file('stub.mjs', body(`require(${JSON.stringify(root)}).monkeyPatch();`));
  assert.equal(run(['--expose-internals', '--no-warnings', plain]), { code: 'ENOMEM', green: 'function' });
  const underEvy = file('stub-evy.mjs', body(''));
  assert.equal(run(['--expose-internals', '--no-warnings', evy, 'run', underEvy]), { code: 'ENOMEM', green: 'function' });
});

test("stubs of http_parser and crypto's SecureContext reach _http_common and tls (Node's own tests' way), as on stock", () => {
  const script = (patch: string): string => `${patch}
    const { internalBinding } = require('internal/test/binding');
    class DummyParser { initialize(type) { this.type = type; } }
    DummyParser.REQUEST = Symbol('request');
    internalBinding('http_parser').HTTPParser = DummyParser;
    const crypto = internalBinding('crypto');
    const Native = crypto.SecureContext;
    crypto.SecureContext = function () { const c = new Native(); c.setClientCertEngine = undefined; return c; };
    require('child_process');
    const parser = require('_http_common').parsers.alloc();
    let code;
    try { require('tls').createSecureContext({ clientCertEngine: 'nothing' }); } catch (e) { code = e.code; }
    console.log(JSON.stringify({ dummy: parser instanceof DummyParser, code, green: typeof require('http').urlopen }));`;
  const stock = run(['--expose-internals', '--no-warnings', '-e', script('')]) as Record<string, unknown>;
  assert.equal(stock, { dummy: true, code: 'ERR_CRYPTO_CUSTOM_ENGINE_NOT_SUPPORTED', green: 'undefined' });
  const patched = run(['--expose-internals', '--no-warnings', '-e', script(`require(${JSON.stringify(root)}).monkeyPatch();`)]);
  assert.equal(patched, { ...stock, green: 'function' });
});

// ---- dns.promises: the real object, greened in place ---------------------------

interface DnsServer {
  port: number;
  /** the names asked for, in order */
  queries: string[];
  /** resolves once every late answer is sent */
  answered(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A DNS server on 127.0.0.1 that counts queries and answers A queries for
 * *.ok.test with 10.0.0.<n>; names starting slow. are answered 300 ms late
 * (so a query interrupted early still ends, and nothing is left pending).
 */
async function dnsServer(n: number): Promise<DnsServer> {
  const sock = dgram.createSocket('udp4');
  const queries: string[] = [];
  const late: Promise<void>[] = [];
  sock.on('message', (msg, rinfo) => {
    // header (12 bytes), then the question: length-prefixed labels, a 0, type and class
    const labels: string[] = [];
    let i = 12;
    while (i < msg.length && msg[i] !== 0) {
      labels.push(msg.subarray(i + 1, i + 1 + msg[i]).toString('latin1'));
      i += 1 + msg[i];
    }
    const question = msg.subarray(12, i + 5);
    const name = labels.join('.');
    queries.push(name);
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // the query's id
    header.writeUInt16BE(0x8180, 2); // a response, recursion desired and available, no error
    header.writeUInt16BE(1, 4); // one question
    header.writeUInt16BE(1, 6); // one answer
    const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, n]); // the question's name, A, IN, ttl 60
    const reply = Buffer.concat([header, question, answer]);
    const send = (): Promise<void> => new Promise((r) => sock.send(reply, rinfo.port, rinfo.address, () => r()));
    if (!name.startsWith('slow')) void send();
    else late.push(new Promise((r) => globalThis.setTimeout(r, 300)).then(send));
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  return {
    port: sock.address().port,
    queries,
    answered: async () => {
      await Promise.all(late);
    },
    close: () => new Promise<void>((r) => sock.close(r)),
  };
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeDns = (): typeof import('node:dns') => require('node:dns') as typeof import('node:dns');

test('stock: dns.setServers() reaches dns.promises.resolve4 and getServers', async () => {
  const server = await dnsServer(1);
  const dns = nodeDns();
  const servers = dns.getServers();
  try {
    dns.setServers([`127.0.0.1:${server.port}`]);
    assert.equal(await dns.promises.resolve4('a.ok.test'), ['10.0.0.1']);
    assert.equal(server.queries, ['a.ok.test']);
    assert.equal(dns.promises.getServers(), [`127.0.0.1:${server.port}`]);
  } finally {
    dns.setServers(servers);
    await server.close();
  }
});

test('monkeyPatched: the same object, and dns.setServers() reaches it', async () => {
  monkeyPatch({ dns: true });
  const dns = nodeDns();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  assert.is(dns.promises, require('dns/promises'), "require('dns').promises is require('dns/promises')");
  const first = await dnsServer(2);
  const second = await dnsServer(3);
  const servers = dns.getServers();
  try {
    dns.setServers([`127.0.0.1:${first.port}`]);
    assert.equal(await dns.promises.resolve4('b.ok.test'), ['10.0.0.2']);
    dns.setServers([`127.0.0.1:${second.port}`]);
    assert.equal(dns.promises.getServers(), [`127.0.0.1:${second.port}`]);
    assert.equal(await dns.promises.resolve4('c.ok.test'), ['10.0.0.3']);
    assert.equal(first.queries, ['b.ok.test']);
    assert.equal(second.queries, ['c.ok.test'], 'the query after setServers went to the new server');
  } finally {
    dns.setServers(servers);
    await first.close();
    await second.close();
  }
});

test('monkeyPatched: dns.promises waits are evy operations, after setServers and in a new Resolver', async () => {
  const dns = nodeDns();
  const server = await dnsServer(4);
  const servers = dns.getServers();
  const resolver = new dns.promises.Resolver();
  try {
    // The default resolver's functions, rebound by setServers: a Timeout interrupts them.
    dns.setServers([`127.0.0.1:${server.port}`]);
    const err = await rejection(withTimeout(0.05, () => dns.promises.resolve4('slow.ok.test')));
    assert.instance(err, Timeout);
    // A Resolver of the program's own, killed while it waits.
    resolver.setServers([`127.0.0.1:${server.port}`]);
    let caught: unknown;
    const waiter = spawn(async () => {
      try {
        await resolver.resolve4('slow2.ok.test');
      } catch (e) {
        caught = e;
      }
    });
    while (!server.queries.includes('slow2.ok.test')) await sleep(0.01);
    kill(waiter);
    await waiter.wait();
    assert.is((caught as Error | undefined)?.name, 'GreenletExit', 'the kill reached the waiting thread');
    assert.equal(await resolver.resolve4('e.ok.test'), ['10.0.0.4'], 'and it still answers');
    assert.equal(server.queries, ['slow.ok.test', 'slow2.ok.test', 'e.ok.test']);
  } finally {
    await server.answered();
    resolver.cancel();
    dns.setServers(servers);
    await server.close();
  }
});

test.run();
