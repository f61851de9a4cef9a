// evy/patched/dns: node:dns, plus Evy's green lookups, and dns.promises whose
// waits are evy operations. Every lookup resolves without blocking the hub
// (getaddrinfo runs in libuv's thread pool, honouring /etc/hosts) and is an
// evy operation: Timeout and kill interrupt it, and its late answer is dropped.
import * as dns from 'node:dns';
import { isIP } from 'node:net';
import { wait } from '../green/greenthread';
import { AF_INET, AF_INET6, SOCK_DGRAM, SOCK_STREAM } from '../io/socket';
import { dropIn } from './dropin';

export * from 'node:dns';

/** getaddrinfo's socket types and protocols, as numbers (Linux values). */
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export { AF_INET, AF_INET6, SOCK_DGRAM, SOCK_STREAM };
export const AF_UNSPEC = 0;

type Promises = typeof dns.promises;
type AsyncName = {
  [K in keyof Promises]: Promises[K] extends (...args: never[]) => Promise<unknown> ? K : never;
}[keyof Promises];

/** The promise API's functions that wait (not Resolver, setServers, the codes...). */
const WAITING: AsyncName[] = [
  'lookup', 'lookupService', 'resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCaa', 'resolveCname',
  'resolveMx', 'resolveNaptr', 'resolveNs', 'resolvePtr', 'resolveSoa', 'resolveSrv', 'resolveTxt', 'reverse',
];

// The stock lookups, taken at load (Node never replaces them; under
// monkeyPatch() the green ones go onto the same object).
const stockPromises: Pick<Promises, 'lookup' | 'lookupService'> = { lookup: dns.promises.lookup, lookupService: dns.promises.lookupService };

/** The real dns.promises (`require('dns/promises')`), greened in place by monkeyPatch(). */
const real = dns.promises as Promises & Record<string, unknown>;
let greenedInPlace = false;

/**
 * node:dns's promise API, each waiting call an evy operation: a Timeout or a
 * kill of the waiting thread interrupts it (the query still ends in libuv;
 * its answer is dropped). Every function looks the real one up at call
 * time: dns.setServers() rebinds the real object's resolver functions, and
 * these follow (getServers too). monkeyPatch() does not put this object on
 * node:dns: it greens the real one in place (its __evyPatch).
 */
export const promises: Promises = { ...real };
for (const [name, value] of Object.entries(real)) {
  if (typeof value !== 'function' || name === 'Resolver') continue;
  const waits = (WAITING as string[]).includes(name);
  (promises as Record<string, unknown>)[name] = {
    [name](...args: unknown[]): unknown {
      const r = (real[name] as (...a: unknown[]) => unknown)(...args);
      return waits && !greenedInPlace ? wait(r) : r;
    },
  }[name];
}

/** Wraps `stock` (called with the same `this`) as an evy operation named like it. */
function greenCall(name: string, stock: (...a: unknown[]) => unknown): (...a: unknown[]) => Promise<unknown> {
  return {
    [name](this: unknown, ...args: unknown[]) {
      return wait(stock.apply(this, args));
    },
  }[name];
}

/**
 * For monkeyPatch(), on the real dns.promises: its Resolver's waiting methods
 * become evy operations, so the functions dns.setServers() binds to a new
 * default resolver are green too, and so is `new dns.promises.Resolver()`;
 * the functions bound now and the lookups are wrapped where they are.
 */
function greenInPlace(target: Record<string, unknown>): void {
  if (greenedInPlace) return;
  greenedInPlace = true;
  const proto = (target.Resolver as { prototype: Record<string, unknown> }).prototype;
  for (const name of WAITING) {
    if (typeof proto[name] === 'function') proto[name] = greenCall(name, proto[name] as (...a: unknown[]) => unknown);
    if (typeof target[name] === 'function') target[name] = greenCall(name, target[name] as (...a: unknown[]) => unknown);
  }
}
Object.defineProperty(promises, '__evyPatch', { value: greenInPlace });

function checkHost(host: unknown, what: string): string {
  if (typeof host !== 'string' || host.length === 0) throw new TypeError(`${what}: host must be a non-empty string, got ${JSON.stringify(host)}`);
  return host;
}

function lookupError(err: unknown, host: string, syscall: string): unknown {
  const e = err as NodeJS.ErrnoException & { hostname?: string };
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    const out = new Error(`${syscall} ${e.code} ${host}`) as NodeJS.ErrnoException & { hostname?: string };
    out.code = e.code;
    out.errno = e.errno;
    out.syscall = syscall;
    out.hostname = host;
    return out;
  }
  return err;
}

/** The IPv4 address of `host` (a dotted quad is returned as it is). */
export async function gethostbyname(host: string): Promise<string> {
  checkHost(host, 'gethostbyname');
  if (isIP(host) === 4) return host;
  try {
    return (await wait(stockPromises.lookup(host, { family: 4 }))).address;
  } catch (err) {
    throw lookupError(err, host, 'gethostbyname');
  }
}

/** One getaddrinfo result: [family, type, proto, canonname, [address, port]] as in Python. */
export type AddrInfo = [number, number, number, string, [string, number]];

/**
 * Python's socket.getaddrinfo: every address of `host` (null: the loopback),
 * for each requested socket type (0: stream and datagram).
 */
export async function getaddrinfo(
  host: string | null,
  port: number | string | null,
  family = 0,
  type = 0,
  proto = 0,
  flags = 0,
): Promise<AddrInfo[]> {
  const name = host === null ? 'localhost' : checkHost(host, 'getaddrinfo');
  const p = port === null ? 0 : typeof port === 'string' ? Number(port) : port;
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new RangeError(`getaddrinfo: port must be 0-65535 or null, got ${String(port)}`);
  if (family !== 0 && family !== AF_INET && family !== AF_INET6) throw new RangeError(`getaddrinfo: unsupported family ${family}`);
  let addrs: dns.LookupAddress[];
  try {
    addrs = await wait(
      stockPromises.lookup(name, { all: true, family: family === AF_INET ? 4 : family === AF_INET6 ? 6 : 0, hints: flags }),
    );
  } catch (err) {
    throw lookupError(err, name, 'getaddrinfo');
  }
  const types = type === 0 ? [SOCK_STREAM, SOCK_DGRAM] : [type];
  const out: AddrInfo[] = [];
  for (const a of addrs) {
    for (const t of types) {
      const pr = proto !== 0 ? proto : t === SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
      out.push([a.family === 6 ? AF_INET6 : AF_INET, t, pr, '', [a.address, p]]);
    }
  }
  return out;
}

/** Python's socket.gethostbyaddr: [hostname, aliases, addresses] for an IP address. */
export async function gethostbyaddr(ip: string): Promise<[string, string[], string[]]> {
  checkHost(ip, 'gethostbyaddr');
  if (isIP(ip) === 0) throw new TypeError(`gethostbyaddr: ${JSON.stringify(ip)} is not an IP address`);
  try {
    const { hostname } = await wait(stockPromises.lookupService(ip, 0));
    return [hostname, [], [ip]];
  } catch (err) {
    throw lookupError(err, ip, 'gethostbyaddr');
  }
}

// A drop-in superset of node:dns: every stock name, read and written through to the builtin (see ./dropin).
module.exports = dropIn('dns', module.exports as object);
