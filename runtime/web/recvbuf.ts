// The receive buffer of a protocol reader over a green socket: bytes received
// and not yet consumed, with the few ways the HTTP server, its request body,
// the WebSocket connection and the WebSocket client's handshake take them.
// One recv at a time lands here (at most RECV_SIZE bytes); nothing is copied
// unless a partial unit must be joined with the next recv. Every wait is the
// socket's own, so Timeout and kill interrupt it and nothing received is lost:
// what arrived before the interruption stays buffered.

/** What the buffer reads from: a GreenSocket or a GreenSSLSocket. */
export interface Receiver {
  recv(bufsize: number): Promise<Buffer>;
}

/** The size of one recv. */
export const RECV_SIZE = 65536;
const EMPTY = Buffer.alloc(0);

export class RecvBuffer {
  /** The unread bytes are buf[pos..]. Readers may scan them in place. */
  buf: Buffer;
  pos = 0;

  constructor(
    public sock: Receiver,
    initial: Buffer = EMPTY,
  ) {
    this.buf = initial;
  }

  /** How many bytes are buffered and unread. */
  get length(): number {
    return this.buf.length - this.pos;
  }

  /** Receives once more onto the unread bytes; false at EOF (the buffer is unchanged). */
  async more(): Promise<boolean> {
    const data = await this.sock.recv(RECV_SIZE);
    if (data.length === 0) return false;
    if (this.pos >= this.buf.length) this.buf = data;
    else this.buf = Buffer.concat([this.buf.subarray(this.pos), data]);
    this.pos = 0;
    return true;
  }

  /** The next `n` bytes, which must be buffered (a view, not a copy). */
  take(n: number): Buffer {
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.drop(n);
    return out;
  }

  /** Consumes the next `n` bytes, which must be buffered, without a view of them. */
  drop(n: number): void {
    this.pos += n;
    if (this.pos >= this.buf.length) {
      this.buf = EMPTY;
      this.pos = 0;
    }
  }

  /** Up to `max` (> 0) bytes: the buffered ones, else one recv. Empty at EOF. */
  async read(max: number): Promise<Buffer> {
    if (this.buf.length > this.pos) return this.take(Math.min(max, this.buf.length - this.pos));
    return this.sock.recv(Math.min(max, RECV_SIZE));
  }

  /** Hands over every unread byte and empties the buffer. */
  detach(): Buffer {
    const out = this.buf.subarray(this.pos);
    this.buf = EMPTY;
    this.pos = 0;
    return out;
  }
}
