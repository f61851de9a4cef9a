// What a WebSocket runs over: a connected GreenSocket (ws://, evy's WSGI
// server) or a green TLS socket (wss://, the WSGI server's `ssl` option), and
// what the connection needs beyond recv/sendall and writeThen (the write that
// never parks, both have it): half-closing, the same way on both.
import { GreenSocket, SHUT_WR } from '../../io/socket';
import { GreenStreamSocket } from '../../io/ssl';

/** What a WebSocket runs over: a green socket, plain or TLS. */
export type Transport = GreenSocket | GreenStreamSocket;

export function isTransport(x: unknown): x is Transport {
  return x instanceof GreenSocket || x instanceof GreenStreamSocket;
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
