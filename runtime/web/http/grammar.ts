// The HTTP token grammar (RFC 9110 §5.6), once for the server, its parser and
// the WebSocket handshake. Whitespace here is only SP and HT ("OWS"): never
// JavaScript's trim(), which also strips NBSP (0xA0), VT, FF and the Unicode
// spaces, so `Transfer-Encoding: \xa0chunked` would read as chunked where
// every other HTTP implementation sees a token it does not know.

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HT = 0x09;
export const COLON = 0x3a;
export const SEMI = 0x3b;

/** RFC 9110 tchar: the bytes of a method, a header name, a token. */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/**
 * The bytes of an RFC 3986 reg-name (§3.2.2): unreserved, sub-delims and the
 * '%' of pct-encoded. An IPv4 address is one; so are the insides of an IP
 * literal's brackets, with ':' (IPv6, IPvFuture).
 */
const REGNAME = new Uint8Array(256);
for (const c of "-._~!$&'()*+,;=%") REGNAME[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) REGNAME[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) REGNAME[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) REGNAME[c] = 1;

/** A hex digit's value, -1 for any other byte. */
export const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = 10 + c;
  HEX[0x61 + c] = 10 + c;
}

/** `s` is a non-empty token. */
export function isToken(s: string): boolean {
  if (typeof s !== 'string' || s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TCHAR[c] !== 1) return false;
  }
  return true;
}

/**
 * b[from, to) is an authority without userinfo: `uri-host [ ":" port ]`
 * (RFC 3986 §3.2.2-3.2.3, as Host and the request target use it, RFC 9110
 * §7.2 and RFC 9112 §3.2). `needHost`: the host may not be empty;
 * `needPort`: the port must be there (CONNECT's authority-form). Over the
 * bytes rather than a string: Host is checked on every request, and this is
 * a third of the cost of the same loop over a sliced string's charCodeAt.
 */
export function isAuthority(b: Uint8Array, from: number, to: number, needHost: boolean, needPort: boolean): boolean {
  let i = from;
  if (i < to && b[i] === 0x5b) {
    // IP-literal: "[" ( IPv6address / IPvFuture ) "]"
    for (i++; i < to && (REGNAME[b[i]] === 1 || b[i] === COLON); i++);
    if (i === from + 1 || i === to || b[i] !== 0x5d) return false;
    i++;
  } else {
    while (i < to && REGNAME[b[i]] === 1) i++;
    if (needHost && i === from) return false;
  }
  if (i === to) return !needPort;
  if (b[i] !== COLON) return false;
  const ps = ++i;
  while (i < to && b[i] >= 0x30 && b[i] <= 0x39) i++;
  return i === to && (i > ps || !needPort);
}

/** b[from, to) is a URI scheme (RFC 3986 §3.1): `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`. */
export function isScheme(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = b[i];
    const alpha = (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
    if (!alpha && (i === from || !((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e))) return false;
  }
  return to > from;
}

/** `s` without leading and trailing SP and HT (and nothing else). */
export function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === SP || s.charCodeAt(a) === HT)) a++;
  while (b > a && (s.charCodeAt(b - 1) === SP || s.charCodeAt(b - 1) === HT)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** The elements of a comma-separated list (`#token`), OWS-trimmed, empty ones dropped. */
export function listItems(v: string | undefined): string[] {
  if (v === undefined) return [];
  const out: string[] = [];
  for (const part of v.split(',')) {
    const t = trimOws(part);
    if (t !== '') out.push(t);
  }
  return out;
}

/** `token` (lower case) is among the elements of the list `v`, compared case-insensitively. */
export function hasToken(v: string | undefined, token: string): boolean {
  if (v === undefined) return false;
  if (v.length === token.length && v.toLowerCase() === token) return true;
  for (const t of listItems(v)) if (t.length === token.length && t.toLowerCase() === token) return true;
  return false;
}
