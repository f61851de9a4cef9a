import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as stockOs from 'node:os';
import { Event, Timeout, sleep, spawn } from 'evy';
import * as gos from 'evy/patched/os';
import { readlinkSync } from 'node:fs';
import { assertClean, rejection } from '../helpers';

test.after.each(assertClean);

/** What fd points to now ('' when closed). */
function target(fd: number): string {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return '';
  }
}

/** Runs `fn` on a fresh pipe; afterwards neither of its fds points to the pipe. */
async function withPipe<T>(fn: (r: number, w: number) => Promise<T>): Promise<T> {
  const [r, w] = gos.pipe();
  const pipes = [target(r), target(w)];
  assert.match(pipes[0], /^pipe:/);
  try {
    return await fn(r, w);
  } finally {
    gos.close(r);
    gos.close(w);
    assert.not.equal([target(r), target(w)], pipes, 'the pipe fds were closed');
    assert.not.ok(pipes.includes(target(r)) || pipes.includes(target(w)), 'no fd still points to the pipe');
  }
}

/** Writes into the pipe until it is full (a write would block). */
async function fill(w: number): Promise<number> {
  let total = 0;
  const chunk = Buffer.alloc(65536, 1);
  for (;;) {
    try {
      using _t = new Timeout(0.02);
      total += await gos.write(w, chunk);
    } catch (e) {
      if (e instanceof Timeout) return total;
      throw e;
    }
  }
}

test('every node:os export is there, unchanged', () => {
  for (const key of Object.keys(stockOs)) {
    if (key === 'default') continue;
    assert.is((gos as Record<string, unknown>)[key], (stockOs as Record<string, unknown>)[key], key);
  }
});

test('write then read on a pipe', () =>
  withPipe(async (r, w) => {
    assert.is(await gos.write(w, 'hello'), 5);
    assert.is((await gos.read(r, 100)).toString(), 'hello');
  }));

test('read waits (green) until data comes', () =>
  withPipe(async (r, w) => {
    const got = spawn(() => gos.read(r, 10));
    await sleep(0);
    assert.not.ok(got.dead);
    await gos.write(w, 'late');
    assert.is((await got.wait()).toString(), 'late');
  }));

test('EOF: an empty Buffer once the write end is closed', async () => {
  const [r, w] = gos.pipe();
  await gos.write(w, 'x');
  gos.close(w);
  assert.is((await gos.read(r, 10)).toString(), 'x');
  assert.is((await gos.read(r, 10)).length, 0);
  gos.close(r);
});

test('1 MiB through a pipe with a concurrent reader', () =>
  withPipe(async (r, w) => {
    const data = Buffer.alloc(1 << 20);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    const reader = spawn(async () => {
      const parts: Buffer[] = [];
      let n = 0;
      while (n < data.length) {
        const part = await gos.read(r, 65536);
        parts.push(part);
        n += part.length;
      }
      return Buffer.concat(parts);
    });
    assert.is(await gos.write(w, data), data.length);
    assert.ok((await reader.wait()).equals(data));
  }));

test('Timeout and kill interrupt a blocked read and remove its listener', () =>
  withPipe(async (r) => {
    const t = new Timeout(0.01);
    assert.is(await rejection(gos.read(r, 1)), t);
    const gt = spawn(() => gos.read(r, 1));
    await sleep(0);
    gt.kill();
    await gt.wait();
  }));

test('Timeout and kill interrupt a blocked write on a full pipe', () =>
  withPipe(async (r, w) => {
    assert.ok((await fill(w)) > 0);
    const t = new Timeout(0.01);
    assert.is(await rejection(gos.write(w, 'more')), t);
    const blocked = new Event();
    const gt = spawn(async () => {
      blocked.send();
      await gos.write(w, 'more');
    });
    await blocked.wait();
    await sleep(0);
    gt.kill();
    await gt.wait();
    assert.ok((await gos.read(r, 65536)).length > 0, 'the pipe still works');
  }));

test('close() while a thread waits in read gives it IOClosed', async () => {
  const [r, w] = gos.pipe();
  const gt = spawn(() => gos.read(r, 1));
  await sleep(0);
  gos.close(r);
  const err = (await rejection(gt.wait())) as Error;
  assert.is(err.name, 'IOClosed');
  gos.close(w);
});

test('bad input is refused clearly', async () => {
  assert.match(String(await rejection(gos.read(-1, 1))), /fd must be a non-negative integer/);
  assert.match(String(await rejection(gos.read(0, -1))), /n must be a non-negative integer/);
  assert.match(String(await rejection(gos.write(1, 5 as unknown as string))), /data must be/);
});

test.run();
