// Loads the native hub built by binding.gyp (src/). One copy per process.
import * as path from 'node:path';

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
}

function load(): NativeBinding {
  const file = path.join(__dirname, '..', '..', 'build', 'Release', 'evy.node');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file) as NativeBinding;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`evy: the native hub is not built (${file}): run \`npm install\` or \`make build\`\n${e.message}`);
  }
}

export const binding: NativeBinding = load();
