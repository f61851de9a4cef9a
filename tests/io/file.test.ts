import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GreenFile, type RawStream } from 'evy';
import { assertClean, rejection } from '../helpers';

test.after.each(assertClean);

/** A stream that hands out the given chunks, then EOF, and records what was sent. */
function fake(chunks: (string | Buffer)[]): RawStream & { sent: Buffer[]; reads: number } {
  const queue = chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c));
  return {
    sent: [],
    reads: 0,
    async recv(n: number): Promise<Buffer> {
      this.reads++;
      const c = queue.shift();
      if (c === undefined) return Buffer.alloc(0);
      if (c.length > n) {
        queue.unshift(c.subarray(n));
        return c.subarray(0, n);
      }
      return c;
    },
    async sendall(data: Buffer | string): Promise<void> {
      this.sent.push(Buffer.from(data));
    },
  };
}

test('readline across chunk boundaries, the last line without a newline, then empty', async () => {
  const f = new GreenFile(fake(['hel', 'lo\nwor', 'ld\n', 'tail']), 'rb');
  assert.is((await f.readline()).toString(), 'hello\n');
  assert.is((await f.readline()).toString(), 'world\n');
  assert.is((await f.readline()).toString(), 'tail');
  assert.is((await f.readline()).length, 0);
});

test('1-byte chunks; readline(limit) caps the length', async () => {
  const f = new GreenFile(fake([...'abcdef\nxy\n'].map((c) => c)), 'r');
  assert.is(await f.readline(3), 'abc');
  assert.is(await f.readline(), 'def\n');
  assert.is(await f.readline(10), 'xy\n');
  assert.is(await f.readline(), '');
});

test('read(n) and read() to EOF', async () => {
  const f = new GreenFile(fake(['0123', '4567', '89']), 'rb');
  assert.is((await f.read(6)).toString(), '012345');
  assert.is((await f.read()).toString(), '6789');
  assert.is((await f.read(5)).length, 0);
});

test('readlines and for await over lines', async () => {
  assert.equal(await new GreenFile(fake(['a\nb', '\nc']), 'r').readlines(), ['a\n', 'b\n', 'c']);
  const seen: string[] = [];
  for await (const line of new GreenFile(fake(['x\n', 'y\n']), 'r')) seen.push(line);
  assert.equal(seen, ['x\n', 'y\n']);
});

test('text mode decodes a multi-byte character split across chunks', async () => {
  const euro = Buffer.from('€\n'); // e2 82 ac 0a
  const f = new GreenFile(fake([euro.subarray(0, 1), euro.subarray(1, 2), euro.subarray(2)]), 'r');
  assert.is(await f.readline(), '€\n');
  const g = new GreenFile(fake([Buffer.from('né'), Buffer.from('')]), 'r');
  assert.is(await g.read(2), 'n');
  assert.is(await g.read(), 'é');
});

test('write buffers until flush, or until bufsize; close flushes', async () => {
  const raw = fake([]);
  const f = new GreenFile(raw, 'wb', { bufsize: 8 });
  await f.write('abc');
  assert.is(raw.sent.length, 0);
  await f.flush();
  assert.is(Buffer.concat(raw.sent).toString(), 'abc');
  await f.write('0123456789'); // over bufsize: goes out at once
  assert.is(Buffer.concat(raw.sent).toString(), 'abc0123456789');
  await f.write('end');
  await f.close();
  assert.is(Buffer.concat(raw.sent).toString(), 'abc0123456789end');
  assert.ok(f.closed);
  await f.close();
});

test('wrong mode and closed files are clear errors; bad modes are refused', async () => {
  const r = new GreenFile(fake(['x']), 'rb');
  assert.match(String(await rejection(r.write('y'))), /reading only/);
  const w = new GreenFile(fake([]), 'w');
  assert.match(String(await rejection(w.readline())), /writing only/);
  await r.close();
  assert.match(String(await rejection(r.read())), /closed file/);
  assert.throws(() => new GreenFile(fake([]), 'x'), /mode must be r, w or rw/);
  assert.throws(() => new GreenFile(fake([]), 'r', { bufsize: 0 }), /bufsize/);
});

// Issue 10, item 4: reading to EOF and long lines join the chunks once (linear),
// never one concat per chunk. Checked by what is copied, not by time.
test('read() to EOF and readline() on a long line copy each byte once, across thousands of chunks', async () => {
  const n = 4096;
  const chunks = Array.from({ length: n }, (_, i) => Buffer.alloc(1024, 0x20 + (i % 90))); // never '\n'
  const whole = Buffer.concat(chunks);
  const concat = Buffer.concat;
  let joined = 0;
  Buffer.concat = ((list: readonly Uint8Array[], len?: number) => {
    joined += list.reduce((a, b) => a + b.length, 0);
    return concat(list, len);
  }) as typeof Buffer.concat;
  try {
    const all = await new GreenFile(fake(chunks), 'rb').read();
    assert.ok(all.equals(whole));
    const f = new GreenFile(fake([...chunks, Buffer.from('\nnext\n')]), 'rb');
    const line = await f.readline();
    assert.is(line.length, whole.length + 1);
    assert.ok(line.subarray(0, whole.length).equals(whole));
    assert.is((await f.readline()).toString(), 'next\n');
  } finally {
    Buffer.concat = concat;
  }
  assert.ok(joined <= 2 * whole.length, `Buffer.concat joined ${joined} bytes for ${whole.length} read`);
});

test('read(n) and readline(limit) across chunk boundaries, views and copies alike', async () => {
  const f = new GreenFile(fake(['ab', 'cd\nef', 'g', 'h\nij']), 'rb');
  assert.is((await f.read(1)).toString(), 'a');
  assert.is((await f.readline(2)).toString(), 'bc');
  assert.is((await f.readline()).toString(), 'd\n');
  assert.is((await f.read(3)).toString(), 'efg');
  assert.is((await f.readline()).toString(), 'h\n');
  assert.is((await f.readline(0)).toString(), '');
  assert.is((await f.read()).toString(), 'ij');
});

test('read() and readline() with a size that is not an integer: TypeError (null: all)', async () => {
  const f = new GreenFile(fake(['abc\n']), 'rb');
  assert.instance(await rejection(f.read('x' as unknown as number)), TypeError);
  assert.instance(await rejection(f.read(1.5)), TypeError);
  assert.instance(await rejection(f.readline('x' as unknown as number)), TypeError);
  assert.is((await f.read(null)).toString(), 'abc\n');
});

test('writelines writes each item; close calls the stream\'s release once', async () => {
  let released = 0;
  const raw = { ...fake([]), release: () => void released++ };
  const f = new GreenFile(raw, 'wb');
  await f.writelines(['a', 'b\n', Buffer.from('c')]);
  await f.close();
  await f.close();
  assert.is(Buffer.concat(raw.sent).toString(), 'ab\nc');
  assert.is(released, 1);
});

test.run();
