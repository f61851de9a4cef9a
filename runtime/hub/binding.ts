// Loads the native hub (src/, binding.gyp): the prebuilt binary or a source build. One copy per process.
import * as path from 'node:path';
import { existsSync } from 'node:fs';

/** An opaque uv_poll_t owned by the native side. */
export type PollHandle = { readonly __evyPoll: unique symbol };

export interface NativeBinding {
  readonly READABLE: number;
  readonly WRITABLE: number;
  readonly DISCONNECT: number;
  pollOpen(fd: number, cb: (events: number, status: number) => void): PollHandle;
  pollStart(handle: PollHandle, events: number): void;
  pollClose(handle: PollHandle): void;
  pipe(): [number, number];

  // Stream sockets (src/stream.c): handles are napi_wrap()ed onto their owner.
  readonly K_READ: number;
  readonly K_CONNECTION: number;
  readonly K_CONNECT: number;
  readonly K_WRITE: number;
  readonly K_SHUTDOWN: number;
  readonly K_DGRAM: number;
  readonly UV_EOF: number;
  readonly AF_INET: number;
  readonly AF_INET6: number;
  readonly AF_UNIX: number;
  readonly SOCK_STREAM: number;
  readonly SOCK_DGRAM: number;
  readonly SOL_SOCKET: number;
  readonly SO_REUSEADDR: number;
  readonly SO_REUSEPORT: number;
  readonly SO_KEEPALIVE: number;
  readonly SO_RCVBUF: number;
  readonly SO_SNDBUF: number;
  readonly SO_ERROR: number;
  readonly SO_TYPE: number;
  readonly IPPROTO_TCP: number;
  readonly TCP_NODELAY: number;
  /**
   * Registers the batch dispatcher: flush(start, ...owners) delivers records
   * start, start+1... of `events` (kind, value, slab offset per record), one
   * owner argument each (undefined when collected). Returns the shared read
   * slab and the records.
   */
  streamInit(flush: (start: number, ...owners: (object | undefined)[]) => void): [Buffer, Int32Array];
  /** The open functions and accept return the handle's slot: write() takes it instead of the owner. */
  tcpOpen(owner: object, family: number): number;
  pipeOpen(owner: object): number;
  bind(owner: object, hostOrPath: string, port?: number, ipv6only?: boolean): void;
  listen(owner: object, backlog: number): void;
  accept(server: object, owner: object): number;
  connect(owner: object, hostOrPath: string, port?: number): void;
  /** Stream reads, or datagrams for a UDP socket. */
  readStart(owner: object): void;
  readStop(owner: object): void;
  /** Bytes written at once; the rest is queued and reported by a K_WRITE event. */
  write(slot: number, data: Buffer): number;
  /** TLS on a stream (src/stream.c, runtime/io/tls_native.ts): reads come decrypted, tlsSend encrypts. */
  tlsAttach(slot: number, session: object): void;
  /** buf's length when its records went out at once, -1 when queued (a K_WRITE event follows). */
  tlsSend(slot: number, buf: Buffer): number;
  /** The error behind a TLS stream's EPROTO read. */
  tlsError(slot: number): Error;
  shutdown(owner: object): void;
  close(owner: object): void;
  name(owner: object, peer: boolean): [string, number] | string;
  fileno(owner: object): number;
  udpOpen(owner: object, family: number): number;
  /** 1 if sent at once, 0 if queued (a K_WRITE event follows). No host: to the connected peer. */
  udpSend(owner: object, data: Buffer, host?: string, port?: number): number;
  /** The sender of record `index` of the batch being delivered. */
  udpFrom(index: number): [string, number];
  /** No host: dissolves the association. */
  udpConnect(owner: object, host?: string, port?: number): void;
  setsockopt(fd: number, level: number, option: number, value: number): void;
  /** The current green thread on Node 20 (src/context.cc); absent where V8 has no such slot. */
  contextGet?(): unknown;
  contextSet?(value: unknown): void;
  getsockopt(fd: number, level: number, option: number): number;
  /** A close-on-exec duplicate of fd (onto -1), or fd duplicated onto the fd `onto` (dup2). */
  dupFd(fd: number, onto: number): number;
}

/** The package root: dist/hub/ is two levels below it. */
const ROOT = path.join(__dirname, '..', '..');

/**
 * The addon, found by node-gyp-build: a build/Release/evy.node when one was
 * built from source here (the install script does that only when no prebuilt
 * binary fits; prebuildify, which `make build` runs, leaves none behind), else
 * the prebuilt one shipped in prebuilds/<platform>-<arch>/ (linux-x64, glibc).
 * Those two paths are tried directly first, the same order node-gyp-build
 * follows, because node-gyp-build loads node:os (and evy loads nothing of
 * Node's that the program did not ask for); it decides only when neither loads.
 */
function load(): NativeBinding {
  for (const f of [path.join(ROOT, 'build', 'Release', 'evy.node'), path.join(ROOT, 'prebuilds', `${process.platform}-${process.arch}`, 'evy.glibc.node')]) {
    if (!existsSync(f)) continue;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(f) as NativeBinding;
    } catch {
      // not loadable here (another libc, an ABI mismatch): node-gyp-build decides below
    }
  }
  let file = '';
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
    file = nodeGypBuild.path(ROOT);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file) as NativeBinding;
  } catch (err) {
    const why = (err as Error).message.trim();
    const what = file === '' ? `no native hub for ${process.platform}-${process.arch} in ${ROOT}` : `the native hub ${file} does not load`;
    throw new Error(
      `evy: ${what}.\n` +
        'Run `npm rebuild evy` to build it from source (needs python3, make and a C compiler),\n' +
        'or `make build` in a checkout of evy.\n' +
        why,
    );
  }
}

export const binding: NativeBinding = load();
