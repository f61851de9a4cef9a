// evy/web/ws/collect: pieces joined in order, small ones packed into blocks,
// so a byte-per-piece peer costs about a byte per byte.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { Collector } from '../../../dist/web/ws/collect.js';

test('pieces of every size come out joined in order', () => {
  const c = new Collector();
  const pieces = [0, 1, 1023, 1024, 5, 70000, 3, 16 * 1024, 16 * 1024 - 1, 2, 0, 900].map((n) => randomBytes(n));
  for (const p of pieces) c.push(p);
  const want = Buffer.concat(pieces);
  assert.is(c.length, want.length);
  assert.ok(c.concat().equals(want));
});

test('one big piece comes back as itself, without a copy', () => {
  const c = new Collector();
  const b = randomBytes(4096);
  c.push(b);
  assert.is(c.concat(), b);
});

test('200 000 one-byte pieces are packed into blocks: under 1 MiB of buffers for 200 KB', () => {
  const one = Buffer.from([7]);
  const before = process.memoryUsage().arrayBuffers;
  const c = new Collector();
  for (let i = 0; i < 200_000; i++) c.push(one);
  const grew = process.memoryUsage().arrayBuffers - before;
  assert.ok(grew < 1024 * 1024, `grew ${grew} bytes for 200 000 bytes`);
  const all = c.concat();
  assert.is(all.length, 200_000);
  assert.ok(all.every((b) => b === 7));
});

test.run();
