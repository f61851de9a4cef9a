// node:dns scenarios. getaddrinfo lookups stay on localhost and IP literals
// (/etc/hosts answers, no DNS traffic); the c-ares side (Resolver, resolve*)
// asks a fake DNS server on 127.0.0.1 (lib/fakedns.ts).
import * as dns from 'node:dns';
import * as dnsPromises from 'node:dns/promises';
import { fakeDns, type FakeDns } from './lib/fakedns';
import type { Scenario, Trace } from './lib/trace';
import { thrown } from './lib/util';

const ZONE = {
  'host.test': { A: ['10.1.2.3', '10.1.2.4'], AAAA: ['2001:db8::1'], TXT: [['v=evy1'], ['part one ', 'part two']], MX: [{ priority: 10, exchange: 'mx1.host.test' }, { priority: 20, exchange: 'mx2.host.test' }] },
  'alias.test': { CNAME: 'host.test' },
  'empty.test': {},
  '_svc._tcp.host.test': { SRV: [{ priority: 1, weight: 5, port: 8080, name: 'srv.host.test' }] },
  '5.0.0.127.in-addr.arpa': { PTR: ['five.host.test'] },
  'servfail.test': { rcode: 2 },
  'refused.test': { rcode: 5 },
  'drop.test': { drop: true },
};

/** A Resolver (from the dns module as it is now) pointed at a fresh fake server. */
async function withResolver(fn: (r: dns.Resolver, fake: FakeDns) => Promise<void>): Promise<void> {
  const fake = await fakeDns(ZONE);
  const r = new dns.Resolver({ timeout: 300, tries: 1 });
  r.setServers([fake.server]);
  try {
    await fn(r, fake);
  } finally {
    r.cancel();
    await fake.close();
  }
}

/** A callback API call as [err, ...results]. */
function call(fn: (cb: (...args: unknown[]) => void) => void): Promise<unknown[]> {
  return new Promise((resolve) => fn((...args) => resolve(args)));
}

async function logCall(t: Trace, label: string, fn: (cb: (...args: unknown[]) => void) => void): Promise<void> {
  const [err, ...rest] = await call(fn);
  if (err) {
    const e = err as NodeJS.ErrnoException & { hostname?: string };
    t.error(label, e);
    t.log(`${label} fields`, { syscall: e.syscall ?? null, hostname: e.hostname ?? null });
  } else t.log(label, rest);
}

async function logPromise(t: Trace, label: string, p: Promise<unknown>): Promise<void> {
  try {
    t.log(label, await p);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { hostname?: string };
    t.error(label, e);
    t.log(`${label} fields`, { syscall: e.syscall ?? null, hostname: e.hostname ?? null });
  }
}

export const scenarios: Scenario[] = [
  {
    name: 'lookup localhost with family 4 (number and option)',
    async run(t) {
      await logCall(t, 'family 4', (cb) => dns.lookup('localhost', 4, cb));
      await logCall(t, '{ family: 4 }', (cb) => dns.lookup('localhost', { family: 4 }, cb));
      await logCall(t, "{ family: 'IPv4' }", (cb) => dns.lookup('localhost', { family: 'IPv4' as unknown as number }, cb));
    },
  },
  {
    name: 'lookup localhost with all: true',
    async run(t) {
      await logCall(t, 'all', (cb) => dns.lookup('localhost', { all: true }, cb));
      await logCall(t, 'all family 4', (cb) => dns.lookup('localhost', { all: true, family: 4 }, cb));
      await logCall(t, 'all verbatim', (cb) => dns.lookup('localhost', { all: true, verbatim: true }, cb));
    },
  },
  {
    name: 'lookup of IP literals needs no resolver',
    async run(t) {
      await logCall(t, '127.0.0.1', (cb) => dns.lookup('127.0.0.1', cb));
      await logCall(t, '::1', (cb) => dns.lookup('::1', cb));
      await logCall(t, '::1 all', (cb) => dns.lookup('::1', { all: true }, cb));
      await logCall(t, '10.0.0.1 family 4', (cb) => dns.lookup('10.0.0.1', { family: 4 }, cb));
    },
  },
  {
    name: 'lookup callbacks are always asynchronous',
    async run(t) {
      const order: string[] = [];
      const a = call((cb) => dns.lookup('127.0.0.1', cb)).then(() => order.push('literal callback'));
      const b = call((cb) => dns.lookup('localhost', cb)).then(() => order.push('localhost callback'));
      order.push('after the calls');
      await Promise.all([a, b]);
      t.log('first', order[0]);
      t.log('all', [...order].sort());
    },
  },
  {
    name: 'lookup of an empty hostname',
    async run(t) {
      const prev = process.noDeprecation;
      process.noDeprecation = true;
      try {
        await logCall(t, "''", (cb) => dns.lookup('', cb));
        await logCall(t, "'' family 6", (cb) => dns.lookup('', { family: 6 }, cb));
        await logCall(t, "'' all", (cb) => dns.lookup('', { all: true }, cb));
      } finally {
        process.noDeprecation = prev;
      }
    },
  },
  {
    name: 'lookup argument validation',
    async run(t) {
      const noop = (): void => {};
      t.error('hostname number', thrown(() => dns.lookup(123 as unknown as string, noop)));
      t.error('no callback', thrown(() => (dns.lookup as unknown as (h: string) => void)('localhost')));
      t.error('family 5', thrown(() => dns.lookup('localhost', 5 as 4, noop)));
      t.error('family option 7', thrown(() => dns.lookup('localhost', { family: 7 }, noop)));
      t.error('hints bogus', thrown(() => dns.lookup('localhost', { hints: 123456 }, noop)));
      t.error('all not boolean', thrown(() => dns.lookup('localhost', { all: 'yes' as unknown as boolean }, noop)));
    },
  },
  {
    name: 'dns.promises.lookup',
    async run(t) {
      await logPromise(t, 'localhost 4', dnsPromises.lookup('localhost', { family: 4 }));
      await logPromise(t, 'localhost all', dnsPromises.lookup('localhost', { all: true }));
      await logPromise(t, '::1', dnsPromises.lookup('::1'));
      await logPromise(t, 'dns.promises is dns/promises', Promise.resolve(dns.promises === dnsPromises));
      try {
        await dnsPromises.lookup(42 as unknown as string);
        t.log('no throw?!');
      } catch (err) {
        t.error('bad hostname', err);
      }
    },
  },
  {
    name: 'lookupService via getnameinfo',
    async run(t) {
      await logCall(t, '127.0.0.1:22', (cb) => dns.lookupService('127.0.0.1', 22, cb));
      await logPromise(t, 'promise 127.0.0.1:80', dnsPromises.lookupService('127.0.0.1', 80));
      t.error('bad address', thrown(() => dns.lookupService('not-an-ip', 22, () => {})));
      t.error('bad port', thrown(() => dns.lookupService('127.0.0.1', 70000, () => {})));
      t.error('no callback', thrown(() => (dns.lookupService as unknown as (a: string, p: number) => void)('127.0.0.1', 22)));
    },
  },
  {
    name: 'default result order',
    async run(t) {
      const get = (dns as unknown as { getDefaultResultOrder?: () => string }).getDefaultResultOrder;
      const before = get ? get() : 'n/a';
      t.log('default', before);
      dns.setDefaultResultOrder('ipv4first');
      t.log('after set', get ? get() : 'n/a');
      t.error('invalid', thrown(() => dns.setDefaultResultOrder('random' as 'verbatim')));
      dns.setDefaultResultOrder(before as 'verbatim');
      t.log('restored', get ? get() : 'n/a');
    },
  },
  {
    name: 'Resolver getServers / setServers formats',
    async run(t) {
      const r = new dns.Resolver();
      r.setServers(['127.0.0.1', '127.0.0.2:5353', '[::1]:53', '[::1]:5353', '::2']);
      t.log('servers', r.getServers());
      t.error('invalid ip', thrown(() => r.setServers(['not an ip'])));
      t.error('not an array', thrown(() => r.setServers('127.0.0.1' as unknown as string[])));
      t.error('bad entry type', thrown(() => r.setServers([1 as unknown as string])));
      t.log('unchanged after errors', r.getServers());
    },
  },
  {
    name: 'Resolver constructor options validation',
    async run(t) {
      t.error('timeout string', thrown(() => new dns.Resolver({ timeout: 'x' as unknown as number })));
      t.error('tries 0', thrown(() => new dns.Resolver({ tries: 0 })));
      t.log('valid', thrown(() => new dns.Resolver({ timeout: -1, tries: 2 })));
    },
  },
  {
    name: 'resolve4 against a local server (and ttl)',
    async run(t) {
      await withResolver(async (r, fake) => {
        await logCall(t, 'resolve4', (cb) => r.resolve4('host.test', cb));
        await logCall(t, 'resolve4 ttl', (cb) => r.resolve4('host.test', { ttl: true }, cb));
        t.log('queries', fake.queries);
      });
    },
  },
  {
    name: 'resolve6, resolveTxt, resolveMx, resolveSrv',
    async run(t) {
      await withResolver(async (r) => {
        await logCall(t, 'resolve6', (cb) => r.resolve6('host.test', cb));
        await logCall(t, 'resolve6 ttl', (cb) => r.resolve6('host.test', { ttl: true }, cb));
        await logCall(t, 'resolveTxt', (cb) => r.resolveTxt('host.test', cb));
        await logCall(t, 'resolveMx', (cb) => r.resolveMx('host.test', cb));
        await logCall(t, 'resolveSrv', (cb) => r.resolveSrv('_svc._tcp.host.test', cb));
      });
    },
  },
  {
    name: 'resolveCname',
    async run(t) {
      await withResolver(async (r) => {
        await logCall(t, 'resolveCname', (cb) => r.resolveCname('alias.test', cb));
      });
    },
  },
  {
    name: 'resolve(name, rrtype) and a bad rrtype',
    async run(t) {
      await withResolver(async (r) => {
        await logCall(t, "resolve 'A'", (cb) => r.resolve('host.test', 'A', cb));
        await logCall(t, 'resolve default', (cb) => r.resolve('host.test', cb as (e: Error | null, a: string[]) => void));
        await logCall(t, "resolve 'MX'", (cb) => r.resolve('host.test', 'MX', cb));
        t.error('bad rrtype', thrown(() => r.resolve('host.test', 'BOGUS' as 'A', () => {})));
        t.error('name not a string', thrown(() => r.resolve4(5 as unknown as string, () => {})));
      });
    },
  },
  {
    name: 'NXDOMAIN is ENOTFOUND',
    async run(t) {
      await withResolver(async (r) => {
        await logCall(t, 'resolve4', (cb) => r.resolve4('nowhere.test', cb));
        await logCall(t, 'resolveTxt', (cb) => r.resolveTxt('nowhere.test', cb));
      });
    },
  },
  {
    name: 'no records of the type is ENODATA',
    async run(t) {
      await withResolver(async (r) => {
        await logCall(t, 'resolve4', (cb) => r.resolve4('empty.test', cb));
        await logCall(t, 'resolveMx', (cb) => r.resolveMx('_svc._tcp.host.test', cb));
      });
    },
  },
  {
    name: 'SERVFAIL and REFUSED',
    async run(t) {
      await withResolver(async (r) => {
        await logCall(t, 'servfail', (cb) => r.resolve4('servfail.test', cb));
        await logCall(t, 'refused', (cb) => r.resolve4('refused.test', cb));
      });
    },
  },
  {
    name: 'no answer: ETIMEOUT',
    async run(t) {
      await withResolver(async (r) => {
        await logCall(t, 'resolve4', (cb) => r.resolve4('drop.test', cb));
      });
    },
  },
  {
    name: 'cancel() fails pending queries with ECANCELLED',
    async run(t) {
      await withResolver(async (r, fake) => {
        const p = call((cb) => r.resolve4('drop.test', cb));
        const q = call((cb) => r.resolveTxt('drop.test', cb));
        while (fake.queries.length < 2) await new Promise((res) => setTimeout(res, 5));
        r.cancel();
        const [[e1], [e2]] = await Promise.all([p, q]);
        t.error('resolve4', e1);
        t.error('resolveTxt', e2);
      });
    },
  },
  {
    name: 'reverse through the local server',
    async run(t) {
      await withResolver(async (r, fake) => {
        await logCall(t, 'reverse', (cb) => r.reverse('127.0.0.5', cb));
        await logCall(t, 'reverse NXDOMAIN', (cb) => r.reverse('127.0.0.6', cb));
        t.error('reverse bad ip', thrown(() => r.reverse('nope', () => {})));
        t.log('queries', fake.queries);
      });
    },
  },
  {
    name: 'dns.promises.Resolver',
    async run(t) {
      const fake = await fakeDns(ZONE);
      const r = new dnsPromises.Resolver({ timeout: 300, tries: 1 });
      r.setServers([fake.server]);
      await logPromise(t, 'resolve4', r.resolve4('host.test'));
      await logPromise(t, 'resolveTxt', r.resolveTxt('host.test'));
      await logPromise(t, 'resolve MX', r.resolve('host.test', 'MX'));
      await logPromise(t, 'ENOTFOUND', r.resolve4('nowhere.test'));
      await logPromise(t, 'ESERVFAIL', r.resolve6('servfail.test'));
      t.log('servers are ours', r.getServers()[0] === fake.server);
      await fake.close();
    },
  },
  {
    name: 'many queries at once, answers in order',
    async run(t) {
      await withResolver(async (r) => {
        const names = ['host.test', 'nowhere.test', 'empty.test', 'host.test', 'alias.test', 'refused.test'];
        const results = await Promise.all(names.map((n) => call((cb) => r.resolve4(n, cb))));
        t.log(
          'results',
          results.map(([err, v]) => (err ? (err as NodeJS.ErrnoException).code : v)),
        );
      });
    },
  },
  {
    name: 'a server that refuses the port: ECONNREFUSED',
    async run(t) {
      const fake = await fakeDns(ZONE);
      const server = fake.server;
      await fake.close();
      const r = new dns.Resolver({ timeout: 300, tries: 1 });
      r.setServers([server]);
      const [err] = await call((cb) => r.resolve4('host.test', cb));
      t.error('error', err);
    },
  },
  {
    name: 'error code constants',
    async run(t) {
      t.log('codes', [dns.NODATA, dns.FORMERR, dns.SERVFAIL, dns.NOTFOUND, dns.NOTIMP, dns.REFUSED, dns.TIMEOUT, dns.CANCELLED, dns.CONNREFUSED]);
      t.log('hints', { ADDRCONFIG: dns.ADDRCONFIG, V4MAPPED: dns.V4MAPPED, ALL: dns.ALL });
      t.log('promises codes', [dnsPromises.NOTFOUND, dnsPromises.TIMEOUT]);
    },
  },
];
