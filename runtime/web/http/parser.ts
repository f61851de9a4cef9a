// The HTTP/1.1 request parser (RFC 9112): pure functions over Buffers, no
// socket. scanHead() says whether the bytes so far hold a whole head, and
// refuses at once what can never become a good one; parseHead() turns a whole
// head into a RequestHead; parseChunkSize() and isTrailerLine() check the
// framing lines of a chunked body. Every refusal is an HttpError with the
// status to answer. The grammar is strict where leniency lets two parsers
// disagree about where a request ends (request smuggling): CRLF only, no
// obs-fold, no whitespace before a colon, SP/HT as the only whitespace,
// exactly one Content-Length or a Transfer-Encoding ending in chunked, never
// both, one valid Host. The README lists the leniencies kept, each legal
// under RFC 9112/9110; tests/web/corpus.test.ts holds them to llhttp's
// behaviour, case by case.
import { COLON, CR, HEX, HT, LF, SEMI, SP, TCHAR, isAuthority, isScheme, listItems } from './grammar';
import { HttpError } from './types';

/** The limits a head is checked against. */
export interface HeadLimits {
  /** longest request target, else 414 */
  urlLengthLimit: number;
  /** largest head (request line and header lines), else 431 */
  maxHeaderSize: number;
  /** longest header line, else 400 */
  maxHeaderLine: number;
}

/** A parsed request head. */
export interface RequestHead {
  method: string;
  /** the request target as sent */
  target: string;
  /** the target's path (for absolute-form, the path of the URL), not decoded */
  rawPath: string;
  /** after the first '?', '' when none */
  query: string;
  http10: boolean;
  /** the header lines as [name, value] pairs, in order, names as sent, values without OWS */
  headers: [string, string][];
  /** Content-Length, -1 when the request has none */
  contentLength: number;
  /** the body is chunked */
  chunked: boolean;
  /** the Host: the authority of an absolute-form or CONNECT target, else the Host header (undefined for HTTP/1.0 without one) */
  host: string | undefined;
  /** the Connection header's value (repeats joined by ','), or undefined */
  connection: string | undefined;
  /** '100-continue' when an HTTP/1.1 client waits for 100 Continue; other expectations are refused with 417 */
  expect: string | undefined;
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const DEL = 0x7f;

const lowerBytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const HOST = lowerBytes('host');
const EXPECT = lowerBytes('expect');
const CONNECTION = lowerBytes('connection');
const CONTENT_LENGTH = lowerBytes('content-length');
const TRANSFER_ENCODING = lowerBytes('transfer-encoding');

/** The token at b[at..] is `lower` (letters and '-'), in any case: `| 0x20` folds ASCII letters and keeps '-'. */
function nameIs(b: Buffer, at: number, lower: Uint8Array): boolean {
  for (let k = 0; k < lower.length; k++) if ((b[at + k] | 0x20) !== lower[k]) return false;
  return true;
}

/**
 * Looks for the end of a request head in buf[pos..]; `scanned` bytes after
 * `pos` were searched by an earlier call (0 the first time). Returns the
 * offset just past the head's empty line, or -1 while it is incomplete.
 * Throws HttpError for what can never become a good head: a method that is
 * not a token, a bare CR or LF, a request line or head over the limits.
 */
export function scanHead(buf: Buffer, pos: number, scanned: number, limits: HeadLimits): number {
  const from = pos + (scanned > 3 ? scanned - 3 : 0);
  const end = buf.indexOf(CRLFCRLF, from);
  const stop = end < 0 ? buf.length : end + 4;
  if (stop - pos > limits.maxHeaderSize + 4) throw new HttpError(431, `the request head is over ${limits.maxHeaderSize} bytes`);
  if (end < 0) {
    // Every LF ends a CRLF and every CR starts one, checked in the new bytes
    // (from one byte back, for a CR that ended the previous scan), so that a
    // head ending in a bare LF is refused now rather than waited for. A whole
    // head needs no such pass: parseHead refuses any CR or LF out of place.
    const check = Math.max(pos, pos + scanned - 1);
    for (let i = buf.indexOf(LF, check); i >= 0; i = buf.indexOf(LF, i + 1)) {
      if (i === pos || buf[i - 1] !== CR) throw new HttpError(400, 'a bare LF in the request head (CRLF needed)');
    }
    for (let i = buf.indexOf(CR, check); i >= 0; i = buf.indexOf(CR, i + 1)) {
      if (i + 1 < buf.length && buf[i + 1] !== LF) throw new HttpError(400, 'a bare CR in the request head');
    }
  }
  // What is there of the request line must be able to become one.
  let i = pos;
  while (i < stop && TCHAR[buf[i]] === 1) i++;
  if (i < stop && (i === pos || buf[i] !== SP)) throw new HttpError(400, 'malformed request line (method)');
  if (end < 0) {
    const lineEnd = buf.indexOf(LF, pos);
    if ((lineEnd < 0 ? buf.length - pos : lineEnd - pos) > limits.urlLengthLimit + 64) {
      throw new HttpError(414, `the request line is over ${limits.urlLengthLimit} bytes`);
    }
  }
  return end < 0 ? -1 : end + 4;
}

/**
 * Parses the head buf[start, end) (`end` just past its empty line, as
 * scanHead returns). Throws HttpError (400, 414, 431, 417, 501, 505).
 */
export function parseHead(buf: Buffer, start: number, end: number, limits: HeadLimits): RequestHead {
  const b = buf;
  const head = b.toString('latin1', start, end);
  // request line: method SP request-target SP HTTP-version CRLF
  let i = start;
  while (TCHAR[b[i]] === 1) i++;
  if (i === start || b[i] !== SP) throw new HttpError(400, 'malformed request line (method)');
  const method = head.slice(0, i - start);
  const ts = ++i;
  let query = -1;
  // The target is URI characters (RFC 9112 §3.2): visible ASCII only. Bytes
  // past 0x7E (UTF-8, NBSP) are refused as llhttp does, rather than handed
  // on as latin1 for each layer to decode its own way.
  for (let c = b[i]; c > SP && c < DEL; c = b[++i]) if (c === 0x3f && query < 0) query = i;
  if (i === ts || b[i] !== SP) throw new HttpError(400, 'malformed request line (target)');
  const te = i++;
  if (
    b[i] !== 0x48 || b[i + 1] !== 0x54 || b[i + 2] !== 0x54 || b[i + 3] !== 0x50 || b[i + 4] !== 0x2f ||
    b[i + 5] < 0x30 || b[i + 5] > 0x39 || b[i + 6] !== 0x2e || b[i + 7] < 0x30 || b[i + 7] > 0x39 || b[i + 8] !== CR || b[i + 9] !== LF
  ) {
    throw new HttpError(400, 'malformed request line (version)');
  }
  if (b[i + 5] !== 0x31) throw new HttpError(505, `HTTP/${head[i + 5 - start]}.x is not supported`);
  const http10 = b[i + 7] === 0x30;
  if (te - ts > limits.urlLengthLimit) throw new HttpError(414, `the request target is over ${limits.urlLengthLimit} bytes`);
  const target = head.slice(ts - start, te - start);
  let rawPath = query < 0 ? target : head.slice(ts - start, query - start);
  const queryString = query < 0 ? '' : head.slice(query + 1 - start, te - start);
  // The four forms of request-target (RFC 9112 §3.2); an authority in the
  // target is the Host (§3.2.2, §3.3), so it must be one: no userinfo (RFC
  // 9110 §4.2.4), no empty host (§4.2.1).
  let authority: string | undefined;
  if (method === 'CONNECT') {
    // authority-form, CONNECT's only form (§3.2.3): host ":" port; the path stays the target
    if (!isAuthority(b, ts, te, true, true)) throw new HttpError(400, 'CONNECT needs a host:port target');
    authority = target;
  } else if (rawPath.charCodeAt(0) !== 0x2f) {
    if (target === '*') {
      if (method !== 'OPTIONS') throw new HttpError(400, 'the asterisk-form target is for OPTIONS only');
    } else {
      // absolute-form (§3.2.2): its authority is the Host, its path the path
      // (rawPath[k] is b[ts + k])
      const scheme = rawPath.indexOf('://');
      if (scheme <= 0 || !isScheme(b, ts, ts + scheme)) throw new HttpError(400, 'malformed request target');
      const slash = rawPath.indexOf('/', scheme + 3);
      const aEnd = slash < 0 ? rawPath.length : slash;
      if (!isAuthority(b, ts + scheme + 3, ts + aEnd, true, false)) throw new HttpError(400, 'malformed authority in the request target');
      authority = rawPath.slice(scheme + 3, aEnd);
      rawPath = slash < 0 ? '/' : rawPath.slice(slash);
    }
  }

  // header lines: field-name ":" OWS field-value OWS CRLF
  const headers: [string, string][] = [];
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let connection: string | undefined;
  let expect: string | undefined;
  let host: string | undefined;
  let hosts = 0;
  let hostFrom = 0;
  let hostTo = 0;
  i += 10;
  const stop = end - 2;
  const maxLine = limits.maxHeaderLine;
  while (i < stop) {
    const ns = i;
    while (TCHAR[b[i]] === 1) i++;
    if (i === ns || b[i] !== COLON) {
      throw new HttpError(400, b[ns] === SP || b[ns] === HT ? 'folded header lines are not accepted' : 'malformed header line');
    }
    const ne = i++;
    while (b[i] === SP || b[i] === HT) i++;
    const vs = i;
    for (let c = b[i]; c !== CR; c = b[++i]) {
      if ((c < SP && c !== HT) || c === DEL) throw new HttpError(400, 'a header value holds a control character');
    }
    if (b[i + 1] !== LF) throw new HttpError(400, 'a header line does not end with CRLF');
    if (i - ns > maxLine) throw new HttpError(400, `a header line is over ${maxLine} bytes`);
    let ve = i;
    while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HT)) ve--;
    i += 2;
    const name = head.slice(ns - start, ne - start);
    const value = head.slice(vs - start, ve - start);
    headers.push([name, value]);
    // the framing headers, found by length and compared as bytes (no lower-cased copy)
    switch (ne - ns) {
      case 4:
        if (nameIs(b, ns, HOST)) {
          hosts++;
          host = value;
          hostFrom = vs;
          hostTo = ve;
        }
        break;
      case 6:
        if (nameIs(b, ns, EXPECT)) expect = expect === undefined ? value : expect + ',' + value;
        break;
      case 10:
        if (nameIs(b, ns, CONNECTION)) connection = connection === undefined ? value : connection + ',' + value;
        break;
      case 14:
        if (nameIs(b, ns, CONTENT_LENGTH)) {
          if (contentLength !== undefined) throw new HttpError(400, 'more than one Content-Length');
          contentLength = value;
        }
        break;
      case 17:
        if (nameIs(b, ns, TRANSFER_ENCODING)) transferEncoding = transferEncoding === undefined ? value : transferEncoding + ',' + value;
        break;
    }
  }

  // Host (RFC 9112 §3.2): exactly one in HTTP/1.1, a valid one; an authority in the target wins
  if (hosts > 1) throw new HttpError(400, 'more than one Host header');
  if (hosts === 0 && !http10) throw new HttpError(400, 'an HTTP/1.1 request without a Host header');
  if (host !== undefined && !isAuthority(b, hostFrom, hostTo, false, false)) throw new HttpError(400, `malformed Host '${host.slice(0, 60)}'`);
  if (authority !== undefined) host = authority;

  // the body's framing (RFC 9112 §6.3): no smuggling
  let length = -1;
  let chunked = false;
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) throw new HttpError(400, 'both Content-Length and Transfer-Encoding were sent');
    if (http10) throw new HttpError(400, 'Transfer-Encoding in an HTTP/1.0 request');
    const codings = listItems(transferEncoding.toLowerCase());
    if (codings.length === 0 || codings[codings.length - 1] !== 'chunked') {
      throw new HttpError(400, `Transfer-Encoding '${transferEncoding.slice(0, 60)}' does not end with chunked`);
    }
    if (codings.length > 1) {
      if (codings.indexOf('chunked') !== codings.length - 1) throw new HttpError(400, 'chunked is applied more than once');
      throw new HttpError(501, `unsupported Transfer-Encoding '${transferEncoding.slice(0, 60)}' (only chunked)`);
    }
    chunked = true;
  } else if (contentLength !== undefined) {
    length = parseContentLength(contentLength);
  }
  // A CONNECT request has no content (RFC 9110 §9.3.6): what follows its head
  // is the tunnel's, as node:http hands it on. Reading a body there instead
  // would be a disagreement about where the request ends.
  if (method === 'CONNECT' && (chunked || length > 0)) throw new HttpError(400, 'a CONNECT request with a body');

  // Expect (RFC 9110 §10.1.1): 100-continue, or 417
  if (expect !== undefined) {
    if (http10) expect = undefined; // an HTTP/1.0 client cannot wait for 100 Continue: ignored
    else if (expect.toLowerCase() !== '100-continue') throw new HttpError(417, `unsupported expectation '${expect.slice(0, 60)}'`);
    else expect = '100-continue';
  }
  return { method, target, rawPath, query: queryString, http10, headers, contentLength: length, chunked, host, connection, expect };
}

/** Content-Length's value: 1 to 15 digits, nothing else (no sign, no list, no space). */
function parseContentLength(v: string): number {
  if (v.length === 0 || v.length > 15) throw new HttpError(400, `bad Content-Length '${v.slice(0, 40)}'`);
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) throw new HttpError(400, `bad Content-Length '${v.slice(0, 40)}'`);
  }
  return Number(v);
}

/**
 * The size of a chunk-size line (RFC 9112 §7.1, without its CRLF):
 * `1*HEXDIG *( BWS ";" BWS ext-name [ BWS "=" BWS ext-value ] )`, the
 * extensions checked and ignored. Returns -1 when the line is malformed.
 * Whitespace is BWS, so only before a ';' or an '=' and after them: `5 ` or
 * `5;a=b ` (whitespace ending the line) is refused, as llhttp refuses it.
 */
export function parseChunkSize(line: Buffer): number {
  let size = 0;
  let i = 0;
  for (; i < line.length; i++) {
    const d = HEX[line[i]];
    if (d < 0) break;
    // 2^49 * 16 is 2^53: past it a Number no longer counts every byte (and no body is that long)
    if (size > 0x1ffffffffffff) return -1;
    size = size * 16 + d;
  }
  if (i === 0) return -1;
  for (;;) {
    if (i === line.length) return size;
    while (line[i] === SP || line[i] === HT) i++;
    if (line[i++] !== SEMI) return -1; // also whitespace ending the line
    while (line[i] === SP || line[i] === HT) i++;
    const ns = i;
    while (TCHAR[line[i]] === 1) i++;
    if (i === ns) return -1;
    let j = i;
    while (line[j] === SP || line[j] === HT) j++;
    if (line[j] !== 0x3d) continue; // no '=': the next ';' or the end, checked above
    i = j + 1;
    while (line[i] === SP || line[i] === HT) i++;
    if (line[i] === DQUOTE) {
      i = quotedStringEnd(line, i);
      if (i < 0) return -1;
    } else {
      const vs = i;
      while (TCHAR[line[i]] === 1) i++;
      if (i === vs) return -1;
    }
  }
}

/** The offset just past the quoted-string starting at line[i] ('"'), or -1. */
function quotedStringEnd(line: Buffer, i: number): number {
  for (i++; i < line.length; i++) {
    const c = line[i];
    if (c === DQUOTE) return i + 1;
    if (c === BACKSLASH) {
      i++;
      const q = line[i];
      if (i >= line.length || (q < SP && q !== HT) || q === DEL) return -1;
    } else if ((c < SP && c !== HT) || c === DEL) return -1;
  }
  return -1;
}

/** A trailer line (without its CRLF) is a field line: `token ":" OWS value`, no control bytes. */
export function isFieldLine(line: Buffer): boolean {
  let i = 0;
  while (TCHAR[line[i]] === 1) i++;
  if (i === 0 || line[i] !== COLON) return false;
  for (i++; i < line.length; i++) {
    const c = line[i];
    if ((c < SP && c !== HT) || c === DEL) return false;
  }
  return true;
}

/**
 * A trailer line (without its CRLF): a field line (isFieldLine) that is not
 * Content-Length or Transfer-Encoding. Framing is decided by the header
 * section alone (RFC 9110 §6.5.1); evy drops trailers, but a proxy that merges
 * them could act on one, and llhttp refuses both names here.
 */
export function isTrailerLine(line: Buffer): boolean {
  if (!isFieldLine(line)) return false;
  const colon = line.indexOf(COLON);
  if (colon !== 14 && colon !== 17) return true;
  const name = line.toString('latin1', 0, colon).toLowerCase();
  return name !== 'content-length' && name !== 'transfer-encoding';
}
