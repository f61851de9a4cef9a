// Shared helpers for the uvu suites.
import * as assert from 'uvu/assert';
import { getHub, GreenSocket, listen, sleep, withTimeout, type Address } from 'evy';
import { AF_INET } from 'evy/patched/socket';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Lets every runnable green thread finish what it can (a few loop turns). */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await sleep(0);
}

/** Asserts the hub holds nothing: no timer, listener, runnable entry or live thread. */
export async function assertClean(): Promise<void> {
  await settle();
  assert.equal(getHub().counts(), { timers: 0, listeners: 0, runnable: 0, threads: 0 }, 'the hub holds leftovers');
}

/** The open file descriptors of this process. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Socket fds of this process (readlink says socket:[inode]). */
export function socketFds(): number {
  let n = 0;
  for (const e of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${e}`).startsWith('socket:')) n++;
    } catch {
      // closed between readdir and readlink
    }
  }
  return n;
}

/** Resolves on the next macrotask: lets callbacks that are not green threads run. */
export function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** The rejection reason of `p` (fails the test if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    const v = await p;
    assert.unreachable(`expected a rejection, got ${String(v)}`);
  } catch (err) {
    if (err instanceof assert.Assertion) throw err;
    return err;
  }
}

/** Runs `fn` with process.stderr.write captured; returns its result and what was printed. */
export async function captureStderr<T>(fn: () => T | Promise<T>): Promise<[T, string]> {
  const orig = process.stderr.write;
  let printed = '';
  process.stderr.write = ((s: string | Uint8Array) => {
    printed += typeof s === 'string' ? s : Buffer.from(s).toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    return [await fn(), printed];
  } finally {
    process.stderr.write = orig;
  }
}

/** A self-signed certificate for localhost / 127.0.0.1, made by openssl for the calling test. */
export function localhostCert(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'evy-cert-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A connect that neither completes nor fails (eventlet's tests use 192.0.2.1,
// TEST-NET). Not a non-routable address such as 10.255.255.1: whether that
// hangs, fails at once (no route) or answers depends on the network, and tests
// here target loopback only. Instead, a listener with backlog 0 that never
// accepts. libuv takes one connection off the queue and holds it until
// accept(), the kernel queues one more, and after that Linux drops the SYNs of
// new connections, so connect() stays pending (the SYN retries take seconds).
// Filled once per suite and shared by its tests; releaseHangingAddress() in the
// suite's after() closes it. The probe that finds the point where connects
// start hanging uses a wide margin (1 s): a connect on loopback to a listener
// with room completes in well under that.
let hole: { srv: GreenSocket; fill: GreenSocket[]; addr: Address } | null = null;

/** An address on 127.0.0.1 whose connect stays pending. */
export async function hangingAddress(): Promise<Address> {
  if (hole !== null) return hole.addr;
  const srv = listen(['127.0.0.1', 0], { backlog: 0 });
  const addr = srv.getsockname();
  const fill: GreenSocket[] = [];
  for (let i = 0; i < 16; i++) {
    const c = new GreenSocket(AF_INET);
    const done = await withTimeout(1, () => c.connect(addr).then(() => true), { timeoutValue: false });
    if (!done) {
      assert.ok(c.closed, 'an interrupted connect closes its socket');
      hole = { srv, fill, addr };
      return addr;
    }
    fill.push(c);
  }
  for (const s of [srv, ...fill]) s.close();
  throw new Error('could not fill the backlog of a listener: connects keep completing');
}

/** Closes what hangingAddress() opened. */
export function releaseHangingAddress(): void {
  if (hole === null) return;
  for (const s of [hole.srv, ...hole.fill]) s.close();
  hole = null;
}

/**
 * A temporary directory for one suite, removed by the `after` hook given
 * (uvu's test.after), and `file(name, text)`, which writes a file there and
 * returns its path.
 */
export function scratchDir(prefix: string, after: (fn: () => void) => void): { dir: string; file: (name: string, text: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  return { dir, file };
}
