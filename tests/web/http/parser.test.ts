// evy/web/wsgi's request parser (web/http/parser.ts), fed bytes with no
// socket: scanHead (where a head ends, what to refuse before it does),
// parseHead (the request line, the header lines, the framing rules),
// parseChunkSize, isFieldLine and isTrailerLine (the lines of a chunked body).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isFieldLine, isTrailerLine, parseChunkSize, parseHead, scanHead, type HeadLimits, type RequestHead } from '../../../dist/web/http/parser';
import { HttpError } from '../../../dist/web/http/types';
import { assertClean } from '../../helpers';

test.after.each(assertClean);

const limits: HeadLimits = { urlLengthLimit: 8192, maxHeaderSize: 65536, maxHeaderLine: 8192 };

/** latin1 bytes: every char one byte, as on the wire */
const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** The head of `raw` (which must hold a whole one) parsed, as the connection does. */
function parse(raw: string, lim: HeadLimits = limits): RequestHead {
  const buf = bytes(raw);
  const end = scanHead(buf, 0, 0, lim);
  assert.ok(end > 0, `a whole head in ${JSON.stringify(raw)}`);
  return parseHead(buf, 0, end, lim);
}

/** The status `fn` refuses with (fails if it does not throw an HttpError). */
function status(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpError) return err.status;
    throw err;
  }
  assert.unreachable('accepted');
  return 0;
}

/** The status parsing `raw` ends with: the refusal's, or 200 if it parses. */
function verdict(raw: string, lim: HeadLimits = limits): number {
  try {
    parse(raw, lim);
    return 200;
  } catch (err) {
    if (err instanceof HttpError) return err.status;
    throw err;
  }
}

const req = (headers: string, line = 'POST / HTTP/1.1'): string => `${line}\r\nHost: a\r\n${headers}\r\n`;

// ---- the request line ----------------------------------------------------------------

test('origin-form: method, target, path and query; no query is an empty one', () => {
  const h = parse('GET /a/b?c=1&d HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.is(h.method, 'GET');
  assert.is(h.target, '/a/b?c=1&d');
  assert.is(h.rawPath, '/a/b');
  assert.is(h.query, 'c=1&d');
  assert.is(h.http10, false);
  assert.is(h.host, 'x');
  assert.is(parse('GET /a HTTP/1.1\r\nHost: x\r\n\r\n').query, '');
  assert.is(parse('GET /a? HTTP/1.1\r\nHost: x\r\n\r\n').rawPath, '/a');
});

test('absolute-form: the path is the URL path, the Host its authority', () => {
  let h = parse('GET http://example.com:8080/x/y?q HTTP/1.1\r\nHost: other\r\n\r\n');
  assert.is(h.target, 'http://example.com:8080/x/y?q');
  assert.is(h.rawPath, '/x/y');
  assert.is(h.query, 'q');
  assert.is(h.host, 'example.com:8080', 'the authority wins over the Host header');
  h = parse('GET http://example.com HTTP/1.1\r\nHost: other\r\n\r\n');
  assert.is(h.rawPath, '/');
  assert.is(h.host, 'example.com');
});

test('absolute-form: any scheme, an IP literal; no empty host, no userinfo, nothing but a port after the host', () => {
  assert.is(parse('GET ftp+x.1://b/ HTTP/1.1\r\nHost: x\r\n\r\n').host, 'b');
  assert.is(parse('GET http://[::1]:8080/x HTTP/1.1\r\nHost: x\r\n\r\n').host, '[::1]:8080');
  assert.is(parse('GET http://b:/x HTTP/1.1\r\nHost: x\r\n\r\n').host, 'b:', 'an empty port is a port (RFC 3986 §3.2.3)');
  assert.is(parse('GET http://b/x#y HTTP/1.1\r\nHost: x\r\n\r\n').rawPath, '/x#y');
  for (const t of ['http:///x', 'http://u:p@b/x', 'http://b#y', 'http://b:80:80/x', 'http://b:8o/x', 'http://[::1/x', '1ttp://b/x', '+ttp://b/x', 'h_tp://b/x', '://b/x', 'b/x', 'b:80']) {
    assert.is(verdict(`GET ${t} HTTP/1.1\r\nHost: x\r\n\r\n`), 400, t);
  }
});

test('asterisk-form is for OPTIONS only, and only a lone asterisk', () => {
  const h = parse('OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.is(h.rawPath, '*');
  assert.is(verdict('GET * HTTP/1.1\r\nHost: x\r\n\r\n'), 400);
  assert.is(verdict('OPTIONS *?x HTTP/1.1\r\nHost: x\r\n\r\n'), 400);
});

test('CONNECT: authority-form only, host:port, its Host; no body', () => {
  const h = parse('CONNECT b:443 HTTP/1.1\r\nHost: other\r\n\r\n');
  assert.is(h.target, 'b:443');
  assert.is(h.rawPath, 'b:443');
  assert.is(h.host, 'b:443', 'the authority wins over the Host header');
  assert.is(parse('CONNECT [::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n').host, '[::1]:443');
  assert.is(verdict('CONNECT b:443 HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n\r\n'), 200);
  for (const t of ['b', 'b:', ':443', '/', 'http://b:443/', 'u@b:443', 'b:443/x']) {
    assert.is(verdict(`CONNECT ${t} HTTP/1.1\r\nHost: b\r\n\r\n`), 400, t);
  }
  assert.is(verdict('CONNECT b:443 HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\n'), 400, 'a CONNECT has no content');
  assert.is(verdict('CONNECT b:443 HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n'), 400);
  assert.is(verdict('connect b:443 HTTP/1.1\r\nHost: b\r\n\r\n'), 400, 'methods are case-sensitive: this one is not CONNECT');
});

test('HTTP/1.0 and HTTP/1.1; other majors are 505, anything else not a version 400', () => {
  assert.is(parse('GET / HTTP/1.0\r\n\r\n').http10, true);
  assert.is(verdict('GET / HTTP/2.0\r\nHost: x\r\n\r\n'), 505);
  assert.is(verdict('GET / HTTP/0.9\r\nHost: x\r\n\r\n'), 505);
  for (const v of ['HTTP/1.10', 'http/1.1', 'HTTP/1', 'HTTP/01.1', 'HTTP/1.1 ', 'HTTP/1.1 x']) {
    assert.is(verdict(`GET / ${v}\r\nHost: x\r\n\r\n`), 400, v);
  }
});

test('one SP between the parts of the request line, a token for a method, only visible ASCII in the target', () => {
  for (const line of ['GET  / HTTP/1.1', 'GET /  HTTP/1.1', 'GET\t/ HTTP/1.1', 'G(T / HTTP/1.1', 'GET /a\x00b HTTP/1.1', 'GET /a\x7fb HTTP/1.1', 'GET /a\tb HTTP/1.1', 'GET /a\xffb HTTP/1.1', 'GET /a\xa0b HTTP/1.1', 'GET /\xc3\xa9 HTTP/1.1']) {
    assert.is(verdict(`${line}\r\nHost: x\r\n\r\n`), 400, JSON.stringify(line));
  }
  assert.is(parse('M-SEARCH / HTTP/1.1\r\nHost: x\r\n\r\n').method, 'M-SEARCH', 'any token is a method');
});

// ---- header lines --------------------------------------------------------------------

test('headers: in order, names as sent, repeats kept, values without SP/HT around them', () => {
  const h = parse('GET / HTTP/1.1\r\nHost: x\r\nX-A:  one \t\r\nx-a:two\r\nX-Empty:\r\nX-A: \tthree  four\t\r\n\r\n');
  assert.equal(h.headers, [
    ['Host', 'x'],
    ['X-A', 'one'],
    ['x-a', 'two'],
    ['X-Empty', ''],
    ['X-A', 'three  four'],
  ]);
});

test('OWS is SP and HT only: an NBSP, VT or FF stays in the value', () => {
  const h = parse('GET / HTTP/1.1\r\nHost: x\r\nX-A: \xa0b\xa0\r\n\r\n');
  assert.equal(h.headers[1], ['X-A', '\xa0b\xa0']);
  assert.is(verdict(req('Transfer-Encoding: \xa0chunked\r\n')), 400, 'NBSP before chunked');
  assert.is(verdict(req('Transfer-Encoding: chunked\xa0\r\n')), 400, 'NBSP after chunked');
  assert.is(verdict(req('Content-Length: \xa05\r\n')), 400, 'NBSP before a Content-Length');
  assert.is(verdict(req('Content-Length: 5\xa0\r\n')), 400, 'NBSP after a Content-Length');
  assert.is(verdict(req('X-A: \x0bb\r\n')), 400, 'a VT is a control byte');
  assert.is(verdict(req('X-A: \x0cb\r\n')), 400, 'a FF is a control byte');
});

test('malformed header lines: no colon, space before it, obs-fold, control bytes, bare CR', () => {
  for (const line of ['No colon', 'X : y', 'X\t: y', ': y', 'X\x00A: y', 'X/A: y', 'X-A: a\x00b', 'X-A: a\x7fb', 'X-A: a\x1bb', 'X-A: a\rb']) {
    assert.is(verdict(`GET / HTTP/1.1\r\nHost: x\r\n${line}\r\n\r\n`), 400, JSON.stringify(line));
  }
  assert.is(verdict('GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\n\r\n'), 400);
  assert.is(verdict('GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tfolded\r\n\r\n'), 400);
  assert.is(verdict('GET / HTTP/1.1\r\n folded\r\nHost: x\r\n\r\n'), 400);
});

test('a header line over maxHeaderLine is a 400; the request line over urlLengthLimit a 414; the head over maxHeaderSize a 431', () => {
  const small: HeadLimits = { urlLengthLimit: 100, maxHeaderSize: 1024, maxHeaderLine: 64 };
  assert.is(verdict(`GET / HTTP/1.1\r\nHost: x\r\nX-A: ${'b'.repeat(59)}\r\n\r\n`, small), 200);
  assert.is(verdict(`GET / HTTP/1.1\r\nHost: x\r\nX-A: ${'b'.repeat(60)}\r\n\r\n`, small), 400);
  assert.is(verdict(`GET /${'a'.repeat(99)} HTTP/1.1\r\nHost: x\r\n\r\n`, small), 200);
  assert.is(verdict(`GET /${'a'.repeat(100)} HTTP/1.1\r\nHost: x\r\n\r\n`, small), 414);
  assert.is(status(() => scanHead(bytes(`GET / HTTP/1.1\r\nHost: x\r\n${'X-A: b\r\n'.repeat(200)}\r\n`), 0, 0, small)), 431);
  // before the head is whole: a request line or a head that can only grow is refused at once
  assert.is(status(() => scanHead(bytes(`GET /${'a'.repeat(500)}`), 0, 0, small)), 414);
  assert.is(status(() => scanHead(bytes(`GET / HTTP/1.1\r\n${'X-A: b\r\n'.repeat(200)}`), 0, 0, small)), 431);
});

// ---- Host ----------------------------------------------------------------------------

test('Host: required in HTTP/1.1, once; optional in HTTP/1.0', () => {
  assert.is(verdict('GET / HTTP/1.1\r\n\r\n'), 400);
  assert.is(verdict('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'), 400);
  assert.is(verdict('GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n'), 400, 'even the same value twice');
  assert.is(parse('GET / HTTP/1.0\r\n\r\n').host, undefined);
  assert.is(parse('GET / HTTP/1.1\r\nHost:\r\n\r\n').host, '', 'an empty Host is a Host');
  assert.is(verdict('GET http://a/ HTTP/1.1\r\n\r\n'), 400, 'an absolute-form target does not stand in for Host');
});

test('Host: host [":" port], nothing else (RFC 9112 §3.2 says 400 for an invalid one)', () => {
  for (const v of ['a', 'a:8080', 'A.b-c_d~e', '10.0.0.1:80', '[::1]', '[::1]:80', '[v1.x]', 'xn--nxasmq6b', 'a%20b', ':80']) {
    assert.is(parse(`GET / HTTP/1.1\r\nHost: ${v}\r\n\r\n`).host, v, v);
  }
  for (const v of ['a b', 'a/b', 'u@a', 'a:80x', 'a:80:80', '[::1', '[]', '::1', 'a?b', 'a#b', '\xa0a', 'a\xe9']) {
    assert.is(verdict(`GET / HTTP/1.1\r\nHost: ${v}\r\n\r\n`), 400, JSON.stringify(v));
  }
  assert.is(verdict('GET http://b/ HTTP/1.1\r\nHost: a b\r\n\r\n'), 400, 'checked even when the target has the authority');
  assert.is(verdict('GET / HTTP/1.0\r\nHost: a b\r\n\r\n'), 400, 'and in HTTP/1.0');
});

// ---- the body's framing --------------------------------------------------------------

test('Transfer-Encoding: chunked, in any case; anything not ending in chunked 400; other codings before it 501', () => {
  assert.is(parse(req('Transfer-Encoding: chunked\r\n')).chunked, true);
  assert.is(parse(req('Transfer-Encoding: ChUnKeD\r\n')).chunked, true);
  assert.is(parse(req('Transfer-Encoding: chunked\r\n')).contentLength, -1);
  assert.is(verdict(req('Transfer-Encoding: chunked, identity\r\n')), 400);
  assert.is(verdict(req('Transfer-Encoding: identity\r\n')), 400);
  assert.is(verdict(req('Transfer-Encoding: gzip\r\n')), 400);
  assert.is(verdict(req('Transfer-Encoding:\r\n')), 400);
  assert.is(verdict(req('Transfer-Encoding: chunked, chunked\r\n')), 400);
  assert.is(verdict(req('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n')), 400, 'repeated lines are one list');
  assert.is(verdict(req('Transfer-Encoding: gzip, chunked\r\n')), 501);
  assert.is(verdict(req('Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n')), 501);
});

test('Transfer-Encoding with Content-Length, or in HTTP/1.0, is a 400', () => {
  assert.is(verdict(req('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n')), 400);
  assert.is(verdict(req('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n')), 400);
  assert.is(verdict('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n'), 400);
});

test('Content-Length: digits only, once', () => {
  assert.is(parse(req('Content-Length: 5\r\n')).contentLength, 5);
  assert.is(parse(req('Content-Length: 0\r\n')).contentLength, 0);
  assert.is(parse(req('Content-Length: 005\r\n')).contentLength, 5);
  assert.is(parse(req('content-length:\t12 \r\n')).contentLength, 12);
  assert.is(parse(req('')).contentLength, -1, 'none');
  for (const v of ['', '-5', '+5', '0x5', '5 5', '5,5', '5, 5', '5;', '1e3', '5.0', '9999999999999999', '\x0b5']) {
    assert.is(verdict(req(`Content-Length: ${v}\r\n`)), 400, JSON.stringify(v));
  }
  assert.is(verdict(req('Content-Length: 5\r\nContent-Length: 5\r\n')), 400, 'the same twice');
  assert.is(verdict(req('Content-Length: 5\r\nContent-Length: 6\r\n')), 400, 'two values');
});

test('Expect: 100-continue (any case) is kept; other expectations 417; HTTP/1.0 ignores Expect', () => {
  assert.is(parse(req('Expect: 100-continue\r\n')).expect, '100-continue');
  assert.is(parse(req('Expect: 100-Continue\r\n')).expect, '100-continue');
  assert.is(parse(req('')).expect, undefined);
  assert.is(verdict(req('Expect: foo\r\n')), 417);
  assert.is(verdict(req('Expect: 100-continue, foo\r\n')), 417);
  assert.is(verdict(req('Expect:\r\n')), 417);
  assert.is(parse('POST / HTTP/1.0\r\nExpect: foo\r\n\r\n').expect, undefined);
  assert.is(parse('POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n').expect, undefined);
});

test('Connection: repeated lines joined', () => {
  assert.is(parse('GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n').connection, 'keep-alive,close');
  assert.is(parse('GET / HTTP/1.1\r\nHost: x\r\n\r\n').connection, undefined);
});

// ---- scanHead ------------------------------------------------------------------------

test('scanHead: the offset past the empty line, one search for a whole head; -1 while incomplete', () => {
  const raw = 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next';
  assert.is(scanHead(bytes(raw), 0, 0, limits), raw.indexOf('GET /next'));
  assert.is(scanHead(bytes('xxGET / HTTP/1.1\r\nHost: x\r\n\r\n'), 2, 0, limits), 29, 'from pos');
  assert.is(scanHead(bytes('GET / HTTP/1.1\r\nHost: x\r\n'), 0, 0, limits), -1);
  assert.is(scanHead(bytes('GET / HTTP/1.1\r\nHost: x\r\n\r'), 0, 0, limits), -1);
});

test('scanHead fed byte by byte, with scanned, finds the end at the last byte', () => {
  const raw = 'POST /a?b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n';
  let scanned = 0;
  for (let n = 1; n <= raw.length; n++) {
    const buf = bytes('..' + raw.slice(0, n));
    const end = scanHead(buf, 2, scanned, limits);
    if (n < raw.length) assert.is(end, -1, `after ${n} bytes`);
    else assert.is(end, raw.length + 2);
    scanned = n;
  }
  const h = parseHead(bytes(raw), 0, raw.length, limits);
  assert.is(h.contentLength, 3);
});

test('scanHead refuses a bare LF or a bare CR as soon as it arrives in an incomplete head', () => {
  assert.is(status(() => scanHead(bytes('GET / HTTP/1.1\r\nHost: a\n\r\n'), 0, 0, limits)), 400);
  assert.is(status(() => scanHead(bytes('GET / HTTP/1.1\r\nHost: a\r\n\r\r\n'), 0, 0, limits)), 400);
  assert.is(status(() => scanHead(bytes('GET / HTTP/1.1\nHost: a'), 0, 0, limits)), 400);
  assert.is(status(() => scanHead(bytes('GET / HTTP/1.1\rHost: a'), 0, 0, limits)), 400);
  // the same, fed byte by byte: refused at the byte after the bad one, not later
  for (const [raw, at] of [
    ['GET / HTTP/1.1\r\nHost: a\n\r\n', 'GET / HTTP/1.1\r\nHost: a\n'.length],
    ['GET / HTTP/1.1\r\nHost: a\r\n\r\r\n', 'GET / HTTP/1.1\r\nHost: a\r\n\r\r'.length],
  ] as const) {
    let scanned = 0;
    let refusedAt = -1;
    for (let n = 1; n <= raw.length && refusedAt < 0; n++) {
      try {
        scanHead(bytes(raw.slice(0, n)), 0, scanned, limits);
      } catch (err) {
        assert.instance(err, HttpError);
        refusedAt = n;
      }
      scanned = n;
    }
    assert.is(refusedAt, at, JSON.stringify(raw));
  }
});

test('scanHead refuses a request line that cannot become one (a method that is not a token)', () => {
  assert.is(status(() => scanHead(bytes('G(T'), 0, 0, limits)), 400);
  assert.is(status(() => scanHead(bytes(' GET'), 0, 0, limits)), 400);
  assert.is(scanHead(bytes('GET'), 0, 0, limits), -1);
});

test('a complete head with a bare LF or CR anywhere is a 400', () => {
  assert.is(verdict('GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n'), 400);
  assert.is(verdict('GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n'), 400);
  assert.is(verdict('GET / HTTP/1.1\nHost: a\r\n\r\n'), 400);
});

// ---- chunked bodies ------------------------------------------------------------------

test('parseChunkSize: hex digits, then extensions (checked, ignored), BWS around ; and =', () => {
  const size = (s: string) => parseChunkSize(bytes(s));
  assert.is(size('5'), 5);
  assert.is(size('0'), 0);
  assert.is(size('00a'), 10);
  assert.is(size('Ff'), 255);
  assert.is(size('5;a=b'), 5);
  assert.is(size('5;a'), 5);
  assert.is(size('5;a;b=c'), 5);
  assert.is(size('5 ; a = "q\\"x"'), 5);
  assert.is(size('5\t;\ta\t=\tb'), 5);
  assert.is(size('5;a="\xff"'), 5, 'obs-text in a quoted string');
  assert.is(size('1fffffffffffff'), 2 ** 53 - 1, 'the largest size a Number holds exactly');
  assert.is(size('00000000000000000005'), 5, 'leading zeros do not overflow');
});

test('parseChunkSize refuses what is not a chunk-size line: whitespace ending it, a size past 2^53 - 1, bad extensions', () => {
  const size = (s: string) => parseChunkSize(bytes(s));
  for (const s of ['', ';x', ' 5', '-5', '0x5', '5 garbage', '5;', '5;=b', '5;a=', '5;a=b c', '5;a=\xff', '5;a="b', '5;foo\rbar', '5;a=\x00', '5;a="\x00"', '5;a="b\nc"', '5;a\x7f', '5;a="\\\x01"', 'fffffffffffffffffff', '20000000000000', '5 ', '5\t', '5;a ', '5;a=b ', '5;a="b" ', '5 ;']) {
    assert.is(size(s), -1, JSON.stringify(s));
  }
});

test('isFieldLine: a trailer is a field line, never a request line', () => {
  assert.ok(isFieldLine(bytes('X-T: a')));
  assert.ok(isFieldLine(bytes('X-T:')));
  assert.ok(isFieldLine(bytes('X-T: a\tb \xff')));
  for (const s of ['GET /smuggled HTTP/1.1', 'X-T a', 'X-T : a', ': a', ' X-T: a', 'X-T: a\x00', 'X-T: a\rb', '']) {
    assert.not.ok(isFieldLine(bytes(s)), JSON.stringify(s));
  }
});

test('isTrailerLine: a field line that does not set the framing', () => {
  assert.ok(isTrailerLine(bytes('X-T: a')));
  assert.ok(isTrailerLine(bytes('Host: b')));
  assert.ok(isTrailerLine(bytes('Content-Lengths: 5')));
  for (const s of ['Content-Length: 5', 'content-length:5', 'Transfer-Encoding: chunked', 'TRANSFER-ENCODING: gzip', 'GET /smuggled HTTP/1.1', 'X-T a']) {
    assert.not.ok(isTrailerLine(bytes(s)), s);
  }
});

test.run();
