// The differential corpus: malformed and ambiguous requests sent, in one run,
// to evy's WSGI server and to a node:http server (llhttp, the reference),
// both on 127.0.0.1 in this process, from the same client (a GreenSocket
// per case). Each server's app records what it saw of every request on a
// connection: method, target, header lines, the body's length and sha256.
// Two parsers that disagree about where a request or its body ends are the
// stuff of request smuggling, so the test fails where evy accepts what node
// refuses, or where both accept but see different requests (or a different
// number of them), unless the case is in ALLOWED below: the leniencies evy
// keeps on purpose, each legal under RFC 9112/9110. evy refusing what node
// accepts is fine (stricter); those are counted and printed. It fails too
// where evy closes without answering a refusal that node answers, and where
// evy leaves a connection open past its deadlines.
import { test as suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SocketTimeout, connect, listen, wait, withTimeout, type GreenSocket } from 'evy';
import { server, type WsgiApp } from 'evy/web/wsgi';
import { settle } from '../helpers';
import { safetyNet } from '../safety';

const { test, own, go } = safetyNet(suite, { limit: 50 });

// ---- the corpus ----------------------------------------------------------------------

const H = 'Host: a\r\n';
const CLOSE = 'Connection: close\r\n';
/** A request that ends the connection: what a pipelined case sends last. */
const LAST = `GET /last HTTP/1.1\r\n${H}${CLOSE}\r\n`;
const get = (headers: string): string => `GET / HTTP/1.1\r\n${headers}${CLOSE}\r\n`;
/**
 * A POST, then LAST. Content-Length bodies start with '{', which no request
 * line does: a server that reads a shorter body meets a refusal, not a
 * second request with an extension method.
 */
const post = (headers: string, body: string): string => `POST / HTTP/1.1\r\n${H}${headers}\r\n${body}${LAST}`;
const chunked = (body: string): string => post('Transfer-Encoding: chunked\r\n', body);

/** [name, raw request bytes (latin1)] */
const CASES: [string, string][] = [
  // request line
  ['a plain GET', get(H)],
  ['two plain GETs pipelined', `GET /1 HTTP/1.1\r\n${H}\r\n${LAST}`],
  ['two spaces after the method', `GET  / HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['two spaces before the version', `GET /  HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a tab between method and target', `GET\t/ HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a space after the version', `GET / HTTP/1.1 \r\n${H}${CLOSE}\r\n`],
  ['a space before the method', ` GET / HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['no version (HTTP/0.9 style)', `GET /\r\n\r\n`],
  ['a lower-case version', `GET / http/1.1\r\n${H}${CLOSE}\r\n`],
  ['HTTP/0.9', `GET / HTTP/0.9\r\n${H}${CLOSE}\r\n`],
  ['HTTP/1.2', `GET / HTTP/1.2\r\n${H}${CLOSE}\r\n`],
  ['HTTP/2.0', `GET / HTTP/2.0\r\n${H}${CLOSE}\r\n`],
  ['HTTP/1.10', `GET / HTTP/1.10\r\n${H}${CLOSE}\r\n`],
  ['HTTP/01.1', `GET / HTTP/01.1\r\n${H}${CLOSE}\r\n`],
  ['HTTP/1 without a minor version', `GET / HTTP/1\r\n${H}${CLOSE}\r\n`],
  ['a word after the version', `GET / HTTP/1.1 x\r\n${H}${CLOSE}\r\n`],
  ['a lower-case method', `get / HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['an extension method', `FOO / HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a registered WebDAV method', `PROPFIND / HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a method with a non-token byte', `G(T / HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a NUL in the method', `G\x00ET / HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a NUL in the target', `GET /a\x00b HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a DEL in the target', `GET /a\x7fb HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a tab in the target', `GET /a\tb HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['an ESC in the target', `GET /a\x1bb HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a high byte in the target', `GET /a\xffb HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['an NBSP in the target', `GET /a\xa0b HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a fragment in the target', `GET /a#b HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a query', `GET /a?b=1&c HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['an empty query', `GET /a? HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['absolute-form', `GET http://b/x?y HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['absolute-form without a path', `GET http://b HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['absolute-form https', `GET https://b:8443/x HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['absolute-form with an empty authority', `GET http:///x HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['absolute-form with userinfo', `GET http://u:p@b/x HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['absolute-form without Host', `GET http://b/x HTTP/1.1\r\n${CLOSE}\r\n`],
  ['asterisk-form for OPTIONS', `OPTIONS * HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['asterisk-form for GET', `GET * HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['CONNECT in authority-form', `CONNECT b:443 HTTP/1.1\r\nHost: b:443\r\n\r\n`],
  ['CONNECT with an origin-form target', `CONNECT / HTTP/1.1\r\n${H}\r\n`],
  ['CONNECT with a Content-Length body', `CONNECT b:443 HTTP/1.1\r\nHost: b:443\r\nContent-Length: 5\r\n\r\n{abc}`],
  ['CONNECT with a chunked body', `CONNECT b:443 HTTP/1.1\r\nHost: b:443\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`],
  ['CONNECT without a port', `CONNECT b HTTP/1.1\r\nHost: b\r\n\r\n`],
  ['CONNECT with an empty port', `CONNECT b: HTTP/1.1\r\nHost: b\r\n\r\n`],
  ['CONNECT in absolute-form', `CONNECT http://b:443/ HTTP/1.1\r\nHost: b:443\r\n\r\n`],
  ['asterisk-form with a query', `OPTIONS *?x HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['absolute-form with a fragment', `GET http://b/x#y HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['absolute-form with a fragment after the authority', `GET http://b#y HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['absolute-form with a scheme starting with a digit', `GET 1ttp://b/x HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['absolute-form with an IPv6 literal', `GET http://[::1]:8080/x HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['absolute-form with two ports', `GET http://b:80:80/x HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a bare CR in the target', `GET /a\rb HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a bare LF in the target', `GET /a\nb HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['non-URI characters in the target', `GET /a"<>\\^\`{|} HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a bare CR before the request line', `\rGET / HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['CR CR LF before the request line', `\r\r\nGET / HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['LF LF LF before the request line', `\n\n\nGET / HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['CONNECT in lower case', `connect b:443 HTTP/1.1\r\nHost: b:443\r\n\r\n`],
  ['a HEAD with a Content-Length body', `HEAD /1 HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\n{abc}${LAST}`],
  ['authority-form for GET', `GET b:80 HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a relative target', `GET a/b HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a bare LF ending the request line', `GET / HTTP/1.1\n${H}${CLOSE}\r\n`],
  ['a bare CR ending the request line', `GET / HTTP/1.1\r${H}${CLOSE}\r\n`],
  ['a CRLF before the request line', `\r\nGET / HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a LF before the request line', `\nGET / HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a 10 KB target', `GET /${'a'.repeat(10_000)} HTTP/1.1\r\n${H}${CLOSE}\r\n`],
  ['a 100 KB target', `GET /${'a'.repeat(100_000)} HTTP/1.1\r\n${H}${CLOSE}\r\n`],

  // header lines
  ['a space before the colon', `GET / HTTP/1.1\r\nHost : a\r\n${CLOSE}\r\n`],
  ['a tab before the colon', `GET / HTTP/1.1\r\n${H}X-A\t: b\r\n${CLOSE}\r\n`],
  ['no space after the colon', get('Host:a\r\n')],
  ['tabs as OWS', get(`${H}X-A:\tb\t\r\n`)],
  ['spaces inside a value', get(`${H}X-A:  b  c  \r\n`)],
  ['a value of spaces only', get(`${H}X-A:   \r\n`)],
  ['an empty value', get(`${H}X-A:\r\n`)],
  ['obs-fold with a space', get(`${H}X-A: b\r\n c\r\n`)],
  ['obs-fold with a tab', get(`${H}X-A: b\r\n\tc\r\n`)],
  ['obs-fold as the first header line', `GET / HTTP/1.1\r\n x\r\n${H}${CLOSE}\r\n`],
  ['a line without a colon', get(`${H}X-A b\r\n`)],
  ['an empty header name', get(`${H}: b\r\n`)],
  ['a NUL in a value', get(`${H}X-A: b\x00c\r\n`)],
  ['a NUL in a name', get(`${H}X\x00A: b\r\n`)],
  ['a DEL in a value', get(`${H}X-A: b\x7fc\r\n`)],
  ['an ESC in a value', get(`${H}X-A: b\x1bc\r\n`)],
  ['a VT in a value', get(`${H}X-A: b\x0bc\r\n`)],
  ['a FF in a value', get(`${H}X-A: b\x0cc\r\n`)],
  ['a VT around a value', get(`${H}X-A:\x0bb\x0b\r\n`)],
  ['an NBSP in a value', get(`${H}X-A: b\xa0c\r\n`)],
  ['an NBSP around a value', get(`${H}X-A: \xa0b\xa0\r\n`)],
  ['an NBSP in a name', get(`${H}X\xa0A: b\r\n`)],
  ['a DEL in a name', get(`${H}X\x7fA: b\r\n`)],
  ['an ESC in a name', get(`${H}X\x1bA: b\r\n`)],
  ['a VT in a name', get(`${H}X\x0bA: b\r\n`)],
  ['a FF in a name', get(`${H}X\x0cA: b\r\n`)],
  ['a high byte in a value', get(`${H}X-A: \xff\xfe\r\n`)],
  ['UTF-8 in a value', get(`${H}X-A: ${Buffer.from('é€', 'utf8').toString('latin1')}\r\n`)],
  ['a bare CR in a value', get(`${H}X-A: b\rc\r\n`)],
  ['a bare LF ending a header line', get(`${H}X-A: b\nX-B: c\r\n`)],
  ['bare LF line endings throughout', `GET / HTTP/1.1\n${H.replace('\r', '')}Connection: close\n\n`],
  ['a head ending in LF CRLF', `GET / HTTP/1.1\r\nHost: a\n\r\n`],
  ['a head ending in CR CR LF', `GET / HTTP/1.1\r\nHost: a\r\n\r\r\n`],
  ['a head ending in LF LF', `GET / HTTP/1.1\r\nHost: a\n\n`],
  ['every tchar in a name', get(`${H}X!#$%&'*+-.^_\`|~9: b\r\n`)],
  ['an underscore in a name', get(`${H}X_A: b\r\n`)],
  ['a slash in a name', get(`${H}X/A: b\r\n`)],
  ['a 10 KB header line', get(`${H}X-A: ${'b'.repeat(10_000)}\r\n`)],
  ['a 40 KB head of short lines', get(H + 'X-A: bbbbbbbbbbbbbbbbbbbb\r\n'.repeat(1600))],
  ['a 100 KB head', get(H + 'X-A: bbbbbbbbbbbbbbbbbbbb\r\n'.repeat(4000))],
  ['a VT before a name', get(`${H}\x0bX-A: b\r\n`)],

  // Host
  ['HTTP/1.1 without Host', `GET / HTTP/1.1\r\n${CLOSE}\r\n`],
  ['HTTP/1.0 without Host', `GET / HTTP/1.0\r\n\r\n`],
  ['two Host lines', get(`${H}Host: b\r\n`)],
  ['two equal Host lines', get(`${H}${H}`)],
  ['an empty Host', get('Host:\r\n')],
  ['Host with a port', get('Host: a:8080\r\n')],
  ['Host as an IPv6 literal', get('Host: [::1]:80\r\n')],
  ['Host with a space inside', get('Host: a b\r\n')],
  ['Host with a slash', get('Host: a/b\r\n')],
  ['Host with userinfo', get('Host: u@a\r\n')],
  ['Host with an NBSP', get('Host: \xa0a\r\n')],
  ['absolute-form and another Host', `GET http://b/x HTTP/1.1\r\nHost: c\r\n${CLOSE}\r\n`],

  ['Host with junk after the port', get('Host: a:80x\r\n')],
  ['Host with two ports', get('Host: a:80:80\r\n')],
  ['Host with an unclosed IPv6 literal', get('Host: [::1\r\n')],
  ['Host of a port only', get('Host: :80\r\n')],
  ['a NUL before the colon of Transfer-Encoding', post('Transfer-Encoding\x00: chunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['a VT before the colon of Content-Length', post('Content-Length\x0b: 5\r\n', '{abc}')],
  ['a comma before Content-Length', post('Content-Length: ,5\r\n', '{abc}')],
  ['Content-Length with 16 digits', post('Content-Length: 0000000000000005\r\n', '{abc}')],
  ['gzip , chunked with spaces', post('Transfer-Encoding: gzip , chunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['a CR CR LF between pipelined requests', `POST /1 HTTP/1.1\r\n${H}Content-Length: 2\r\n\r\nde\r\r\n${LAST}`],

  // Content-Length
  ['Content-Length, then a pipelined GET', post('Content-Length: 5\r\n', '{abc}')],
  ['Content-Length 0', post('Content-Length: 0\r\n', '')],
  ['Content-Length with leading zeros', post('Content-Length: 005\r\n', '{abc}')],
  ['Content-Length with a plus sign', post('Content-Length: +5\r\n', '{abc}')],
  ['Content-Length negative', post('Content-Length: -5\r\n', '{abc}')],
  ['Content-Length in hex', post('Content-Length: 0x5\r\n', '{abc}')],
  ['Content-Length with a space inside', post('Content-Length: 1 0\r\n', '{abcdefgh}')],
  ['Content-Length as a list of one value', post('Content-Length: 5, 5\r\n', '{abc}')],
  ['Content-Length as a list of two values', post('Content-Length: 5, 6\r\n', '{abcd}')],
  ['two equal Content-Lengths', post('Content-Length: 5\r\nContent-Length: 5\r\n', '{abc}')],
  ['two different Content-Lengths', post('Content-Length: 5\r\nContent-Length: 6\r\n', '{abcd}')],
  ['a space after Content-Length', post('Content-Length: 5 \r\n', '{abc}')],
  ['a tab after Content-Length', post('Content-Length: 5\t\r\n', '{abc}')],
  ['a tab before Content-Length', post('Content-Length:\t5\r\n', '{abc}')],
  ['Content-Length with an NBSP after', post('Content-Length: 5\xa0\r\n', '{abc}')],
  ['Content-Length with an NBSP before', post('Content-Length: \xa05\r\n', '{abc}')],
  ['Content-Length with a VT before', post('Content-Length: \x0b5\r\n', '{abc}')],
  ['Content-Length with a NUL after', post('Content-Length: 5\x00\r\n', '{abc}')],
  ['Content-Length with a VT after', post('Content-Length: 5\x0b\r\n', '{abc}')],
  ['Content-Length with a FF before', post('Content-Length: \x0c5\r\n', '{abc}')],
  ['Content-Length with a DEL after', post('Content-Length: 5\x7f\r\n', '{abc}')],
  ['an empty Content-Length', post('Content-Length:\r\n', '')],
  ['Content-Length past 2^64', post('Content-Length: 99999999999999999999999\r\n', '{abc}')],
  ['Content-Length of 10 with 5 bytes, then a GET', post('Content-Length: 10\r\n', '{abc}')],
  ['Content-Length of 3 with 5 bytes, then a GET', post('Content-Length: 3\r\n', 'hel\r\n')],
  ['a GET with a Content-Length body', `GET /1 HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\n{abc}${LAST}`],
  ['Content-Length in HTTP/1.0', `POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\n{abc}`],
  ['Content-Length in upper case', post('CONTENT-LENGTH: 5\r\n', 'hello')],
  ['a space before the colon of Content-Length', post('Content-Length : 5\r\n', '{abc}')],
  ['Content-Length with an underscore', post('Content_Length: 5\r\n', '{abc}')],

  // Transfer-Encoding
  ['chunked, then a pipelined GET', chunked('5\r\nhello\r\n0\r\n\r\n')],
  ['chunked in mixed case', post('Transfer-Encoding: cHuNkEd\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['a space after chunked', post('Transfer-Encoding: chunked \r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['a tab after chunked', post('Transfer-Encoding: chunked\t\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['a tab before chunked', post('Transfer-Encoding:\tchunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['chunked, identity', post('Transfer-Encoding: chunked, identity\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['identity', post('Transfer-Encoding: identity\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['gzip', post('Transfer-Encoding: gzip\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['gzip, chunked', post('Transfer-Encoding: gzip, chunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['chunked, chunked', post('Transfer-Encoding: chunked, chunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['two Transfer-Encoding lines of chunked', post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['two Transfer-Encoding lines, gzip then chunked', post('Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['two Transfer-Encoding lines, chunked then gzip', post('Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['Transfer-Encoding and Content-Length', post('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['Content-Length and Transfer-Encoding', post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['Transfer-Encoding in HTTP/1.0', `POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`],
  ['an NBSP before chunked', post('Transfer-Encoding: \xa0chunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['an NBSP after chunked', post('Transfer-Encoding: chunked\xa0\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['a VT before chunked', post('Transfer-Encoding: \x0bchunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['a FF after chunked', post('Transfer-Encoding: chunked\x0c\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['a NUL after chunked', post('Transfer-Encoding: chunked\x00\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['an ESC before chunked', post('Transfer-Encoding: \x1bchunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['a DEL after chunked', post('Transfer-Encoding: chunked\x7f\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['an NBSP between gzip and chunked', post('Transfer-Encoding: gzip,\xa0chunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['an empty list element before chunked', post('Transfer-Encoding: , chunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['an empty list element after chunked', post('Transfer-Encoding: chunked,\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['chunked in quotes', post('Transfer-Encoding: "chunked"\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['chunked with a parameter', post('Transfer-Encoding: chunked;q=1\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['xchunked', post('Transfer-Encoding: xchunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['chunkedx', post('Transfer-Encoding: chunkedx\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['an empty Transfer-Encoding', post('Transfer-Encoding:\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['a space before the colon of Transfer-Encoding', post('Transfer-Encoding : chunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['a folded Transfer-Encoding', post('Transfer-Encoding:\r\n chunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['Transfer-Encoding with an underscore', post('Transfer_Encoding: chunked\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['Transfer-Encoding in upper case', post('TRANSFER-ENCODING: CHUNKED\r\n', '5\r\nhello\r\n0\r\n\r\n')],
  ['a GET with a chunked body', `GET /1 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n${LAST}`],

  // chunked bodies
  ['several chunks', chunked('5\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n')],
  ['a chunk size with leading zeros', chunked('005\r\nhello\r\n0\r\n\r\n')],
  ['a chunk size in upper-case hex', chunked('A\r\n0123456789\r\n0\r\n\r\n')],
  ['a chunk size with 0x', chunked('0x5\r\nhello\r\n0\r\n\r\n')],
  ['a space after the chunk size', chunked('5 \r\nhello\r\n0\r\n\r\n')],
  ['a tab after the chunk size', chunked('5\t\r\nhello\r\n0\r\n\r\n')],
  ['a space before the chunk size', chunked(' 5\r\nhello\r\n0\r\n\r\n')],
  ['a negative chunk size', chunked('-5\r\nhello\r\n0\r\n\r\n')],
  ['a chunk size past 2^64', chunked('10000000000000005\r\nhello\r\n0\r\n\r\n')],
  ['an empty chunk-size line', chunked('\r\nhello\r\n0\r\n\r\n')],
  ['garbage after the chunk size', chunked('5 garbage\r\nhello\r\n0\r\n\r\n')],
  ['a chunk extension', chunked('5;a=b\r\nhello\r\n0\r\n\r\n')],
  ['a chunk extension without a value', chunked('5;a\r\nhello\r\n0\r\n\r\n')],
  ['two chunk extensions', chunked('5;a;b=c\r\nhello\r\n0\r\n\r\n')],
  ['a quoted chunk extension', chunked('5;a="b c\\"d"\r\nhello\r\n0\r\n\r\n')],
  ['a chunk extension with spaces around it', chunked('5 ; a = b\r\nhello\r\n0\r\n\r\n')],
  ['a semicolon without an extension', chunked('5;\r\nhello\r\n0\r\n\r\n')],
  ['a semicolon after a chunk extension', chunked('5;a=b;\r\nhello\r\n0\r\n\r\n')],
  ['a chunk extension without a name', chunked('5;=b\r\nhello\r\n0\r\n\r\n')],
  ['a chunk extension with an empty value', chunked('5;a=\r\nhello\r\n0\r\n\r\n')],
  ['a space before a chunk extension', chunked('5 ;a=b\r\nhello\r\n0\r\n\r\n')],
  ['a tab before a chunk extension', chunked('5\t;a=b\r\nhello\r\n0\r\n\r\n')],
  ['a space after a chunk extension', chunked('5;a=b \r\nhello\r\n0\r\n\r\n')],
  ['a space after a chunk extension name', chunked('5;a \r\nhello\r\n0\r\n\r\n')],
  ['a high byte in a quoted chunk extension', chunked('5;a="\xff"\r\nhello\r\n0\r\n\r\n')],
  ['a high byte in a chunk extension', chunked('5;a=\xff\r\nhello\r\n0\r\n\r\n')],
  ['a space inside a chunk extension value', chunked('5;a=b c\r\nhello\r\n0\r\n\r\n')],
  ['a 3 KB chunk extension', chunked(`5;a=${'b'.repeat(3000)}\r\nhello\r\n0\r\n\r\n`)],
  ['a 20 KB chunk extension', chunked(`5;a=${'b'.repeat(20_000)}\r\nhello\r\n0\r\n\r\n`)],
  ['a chunk size in upper-case 0X', chunked('0X5\r\nhello\r\n0\r\n\r\n')],
  ['a 3 KB trailer', chunked(`5\r\nhello\r\n0\r\nX-T: ${'b'.repeat(3000)}\r\n\r\n`)],
  ['a 10 KB trailer', chunked(`5\r\nhello\r\n0\r\nX-T: ${'b'.repeat(10_000)}\r\n\r\n`)],
  ['a trailer named Content-Length', chunked('5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n')],
  ['a trailer named Transfer-Encoding', chunked('5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n')],
  ['a trailer named Host', chunked('5\r\nhello\r\n0\r\nHost: b\r\n\r\n')],
  ['a trailer named content-length in lower case', chunked('5\r\nhello\r\n0\r\ncontent-length: 5\r\n\r\n')],
  ['a trailer named Trailer', chunked('5\r\nhello\r\n0\r\nTrailer: X\r\n\r\n')],
  ['a chunk size with 14 hex digits', chunked('00000000000005\r\nhello\r\n0\r\n\r\n')],
  ['an Expect: 100-continue whose body never comes', `POST / HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n`],
  ['a bare CR in a chunk extension', chunked('5;a\rb\r\nhello\r\n0\r\n\r\n')],
  ['a NUL in a chunk extension', chunked('5;a=\x00\r\nhello\r\n0\r\n\r\n')],
  ['a bare LF in a quoted chunk extension', chunked('5;a="b\nc"\r\nhello\r\n0\r\n\r\n')],
  ['an unterminated quoted chunk extension', chunked('5;a="b\r\nhello\r\n0\r\n\r\n')],
  ['an extension on the last chunk', chunked('5\r\nhello\r\n0;a=b\r\n\r\n')],
  ['a bare LF after the chunk size', chunked('5\nhello\r\n0\r\n\r\n')],
  ['a bare CR after the chunk size', chunked('5\rhello\r\n0\r\n\r\n')],
  ['a bare LF after the chunk data', chunked('5\r\nhello\n0\r\n\r\n')],
  ['nothing after the chunk data', chunked('5\r\nhello0\r\n\r\n')],
  ['chunk data longer than its size', chunked('5\r\nhelloXX\r\n0\r\n\r\n')],
  ['chunk data shorter than its size', chunked('5\r\nhel\r\n0\r\n\r\n')],
  ['a bare LF after the last chunk', chunked('5\r\nhello\r\n0\r\n\n')],
  ['a bare LF ending the last chunk line', chunked('5\r\nhello\r\n0\n\r\n')],
  ['a trailer', chunked('5\r\nhello\r\n0\r\nX-T: a\r\n\r\n')],
  ['two trailers', chunked('5\r\nhello\r\n0\r\nX-T: a\r\nX-U: b\r\n\r\n')],
  ['a request line as a trailer (smuggling)', chunked('0\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n')],
  ['a folded trailer', chunked('5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n')],
  ['a trailer without a colon', chunked('5\r\nhello\r\n0\r\nX-T a\r\n\r\n')],
  ['a space before the colon of a trailer', chunked('5\r\nhello\r\n0\r\nX-T : a\r\n\r\n')],
  ['a bare LF ending a trailer', chunked('5\r\nhello\r\n0\r\nX-T: a\n\r\n')],
  ['a NUL in a trailer', chunked('5\r\nhello\r\n0\r\nX-T: a\x00b\r\n\r\n')],
  ['a body cut short after the last chunk', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n`],
  ['a body cut short in a chunk', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhel`],
  ['a Content-Length body cut short', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhel`],
  ['a head cut short', `GET / HTTP/1.1\r\n${H}`],

  // Expect
  ['Expect: 100-continue with its body', post('Expect: 100-continue\r\nContent-Length: 5\r\n', '{abc}')],
  ['Expect: 100-Continue in mixed case', post('Expect: 100-Continue\r\nContent-Length: 5\r\n', '{abc}')],
  ['an unknown expectation', post('Expect: foo\r\nContent-Length: 5\r\n', '{abc}')],
  ['100-continue and an unknown expectation', post('Expect: 100-continue, foo\r\nContent-Length: 5\r\n', '{abc}')],
  ['an empty Expect', post('Expect:\r\nContent-Length: 5\r\n', '{abc}')],
  ['Expect in HTTP/1.0', `POST / HTTP/1.0\r\nExpect: foo\r\nContent-Length: 5\r\n\r\n{abc}`],
  ['Expect: 100-continue on a GET', get(`${H}Expect: 100-continue\r\n`)],

  // pipelining and keep-alive
  ['a HEAD, then a GET', `HEAD / HTTP/1.1\r\n${H}\r\n${LAST}`],
  ['HTTP/1.0 keep-alive, then a GET', `GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n`],
  ['a chunked POST, a Content-Length POST, then a GET', `POST /1 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nPOST /2 HTTP/1.1\r\n${H}Content-Length: 2\r\n\r\nde${LAST}`],
  ['a CRLF between pipelined requests', `POST /1 HTTP/1.1\r\n${H}Content-Length: 2\r\n\r\nde\r\n${LAST}`],
  ['a 64 KB chunked body, then a GET', chunked(`10000\r\n${'x'.repeat(0x10000)}\r\n0\r\n\r\n`)],
];

// Leniencies of evy that node:http's llhttp shares from a Node major on: there
// the two agree (Node 24's llhttp takes a tab after Content-Length too).
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const SHARED_SINCE: Record<string, number> = { 'a tab after Content-Length': 24 };

/**
 * The cases where evy, on purpose, accepts what node refuses (or reads it
 * otherwise), each legal under the RFC section given. A case listed here that
 * no longer disagrees fails the test too, so the list stays true.
 */
const ALLOWED: Record<string, string> = {
  // A higher minor version is read as the highest one implemented: RFC 9110
  // §2.5 says a recipient SHOULD do so. llhttp knows 1.0 and 1.1 only.
  'HTTP/1.2': 'RFC 9110 §2.5',
  // A method is any token (RFC 9112 §3.1), case-sensitive and extensible
  // (RFC 9110 §9.1, §16.1): the application answers one it does not know
  // (501, §9.1). llhttp knows a fixed list of upper-case names.
  'a lower-case method': 'RFC 9112 §3.1, RFC 9110 §9.1',
  'an extension method': 'RFC 9112 §3.1, RFC 9110 §9.1, §16.1',
  // OWS around a field value is SP or HTAB (RFC 9112 §5, RFC 9110 §5.6.3) and
  // not part of the value (RFC 9110 §5.5). llhttp takes a trailing space but
  // refuses a trailing tab after Content-Length and Transfer-Encoding.
  'a tab after Content-Length': 'RFC 9112 §5, RFC 9110 §5.5, §5.6.3',
  'a tab after chunked': 'RFC 9112 §5, RFC 9110 §5.5, §5.6.3',
  // Transfer-Encoding is a list (#transfer-coding, RFC 9112 §6.1), and a
  // recipient MUST ignore a reasonable number of empty list elements (RFC 9110
  // §5.6.1.2). llhttp ignores one before chunked, refuses one after it.
  'an empty list element after chunked': 'RFC 9112 §6.1, RFC 9110 §5.6.1.2',
  // chunk-ext has BWS around ';' and '=' (RFC 9112 §7.1.1), which a
  // recipient MUST parse and remove (RFC 9110 §5.6.3). llhttp refuses any
  // whitespace in a chunk-size line. Whitespace ending the line is not BWS,
  // and evy refuses it too ('a space after the chunk size').
  'a chunk extension with spaces around it': 'RFC 9112 §7.1.1, RFC 9110 §5.6.3',
  'a space before a chunk extension': 'RFC 9112 §7.1.1, RFC 9110 §5.6.3',
  'a tab before a chunk extension': 'RFC 9112 §7.1.1, RFC 9110 §5.6.3',
};

// ---- the two servers -----------------------------------------------------------------

/** What an app saw of one request. */
interface Seen {
  method: string;
  /** the target's path and query (absolute-form: without scheme and authority; an empty query dropped) */
  target: string;
  headers: [string, string][];
  length: number;
  sha: string;
}

/** The requests each server's app saw, by the client's port: the connection's story, request by request. */
type Log = Map<number, Seen[]>;

function record(log: Log, port: number, s: Seen): void {
  let seen = log.get(port);
  if (seen === undefined) log.set(port, (seen = []));
  seen.push(s);
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex').slice(0, 16);
}

/** The path and query of a target the way both servers are compared: scheme and authority dropped, an empty query dropped. */
function normalTarget(path: string, query: string): string {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*/.exec(path);
  if (m !== null) path = path.slice(m[0].length) || '/';
  return query === '' ? path : `${path}?${query}`;
}

function evyApp(log: Log): WsgiApp {
  return async (env, start) => {
    const body = await env['wsgi.input'].read();
    record(log, Number(env.REMOTE_PORT), {
      method: env.REQUEST_METHOD,
      target: normalTarget(env.RAW_PATH_INFO, env.QUERY_STRING),
      headers: env.headers_raw,
      length: body.length,
      sha: sha(body),
    });
    start('200 OK', [['Content-Length', '0']]);
    return [];
  };
}

function nodeSeen(req: http.IncomingMessage, body: Buffer): Seen {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const headers: [string, string][] = [];
  for (let k = 0; k < req.rawHeaders.length; k += 2) headers.push([req.rawHeaders[k], req.rawHeaders[k + 1]]);
  return {
    method: req.method ?? '',
    target: normalTarget(q < 0 ? url : url.slice(0, q), q < 0 ? '' : url.slice(q + 1)),
    headers,
    length: body.length,
    sha: sha(body),
  };
}

// Both servers give up on a head after 2 s and a body after 3 s and close an
// idle connection after 0.5 s, so that every case ends with the server
// closing its connection, however the case ends: no client-side guess of
// "quiet enough" (and a deadline well past what a loaded machine needs to
// read a request that did come whole). Node's limits are raised to evy's defaults (64 KiB of head,
// any number of lines): the corpus compares parsing, not configured sizes.
async function startNode(log: Log): Promise<{ srv: http.Server; port: number }> {
  const srv = http.createServer(
    { headersTimeout: 2000, requestTimeout: 3000, keepAliveTimeout: 500, connectionsCheckingInterval: 100, maxHeaderSize: 65536 },
    (req, res) => {
      // A request counts once llhttp has parsed all of it, which node:http
      // marks by push(null) from the parser, synchronously. Waiting for 'end'
      // instead would lose a whole request whenever a malformed request
      // pipelined behind it makes node destroy the socket first.
      const port = req.socket.remotePort!;
      const parts: Buffer[] = [];
      const push = req.push;
      req.push = (chunk: Buffer | null, encoding?: BufferEncoding): boolean => {
        if (chunk === null) record(log, port, nodeSeen(req, Buffer.concat(parts)));
        else parts.push(Buffer.from(chunk));
        return push.call(req, chunk, encoding);
      };
      if (req.complete) record(log, port, nodeSeen(req, Buffer.alloc(0)));
      req.resume();
      req.on('end', () => res.writeHead(200, { 'Content-Length': 0 }).end());
    },
  );
  srv.maxHeadersCount = 0;
  // CONNECT is not a 'request' in node:http: it has no body, and a tunnel would follow.
  srv.on('connect', (req: http.IncomingMessage, sock: Socket) => {
    record(log, req.socket.remotePort!, nodeSeen(req, Buffer.alloc(0)));
    sock.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  });
  await wait(new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve)));
  return { srv, port: (srv.address() as AddressInfo).port };
}

// ---- the client ----------------------------------------------------------------------

/** The statuses of the responses in `data` (all a connection received), 1xx skipped; -1 for what is not a response. */
function statuses(data: Buffer): number[] {
  const out: number[] = [];
  let pos = 0;
  while (pos < data.length) {
    const end = data.indexOf('\r\n\r\n', pos);
    const head = data.toString('latin1', pos, end < 0 ? data.length : end).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0]);
    if (end < 0 || m === null) {
      out.push(-1);
      break;
    }
    const status = Number(m[1]);
    pos = end + 4;
    if (status >= 100 && status < 200) continue;
    out.push(status);
    const cl = head.find((l) => /^content-length:/i.test(l));
    pos = cl === undefined ? data.length : pos + Number(cl.slice(15).trim()); // the refusals without a length close
  }
  return out;
}

/** What the client saw of one case on one server. */
interface Exchange {
  /** the client's port: the key of the server's Log */
  port: number;
  statuses: number[];
  /** the server left the connection open past all its deadlines */
  hung: boolean;
}

/** Sends `raw` on a fresh connection and takes everything until the server closes it (bounded). */
async function exchange(port: number, raw: Buffer): Promise<Exchange> {
  const sock: GreenSocket = own(await connect(['127.0.0.1', port]));
  sock.timeout = 10; // far past every server deadline above: only a server that never closes meets it
  const got: Buffer[] = [];
  let hung = false;
  try {
    const reader = go(async () => {
      try {
        for (;;) {
          const d = await sock.recv(65536);
          if (d.length === 0) return;
          got.push(d);
        }
      } catch (err) {
        if (err instanceof SocketTimeout) hung = true;
        else if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') throw err;
      }
    });
    try {
      await sock.sendall(raw);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EPIPE' && code !== 'ECONNRESET') throw err;
    }
    await reader.wait();
    return { port: (sock.getsockname() as [string, number])[1], statuses: statuses(Buffer.concat(got)), hung };
  } finally {
    sock.close();
  }
}

// ---- comparing -----------------------------------------------------------------------

type Verdict = 'agree' | 'stricter' | 'lenient' | 'differ';

/** One server's side of a case: the requests its app saw, and the statuses the client got. */
interface Side {
  seen: Seen[];
  statuses: number[];
}

/** The status a server refused a request with (-1: it answered garbage), or undefined when it answered none. */
function refusal(side: Side): number | undefined {
  return side.statuses.find((st) => st !== 200);
}

function describe(side: Side, k: number): string {
  const s = side.seen[k];
  if (s !== undefined) return `${s.method} ${s.target.slice(0, 40)} (${s.length} bytes)`;
  const refused = refusal(side);
  return refused === undefined ? 'closed' : refused === -1 ? 'garbage' : `refused ${refused}`;
}

/** Compares the requests the two apps saw, in order. */
function compare(node: Side, evy: Side): [Verdict, string] {
  for (let k = 0; ; k++) {
    const n = node.seen[k];
    const e = evy.seen[k];
    const detail = `request ${k + 1}: node ${describe(node, k)}, evy ${describe(evy, k)}`;
    if (n === undefined && e === undefined) return ['agree', detail];
    if (e === undefined) return ['stricter', detail];
    if (n === undefined) return ['lenient', detail];
    const a = JSON.stringify(n);
    const b = JSON.stringify(e);
    if (a !== b) return ['differ', `request ${k + 1}: node saw ${a.slice(0, 300)}, evy saw ${b.slice(0, 300)}`];
  }
}

// ---- the test ------------------------------------------------------------------------

test(`the corpus: evy accepts nothing node:http refuses, and reads what node reads (${CASES.length} cases)`, async () => {
  assert.ok(CASES.length >= 100, 'at least 100 cases');
  assert.is(new Set(CASES.map((c) => c[0])).size, CASES.length, 'case names are unique');
  for (const name of Object.keys(ALLOWED)) assert.ok(CASES.some((c) => c[0] === name), `allowed case '${name}' is in the corpus`);

  const nodeLog: Log = new Map();
  const evyLog: Log = new Map();
  const ref = await startNode(nodeLog);
  const lsock = own(listen(['127.0.0.1', 0]));
  const evyPort = (lsock.getsockname() as [string, number])[1];
  const evySrv = go(() => server(lsock, evyApp(evyLog), { log: null, headersTimeout: 2, requestTimeout: 3, keepalive: 0.5 }));
  const results: { name: string; verdict: Verdict; detail: string; silent: boolean; hung: boolean; accepted: boolean }[] = [];
  const t0 = performance.now();
  try {
    // all cases at once: the run takes about as long as its slowest case
    const runs = CASES.map(([name, raw]) => {
      const bytes = Buffer.from(raw, 'latin1');
      return { name, node: go(() => exchange(ref.port, bytes)), evy: go(() => exchange(evyPort, bytes)) };
    });
    for (const r of runs) {
      const n = await r.node.wait();
      const e = await r.evy.wait();
      const nodeSide = { seen: nodeLog.get(n.port) ?? [], statuses: n.statuses };
      const evySide = { seen: evyLog.get(e.port) ?? [], statuses: e.statuses };
      const [verdict, detail] = compare(nodeSide, evySide);
      // where evy stops no later than node, and node answered its refusal, evy must have answered one too
      const silent = (verdict === 'agree' || verdict === 'stricter') && refusal(nodeSide) !== undefined && refusal(evySide) === undefined;
      results.push({ name: r.name, verdict, detail, silent, hung: e.hung, accepted: nodeSide.seen.length > 0 && evySide.seen.length > 0 });
    }
  } finally {
    lsock.close();
    await withTimeout(10, () => evySrv.wait());
    ref.srv.closeAllConnections();
    await wait(new Promise((resolve) => ref.srv.close(resolve)));
    await settle();
  }

  const by = (v: Verdict) => results.filter((r) => r.verdict === v);
  const problems: string[] = [];
  const allowedSeen: string[] = [];
  for (const r of results) {
    // a request refused is answered with its status, not just a close
    if (r.silent) problems.push(`${r.name}: node answers a refusal, evy closes without one (${r.detail})`);
    if (r.hung) problems.push(`${r.name}: evy kept the connection open past its deadlines (${r.detail})`);
    const why = ALLOWED[r.name];
    if (r.verdict === 'lenient' || r.verdict === 'differ') {
      if (why === undefined) problems.push(`${r.name} (${r.verdict === 'lenient' ? 'evy accepts what node refuses' : 'both accept, differently'}): ${r.detail}`);
      else allowedSeen.push(r.name);
    } else if (why !== undefined && !(r.verdict === 'agree' && NODE_MAJOR >= (SHARED_SINCE[r.name] ?? Infinity))) {
      problems.push(`${r.name}: allowed as a leniency, but ${r.verdict === 'agree' ? 'the two agree' : 'evy is stricter'} now (${r.detail})`);
    }
  }
  console.log(
    `corpus: ${results.length} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s: ` +
      `${by('agree').length} agree (${by('agree').filter((r) => r.accepted).length} accepted by both, the rest refused by both), ` +
      `${by('stricter').length} where evy is stricter, ` +
      `${allowedSeen.length} allowed leniencies, ${problems.length} problems`,
  );
  if (process.env.CORPUS_DEBUG) for (const r of results) console.log(`  ${r.verdict.padEnd(8)} ${r.name}: ${r.detail}`);
  else for (const r of by('stricter')) console.log(`  stricter: ${r.name}: ${r.detail}`);
  assert.ok(problems.length === 0, `${problems.length} problems:\n${problems.join('\n')}`);
});

suite.run();
