// evy/web/ws/frame: the frame codec fed bytes, as the `ws` package tests its
// Receiver: headers in every length form and cut at every byte, the checks
// that need only the first two bytes, encoding round trips, masking at every
// alignment, close payloads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import {
  applyMask,
  closePayload,
  encodeFrame,
  isValidCloseCode,
  parseClose,
  parseHeader,
  ProtocolError,
  type HeaderRules,
} from '../../../dist/web/ws/frame.js';

const SERVER: HeaderRules = { masked: true, rsv1: false };
const CLIENT: HeaderRules = { masked: false, rsv1: false };
const DEFLATE: HeaderRules = { masked: true, rsv1: true };

/** The ProtocolError `fn` throws. */
function protocolError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ProtocolError);
    return err as ProtocolError;
  }
  throw new Error('expected a ProtocolError, nothing was thrown');
}

test('a header is null until all of it is there, then parsed (7-, 16- and 64-bit lengths, masked)', () => {
  for (const len of [0, 5, 125, 126, 65535, 65536, 2 ** 40]) {
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(BigInt(len));
    const ext = len < 126 ? [len | 0x80] : len < 65536 ? [126 | 0x80, len >> 8, len & 255] : [127 | 0x80, ...big];
    const head = Buffer.from([0x82, ...ext, 0xde, 0xad, 0xbe, 0xef]);
    for (let cut = 0; cut < head.length; cut++) assert.is(parseHeader(head.subarray(0, cut), 0, SERVER), null, `len ${len}, ${cut} bytes`);
    const h = parseHeader(Buffer.concat([Buffer.alloc(3), head, Buffer.alloc(2)]), 3, SERVER);
    assert.equal(h, { fin: true, rsv1: false, opcode: 2, masked: true, mask: 0xdeadbeef, length: len, headerLength: head.length });
  }
});

test('garbage is refused on its first two bytes, before an extended length arrives', () => {
  // 07 ff: opcode 7 with a 64-bit length that never comes.
  const e = protocolError(() => parseHeader(Buffer.from([0x07, 0xff]), 0, SERVER));
  assert.is(e.closeCode, 1002);
  assert.is(e.code, 'WS_ERR_INVALID_OPCODE');
  assert.match(e.message, /unknown opcode 7/);
  const cases: Array<[number[], HeaderRules, string]> = [
    [[0x8b, 0x80], SERVER, 'WS_ERR_INVALID_OPCODE'],
    [[0xa1, 0xff], SERVER, 'WS_ERR_UNEXPECTED_RSV_2_3'],
    [[0x91, 0xfe], SERVER, 'WS_ERR_UNEXPECTED_RSV_2_3'],
    [[0xc1, 0xff], SERVER, 'WS_ERR_UNEXPECTED_RSV_1'],
    [[0x40, 0xff], DEFLATE, 'WS_ERR_UNEXPECTED_RSV_1'],
    [[0xc9, 0x80], DEFLATE, 'WS_ERR_UNEXPECTED_RSV_1'],
    [[0x82, 0x7f], SERVER, 'WS_ERR_EXPECTED_MASK'],
    [[0x82, 0xff], CLIENT, 'WS_ERR_UNEXPECTED_MASK'],
    [[0x09, 0x80], SERVER, 'WS_ERR_EXPECTED_FIN'],
    [[0x89, 0xfe], SERVER, 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH'],
  ];
  for (const [bytes, rules, code] of cases) {
    const err = protocolError(() => parseHeader(Buffer.from(bytes), 0, rules));
    assert.is(err.code, code, Buffer.from(bytes).toString('hex'));
    assert.is(err.closeCode, 1002);
  }
  // RSV1 on a message's first frame is what permessage-deflate allows.
  assert.is(parseHeader(Buffer.from([0xc1, 0x80, 1, 2, 3, 4]), 0, DEFLATE)!.rsv1, true);
  assert.is(parseHeader(Buffer.from([0x41, 0x80, 1, 2, 3, 4]), 0, DEFLATE)!.fin, false);
});

test('64-bit lengths: the top bit is a protocol error, past 2^53 is too big', () => {
  const top = protocolError(() => parseHeader(Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]), 0, SERVER));
  assert.is(top.closeCode, 1002);
  const huge = protocolError(() => parseHeader(Buffer.from([0x82, 0xff, 0, 0x20, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]), 0, SERVER));
  assert.is(huge.closeCode, 1009);
  assert.is(parseHeader(Buffer.from([0x82, 0xff, 0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]), 0, SERVER)!.length, 2 ** 53 - 1);
});

test('encodeFrame: the shortest length form, FIN, RSV1 and masking round-trip through parseHeader', () => {
  for (const len of [0, 1, 125, 126, 65535, 65536, 70000]) {
    const data = randomBytes(len);
    for (const masked of [false, true]) {
      const f = encodeFrame(0x2, data, masked, len % 2 === 1, len !== 126);
      const h = parseHeader(f, 0, { masked, rsv1: true })!;
      assert.is(h.headerLength, 2 + (len < 126 ? 0 : len < 65536 ? 2 : 8) + (masked ? 4 : 0));
      assert.is(h.length, len);
      assert.is(h.fin, len !== 126);
      assert.is(h.rsv1, len % 2 === 1);
      assert.is(f.length, h.headerLength + len);
      const payload = Buffer.from(f.subarray(h.headerLength));
      if (masked) {
        assert.ok(len < 8 || !payload.equals(data), 'a masked payload differs from the data');
        applyMask(payload, 0, len, h.mask);
      }
      assert.ok(payload.equals(data), `${len} bytes, masked ${masked}`);
    }
  }
  const text = encodeFrame(0x1, 'héllo ✓', false);
  assert.is(text.subarray(2).toString(), 'héllo ✓', 'a string is written as UTF-8');
  assert.is(text[1], Buffer.byteLength('héllo ✓'));
});

test('applyMask equals the byte-by-byte XOR at every alignment and length; twice is the identity', () => {
  const backing = randomBytes(600);
  for (const start of [0, 1, 2, 3, 5]) {
    for (const len of [0, 1, 3, 4, 63, 64, 65, 100, 257, 512]) {
      const buf = Buffer.from(backing.subarray(0, start + len + 3)).subarray(1); // an odd byteOffset too
      const mask = 0x01020304 ^ (len * 7919);
      const want = Buffer.from(buf);
      for (let i = 0; i < len; i++) want[start + i] ^= (mask >>> (24 - 8 * (i & 3))) & 0xff;
      const got = Buffer.from(buf);
      applyMask(got, start, len, mask >>> 0);
      assert.ok(got.equals(want), `start ${start} len ${len}`);
      applyMask(got, start, len, mask >>> 0);
      assert.ok(got.equals(buf));
    }
  }
});

test('close payloads: code and reason both ways; 1005 is empty; the reason is cut on a character boundary', () => {
  assert.equal(parseClose(closePayload(4001, 'bye ✓')), { code: 4001, reason: 'bye ✓' });
  assert.is(closePayload(1005, 'ignored').length, 0);
  assert.equal(parseClose(Buffer.alloc(0)), { code: 1005, reason: '' });
  const long = closePayload(1000, 'é'.repeat(100)); // 200 bytes of reason
  assert.is(long.length, 2 + 122, 'cut to 122 bytes: 123 would split an é');
  assert.is(parseClose(long).reason, 'é'.repeat(61));
  assert.is(protocolError(() => parseClose(Buffer.from([3]))).closeCode, 1002);
  assert.is(protocolError(() => parseClose(closePayload(1000, '').fill(0xff, 0, 2))).closeCode, 1002);
  assert.is(protocolError(() => parseClose(Buffer.from([0x03, 0xe8, 0xff, 0xfe]))).closeCode, 1007);
  for (const [code, ok] of [[999, false], [1000, true], [1004, false], [1005, false], [1006, false], [1011, true], [1015, false], [2999, false], [3000, true], [4999, true], [5000, false]] as const) {
    assert.is(isValidCloseCode(code), ok, String(code));
  }
});

test.run();
