// GreenFile: the buffered file a green socket's makefile() returns: read,
// readline, readlines, write, flush, and `for await` over lines. Written
// against a small stream interface so any green byte stream can use it.
import { StringDecoder } from 'node:string_decoder';

/** What a GreenFile reads from and writes to. */
export interface RawStream {
  /** Up to `n` bytes once some are there; an empty Buffer at EOF. */
  recv(n: number): Promise<Buffer>;
  /** Writes all of `data`, waiting as long as that takes. */
  sendall(data: Buffer | string): Promise<void>;
  /**
   * Called once when the file is closed: a socket keeps its connection open
   * until it and every file made from it are closed (makefile()).
   */
  release?(): void;
}

/** GreenFile's (and makefile()'s) options. */
export interface GreenFileOptions {
  /** bytes asked of the stream per read, and the write buffer's flush size (default 8192) */
  bufsize?: number;
  /** text mode's encoding (default utf8) */
  encoding?: BufferEncoding;
}

const NL = 0x0a;
const EMPTY = Buffer.alloc(0);
/** The most one fill() asks the stream for (read to EOF, a large read(n)). */
const MAX_ASK = 65536;

/** A read size: an integer (negative: all), null for all; anything else is a TypeError, as in Python. */
function size(n: unknown, what: string): number {
  if (n === null || n === undefined) return -1;
  if (typeof n !== 'number' || !Number.isInteger(n)) {
    throw new TypeError(`${what}: the size must be an integer or null, got ${typeof n === 'number' ? n : typeof n}`);
  }
  return n;
}

/**
 * A file over a green stream. Mode: 'r' / 'w' / 'rw' (text: strings in and out)
 * or with 'b' ('rb', 'wb', 'rwb': Buffers). Closing the file flushes it and
 * leaves the stream open: the socket has its own close(), as in Python, where a
 * makefile() and its socket are closed separately.
 */
export class GreenFile<T extends string | Buffer = Buffer> {
  readonly mode: string;
  private readonly raw: RawStream;
  private readonly readable: boolean;
  private readonly writable: boolean;
  private readonly binary: boolean;
  private readonly bufsize: number;
  private readonly decoder: StringDecoder | null;
  private readonly encoding: BufferEncoding;
  // The read buffer: chunks as the stream gave them, the first one consumed
  // from `rhead`, `rlen` bytes in all. Joined only when a read takes them, so
  // reading to EOF or a long line is linear, not one concat per chunk.
  private rchunks: Buffer[] = [];
  private rhead = 0;
  private rlen = 0;
  private eof = false;
  private wbuf: Buffer[] = [];
  private wlen = 0;
  private isClosed = false;

  constructor(raw: RawStream, mode = 'rb', opts: GreenFileOptions = {}) {
    if (!/^(r|w|rw|wr)b?$|^(rb|wb|rwb|wrb)$/.test(mode)) {
      throw new RangeError(`makefile: mode must be r, w or rw, with an optional b; got '${mode}'`);
    }
    this.raw = raw;
    this.mode = mode;
    this.readable = mode.includes('r');
    this.writable = mode.includes('w');
    this.binary = mode.includes('b');
    this.bufsize = opts.bufsize ?? 8192;
    if (!Number.isInteger(this.bufsize) || this.bufsize <= 0) throw new RangeError(`bufsize must be a positive integer, got ${opts.bufsize}`);
    this.encoding = opts.encoding ?? 'utf8';
    this.decoder = this.binary ? null : new StringDecoder(this.encoding);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  private check(reading: boolean): void {
    if (this.isClosed) throw new Error('I/O operation on a closed file');
    if (reading && !this.readable) throw new Error(`this file was opened for writing only (mode '${this.mode}')`);
    if (!reading && !this.writable) throw new Error(`this file was opened for reading only (mode '${this.mode}')`);
  }

  /**
   * Reads one more chunk from the stream into the read buffer (asking for at
   * least `want` bytes, and bufsize); false at EOF.
   */
  private async fill(want = 0): Promise<boolean> {
    if (this.eof) return false;
    const chunk = await this.raw.recv(Math.max(this.bufsize, Math.min(want, MAX_ASK)));
    if (chunk.length === 0) {
      this.eof = true;
      return false;
    }
    this.rchunks.push(chunk);
    this.rlen += chunk.length;
    return true;
  }

  /** Takes the first `n` buffered bytes (n <= rlen): a view when they lie in one chunk, one copy otherwise. */
  private takeBytes(n: number): Buffer {
    const chunks = this.rchunks;
    if (n === 0 || chunks.length === 0) return EMPTY;
    this.rlen -= n;
    const first = chunks[0];
    const head = this.rhead;
    if (head + n <= first.length) {
      const out = first.subarray(head, head + n);
      if (head + n === first.length) {
        chunks.shift();
        this.rhead = 0;
      } else this.rhead = head + n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let done = first.copy(out, 0, head);
    let i = 1;
    for (; done < n; i++) {
      const c = chunks[i];
      const k = Math.min(c.length, n - done);
      c.copy(out, done, 0, k);
      done += k;
      if (k < c.length) {
        this.rhead = k;
        break;
      }
      this.rhead = 0;
    }
    chunks.splice(0, i); // the chunks used up; a partly used one stays, from rhead
    return out;
  }

  private out(bytes: Buffer, final: boolean): T {
    if (this.decoder === null) return bytes as T;
    const text = this.decoder.write(bytes);
    return (final ? text + this.decoder.end() : text) as T;
  }

  /** `n` bytes (fewer at EOF); without n (or negative, or null), everything until EOF. */
  async read(n: number | null = -1): Promise<T> {
    n = size(n, 'read');
    this.check(true);
    if (n < 0) {
      while (await this.fill(MAX_ASK));
      return this.out(this.takeBytes(this.rlen), true);
    }
    while (this.rlen < n && (await this.fill(n - this.rlen)));
    return this.out(this.takeBytes(Math.min(n, this.rlen)), this.eof && this.rlen <= n);
  }

  /** One line, with its '\n' (not at EOF without one); `limit` caps its length in bytes. Empty at EOF. */
  async readline(limit: number | null = -1): Promise<T> {
    limit = size(limit, 'readline');
    this.check(true);
    if (limit === 0) return this.out(EMPTY, false);
    // Scans each chunk once: `scanned` bytes of the buffer (chunks before
    // `ci`, which starts at byte `base` of the line) hold no '\n'.
    let ci = 0;
    let base = 0;
    for (;;) {
      const chunks = this.rchunks;
      for (; ci < chunks.length; ci++) {
        const c = chunks[ci];
        const from = ci === 0 ? this.rhead : 0;
        const j = c.indexOf(NL, from);
        if (j >= 0) {
          const end = base + (j - from) + 1; // the line's length with its '\n'
          if (limit >= 0 && end > limit) return this.out(this.takeBytes(limit), false);
          return this.out(this.takeBytes(end), false);
        }
        base += c.length - from;
        if (limit >= 0 && base >= limit) return this.out(this.takeBytes(limit), false);
      }
      if (!(await this.fill())) return this.out(this.takeBytes(this.rlen), true);
    }
  }

  /** Every remaining line. */
  async readlines(): Promise<T[]> {
    const lines: T[] = [];
    for await (const line of this) lines.push(line);
    return lines;
  }

  /** Buffers `data`; what reaches `bufsize` goes out at once. */
  async write(data: T | string | Uint8Array): Promise<void> {
    this.check(false);
    const buf = typeof data === 'string' ? Buffer.from(data, this.encoding) : Buffer.from(data as Uint8Array);
    this.wbuf.push(buf);
    this.wlen += buf.length;
    if (this.wlen >= this.bufsize) await this.flush();
  }

  /** write() of each item in turn (Python's writelines: no newlines added). */
  async writelines(lines: Iterable<T | string | Uint8Array>): Promise<void> {
    for (const line of lines) await this.write(line);
  }

  /** Sends what write() buffered. */
  async flush(): Promise<void> {
    if (this.isClosed) throw new Error('I/O operation on a closed file');
    if (this.wlen === 0) return;
    const data = this.wbuf.length === 1 ? this.wbuf[0] : Buffer.concat(this.wbuf);
    this.wbuf = [];
    this.wlen = 0;
    await this.raw.sendall(data);
  }

  /**
   * Flushes and closes the file. The stream under it stays open, unless it
   * was closed already and this was its last file (see RawStream.release).
   * Harmless twice.
   */
  async close(): Promise<void> {
    if (this.isClosed) return;
    try {
      if (this.writable) await this.flush();
    } finally {
      this.isClosed = true;
      this.rchunks = [];
      this.rhead = 0;
      this.rlen = 0;
      this.raw.release?.();
    }
  }

  /** `await using f = sock.makefile('r')`: closed at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** `for await (const line of file)`: lines until EOF. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const line = await this.readline();
      if (line.length === 0) return;
      yield line;
    }
  }
}
