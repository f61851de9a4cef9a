// node:stream/promises scenarios: pipeline() through streams, generators and
// web streams, with its options (end, signal) and its errors; finished() with
// its options, on ended, errored and destroyed streams; their AbortSignals
// (listeners on the signal, what is destroyed); and the ways to reach them.
import * as net from 'node:net';
import * as stream from 'node:stream';
import { PassThrough, Readable, Transform, Writable } from 'node:stream';
import * as streamPromises from 'node:stream/promises';
import { finished, pipeline } from 'node:stream/promises';
import { getEventListeners } from 'node:events';
import { promisify } from 'node:util';
import type { Scenario } from './lib/trace';
import { close, listen, settled, turns } from './lib/util';

function sink(): Writable & { text(): string } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  return Object.assign(w, { text: () => Buffer.concat(chunks).toString() });
}


function state(s: stream.Stream & { destroyed?: boolean; writableEnded?: boolean; readableEnded?: boolean }): Record<string, unknown> {
  return { destroyed: s.destroyed ?? null, writableEnded: s.writableEnded ?? null, readableEnded: s.readableEnded ?? null };
}

export const scenarios: Scenario[] = [
  {
    name: 'pipeline and finished are reachable from stream.promises and util.promisify',
    async run(t) {
      t.log('same', [
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        stream.promises === require('node:stream/promises'),
        stream.promises.pipeline === pipeline,
        promisify(stream.pipeline) === pipeline,
        promisify(stream.finished) === finished,
        streamPromises.finished === finished,
      ]);
      t.log('shape', [pipeline.name, pipeline.length, finished.name, finished.length]);
    },
  },
  {
    name: 'pipeline: streams, a transform, a generator, a web stream; it resolves once the last one finishes',
    async run(t) {
      const out = sink();
      const upper = new Transform({
        transform(chunk: Buffer, _e, cb) {
          cb(null, chunk.toString().toUpperCase());
        },
      });
      await settled(t, 'streams', pipeline(Readable.from(['a', 'b', 'c']), upper, out));
      t.log('out', out.text());
      const out2 = sink();
      await settled(t, 'generator', pipeline(Readable.from(['x', 'y']), async function* (src: AsyncIterable<Buffer | string>) {
        for await (const c of src) yield `<${String(c)}>`;
      }, out2));
      t.log('out2', out2.text());
      const out3 = sink();
      const web = new ReadableStream({
        start(c) {
          c.enqueue('web');
          c.close();
        },
      });
      await settled(t, 'web stream', pipeline(web, out3));
      t.log('out3', out3.text());
      await settled(t, 'generator as the last stage', pipeline(Readable.from(['1', '2']), async function (src: AsyncIterable<unknown>) {
        let n = 0;
        for await (const _ of src) n++;
        return n;
      }));
    },
  },
  {
    name: 'pipeline: end false leaves the destination open; an array of streams works too',
    async run(t) {
      const out = sink();
      await pipeline(Readable.from(['kept']), out, { end: false });
      t.log('destination', state(out));
      out.end();
      const out2 = sink();
      await settled(t, 'array', (pipeline as (...a: unknown[]) => Promise<unknown>)([Readable.from(['arr']), out2]));
      t.log('out2', out2.text());
    },
  },
  {
    name: 'pipeline: an error in a stage rejects and destroys every stream',
    async run(t) {
      const src = new PassThrough();
      const bad = new Transform({
        transform(_c, _e, cb) {
          cb(new Error('bad chunk'));
        },
      });
      const out = sink();
      const p = pipeline(src, bad, out);
      src.write('x');
      await settled(t, 'rejected', p);
      t.log('states', [state(src), state(bad), state(out)]);
      const a = new PassThrough();
      const b = new PassThrough();
      const q = pipeline(a, b);
      a.destroy(new Error('source died'));
      await settled(t, 'source destroyed', q);
      t.log('b', state(b));
    },
  },
  {
    name: "pipeline's signal: a listener while it runs, none after; aborting destroys the streams with an AbortError",
    async run(t) {
      const ac = new AbortController();
      const a = new PassThrough();
      const b = new PassThrough();
      const p = pipeline(a, b, { signal: ac.signal });
      t.log('listeners while running', getEventListeners(ac.signal, 'abort').length);
      ac.abort('why');
      await settled(t, 'aborted', p);
      t.log('states', [state(a), state(b)]);
      const done = new AbortController();
      await pipeline(Readable.from(['z']), sink(), { signal: done.signal });
      await turns(2);
      t.log('listeners after success', getEventListeners(done.signal, 'abort').length);
      await settled(t, 'already aborted', pipeline(new PassThrough(), new PassThrough(), { signal: AbortSignal.abort('early') }));
      await settled(t, 'a signal that is not one', pipeline(new PassThrough(), new PassThrough(), { signal: 'nope' as never }));
    },
  },
  {
    name: 'pipeline of a socket: the data arrives, and the socket ends with it',
    async run(t) {
      const server = net.createServer((s) => s.end('over the wire'));
      const port = await listen(server);
      const sock = net.connect(port, '127.0.0.1');
      const out = sink();
      await settled(t, 'pipeline', pipeline(sock, out));
      t.log('out', out.text());
      t.log('socket', state(sock));
      await close(server);
    },
  },
  {
    name: 'finished: an ended stream, an errored one, a destroyed one, options readable/writable/error',
    async run(t) {
      const r = Readable.from(['a']);
      const p = finished(r);
      r.resume();
      await settled(t, 'ended', p);
      const e = new PassThrough();
      const q = finished(e);
      e.destroy(new Error('broke'));
      await settled(t, 'errored', q);
      const d = new PassThrough();
      const x = finished(d);
      d.destroy();
      await settled(t, 'destroyed', x);
      const w = new PassThrough();
      const y = finished(w, { readable: false });
      w.end('data');
      await settled(t, 'writable side only', y);
      const z = new PassThrough();
      const zp = finished(z, { error: false });
      z.on('error', (err) => t.error('error event', err));
      z.destroy(new Error('not waited for'));
      await settled(t, 'error false', zp);
      await settled(t, 'already finished', finished(r));
    },
  },
  {
    name: "finished's signal and its listeners; aborting leaves the stream alone; bad options",
    async run(t) {
      const s = new PassThrough();
      const before = s.eventNames().map(String).sort();
      const ac = new AbortController();
      const p = finished(s, { signal: ac.signal });
      t.log('signal listeners while waiting', getEventListeners(ac.signal, 'abort').length);
      ac.abort('why');
      await settled(t, 'aborted', p);
      t.log('stream', state(s));
      t.log('stream listeners back to', s.eventNames().map(String).sort().join(',') === before.join(','));
      s.destroy();
      const c = new PassThrough();
      const q = finished(c, { cleanup: true });
      c.end();
      c.resume();
      await settled(t, 'cleanup', q);
      t.log('listeners after cleanup', c.listenerCount('end') + c.listenerCount('finish') + c.listenerCount('error'));
      await settled(t, 'options a number', finished(new PassThrough(), 5 as never));
      await settled(t, 'options an array', finished(new PassThrough(), [] as never));
      // A bad cleanup option throws at the call, before any promise exists.
      await settled(t, 'cleanup not a boolean', Promise.resolve().then(() => finished(new PassThrough(), { cleanup: 'yes' } as never)));
      await settled(t, 'not a stream', finished({} as never));
    },
  },
];
