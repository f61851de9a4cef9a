// The RFC 6455 frame codec: parse a frame header out of a Buffer, encode a
// frame, mask and unmask payloads, read and write close payloads. Pure
// functions over Buffers: no socket, no state (the rules that need a
// connection's state — message sizes, fragmentation — live in ../websocket).
// Like the `ws` package's Receiver, every protocol error is a ProtocolError
// carrying the close code that fails the connection and a stable code.
import { isUtf8 } from 'node:buffer';
import { randomFillSync } from 'node:crypto';
import { endianness } from 'node:os';

export const OP_CONT = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** The largest header: 2 bytes, a 64-bit length, a 4-byte mask key. */
export const MAX_HEADER = 14;

const LITTLE_ENDIAN = endianness() === 'LE';
const EMPTY = Buffer.alloc(0);

/** The peer broke the protocol: the connection is failed with `closeCode`. */
export class ProtocolError extends Error {
  constructor(
    /** the close code our close frame carries: 1002, 1007, 1008 or 1009 */
    readonly closeCode: number,
    /** stable, for programs: 'WS_ERR_INVALID_OPCODE'... */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** A parsed frame header. The payload follows `headerLength` bytes after its start. */
export interface FrameHeader {
  fin: boolean;
  /** RSV1: the first frame of a compressed message (permessage-deflate) */
  rsv1: boolean;
  opcode: number;
  masked: boolean;
  /** the mask key as a big-endian 32-bit number (0 when unmasked) */
  mask: number;
  /** payload bytes */
  length: number;
  headerLength: number;
}

/** What the receiving end expects of a frame header. */
export interface HeaderRules {
  /** frames must be masked (a server reading a client), or must not be (a client) */
  masked: boolean;
  /** RSV1 may be set on a message's first frame (permessage-deflate was negotiated) */
  rsv1: boolean;
}

/**
 * Parses the frame header at buf[pos..]: the header, or null while more bytes
 * are needed. The first two bytes are checked as soon as they are there
 * (opcode, reserved bits, mask bit, a control frame's FIN and length), so a
 * garbage frame fails at once instead of waiting for an extended length that
 * may never come.
 * @throws {ProtocolError} 1002 for a header the rules do not allow.
 */
export function parseHeader(buf: Buffer, pos: number, rules: HeaderRules): FrameHeader | null {
  const avail = buf.length - pos;
  if (avail < 2) return null;
  const b0 = buf[pos];
  const b1 = buf[pos + 1];
  const fin = (b0 & 0x80) !== 0;
  const rsv1 = (b0 & 0x40) !== 0;
  const opcode = b0 & 0x0f;
  const masked = (b1 & 0x80) !== 0;
  let length = b1 & 0x7f;
  if (opcode >= 0x8) {
    if (opcode > OP_PONG) throw new ProtocolError(1002, 'WS_ERR_INVALID_OPCODE', `unknown opcode ${opcode}`);
    if (!fin) throw new ProtocolError(1002, 'WS_ERR_EXPECTED_FIN', 'a fragmented control frame');
    if (length > 125) throw new ProtocolError(1002, 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH', `a control frame with a payload over 125 bytes`);
  } else if (opcode > OP_BINARY) throw new ProtocolError(1002, 'WS_ERR_INVALID_OPCODE', `unknown opcode ${opcode}`);
  if ((b0 & 0x30) !== 0) throw new ProtocolError(1002, 'WS_ERR_UNEXPECTED_RSV_2_3', 'RSV2 or RSV3 set (no extension defines them)');
  if (rsv1) {
    if (!rules.rsv1) throw new ProtocolError(1002, 'WS_ERR_UNEXPECTED_RSV_1', 'RSV1 set without permessage-deflate');
    if (opcode === OP_CONT || opcode >= 0x8) {
      throw new ProtocolError(1002, 'WS_ERR_UNEXPECTED_RSV_1', `RSV1 set on a ${opcode === OP_CONT ? 'continuation' : 'control'} frame (only a message's first frame may have it)`);
    }
  }
  if (masked !== rules.masked) {
    throw new ProtocolError(1002, rules.masked ? 'WS_ERR_EXPECTED_MASK' : 'WS_ERR_UNEXPECTED_MASK', rules.masked ? 'an unmasked frame from the client' : 'a masked frame from the server');
  }
  const ext = length === 126 ? 2 : length === 127 ? 8 : 0;
  const headerLength = 2 + ext + (masked ? 4 : 0);
  if (avail < headerLength) return null;
  if (ext === 2) length = buf.readUInt16BE(pos + 2);
  else if (ext === 8) {
    const hi = buf.readUInt32BE(pos + 2);
    if (hi >= 0x80000000) throw new ProtocolError(1002, 'WS_ERR_INVALID_PAYLOAD_LENGTH', 'a 64-bit payload length with the top bit set (RFC 6455 5.2: it must be 0)');
    // JavaScript numbers hold integers up to 2^53: no message could be that long.
    if (hi > 0x1fffff) throw new ProtocolError(1009, 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH', 'a 64-bit payload length over 2^53 - 1');
    length = hi * 0x100000000 + buf.readUInt32BE(pos + 6);
  }
  const mask = masked ? buf.readUInt32BE(pos + headerLength - 4) : 0;
  return { fin, rsv1, opcode, masked, mask, length, headerLength };
}

// ---- encoding --------------------------------------------------------------------------

/**
 * One frame: `data` (a string is written as UTF-8 straight into the frame)
 * after the shortest length form, masked with a fresh random key when
 * `masked` (a client's frames).
 */
export function encodeFrame(opcode: number, data: Buffer | string, masked: boolean, rsv1 = false, fin = true): Buffer {
  const len = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const hdr = 2 + ext + (masked ? 4 : 0);
  const out = Buffer.allocUnsafe(hdr + len);
  out[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  if (ext === 0) out[1] = len;
  else if (ext === 2) {
    out[1] = 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 127;
    out.writeUInt32BE(Math.floor(len / 0x100000000), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  if (typeof data === 'string') out.write(data, hdr, 'utf8');
  else data.copy(out, hdr);
  if (masked) {
    out[1] |= 0x80;
    nextMask(out, hdr - 4);
    applyMask(out, hdr, len, out.readUInt32BE(hdr - 4));
  }
  return out;
}

// ---- masking -------------------------------------------------------------------------

/**
 * XORs buf[start, start+len) with the 4-byte mask key (big-endian `mask`), in
 * place: 32-bit words over the aligned middle on little-endian hosts, 4 bytes
 * per turn elsewhere. Masking twice unmasks.
 */
export function applyMask(buf: Buffer, start: number, len: number, mask: number): void {
  const m0 = mask >>> 24;
  const m1 = (mask >>> 16) & 0xff;
  const m2 = (mask >>> 8) & 0xff;
  const m3 = mask & 0xff;
  const end = start + len;
  let i = start;
  if (LITTLE_ENDIAN && len >= 64) {
    // Bytes up to the first 4-aligned address, then words, then the tail.
    const lead = (4 - ((buf.byteOffset + i) & 3)) & 3;
    const m = [m0, m1, m2, m3];
    for (let k = 0; k < lead; k++, i++) buf[i] ^= m[(i - start) & 3];
    const phase = (i - start) & 3;
    const word = (m[phase] | (m[(phase + 1) & 3] << 8) | (m[(phase + 2) & 3] << 16) | (m[(phase + 3) & 3] << 24)) >>> 0;
    const words = (end - i) >>> 2;
    const view = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w] ^= word;
    i += words * 4;
    for (; i < end; i++) buf[i] ^= m[(i - start) & 3];
    return;
  }
  for (; i + 3 < end; i += 4) {
    buf[i] ^= m0;
    buf[i + 1] ^= m1;
    buf[i + 2] ^= m2;
    buf[i + 3] ^= m3;
  }
  if (i < end) buf[i++] ^= m0;
  if (i < end) buf[i++] ^= m1;
  if (i < end) buf[i] ^= m2;
}

/** Random mask keys, 4 bytes each, from a refilled pool (one crypto call per 1024 frames). */
let maskPool = EMPTY;
let maskPos = 0;
function nextMask(out: Buffer, at: number): void {
  if (maskPos + 4 > maskPool.length) {
    maskPool = randomFillSync(Buffer.allocUnsafe(4096));
    maskPos = 0;
  }
  maskPool.copy(out, at, maskPos, maskPos + 4);
  maskPos += 4;
}

// ---- close payloads ------------------------------------------------------------------------

/** A close code that may appear in a close frame (RFC 6455 7.4, IANA registry). */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/**
 * A close frame's payload: its code (1005 when it has none) and reason.
 * @throws {ProtocolError} 1002 for a 1-byte payload or a code not allowed on the wire, 1007 for a reason that is not UTF-8.
 */
export function parseClose(payload: Buffer): { code: number; reason: string } {
  if (payload.length === 0) return { code: 1005, reason: '' };
  if (payload.length === 1) throw new ProtocolError(1002, 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH', 'a close frame with a 1-byte payload');
  const code = payload.readUInt16BE(0);
  if (!isValidCloseCode(code)) throw new ProtocolError(1002, 'WS_ERR_INVALID_CLOSE_CODE', `invalid close code ${code}`);
  const r = payload.subarray(2);
  if (!isUtf8(r)) throw new ProtocolError(1007, 'WS_ERR_INVALID_UTF8', 'invalid UTF-8 in the close reason');
  return { code, reason: r.toString('utf8') };
}

/** The payload of a close frame with `code` (1005: none) and `reason` (cut to the 123 bytes a frame holds, on a character boundary). */
export function closePayload(code: number, reason: string): Buffer {
  if (code === 1005) return EMPTY;
  let r = Buffer.from(reason, 'utf8');
  if (r.length > 123) {
    let end = 123;
    while (end > 0 && (r[end] & 0xc0) === 0x80) end--; // not inside a UTF-8 sequence
    r = r.subarray(0, end);
  }
  const payload = Buffer.allocUnsafe(2 + r.length);
  payload.writeUInt16BE(code, 0);
  r.copy(payload, 2);
  return payload;
}
