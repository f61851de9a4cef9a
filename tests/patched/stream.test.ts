// stream/promises greened in place, as monkeyPatch() leaves it (the whole
// process: this suite patches its own).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as net from 'node:net';
import * as stream from 'node:stream';
import * as streamPromises from 'node:stream/promises';
import { PassThrough, Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import { Event, Timeout, monkeyPatch, spawn, wait } from 'evy';
import { assertClean, rejection } from '../helpers';

const stockPipeline = streamPromises.pipeline;
const stockFinished = streamPromises.finished;
monkeyPatch({ net: true });
const { pipeline, finished } = streamPromises; // looked up after the patch

test.after.each(assertClean);

function sink(): Writable & { text: () => string } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return Object.assign(w, { text: () => Buffer.concat(chunks).toString() });
}

test('pipeline and finished are green, with the stock names and lengths, everywhere they are reachable', async () => {
  assert.is.not(pipeline, stockPipeline);
  assert.is.not(finished, stockFinished);
  assert.equal([pipeline.name, pipeline.length, finished.name, finished.length], [stockPipeline.name, stockPipeline.length, stockFinished.name, stockFinished.length]);
  assert.is(stream.promises.pipeline, pipeline);
  assert.is(promisify(stream.pipeline), pipeline, 'util.promisify(stream.pipeline) is the green one');
  assert.is(promisify(stream.finished), finished);
  assert.is((await import('node:stream/promises')).pipeline, pipeline, 'the named ESM export follows');
});

test('pipeline carries data through streams, generators and options as stock', async () => {
  const out = sink();
  await pipeline(Readable.from(['a', 'b']), async function* (src: AsyncIterable<string>) {
    for await (const s of src) yield s.toUpperCase();
  }, out);
  assert.is(out.text(), 'AB');
  const kept = sink();
  await pipeline(Readable.from(['x']), kept, { end: false });
  assert.ok(!kept.writableEnded, 'end: false is passed on');
  kept.end();
  const ac = new AbortController();
  const done = sink();
  await pipeline(Readable.from(['y']), done, { signal: ac.signal });
  assert.is(done.text(), 'y');
});

test('a Timeout interrupts pipeline and destroys its streams', async () => {
  const a = new PassThrough();
  const b = new PassThrough();
  const t = new Timeout(0.05);
  assert.is(await rejection(pipeline(a, b)), t);
  assert.ok(a.destroyed && b.destroyed);
});

test('kill in a pipeline reading a socket: the thread ends, the socket closes, the peer sees it', async () => {
  const peerClosed = new Event();
  const server = net.createServer((s) => {
    s.write('hello');
    s.on('close', () => peerClosed.send());
  });
  server.listen(0, '127.0.0.1');
  await wait(new Promise((r) => server.once('listening', r)));
  const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const out = sink();
  const gt = spawn(() => pipeline(sock, out));
  await wait(new Promise((r) => sock.once('data', r)));
  gt.kill();
  assert.is(await gt.wait(), undefined);
  assert.ok(sock.destroyed);
  await peerClosed.wait();
  server.close();
  await wait(new Promise((r) => server.once('close', r)));
});

test('a Timeout interrupts finished, removes its listeners and leaves the stream alone', async () => {
  const s = new PassThrough();
  const before = s.listenerCount('end') + s.listenerCount('error') + s.listenerCount('close');
  const t = new Timeout(0.05);
  assert.is(await rejection(finished(s)), t);
  assert.not.ok(s.destroyed);
  assert.is(s.listenerCount('end') + s.listenerCount('error') + s.listenerCount('close'), before);
  s.destroy();
});

test('kill in finished: the thread ends, its listeners go; finished resolves as stock when the stream ends', async () => {
  const s = new PassThrough();
  const count = (): number => s.listenerCount('end') + s.listenerCount('error') + s.listenerCount('close');
  const before = count();
  const parked = new Event();
  const gt = spawn(async () => {
    const p = finished(s);
    parked.send();
    return p;
  });
  await parked.wait();
  assert.ok(count() > before, 'finished listens to the stream');
  gt.kill();
  assert.is(await gt.wait(), undefined);
  assert.is(count(), before);
  const r = new PassThrough();
  const p = finished(r, { readable: false });
  r.end();
  await p;
  s.destroy();
});

test("the caller's signal still aborts with Node's AbortError; bad signals get the stock error", async () => {
  const ac = new AbortController();
  const a = new PassThrough();
  const p = pipeline(a, new PassThrough(), { signal: ac.signal });
  ac.abort('why');
  const e = (await rejection(p)) as Error & { cause: unknown };
  assert.equal([e.name, e.cause], ['AbortError', 'why']);
  assert.ok(a.destroyed);
  const f = new AbortController();
  const s = new PassThrough();
  const q = finished(s, { signal: f.signal });
  f.abort();
  assert.is(((await rejection(q)) as Error).name, 'AbortError');
  assert.not.ok(s.destroyed, 'an aborted finished() leaves the stream');
  s.destroy();
  for (const bad of [{ signal: 'nope' }, 5, [1]]) {
    const g = (await rejection(finished(new PassThrough(), bad as never))) as NodeJS.ErrnoException;
    const st = (await rejection(stockFinished(new PassThrough(), bad as never))) as NodeJS.ErrnoException;
    assert.equal([g.code, g.message], [st.code, st.message], JSON.stringify(bad));
  }
  const g = (await rejection(pipeline(new PassThrough(), new PassThrough(), { signal: 'nope' } as never))) as NodeJS.ErrnoException;
  const st = (await rejection(stockPipeline(new PassThrough(), new PassThrough(), { signal: 'nope' } as never))) as NodeJS.ErrnoException;
  assert.equal([g.code, g.message], [st.code, st.message]);
});

test.run();
