// wsgi.input: the request body, read from the connection as the application
// asks for it, never past its end (Content-Length or the last chunk), the
// chunked framing checked line by line by the parser's rules.
import type { RecvBuffer } from '../recvbuf';
import { RECV_SIZE } from '../recvbuf';
import { CR, LF } from './grammar';
import { isTrailerLine, parseChunkSize } from './parser';
import { NO_HEADERS, checkHeader } from './response';
import { BodyError } from './types';

const EMPTY = Buffer.alloc(0);
/** Longest chunk-size line or trailer line of a chunked body. */
const MAX_CHUNK_LINE = 4096;
/** Most bytes of trailer section. */
const MAX_TRAILERS = 65536;

/** What the body reads through: the connection. */
export interface BodySource {
  readonly rb: RecvBuffer;
  /** the response head has gone out (then no 100 Continue) */
  readonly headSent: boolean;
  /** sends a `100 Continue` interim response with these headers */
  sendContinue(headers: readonly [string, string][]): Promise<void>;
  /** the body cannot be read to its end: the connection must close after this response */
  bodyBroken(): void;
  /** the connection is reading the body (true) or not (false): its request deadline applies while it is */
  readingBody(on: boolean): void;
}

const enum Chunk {
  Size,
  Data,
  DataEnd,
  Trailers,
  Done,
}

/**
 * wsgi.input: the request body, read as the application asks for it. The
 * first read sends `100 Continue` when the client asked for it.
 */
export class WsgiInput {
  /** Content-Length's bytes not yet read; -1: chunked. */
  private remaining: number;
  private chunkState = Chunk.Size;
  private chunkLeft = 0;
  /** read back by readline's look-ahead */
  private rbuf: Buffer = EMPTY;
  /** @internal the client waits for `100 Continue` before it sends the body */
  needContinue: boolean;
  /** @internal bytes of body handed out */
  consumed = 0;
  private continueHeaders: readonly [string, string][] = NO_HEADERS;
  /** the request said `Expect: 100-continue` (never so for HTTP/1.0: the parser drops it) */
  private readonly askedContinue: boolean;

  /** @internal */
  constructor(
    private readonly conn: BodySource,
    contentLength: number,
    expectContinue: boolean,
  ) {
    this.remaining = contentLength;
    this.askedContinue = expectContinue;
    this.needContinue = expectContinue && contentLength !== 0;
  }

  /** The body's length from Content-Length, or null for a chunked body. */
  get length(): number | null {
    return this.remaining < 0 ? null : this.remaining + this.consumed;
  }

  /** @internal the whole body has been read */
  get done(): boolean {
    return this.rbuf.length === 0 && (this.remaining === 0 || (this.remaining < 0 && this.chunkState === Chunk.Done));
  }

  /**
   * Headers for the `100 Continue` this body sends before its first read
   * (Evy's set_hundred_continue_response_headers). Names and values are
   * checked as for startResponse, and copied: changing the array afterwards
   * cannot slip an unchecked header into the 100 Continue.
   * @throws {TypeError} not an array of [name, value] pairs of strings, or a bad name or value.
   */
  setHundredContinueResponseHeaders(headers: [string, string][]): void {
    if (!Array.isArray(headers)) throw new TypeError('setHundredContinueResponseHeaders: headers must be an array of [name, value] pairs');
    const copy: [string, string][] = [];
    for (const h of headers) {
      checkHeader(h, 'setHundredContinueResponseHeaders');
      copy.push([h[0], h[1]]);
    }
    this.continueHeaders = copy;
  }

  /**
   * Sends a `100 Continue` now, with the headers set for it (Evy's
   * send_hundred_continue_response). It may be sent more than once (each is
   * an interim response); the first read then sends none. Nothing is sent
   * to a client that did not ask with `Expect: 100-continue` (in Evy such a
   * call fails): an HTTP/1.0 client must never get a 1xx (RFC 9110 §15.2).
   * @throws {Error} the response has already started.
   */
  async sendHundredContinueResponse(): Promise<void> {
    if (this.conn.headSent) throw new Error('sendHundredContinueResponse: the response has already started');
    if (!this.askedContinue) return;
    this.needContinue = false;
    await this.conn.sendContinue(this.continueHeaders);
  }

  /** Up to `max` body bytes as soon as some are there; empty at the body's end. */
  private async piece(max: number): Promise<Buffer> {
    if (this.rbuf.length > 0) {
      const out = this.rbuf.length <= max ? this.rbuf : this.rbuf.subarray(0, max);
      this.rbuf = this.rbuf.length <= max ? EMPTY : this.rbuf.subarray(max);
      return out;
    }
    if (this.remaining === 0) return EMPTY;
    if (this.needContinue) {
      this.needContinue = false;
      if (!this.conn.headSent) await this.conn.sendContinue(this.continueHeaders);
    }
    let out: Buffer;
    this.conn.readingBody(true);
    try {
      if (this.remaining > 0) {
        out = await this.bytes(Math.min(max, this.remaining));
        this.remaining -= out.length;
      } else {
        out = await this.chunkedPiece(max);
      }
    } finally {
      this.conn.readingBody(false);
    }
    this.consumed += out.length;
    return out;
  }

  /** Up to `max` (> 0) body bytes; BodyError at EOF. */
  private async bytes(max: number): Promise<Buffer> {
    const out = await this.conn.rb.read(max);
    if (out.length === 0) throw this.fail('the client closed the connection before the end of the request body', false);
    return out;
  }

  private async chunkedPiece(max: number): Promise<Buffer> {
    for (;;) {
      switch (this.chunkState) {
        case Chunk.Data: {
          const out = await this.bytes(Math.min(max, this.chunkLeft));
          this.chunkLeft -= out.length;
          if (this.chunkLeft === 0) this.chunkState = Chunk.DataEnd;
          return out;
        }
        case Chunk.DataEnd: {
          const line = await this.line(2, 'the end of a chunk');
          if (line.length !== 0) throw this.fail('a chunk is longer than its size says');
          this.chunkState = Chunk.Size;
          break;
        }
        case Chunk.Size: {
          const line = await this.line(MAX_CHUNK_LINE, 'a chunk size');
          const size = parseChunkSize(line);
          if (size < 0) throw this.fail(`a malformed chunk-size line '${line.toString('latin1', 0, 40)}'`);
          if (size === 0) this.chunkState = Chunk.Trailers;
          else {
            this.chunkLeft = size;
            this.chunkState = Chunk.Data;
          }
          break;
        }
        case Chunk.Trailers: {
          let total = 0;
          for (;;) {
            const line = await this.line(MAX_CHUNK_LINE, 'a trailer');
            total += line.length + 2;
            if (total > MAX_TRAILERS) throw this.fail('the trailers are too long');
            if (line.length === 0) break;
            if (!isTrailerLine(line)) throw this.fail(`a trailer line is not a header field, or sets the framing: '${line.toString('latin1', 0, 40)}'`);
          }
          this.chunkState = Chunk.Done;
          this.remaining = 0;
          return EMPTY;
        }
        case Chunk.Done:
          return EMPTY;
      }
    }
  }

  /** A CRLF-terminated framing line, without the CRLF: a bare LF or CR is malformed. */
  private async line(limit: number, what: string): Promise<Buffer> {
    const rb = this.conn.rb;
    let scanned = 0;
    for (;;) {
      const i = rb.buf.indexOf(LF, rb.pos + scanned);
      if (i >= 0) {
        if (i === rb.pos || rb.buf[i - 1] !== CR) throw this.fail(`${what} does not end with CRLF`);
        // the limit holds for a line that came whole in one recv too
        if (i - 1 - rb.pos > limit) throw this.fail(`${what} is longer than ${limit} bytes`);
        const line = rb.buf.subarray(rb.pos, i - 1);
        rb.drop(i + 1 - rb.pos);
        if (line.indexOf(CR) >= 0) throw this.fail(`a bare CR in ${what}`);
        return line;
      }
      if (rb.length > limit + 1) throw this.fail(`${what} is longer than ${limit} bytes`); // + 1: its CR may be in
      scanned = rb.length;
      if (!(await rb.more())) throw this.fail('the client closed the connection before the end of the request body', false);
    }
  }

  private fail(message: string, framing = true): BodyError {
    this.conn.bodyBroken();
    return new BodyError(framing ? `malformed chunked request body: ${message}` : message);
  }

  /** `n` bytes (fewer at the body's end); without n (or negative), the rest of the body. */
  async read(n = -1): Promise<Buffer> {
    if (n === 0) return EMPTY;
    if (n > 0) {
      const first = await this.piece(n);
      if (first.length === n || first.length === 0) return first;
      const parts = [first];
      let got = first.length;
      while (got < n) {
        const p = await this.piece(n - got);
        if (p.length === 0) break;
        parts.push(p);
        got += p.length;
      }
      return Buffer.concat(parts, got);
    }
    const parts: Buffer[] = [];
    let got = 0;
    for (;;) {
      const p = await this.piece(RECV_SIZE);
      if (p.length === 0) break;
      parts.push(p);
      got += p.length;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, got);
  }

  /** One line with its '\n' (the last may have none); `limit` caps its length. Empty at the end. */
  async readline(limit = -1): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    for (;;) {
      const want = limit < 0 ? RECV_SIZE : Math.min(RECV_SIZE, limit - got);
      if (want <= 0) break;
      const p = await this.piece(want);
      if (p.length === 0) break;
      const nl = p.indexOf(LF);
      if (nl >= 0 && nl + 1 < p.length) {
        this.rbuf = this.rbuf.length === 0 ? p.subarray(nl + 1) : Buffer.concat([p.subarray(nl + 1), this.rbuf]);
        parts.push(p.subarray(0, nl + 1));
        got += nl + 1;
        break;
      }
      parts.push(p);
      got += p.length;
      if (nl >= 0) break;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, got);
  }

  /** Every remaining line. */
  async readlines(): Promise<Buffer[]> {
    const lines: Buffer[] = [];
    for await (const line of this) lines.push(line);
    return lines;
  }

  /** The body line by line, as readline() gives them. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      const line = await this.readline();
      if (line.length === 0) return;
      yield line;
    }
  }

  /** @internal Reads and drops up to `limit` more body bytes; true if the body ended. */
  async discard(limit: number): Promise<boolean> {
    let dropped = 0;
    this.rbuf = EMPTY;
    while (!this.done) {
      if (dropped > limit) return false;
      const p = await this.piece(RECV_SIZE);
      if (p.length === 0) return this.done;
      dropped += p.length;
    }
    return true;
  }
}
