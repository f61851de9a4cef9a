// The global fetch's scenarios, against a node:http server on 127.0.0.1:0:
// statuses, headers, the body methods and streams, redirects, request bodies,
// the caller's AbortSignal (before, during the head, during the body), Request
// inputs, refused connections and bad input, keep-alive reuse.
import * as http from 'node:http';
import * as net from 'node:net';
import type { Scenario } from './lib/trace';
import { closedPort, settled, track, turns } from './lib/util';

interface Site {
  base: string;
  /** The connections the server accepted, in order. */
  conns: net.Socket[];
  close(): Promise<void>;
}

/**
 * A server: `/` hello, `/json`, `/form` (urlencoded), `/cookies` (two
 * Set-Cookie), `/echo` (method, a header and the body back), `/redirect` (302
 * to `/`), `/loop` (redirects to itself), `/404`, `/silent` (never answers),
 * `/drip` (a head and part of the body, then nothing), `/cut` (a head and part
 * of the body, then the connection is destroyed).
 */
async function site(): Promise<Site> {
  const conns: net.Socket[] = [];
  const server = http.createServer((req, res) => {
    switch (req.url) {
      case '/':
        return void res.end('hello');
      case '/json':
        res.setHeader('content-type', 'application/json');
        return void res.end('{"a":[1,2],"b":null}');
      case '/form':
        res.setHeader('content-type', 'application/x-www-form-urlencoded');
        return void res.end('x=1&y=two&x=3');
      case '/cookies':
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        return void res.end();
      case '/echo': {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => res.end(`${req.method} ${req.headers['x-thing'] ?? '-'} ${req.headers['content-type'] ?? '-'} ${Buffer.concat(chunks).toString()}`));
        return;
      }
      case '/redirect':
        res.writeHead(302, { location: '/' });
        return void res.end();
      case '/loop':
        res.writeHead(302, { location: '/loop' });
        return void res.end();
      case '/silent':
        return;
      case '/drip':
        res.writeHead(200, { 'content-length': '100' });
        return void res.write('partial');
      case '/cut':
        res.writeHead(200, { 'content-length': '100' });
        return void res.write('partial', () => res.socket?.destroy());
      default:
        res.writeHead(404, { 'content-type': 'text/plain' });
        return void res.end('not here');
    }
  });
  server.on('connection', (s: net.Socket) => conns.push(track(s)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    base,
    conns,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

async function withSite(fn: (s: Site) => Promise<void>): Promise<void> {
  const s = await site();
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

function head(res: Response): Record<string, unknown> {
  return {
    status: res.status,
    statusText: res.statusText,
    ok: res.ok,
    redirected: res.redirected,
    type: res.type,
    contentType: res.headers.get('content-type'),
    contentLength: res.headers.get('content-length'),
  };
}

export const scenarios: Scenario[] = [
  {
    name: 'fetch is a function of one declared argument named fetch',
    async run(t) {
      t.log('shape', { type: typeof fetch, name: fetch.name, length: fetch.length });
    },
  },
  {
    name: 'GET: status, headers and the body as text; a 404 is a response',
    async run(t) {
      await withSite(async ({ base }) => {
        const res = await fetch(`${base}/`);
        t.log('head', head(res));
        t.log('bodyUsed before', res.bodyUsed);
        t.log('text', await res.text());
        t.log('bodyUsed after', res.bodyUsed);
        await settled(t, 'text again', res.text());
        const missing = await fetch(`${base}/404`);
        t.log('404', head(missing));
        t.log('404 body', await missing.text());
      });
    },
  },
  {
    name: 'json, arrayBuffer, blob, formData and bytes of a body',
    async run(t) {
      await withSite(async ({ base }) => {
        t.log('json', await (await fetch(`${base}/json`)).json());
        t.log('arrayBuffer', Buffer.from(await (await fetch(`${base}/`)).arrayBuffer()).toString());
        const blob = await (await fetch(`${base}/json`)).blob();
        t.log('blob', { size: blob.size, type: blob.type, text: await blob.text() });
        const form = await (await fetch(`${base}/form`)).formData();
        t.log('formData', [...form.entries()]);
        await settled(t, 'json of a text body', (await fetch(`${base}/`)).json());
        await settled(t, 'formData of a json body', (await fetch(`${base}/json`)).formData());
      });
    },
  },
  {
    name: 'the body as a web stream, read to the end',
    async run(t) {
      await withSite(async ({ base }) => {
        const res = await fetch(`${base}/json`);
        const parts: string[] = [];
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parts.push(Buffer.from(chunk).toString());
        t.log('streamed', parts.join(''));
        t.log('bodyUsed', res.bodyUsed);
      });
    },
  },
  {
    name: 'request bodies: a string, a URLSearchParams, a Buffer, a stream; method and headers',
    async run(t) {
      await withSite(async ({ base }) => {
        const echo = async (init: RequestInit): Promise<string> => (await fetch(`${base}/echo`, init)).text();
        t.log('string', await echo({ method: 'POST', body: 'ping', headers: { 'x-thing': 'yes' } }));
        t.log('params', await echo({ method: 'PUT', body: new URLSearchParams({ a: '1', b: 'c d' }) }));
        t.log('buffer', await echo({ method: 'POST', body: Buffer.from('bytes') }));
        const stream = new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode('str'));
            c.enqueue(new TextEncoder().encode('eam'));
            c.close();
          },
        });
        t.log('stream', await echo({ method: 'POST', body: stream, duplex: 'half' } as RequestInit));
        await settled(t, 'a stream without duplex', echo({ method: 'POST', body: new ReadableStream() }));
        await settled(t, 'a GET with a body', echo({ method: 'GET', body: 'x' }));
        t.log('headers object', await echo({ method: 'POST', headers: new Headers([['x-thing', 'from Headers']]), body: '' }));
      });
    },
  },
  {
    name: 'redirects: followed by default, returned with manual, an error with error, and a loop is an error',
    async run(t) {
      await withSite(async ({ base }) => {
        const followed = await fetch(`${base}/redirect`);
        t.log('follow', { ...head(followed), url: followed.url === `${base}/`, text: await followed.text() });
        const manual = await fetch(`${base}/redirect`, { redirect: 'manual' });
        t.log('manual', { ...head(manual), location: manual.headers.get('location') });
        await manual.arrayBuffer();
        await settled(t, 'error', fetch(`${base}/redirect`, { redirect: 'error' }));
        await settled(t, 'loop', fetch(`${base}/loop`));
      });
    },
  },
  {
    name: 'Set-Cookie headers, one by one',
    async run(t) {
      await withSite(async ({ base }) => {
        const res = await fetch(`${base}/cookies`);
        t.log('getSetCookie', res.headers.getSetCookie());
        t.log('get', res.headers.get('set-cookie'));
        await res.text();
      });
    },
  },
  {
    name: "the caller's AbortSignal: already aborted, during the head, during the body, and AbortSignal.timeout",
    async run(t) {
      await withSite(async ({ base, conns }) => {
        await settled(t, 'already aborted', fetch(`${base}/`, { signal: AbortSignal.abort() }));
        await settled(t, 'already aborted with a reason', fetch(`${base}/`, { signal: AbortSignal.abort('why') }));
        const ac = new AbortController();
        const p = fetch(`${base}/silent`, { signal: ac.signal });
        await turns(5);
        ac.abort();
        await settled(t, 'during the head', p);
        const body = new AbortController();
        const res = await fetch(`${base}/drip`, { signal: body.signal });
        t.log('head arrived', res.status);
        const text = res.text();
        await turns(3);
        body.abort(new Error('stop'));
        await settled(t, 'during the body', text);
        await settled(t, 'timeout', fetch(`${base}/silent`, { signal: AbortSignal.timeout(30) }));
        await turns(5);
        t.log('connections closed', conns.map((c) => c.destroyed));
      });
    },
  },
  {
    name: 'a Request as input: its method, headers and body; its signal; an init overriding it',
    async run(t) {
      await withSite(async ({ base }) => {
        const req = new Request(`${base}/echo`, { method: 'POST', headers: { 'x-thing': 'req' }, body: 'from request' });
        t.log('request', await (await fetch(req)).text());
        t.log('bodyUsed', req.bodyUsed);
        await settled(t, 'used again', fetch(req));
        const over = new Request(`${base}/echo`, { method: 'POST', headers: { 'x-thing': 'req' }, body: 'a' });
        t.log('overridden', await (await fetch(over, { method: 'PUT', headers: { 'x-thing': 'init' }, body: 'b' })).text());
        const ac = new AbortController();
        const p = fetch(new Request(`${base}/silent`, { signal: ac.signal }));
        await turns(3);
        ac.abort('request signal');
        await settled(t, 'request signal', p);
        const ac2 = new AbortController();
        const q = fetch(new Request(`${base}/silent`, { signal: ac2.signal }), { signal: null });
        await turns(3);
        ac2.abort('ignored');
        await settled(t, 'signal null in init drops the request\'s', Promise.race([q, new Promise((r) => setTimeout(() => r('still pending'), 50))]));
      });
    },
  },
  {
    name: 'refused, cut short, and bad input',
    async run(t) {
      const port = await closedPort(net);
      await settled(t, 'refused', fetch(`http://127.0.0.1:${port}/`));
      await withSite(async ({ base }) => {
        const res = await fetch(`${base}/cut`);
        await settled(t, 'cut short', res.text());
      });
      await settled(t, 'not a URL', fetch('not a url'));
      await settled(t, 'bad scheme', fetch('ftp://127.0.0.1/'));
      await settled(t, 'a bad port', fetch('http://127.0.0.1:1/'));
      await settled(t, 'bad method', fetch('http://127.0.0.1:1/', { method: 'CONNECT' }));
      await settled(t, 'init a number', (fetch as (...a: unknown[]) => Promise<Response>)('http://127.0.0.1:1/', 5));
      await settled(t, 'signal not a signal', fetch('http://127.0.0.1:1/', { signal: 'nope' as never }));
      await settled(t, 'no argument', (fetch as () => Promise<Response>)());
    },
  },
  {
    name: 'keep-alive: sequential requests share a connection',
    async run(t) {
      await withSite(async ({ base, conns }) => {
        for (let i = 0; i < 3; i++) {
          await (await fetch(`${base}/`)).text();
          await turns(2);
        }
        t.log('connections', conns.length);
        const all = await Promise.all([1, 2, 3].map(async () => (await fetch(`${base}/`)).text()));
        t.log('concurrent', all);
      });
    },
  },
];
