// GreenFile: the buffered file a green socket's makefile() returns: read,
// readline, readlines, write, flush, and `for await` over lines. Written
// against a small stream interface so any green byte stream can use it.
import { StringDecoder } from 'node:string_decoder';

/** What a GreenFile reads from and writes to. */
export interface RawStream {
  /** Up to `n` bytes once some are there; an empty Buffer at EOF. */
  recv(n: number): Promise<Buffer>;
  sendall(data: Buffer | string): Promise<void>;
}

export interface GreenFileOptions {
  /** bytes asked of the stream per read, and the write buffer's flush size (default 8192) */
  bufsize?: number;
  /** text mode's encoding (default utf8) */
  encoding?: BufferEncoding;
}

const NL = 0x0a;

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
  private rbuf: Buffer = Buffer.alloc(0);
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

  /** Reads one more chunk from the stream into the read buffer; false at EOF. */
  private async fill(): Promise<boolean> {
    if (this.eof) return false;
    const chunk = await this.raw.recv(this.bufsize);
    if (chunk.length === 0) {
      this.eof = true;
      return false;
    }
    this.rbuf = this.rbuf.length === 0 ? chunk : Buffer.concat([this.rbuf, chunk]);
    return true;
  }

  private takeBytes(n: number): Buffer {
    const out = this.rbuf.subarray(0, n);
    this.rbuf = this.rbuf.subarray(n);
    return out;
  }

  private out(bytes: Buffer, final: boolean): T {
    if (this.decoder === null) return bytes as T;
    const text = this.decoder.write(bytes);
    return (final ? text + this.decoder.end() : text) as T;
  }

  /** `n` bytes (fewer at EOF); without n (or negative), everything until EOF. */
  async read(n = -1): Promise<T> {
    this.check(true);
    if (n < 0) {
      while (await this.fill());
      return this.out(this.takeBytes(this.rbuf.length), true);
    }
    while (this.rbuf.length < n && (await this.fill()));
    return this.out(this.takeBytes(Math.min(n, this.rbuf.length)), this.eof && this.rbuf.length <= n);
  }

  /** One line, with its '\n' (not at EOF without one); `limit` caps its length in bytes. Empty at EOF. */
  async readline(limit = -1): Promise<T> {
    this.check(true);
    let scanned = 0;
    for (;;) {
      const i = this.rbuf.indexOf(NL, scanned);
      if (i >= 0 && (limit < 0 || i < limit)) return this.out(this.takeBytes(i + 1), false);
      if (limit >= 0 && this.rbuf.length >= limit) return this.out(this.takeBytes(limit), false);
      scanned = this.rbuf.length;
      if (!(await this.fill())) return this.out(this.takeBytes(this.rbuf.length), true);
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

  /** Sends what write() buffered. */
  async flush(): Promise<void> {
    if (this.isClosed) throw new Error('I/O operation on a closed file');
    if (this.wlen === 0) return;
    const data = this.wbuf.length === 1 ? this.wbuf[0] : Buffer.concat(this.wbuf);
    this.wbuf = [];
    this.wlen = 0;
    await this.raw.sendall(data);
  }

  /** Flushes and closes the file (not the stream under it). Harmless twice. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    try {
      if (this.writable) await this.flush();
    } finally {
      this.isClosed = true;
      this.rbuf = Buffer.alloc(0);
    }
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
