// Small helpers shared by the scenario files: listening on port 0, closing,
// collecting a stream. Everything here is stock Node API.
import type { EventEmitter } from 'node:events';
import type * as net from 'node:net';
import type { Readable } from 'node:stream';
import type { Trace } from './trace';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Listens on host:0 and resolves with the port. */
export function listen(server: net.Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(0, host, () => {
      server.removeListener('error', onError);
      const a = server.address();
      if (a === null || typeof a === 'string') reject(new Error('no port'));
      else resolve(a.port);
    });
  });
}

/** Closes a server (its connections must end by themselves); never rejects. */
export function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
  });
}

/** A port nothing listens on (it was just closed). */
export async function closedPort(net_: typeof net): Promise<number> {
  const s = net_.createServer();
  const port = await listen(s);
  await close(s);
  return port;
}

/** The first emission of `event` (its arguments), or the 'error' that came first. */
export function once<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onEvent = (...args: unknown[]): void => {
      emitter.removeListener('error', onError);
      resolve(args as T);
    };
    const onError = (err: unknown): void => {
      emitter.removeListener(event, onEvent);
      reject(err);
    };
    emitter.once(event, onEvent);
    if (event !== 'error') emitter.once('error', onError);
  });
}

/** Waits for `event` without treating 'error' specially. */
export function when<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args as T)));
}

/** Everything a readable stream yields until 'end', as one string (utf8). */
export function collect(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer | string) => chunks.push(typeof c === 'string' ? Buffer.from(c) : c));
    stream.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.once('error', reject);
  });
}

/** A few turns of the event loop. */
export async function turns(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/** Runs `fn`, returning what it returns or the error it throws (for sync throws). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
    return 'no throw';
  } catch (err) {
    return err;
  }
}

const tracked = new WeakSet<object>();
const closeSeen = new WeakSet<object>();

interface Closable {
  destroyed: boolean;
  once(event: 'close', fn: () => void): unknown;
}

/** Remembers when `stream` emits 'close', for closed(); returns the stream. */
export function track<T extends Closable>(stream: T): T {
  if (!tracked.has(stream)) {
    tracked.add(stream);
    stream.once('close', () => closeSeen.add(stream));
  }
  return stream;
}

/**
 * Resolves once `stream` has emitted 'close'. A socket's 'close' comes a loop
 * turn or more after `destroyed` turns true, so a destroyed stream must have
 * been track()ed from the start; otherwise this throws (a scenario bug).
 */
export function closed(stream: Closable): Promise<void> {
  if (closeSeen.has(stream)) return Promise.resolve();
  if (tracked.has(stream) || !stream.destroyed) return new Promise((r) => stream.once('close', () => r()));
  throw new Error('closed(): the stream is destroyed and was not track()ed');
}

/** Logs what `p` settles with: [label, value], or the error and, when it has one, [`label cause`, its cause]. */
export async function settled(t: Trace, label: string, p: Promise<unknown>): Promise<void> {
  try {
    t.log(label, await p);
  } catch (err) {
    t.error(label, err);
    const cause = (err as { cause?: unknown }).cause;
    if (cause !== undefined) t.log(`${label} cause`, cause);
  }
}
