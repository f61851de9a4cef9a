// evy/web/ws/deflate: the Sec-WebSocket-Extensions grammar, negotiation from
// both sides (RFC 7692 7.1), and the engines fed bytes: context takeover or
// not, window bits, large messages in slices, a zip bomb, corrupt data, and
// Node's own zlib reading what we compress.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { Timeout, sleep, spawn } from 'evy';
import { Collector } from '../../../dist/web/ws/collect.js';
import {
  acceptAnswer,
  checkDeflateOptions,
  deflateAvailable,
  negotiateServer,
  offerClient,
  parseExtensions,
  PerMessageDeflate,
  type DeflateParams,
} from '../../../dist/web/ws/deflate.js';
import { ProtocolError } from '../../../dist/web/ws/frame.js';
import { assertClean } from '../../helpers';

test.after.each(assertClean);

const NONE: DeflateParams = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 0, clientMaxWindowBits: 0 };
const TRAILER = Buffer.from([0, 0, 0xff, 0xff]);
/** A sync-flushed stream has no final block: Node's one-shot inflate must not expect one. */
const SYNC = { finishFlush: zlib.constants.Z_SYNC_FLUSH };

async function inflate(d: PerMessageDeflate, payload: Buffer, max = 1 << 30): Promise<Buffer> {
  const out = new Collector();
  await d.decompress(payload, true, out, max);
  return out.concat();
}

test('this Node runs zlib engines synchronously (else permessage-deflate is never negotiated)', () => {
  assert.ok(deflateAvailable());
});

test('parseExtensions: names, parameters with and without values, quoted values, OWS; malformed lists are null', () => {
  assert.equal(parseExtensions('permessage-deflate; client_max_window_bits, permessage-deflate ;server_max_window_bits="10" ; x=y, foo'), [
    { name: 'permessage-deflate', params: [['client_max_window_bits', true]] },
    { name: 'permessage-deflate', params: [['server_max_window_bits', '10'], ['x', 'y']] },
    { name: 'foo', params: [] },
  ]);
  assert.equal(parseExtensions('Permessage-Deflate; Server_No_Context_Takeover'), [{ name: 'permessage-deflate', params: [['server_no_context_takeover', true]] }]);
  for (const bad of ['', ' , ', 'a b', 'permessage-deflate; =1', 'permessage-deflate; x=', 'permessage-deflate; x="a b"', 'permessage-deflate; x="a,b"', '"quoted"']) {
    assert.is(parseExtensions(bad), null, JSON.stringify(bad));
  }
});

test('the server accepts the first acceptable offer and answers what it agreed', () => {
  const n = (h: string, o = {}) => negotiateServer(h, o)?.header ?? null;
  assert.is(n('permessage-deflate'), 'permessage-deflate');
  assert.is(n('permessage-deflate; client_max_window_bits'), 'permessage-deflate', 'the client window is not limited unless asked');
  assert.is(n('permessage-deflate; server_no_context_takeover'), 'permessage-deflate; server_no_context_takeover');
  assert.is(n('permessage-deflate; client_no_context_takeover'), 'permessage-deflate', 'a hint from the client needs no answer');
  assert.is(n('permessage-deflate; server_max_window_bits=10'), 'permessage-deflate; server_max_window_bits=10');
  assert.is(n('permessage-deflate; server_max_window_bits=12', { serverMaxWindowBits: 9 }), 'permessage-deflate; server_max_window_bits=9');
  assert.is(n('permessage-deflate', { serverMaxWindowBits: 11, serverNoContextTakeover: true, clientNoContextTakeover: true }),
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11');
  assert.is(n('permessage-deflate; client_max_window_bits=12', { clientMaxWindowBits: 10 }), 'permessage-deflate; client_max_window_bits=10');
  assert.is(n('permessage-deflate; client_max_window_bits=9', { clientMaxWindowBits: 10 }), 'permessage-deflate; client_max_window_bits=9');
  assert.is(n('permessage-deflate; client_max_window_bits', { clientMaxWindowBits: 10 }), 'permessage-deflate; client_max_window_bits=10');
  // Declined (RFC 7692 5): unknown, repeated or malformed parameters; a client window we may not limit; other extensions.
  assert.is(n('permessage-deflate', { clientMaxWindowBits: 10 }), null);
  for (const bad of ['permessage-deflate; foo', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover', 'permessage-deflate; server_max_window_bits',
    'permessage-deflate; server_max_window_bits=16', 'permessage-deflate; server_max_window_bits=08', 'permessage-deflate; client_max_window_bits=7', 'permessage-deflate; server_no_context_takeover=1',
    'x-webkit-deflate-frame', 'a b c']) {
    assert.is(n(bad), null, bad);
  }
  assert.is(n('permessage-deflate; foo, permessage-deflate; server_max_window_bits=12'), 'permessage-deflate; server_max_window_bits=12', 'the next offer after a declined one');
  assert.is(negotiateServer(undefined, {}), null);
});

test('the client offers what it asks for and refuses answers it did not offer', () => {
  assert.is(offerClient({}), 'permessage-deflate; client_max_window_bits');
  assert.is(offerClient({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 11 }),
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11');
  assert.equal(acceptAnswer('permessage-deflate; server_no_context_takeover; client_max_window_bits=10', {}), {
    serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 0, clientMaxWindowBits: 10,
  });
  assert.equal(acceptAnswer('permessage-deflate', { clientNoContextTakeover: true }).clientNoContextTakeover, true, 'what we promised holds even unanswered');
  const refused: Array<[string, object, RegExp]> = [
    ['permessage-deflate, permessage-deflate', {}, /only permessage-deflate was offered/],
    ['x-other', {}, /only permessage-deflate/],
    ['permessage-deflate; foo', {}, /unknown parameter foo/],
    ['permessage-deflate; client_max_window_bits', {}, /without a value/],
    ['permessage-deflate; server_max_window_bits=12', { serverMaxWindowBits: 10 }, /more than the 10 asked for/],
    ['permessage-deflate; client_max_window_bits=12', { clientMaxWindowBits: 11 }, /more than the 11 offered/],
    ['permessage-deflate;', {}, /malformed/],
  ];
  for (const [answer, opts, why] of refused) assert.throws(() => acceptAnswer(answer, opts), why, answer);
});

test('options are checked: TypeError for a wrong type, RangeError out of range', () => {
  assert.is(checkDeflateOptions(undefined, 't'), null);
  assert.is(checkDeflateOptions(false, 't'), null);
  assert.equal(checkDeflateOptions(true, 't'), {});
  assert.throws(() => checkDeflateOptions('yes', 't'), (e: unknown) => e instanceof TypeError);
  assert.throws(() => checkDeflateOptions({ serverNoContextTakeover: 1 }, 't'), (e: unknown) => e instanceof TypeError);
  assert.throws(() => checkDeflateOptions({ serverMaxWindowBits: '10' }, 't'), (e: unknown) => e instanceof TypeError);
  for (const bad of [{ serverMaxWindowBits: 7 }, { clientMaxWindowBits: 16 }, { level: 10 }, { threshold: -1 }, { serverMaxWindowBits: 9.5 }]) {
    assert.throws(() => checkDeflateOptions(bad, 't'), (e: unknown) => e instanceof RangeError, JSON.stringify(bad));
  }
});

test('context takeover: a repeated message shrinks, and Node inflates the stream; without it, each message stands alone', async () => {
  const msg = Buffer.from(JSON.stringify({ user: 'alice', text: 'hello there, this is a message that repeats '.repeat(30) }));
  const server = new PerMessageDeflate(NONE, true, { threshold: 0 });
  const client = new PerMessageDeflate(NONE, false);
  const first = await server.compress(msg);
  const second = server.compressNow(msg);
  assert.ok(second.length < first.length / 2, `takeover: ${first.length} then ${second.length} bytes`);
  const node = zlib.createInflateRaw();
  const chunks: Buffer[] = [];
  node.on('data', (d: Buffer) => chunks.push(d));
  node.write(Buffer.concat([first, TRAILER, second, TRAILER]));
  await new Promise<void>((r) => node.flush(() => r()));
  assert.ok(Buffer.concat(chunks).equals(Buffer.concat([msg, msg])), "Node's zlib reads our stream");
  node.close();
  assert.ok((await inflate(client, first)).equals(msg));
  assert.ok((await inflate(client, second)).equals(msg), 'the receiver keeps its window between messages');

  const alone = new PerMessageDeflate({ ...NONE, serverNoContextTakeover: true }, true);
  const a = alone.compressNow(msg);
  const b = alone.compressNow(msg);
  assert.ok(a.equals(b), 'no context takeover: the same message compresses the same each time');
  assert.ok(zlib.inflateRawSync(Buffer.concat([b, TRAILER]), SYNC).equals(msg), 'and inflates on its own');
  const fresh = new PerMessageDeflate({ ...NONE, serverNoContextTakeover: true }, false);
  assert.ok((await inflate(fresh, a)).equals(msg));
  assert.ok((await inflate(fresh, b)).equals(msg), 'the receiver resets after each message');
  for (const d of [server, client, alone, fresh]) d.close();
});

test('window bits: our compressor keeps to the agreed window; a window of 8 means sending uncompressed', async () => {
  const msg = Buffer.concat([randomBytes(2000), randomBytes(2000)]);
  const data = Buffer.concat([msg, msg]); // a repeat 4000 bytes back: out of reach of a 9-bit window
  const small = new PerMessageDeflate({ ...NONE, serverMaxWindowBits: 9 }, true);
  const wide = new PerMessageDeflate(NONE, true);
  const s = small.compressNow(data);
  const w = wide.compressNow(data);
  assert.ok(w.length < s.length * 0.7, `15 bits finds the repeat (${w.length}), 9 bits cannot (${s.length})`);
  assert.ok(zlib.inflateRawSync(Buffer.concat([s, TRAILER]), { windowBits: 9, ...SYNC }).equals(data), 'a 9-bit inflater reads it');
  assert.ok(small.compresses(2000));
  assert.not.ok(new PerMessageDeflate({ ...NONE, serverMaxWindowBits: 8 }, true).compresses(1 << 20), 'Node would deflate with 9 bits: never compress');
  assert.not.ok(wide.compresses(1023), 'below the threshold');
  small.close();
  wide.close();
});

test('a message larger than a slice is compressed and inflated in steps, letting other threads run between them', async () => {
  const big = Buffer.alloc(600 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 251;
  const d = new PerMessageDeflate(NONE, true);
  const r = new PerMessageDeflate(NONE, false);
  let turns = 0;
  const other = spawn(async () => {
    for (;;) {
      turns++;
      await sleep(0);
    }
  });
  const c = await d.compress(big);
  assert.ok(turns > 3, `the other thread ran ${turns} times during the compression`);
  turns = 0;
  assert.ok((await inflate(r, c)).equals(big));
  other.kill();
  await other.wait().catch(() => undefined);
  d.close();
  r.close();
});

test('a zip bomb stops at maxMessageSize with 1009, having inflated little more than that', async () => {
  const bomb = zlib.deflateRawSync(Buffer.alloc(64 * 1024 * 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
  assert.ok(bomb.length < 100 * 1024, `${bomb.length} bytes of compressed zeros`);
  const d = new PerMessageDeflate(NONE, true);
  const out = new Collector();
  const before = process.memoryUsage().arrayBuffers;
  let err: unknown = null;
  try {
    await d.decompress(bomb, true, out, 1024 * 1024);
  } catch (e) {
    err = e;
  }
  assert.instance(err, ProtocolError);
  assert.is((err as ProtocolError).closeCode, 1009);
  assert.ok(out.length <= 1024 * 1024, `kept ${out.length} bytes`);
  assert.ok(process.memoryUsage().arrayBuffers - before < 8 * 1024 * 1024, 'never held the 64 MiB');
  // The same limit across fragments: 600 KiB, then 600 KiB more.
  const two = new PerMessageDeflate(NONE, true);
  const half = zlib.deflateRawSync(Buffer.alloc(600 * 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const acc = new Collector();
  await two.decompress(half, false, acc, 1024 * 1024);
  assert.is(acc.length, 600 * 1024);
  const e2 = await two.decompress(half, true, acc, 1024 * 1024).catch((e: unknown) => e);
  assert.is((e2 as ProtocolError).closeCode, 1009);
  d.close();
  two.close();
});

test('data zlib cannot inflate fails with 1007', async () => {
  const d = new PerMessageDeflate(NONE, true);
  const err = await inflate(d, Buffer.from([0xff, 0xff, 0xff, 0xff])).catch((e: unknown) => e);
  assert.instance(err, ProtocolError);
  assert.is((err as ProtocolError).closeCode, 1007);
  assert.match((err as Error).message, /invalid compressed data/);
  // The connection would be failed; a new message would get a fresh engine anyway.
  const msg = Buffer.from('x'.repeat(3000));
  assert.ok((await inflate(d, new PerMessageDeflate(NONE, false).compressNow(msg))).equals(msg));
  d.close();
});

test('an interrupt while a large message is compressed resets the compressor: the next message still inflates', async () => {
  const d = new PerMessageDeflate(NONE, true);
  const r = new PerMessageDeflate(NONE, false);
  const msg = Buffer.from('the first message, compressed whole. '.repeat(100));
  assert.ok((await inflate(r, d.compressNow(msg))).equals(msg));
  const big = randomBytes(300 * 1024);
  const t = new Timeout(0);
  const err = await d.compress(big).catch((e: unknown) => e);
  t.cancel();
  assert.is(err, t, 'the Timeout lands at a cede between slices');
  const next = Buffer.from('after the interrupted one: a fresh window. '.repeat(50));
  assert.ok((await inflate(r, d.compressNow(next))).equals(next));
  d.close();
  r.close();
});

test.run();
