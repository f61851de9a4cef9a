// The crawler examples, run as their README lines say, against a small site
// this test serves on loopback (never the internet).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as http from 'node:http';
import { wait } from 'evy';
import { assertClean } from '../helpers';
import { exited, run } from './run';

// / → /a, /b; /a → /b, /c and another host; /b → /missing (404); /c → / and /a#part.
const PAGES: Record<string, string> = {
  '/': '<a href="/a">a</a> <a href="/b">b</a>',
  '/a': '<a href="b">b</a> <a href=\'/c\'>c</a> <a href="http://elsewhere.invalid/x">out</a>',
  '/b': '<a href="/missing">gone</a>',
  '/c': '<a href="/">home</a> <a href="/a#part">a again</a>',
};

let server: http.Server;
let base = '';
const hits: string[] = [];

test.before(async () => {
  server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    const page = PAGES[req.url ?? ''];
    res.writeHead(page === undefined ? 404 : 200, { 'content-type': 'text/html' });
    res.end(page ?? 'not here');
  });
  await wait(new Promise<void>((res) => server.listen(0, '127.0.0.1', res)));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
test.after(() => void server.close());
test.after.each(assertClean);
test.before.each(() => void (hits.length = 0));

test('webcrawler.ts prints each URL\'s status and size, in input order', async () => {
  const urls = ['/', '/a', '/missing', '/c'].map((p) => base + p);
  const r = run('webcrawler.ts', urls);
  assert.is(await exited(r), 0, r.out());
  assert.equal(r.out().trim().split('\n'), [
    `${base}/: 200, ${PAGES['/'].length} bytes`,
    `${base}/a: 200, ${PAGES['/a'].length} bytes`,
    `${base}/missing: 404, 8 bytes`,
    `${base}/c: 200, ${PAGES['/c'].length} bytes`,
  ]);
});

test('recursive_crawler.ts fetches each same-site page once', async () => {
  const r = run('recursive_crawler.ts', [`${base}/`, '3']);
  assert.is(await exited(r), 0, r.out());
  assert.match(r.out(), /\n5 pages\n$/);
  assert.equal([...hits].sort(), ['/', '/a', '/b', '/c', '/missing'], 'every page once, none elsewhere');
  assert.match(r.out(), new RegExp(`404 ${base}/missing`));
});

test('producer_consumer.ts crawls the same site through a queue', async () => {
  const r = run('producer_consumer.ts', [`${base}/`, '2']);
  assert.is(await exited(r), 0, r.out());
  assert.match(r.out(), /\n5 pages\n$/);
  assert.equal([...hits].sort(), ['/', '/a', '/b', '/c', '/missing']);
});

test('bad usage prints how to call them', async () => {
  for (const ex of ['webcrawler.ts', 'recursive_crawler.ts', 'producer_consumer.ts']) {
    const r = run(ex, []);
    assert.is(await exited(r), 2, ex);
    assert.match(r.out(), /usage: evy run examples\//);
  }
});

test.run();
