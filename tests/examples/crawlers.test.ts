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
/** The user-agent of each request: undici's fetch names itself, urlopen sends none. */
const agents = new Set<string>();

test.before(async () => {
  server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    agents.add(req.headers['user-agent'] ?? '(none)');
    const page = PAGES[req.url ?? ''];
    res.writeHead(page === undefined ? 404 : 200, { 'content-type': 'text/html' });
    res.end(page ?? 'not here');
  });
  await wait(new Promise<void>((res) => server.listen(0, '127.0.0.1', res)));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
test.after(() => void server.close());
test.after.each(assertClean);
test.before.each(() => {
  hits.length = 0;
  agents.clear();
});

// Each crawler as its README line says, through urlopen, then with --fetch
// through the global fetch that `evy run` makes green: the same output.
for (const flag of [[], ['--fetch']]) {
  const how = flag.length === 0 ? 'urlopen' : 'fetch';
  const agent = flag.length === 0 ? '(none)' : 'node';

  test(`webcrawler.ts prints each URL's status and size, in input order (${how})`, async () => {
    const urls = ['/', '/a', '/missing', '/c'].map((p) => base + p);
    const r = run('webcrawler.ts', [...flag, ...urls]);
    assert.is(await exited(r), 0, r.out());
    assert.equal(r.out().trim().split('\n'), [
      `${base}/: 200, ${PAGES['/'].length} bytes`,
      `${base}/a: 200, ${PAGES['/a'].length} bytes`,
      `${base}/missing: 404, 8 bytes`,
      `${base}/c: 200, ${PAGES['/c'].length} bytes`,
    ]);
    assert.equal([...agents], [agent], `every request went through ${how}`);
  });

  test(`recursive_crawler.ts fetches each same-site page once (${how})`, async () => {
    const r = run('recursive_crawler.ts', [...flag, `${base}/`, '3']);
    assert.is(await exited(r), 0, r.out());
    assert.match(r.out(), /\n5 pages\n$/);
    assert.equal([...hits].sort(), ['/', '/a', '/b', '/c', '/missing'], 'every page once, none elsewhere');
    assert.match(r.out(), new RegExp(`404 ${base}/missing`));
    assert.equal([...agents], [agent]);
  });

  test(`producer_consumer.ts crawls the same site through a queue (${how})`, async () => {
    const r = run('producer_consumer.ts', [...flag, `${base}/`, '2']);
    assert.is(await exited(r), 0, r.out());
    assert.match(r.out(), /\n5 pages\n$/);
    assert.equal([...hits].sort(), ['/', '/a', '/b', '/c', '/missing']);
    assert.equal([...agents], [agent]);
  });
}

test('bad usage prints how to call them', async () => {
  for (const ex of ['webcrawler.ts', 'recursive_crawler.ts', 'producer_consumer.ts']) {
    for (const args of [[], ['--fetch']]) {
      const r = run(ex, args);
      assert.is(await exited(r), 2, `${ex} ${args.join(' ')}`);
      assert.match(r.out(), /usage: evy run examples\/\w+\.ts \[--fetch\]/);
    }
  }
});

test.run();
