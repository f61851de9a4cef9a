// evy/patched/os: node:os, plus green reads and writes on pipes and other
// pollable non-blocking descriptors, through the hub's fd listeners. A read or
// write that would block parks the green thread (trampoline) instead.
import * as fs from 'node:fs';
import { binding } from '../hub/binding';
import { getHub } from '../hub/hub';
import { trampoline } from '../hubs';
import { dropIn } from './dropin';

export * from 'node:os';

const hub = getHub();

function checkFd(fd: unknown, what: string): number {
  if (!Number.isInteger(fd) || (fd as number) < 0) throw new TypeError(`${what}: fd must be a non-negative integer, got ${String(fd)}`);
  return fd as number;
}

function wouldBlock(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
}

/** A non-blocking, close-on-exec pipe: [readFd, writeFd]. */
export function pipe(): [number, number] {
  return binding.pipe();
}

/** Up to `n` bytes from `fd`, waiting (green) until some are there; empty at EOF. */
export async function read(fd: number, n: number): Promise<Buffer> {
  checkFd(fd, 'read');
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`read: n must be a non-negative integer, got ${String(n)}`);
  const pending = hub.check();
  if (pending !== null) await pending;
  const buf = Buffer.allocUnsafe(n);
  for (;;) {
    try {
      return buf.subarray(0, fs.readSync(fd, buf, 0, n, null));
    } catch (err) {
      if (!wouldBlock(err)) throw err;
    }
    await trampoline(fd, { read: true });
  }
}

/** Writes `data` to `fd`, waiting (green) while it is full; resolves the bytes written (all). */
export async function write(fd: number, data: Buffer | Uint8Array | string): Promise<number> {
  checkFd(fd, 'write');
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  if (!(buf instanceof Uint8Array)) throw new TypeError('write: data must be a Buffer, Uint8Array or string');
  const pending = hub.check();
  if (pending !== null) await pending;
  let done = 0;
  while (done < buf.length) {
    try {
      done += fs.writeSync(fd, buf, done, buf.length - done);
      continue;
    } catch (err) {
      if (!wouldBlock(err)) throw err;
    }
    await trampoline(fd, { write: true });
  }
  return done;
}

/** Closes `fd`, first removing the hub's listeners on it (threads waiting there get IOClosed). */
export function close(fd: number): void {
  checkFd(fd, 'close');
  hub.removeDescriptor(fd);
  fs.closeSync(fd);
}

// A drop-in superset of node:os: every stock name, read and written through to the builtin (see ./dropin).
module.exports = dropIn('os', module.exports as object);
