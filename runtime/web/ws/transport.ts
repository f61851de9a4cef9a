// What a WebSocket runs over: a connected GreenSocket (ws://, evy's WSGI
// server) or a green TLS socket (wss://, the WSGI server's `ssl` option), and
// the two things the connection needs beyond recv/sendall, done the same way
// on both: a write that never parks (a pong from the reader, a ping from a
// timer callback, where no green thread may wait) and half-closing.
import type { Writable } from 'node:stream';
import { GreenSocket, SHUT_WR } from '../../io/socket';
import { GreenStreamSocket } from '../../io/ssl';

export type Transport = GreenSocket | GreenStreamSocket;

export function isTransport(x: unknown): x is Transport {
  return x instanceof GreenSocket || x instanceof GreenStreamSocket;
}

/**
 * Queues `buf` behind every earlier write, without parking: `done` runs once
 * it is written (at once when the kernel took it), with the error if the
 * connection failed or closed first.
 */
export function writeNoWait(sock: Transport, buf: Buffer, done: (err?: Error | null) => void): void {
  if (sock instanceof GreenSocket) {
    sock.writeThen(buf, done);
    return;
  }
  if (sock.closed) {
    done(new Error('write: the connection is closed'));
    return;
  }
  // GreenStreamSocket has no writeThen of its own: its Node stream's write()
  // queues in order with the green sendall()s (which are stream writes too).
  (sock as unknown as { stream: Writable }).stream.write(buf, done);
}

/** Ends our writing side (the peer reads EOF after what was sent); harmless on a dead connection. */
export function shutdownWrite(sock: Transport): void {
  try {
    if (sock instanceof GreenSocket) sock.shutdown(SHUT_WR);
    else sock.shutdown();
  } catch {
    // already reset or closed: the close that follows is all that is left to do
  }
}

/** A system error of the connection (ECONNRESET, EPIPE, EBADF...), not an interruption. */
export function isSocketError(err: unknown): boolean {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}
