// Shared helpers for the uvu suites.
import * as assert from 'uvu/assert';
import { getHub, sleep } from 'evy';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
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
