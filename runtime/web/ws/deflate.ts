// permessage-deflate (RFC 7692): the Sec-WebSocket-Extensions grammar, the
// negotiation from either side, and the per-connection compressor and
// decompressor.
//
// zlib runs synchronously, on the connection's green thread, through one
// persistent raw deflate/inflate engine per direction (so context takeover
// keeps its LZ77 window between messages). Measured on this machine (Node 20,
// a 64-byte JSON-like message deflated and inflated in a loop): a persistent
// engine driven synchronously takes 12 µs, the one-shot
// deflateRawSync/inflateRawSync 42 µs (a new engine each time, and no context
// takeover), and Node's asynchronous zlib streams 144 µs (a thread-pool round
// trip and the stream machinery per message; 15 µs against 320 µs at 1 KiB).
// End to end, an evy client and server echoing over 20 connections with
// every message compressed (threshold 0) do about 8,300 echoes/s against
// 18,600 uncompressed at 64 bytes, 4,800 against 13,400 at 2 KiB. The
// synchronous path is also what keeps messages in order without a lock: a
// message is compressed and its frame queued in one turn. Node has no public
// synchronous call on a persistent engine (its *Sync functions close theirs),
// so the engine's handle is driven with writeSync(), as those functions do
// internally; where that is missing, permessage-deflate is simply never
// negotiated (deflateAvailable()).
//
// Large messages go through in slices of SLICE bytes with a cede() between
// them, so a 16 MiB message does not hold the loop for 100 ms; an interrupt
// at one of those points resets the compressor, which is always safe (a fresh
// window refers to nothing the peer lacks), while the reader treats an
// interrupted inflate like an interrupted frame (the connection is dropped).
// Inflated output is counted as it comes out, 64 KiB at most per step, so a
// zip bomb fails with 1009 having produced at most maxMessageSize + 64 KiB.
import * as zlib from 'node:zlib';
import { cede } from '../../green/greenthread';
import { isToken, listItems, trimOws } from '../http/grammar';
import { Collector } from './collect';
import { ProtocolError } from './frame';

export const EXTENSION = 'permessage-deflate';

/** Negotiation choices and tuning for permessage-deflate. */
export interface PerMessageDeflateOptions {
  /**
   * The server does not keep its compression context between messages. A
   * server always answers with it when set; a client asks for it.
   */
  serverNoContextTakeover?: boolean;
  /** The same for the client's compressor: a server asks the client for it; a client promises it. */
  clientNoContextTakeover?: boolean;
  /** The server's LZ77 window, 8-15 bits: a server uses at most this; a client asks for it. */
  serverMaxWindowBits?: number;
  /**
   * The client's window, 8-15 bits: a server asks the client for it (an
   * offer that does not allow it is declined); a client offers it (default: it
   * offers `client_max_window_bits` without a value, letting the server choose).
   */
  clientMaxWindowBits?: number;
  /** Messages smaller than this many bytes go uncompressed (default 1024, as the `ws` package). */
  threshold?: number;
  /** zlib compression level, 0-9 (default 6, zlib's own). */
  level?: number;
}

/** What was agreed: each side's window (0: not limited, 15) and context takeover. */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

// ---- the header grammar ----------------------------------------------------------------

/** One extension of a Sec-WebSocket-Extensions list: its name and its parameters in order (`true`: no value). */
export interface ExtensionOffer {
  name: string;
  params: Array<[string, string | true]>;
}

/**
 * Parses a Sec-WebSocket-Extensions value (RFC 6455 9.1: a comma-separated
 * list of `name; param; param=value`, values as tokens or quoted strings
 * holding a token). Null when it does not follow that grammar.
 */
export function parseExtensions(value: string): ExtensionOffer[] | null {
  const out: ExtensionOffer[] = [];
  // A quoted value holding ',' or ';' could not be a token anyway: splitting
  // on them first cannot turn a valid list into another valid list.
  for (const item of listItems(value)) {
    const pieces = item.split(';');
    const name = trimOws(pieces[0]);
    if (!isToken(name)) return null;
    const params: Array<[string, string | true]> = [];
    for (let i = 1; i < pieces.length; i++) {
      const piece = trimOws(pieces[i]);
      const eq = piece.indexOf('=');
      if (eq < 0) {
        if (!isToken(piece)) return null;
        params.push([piece.toLowerCase(), true]);
        continue;
      }
      const key = trimOws(piece.slice(0, eq));
      let v = trimOws(piece.slice(eq + 1));
      if (v.length >= 2 && v[0] === '"' && v[v.length - 1] === '"') v = v.slice(1, -1).replace(/\\(.)/g, '$1');
      if (!isToken(key) || !isToken(v)) return null;
      params.push([key.toLowerCase(), v]);
    }
    out.push({ name: name.toLowerCase(), params });
  }
  return out.length > 0 ? out : null;
}

/** What a permessage-deflate offer or answer says, or the reason it is not valid. */
interface Stated {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** -1: absent */
  serverMaxWindowBits: number;
  /** -1: absent, 0: present without a value */
  clientMaxWindowBits: number;
}

/** Reads permessage-deflate parameters (RFC 7692 7.1): unknown, repeated or malformed ones make it a string (why). */
function readParams(params: Array<[string, string | true]>): Stated | string {
  const s: Stated = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: -1, clientMaxWindowBits: -1 };
  const seen = new Set<string>();
  for (const [key, value] of params) {
    if (seen.has(key)) return `parameter ${key} given twice`;
    seen.add(key);
    switch (key) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== true) return `parameter ${key} takes no value`;
        if (key === 'server_no_context_takeover') s.serverNoContextTakeover = true;
        else s.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits':
      case 'client_max_window_bits': {
        const bits = value === true ? 0 : windowBitsValue(value);
        if (bits < 0 || (bits === 0 && key === 'server_max_window_bits')) return `parameter ${key} needs a value from 8 to 15`;
        if (key === 'server_max_window_bits') s.serverMaxWindowBits = bits;
        else s.clientMaxWindowBits = bits;
        break;
      }
      default:
        return `unknown parameter ${key}`;
    }
  }
  return s;
}

/** 8-15 written as RFC 7692 says (no leading zero), else -1. */
function windowBitsValue(v: string): number {
  return /^(8|9|1[0-5])$/.test(v) ? Number(v) : -1;
}

/** `params` as a Sec-WebSocket-Extensions value (`clientBare`: client_max_window_bits without a value when it has none, as a client offers it). */
export function extensionHeader(p: DeflateParams, offered: { clientBare?: boolean } = {}): string {
  let h = EXTENSION;
  if (p.serverNoContextTakeover) h += '; server_no_context_takeover';
  if (p.clientNoContextTakeover) h += '; client_no_context_takeover';
  if (p.serverMaxWindowBits > 0) h += `; server_max_window_bits=${p.serverMaxWindowBits}`;
  if (p.clientMaxWindowBits > 0) h += `; client_max_window_bits=${p.clientMaxWindowBits}`;
  else if (offered.clientBare) h += '; client_max_window_bits';
  return h;
}

// ---- negotiation -----------------------------------------------------------------------

/**
 * The server's side: the first permessage-deflate offer of the request's
 * Sec-WebSocket-Extensions that can be accepted, with the header value to
 * answer; null when there is none (the connection goes on uncompressed).
 * Offers with unknown, repeated or malformed parameters are declined
 * (RFC 7692 5), as is one that does not let us limit the client's window
 * when clientMaxWindowBits is set.
 */
export function negotiateServer(header: string | undefined, opts: PerMessageDeflateOptions): { params: DeflateParams; header: string } | null {
  if (header === undefined || !deflateAvailable()) return null;
  const offers = parseExtensions(header);
  if (offers === null) return null;
  for (const offer of offers) {
    if (offer.name !== EXTENSION) continue;
    const s = readParams(offer.params);
    if (typeof s === 'string') continue;
    if (opts.clientMaxWindowBits !== undefined && s.clientMaxWindowBits < 0) continue;
    const ours = opts.serverMaxWindowBits ?? 0;
    const params: DeflateParams = {
      serverNoContextTakeover: s.serverNoContextTakeover || opts.serverNoContextTakeover === true,
      clientNoContextTakeover: opts.clientNoContextTakeover === true,
      serverMaxWindowBits: s.serverMaxWindowBits > 0 ? (ours > 0 ? Math.min(ours, s.serverMaxWindowBits) : s.serverMaxWindowBits) : ours,
      clientMaxWindowBits:
        opts.clientMaxWindowBits === undefined ? 0 : s.clientMaxWindowBits > 0 ? Math.min(opts.clientMaxWindowBits, s.clientMaxWindowBits) : opts.clientMaxWindowBits,
    };
    return { params, header: extensionHeader(params) };
  }
  return null;
}

/** The client's offer: one permessage-deflate with what `opts` asks for. */
export function offerClient(opts: PerMessageDeflateOptions): string {
  return extensionHeader(
    {
      serverNoContextTakeover: opts.serverNoContextTakeover === true,
      clientNoContextTakeover: opts.clientNoContextTakeover === true,
      serverMaxWindowBits: opts.serverMaxWindowBits ?? 0,
      clientMaxWindowBits: opts.clientMaxWindowBits ?? 0,
    },
    { clientBare: true },
  );
}

/**
 * The client's side: what the server's answer agreed to.
 * @throws {Error} the answer is not one our offer allows (its message says why).
 */
export function acceptAnswer(header: string, opts: PerMessageDeflateOptions): DeflateParams {
  const exts = parseExtensions(header);
  if (exts === null) throw new Error(`Sec-WebSocket-Extensions ${JSON.stringify(header)} is malformed`);
  if (exts.length !== 1 || exts[0].name !== EXTENSION) throw new Error(`the server chose extensions ${JSON.stringify(header)}; only ${EXTENSION} was offered`);
  const s = readParams(exts[0].params);
  if (typeof s === 'string') throw new Error(`the server's ${EXTENSION} answer is invalid: ${s}`);
  if (opts.serverMaxWindowBits !== undefined && s.serverMaxWindowBits > opts.serverMaxWindowBits) {
    throw new Error(`the server answered server_max_window_bits=${s.serverMaxWindowBits}, more than the ${opts.serverMaxWindowBits} asked for`);
  }
  if (s.clientMaxWindowBits === 0) throw new Error('the server answered client_max_window_bits without a value');
  if (opts.clientMaxWindowBits !== undefined && s.clientMaxWindowBits > opts.clientMaxWindowBits) {
    throw new Error(`the server answered client_max_window_bits=${s.clientMaxWindowBits}, more than the ${opts.clientMaxWindowBits} offered`);
  }
  return {
    serverNoContextTakeover: s.serverNoContextTakeover,
    clientNoContextTakeover: s.clientNoContextTakeover || opts.clientNoContextTakeover === true,
    serverMaxWindowBits: Math.max(0, s.serverMaxWindowBits),
    clientMaxWindowBits: Math.max(0, s.clientMaxWindowBits),
  };
}

/** Checks permessage-deflate options (true: the defaults); what: the caller, for the error. */
export function checkDeflateOptions(v: unknown, what: string): PerMessageDeflateOptions | null {
  if (v === undefined || v === false || v === null) return null;
  if (v === true) return {};
  if (typeof v !== 'object') throw new TypeError(`${what}: perMessageDeflate must be a boolean or an options object, got ${typeof v}`);
  const o = v as PerMessageDeflateOptions;
  for (const k of ['serverNoContextTakeover', 'clientNoContextTakeover'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new TypeError(`${what}: perMessageDeflate.${k} must be a boolean`);
  }
  for (const [k, lo, hi] of [['serverMaxWindowBits', 8, 15], ['clientMaxWindowBits', 8, 15], ['level', 0, 9], ['threshold', 0, Number.MAX_SAFE_INTEGER]] as const) {
    const n = o[k];
    if (n === undefined) continue;
    if (typeof n !== 'number') throw new TypeError(`${what}: perMessageDeflate.${k} must be a number, got ${typeof n}`);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new RangeError(`${what}: perMessageDeflate.${k} must be an integer from ${lo} to ${hi}, got ${n}`);
  }
  return o;
}

// ---- the engines ---------------------------------------------------------------------------

/** A Node raw zlib engine, with the two internals its own *Sync functions use. */
type Engine = zlib.InflateRaw & {
  _handle: { writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void } | null;
  _writeState: Uint32Array;
};

const Z_NO_FLUSH = zlib.constants.Z_NO_FLUSH;
const Z_SYNC_FLUSH = zlib.constants.Z_SYNC_FLUSH;
/** What RFC 7692 7.2.1 strips from the end of a compressed message, and 7.2.2 appends before inflating it. */
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const EMPTY_BLOCK = Buffer.from([0x00]);
/** Input per synchronous step of a large message. */
export const SLICE = 64 * 1024;
/** Output room per zlib call: one scratch buffer for every engine (the calls are synchronous). */
const OUT = 64 * 1024;
const scratch = Buffer.allocUnsafe(OUT);
const noop = (): void => {};

let available: boolean | null = null;

/** This Node lets a zlib engine run synchronously and persistently (see the top of this file). */
export function deflateAvailable(): boolean {
  if (available === null) {
    const z = zlib.createInflateRaw({ chunkSize: 64 }) as unknown as Engine;
    available = typeof z._handle?.writeSync === 'function' && z._writeState instanceof Uint32Array;
    z.close();
  }
  return available;
}

function inflater(windowBits: number): Engine {
  // A zlib engine allocates its own chunkSize output buffer, which ours never use.
  const z = zlib.createInflateRaw({ windowBits, chunkSize: 64 }) as unknown as Engine;
  z.on('error', noop); // errors are read synchronously (errored); the event comes a tick later
  return z;
}

function deflater(windowBits: number, level: number): Engine {
  const z = zlib.createDeflateRaw({ windowBits, level, memLevel: 8, chunkSize: 64 }) as unknown as Engine;
  z.on('error', noop);
  return z;
}

/**
 * Feeds `input` to the engine with `flush`, handing each piece of output to
 * `sink` (a copy: the scratch buffer is reused). Returns when zlib consumed
 * the input and left output room unused (nothing more to give).
 */
function drive(z: Engine, input: Buffer, flush: number, sink: (piece: Buffer) => void): void {
  const handle = z._handle;
  if (handle === null) throw new Error('the zlib engine is closed');
  const state = z._writeState;
  let inOff = 0;
  let inLen = input.length;
  for (;;) {
    handle.writeSync(flush, input, inOff, inLen, scratch, 0, OUT);
    if (z.destroyed) throw z.errored ?? new Error('zlib failed');
    const availOut = state[0];
    const availIn = state[1];
    const have = OUT - availOut;
    if (have > 0) sink(Buffer.from(scratch.subarray(0, have)));
    inOff += inLen - availIn;
    inLen = availIn;
    if (availOut !== 0) return;
  }
}

/**
 * A compressed message without the 00 00 ff ff its sync flush ended with
 * (RFC 7692 7.2.1). A flush with nothing new to compress (an empty message
 * after another) gives no output at all: the message is then the lone 0x00 of
 * RFC 7692 7.2.3.6, to which the peer's 00 00 ff ff adds an empty block.
 */
function stripTrailer(all: Buffer): Buffer {
  return all.length === 0 ? EMPTY_BLOCK : all.subarray(0, all.length - TRAILER.length);
}

/**
 * One connection's permessage-deflate: compresses what it sends, inflates
 * what it receives, with the agreed windows and context takeover.
 */
export class PerMessageDeflate {
  readonly threshold: number;
  private readonly sendBits: number;
  private readonly recvBits: number;
  private readonly sendReset: boolean;
  private readonly recvReset: boolean;
  private readonly level: number;
  private def: Engine | null = null;
  private inf: Engine | null = null;

  constructor(params: DeflateParams, isServer: boolean, opts: PerMessageDeflateOptions = {}) {
    const own = isServer ? params.serverMaxWindowBits : params.clientMaxWindowBits;
    const peer = isServer ? params.clientMaxWindowBits : params.serverMaxWindowBits;
    this.sendBits = own > 0 ? own : 15;
    // Node's raw deflate turns a window of 8 into 9, which a peer inflating
    // with 8 may not read: we then send everything uncompressed (RFC 7692
    // 6: compressing a message is the sender's choice). Inflating with 9 for
    // a peer limited to 8 is safe (a larger window reads any smaller one's output).
    this.recvBits = peer > 0 ? Math.max(9, peer) : 15;
    this.sendReset = isServer ? params.serverNoContextTakeover : params.clientNoContextTakeover;
    this.recvReset = isServer ? params.clientNoContextTakeover : params.serverNoContextTakeover;
    this.threshold = opts.threshold ?? 1024;
    this.level = opts.level ?? zlib.constants.Z_DEFAULT_COMPRESSION;
  }

  /** A message of `length` bytes is to be sent compressed. */
  compresses(length: number): boolean {
    return length >= this.threshold && this.sendBits > 8;
  }

  /**
   * The compressed payload of a whole message (the first frame gets RSV1).
   * Synchronous up to SLICE bytes; beyond, it cedes between slices.
   */
  async compress(data: Buffer): Promise<Buffer> {
    const z = (this.def ??= deflater(this.sendBits, this.level));
    const out = new Collector();
    const sink = (b: Buffer): void => out.push(b);
    let finished = false;
    try {
      let at = 0;
      for (; data.length - at > SLICE; at += SLICE) {
        drive(z, data.subarray(at, at + SLICE), Z_NO_FLUSH, sink);
        await cede();
      }
      drive(z, at === 0 ? data : data.subarray(at), Z_SYNC_FLUSH, sink);
      finished = true;
    } finally {
      // An interrupted message leaves the engine mid-stream: start afresh.
      if (!finished) this.resetDeflate();
      else if (this.sendReset) z.reset();
    }
    return stripTrailer(out.concat());
  }

  /** compress() for a message of at most SLICE bytes: no wait at all. */
  compressNow(data: Buffer): Buffer {
    const z = (this.def ??= deflater(this.sendBits, this.level));
    const out = new Collector();
    try {
      drive(z, data, Z_SYNC_FLUSH, (b) => out.push(b));
    } catch (err) {
      this.resetDeflate();
      throw err;
    }
    if (this.sendReset) z.reset();
    return stripTrailer(out.concat());
  }

  /**
   * Inflates one frame's payload of a compressed message into `out`, the
   * message's output so far; `fin`: its last frame. Output past `max` bytes
   * stops it.
   * @throws {ProtocolError} 1009 past `max`, 1007 for data zlib cannot inflate.
   */
  async decompress(data: Buffer, fin: boolean, out: Collector, max: number): Promise<void> {
    const z = (this.inf ??= inflater(this.recvBits));
    const sink = (b: Buffer): void => {
      if (out.length + b.length > max) {
        throw new ProtocolError(1009, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', `a compressed message inflating past ${max} bytes (maxMessageSize)`);
      }
      out.push(b);
    };
    try {
      if (data.length <= SLICE) drive(z, data, Z_SYNC_FLUSH, sink);
      else {
        for (let at = 0; at < data.length; at += SLICE) {
          if (at > 0) await cede();
          drive(z, data.subarray(at, at + SLICE), Z_SYNC_FLUSH, sink);
        }
      }
      if (fin) {
        drive(z, TRAILER, Z_SYNC_FLUSH, sink);
        if (this.recvReset) z.reset();
      }
    } catch (err) {
      this.closeInflate();
      if (err instanceof ProtocolError) throw err;
      if (err instanceof Error && (err as NodeJS.ErrnoException).code?.startsWith('Z_')) {
        throw new ProtocolError(1007, 'WS_ERR_INVALID_COMPRESSED_DATA', `invalid compressed data: ${err.message}`);
      }
      throw err;
    }
  }

  /** Frees both engines (the connection is closed). */
  close(): void {
    this.resetDeflate();
    this.closeInflate();
  }

  /** Drops the compressor (a fresh one is made for the next message): after an interrupt or an error, where reset() could meet a destroyed engine. */
  private resetDeflate(): void {
    this.def?.close();
    this.def = null;
  }

  private closeInflate(): void {
    this.inf?.close();
    this.inf = null;
  }
}
