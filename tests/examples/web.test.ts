// The web examples, run as their README lines say (port 0: any free port),
// with real clients: node:http, evy's websocket client and the `ws` package.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as http from 'node:http';
import WsClient from 'ws';
import { Queue, wait, withTimeout } from 'evy';
import { urlopen } from 'evy/patched/http';
import { connect } from 'evy/web/websocket';
import { assertClean } from '../helpers';
import { run, stop, type Running } from './run';

test.after.each(assertClean);

async function started(example: string, args: string[] = []): Promise<[Running, string]> {
  const r = run(example, ['0', ...args]);
  const [, url] = await r.line(/listening on (http:\/\/127\.0\.0\.1:\d+\/)/);
  return [r, url];
}

test('wsgi.ts answers every path', async () => {
  const [r, url] = await started('wsgi.ts');
  const res = await urlopen(`${url}some/where`);
  assert.is(res.status, 200);
  assert.is((await res.read()).toString(), 'Hello, World! You asked for /some/where\r\n');
  await stop(r);
});

test('feedscraper.ts fetches the posted feeds concurrently, answers in order', async () => {
  const feeds = http.createServer((req, res) => {
    if (req.url === '/one.xml') res.end('<rss><channel><title>One</title><item><title>a1</title></item><item><title><![CDATA[a2]]></title></item></channel></rss>');
    else if (req.url === '/two.xml') res.end('<rss><channel><title>Two</title><item><title>b1</title></item></channel></rss>');
    else res.writeHead(404).end();
  });
  await wait(new Promise<void>((res) => feeds.listen(0, '127.0.0.1', res)));
  const base = `http://127.0.0.1:${(feeds.address() as { port: number }).port}`;
  const [r, url] = await started('feedscraper.ts');
  const res = await urlopen(url, { method: 'POST', body: `${base}/two.xml\n${base}/one.xml\n\n${base}/none.xml\n` });
  assert.is(res.status, 200);
  assert.is((await res.read()).toString(), `Two\n  - b1\nOne\n  - a1\n  - a2\n${base}/none.xml\n\n`);
  const get = await urlopen(url);
  assert.is(get.status, 405);
  await get.read();
  await stop(r);
  feeds.close();
});

test('websocket.ts serves its page and streams numbers on /data', async () => {
  const [r, url] = await started('websocket.ts');
  const page = await urlopen(url);
  assert.match((await page.read()).toString(), /random walk/);
  const ws = await connect(`${url.replace('http', 'ws')}data`, { closeTimeout: 30 });
  for (let i = 0; i < 3; i++) {
    const m = await ws.wait();
    assert.ok(typeof m === 'string' && Number(m) >= 0 && Number(m) <= 100, String(m));
  }
  // The example must answer our close frame: unanswered, close() would wait its 30 s.
  await withTimeout(10, () => ws.close());
  assert.ok(ws.wasClean, 'both close frames went across');
  assert.is(ws.closeCode, 1000);
  await stop(r);
});

test('websocket_chat.ts passes each message to every other participant', async () => {
  const [r, url] = await started('websocket_chat.ts');
  const page = await urlopen(url);
  assert.match((await page.read()).toString(), /<title>evy websocket chat<\/title>/);
  const wsUrl = `${url.replace('http', 'ws')}chat`;
  const alice = await connect(wsUrl);
  const got = new Queue<string>();
  const bob = new WsClient(wsUrl); // a second kind of client: the ws package
  bob.on('message', (d) => got.putNowait(String(d)));
  await wait(new Promise((res, rej) => (bob.once('open', res), bob.once('error', rej))));
  const carol = await connect(wsUrl);
  await alice.send('hello from alice');
  assert.is(await got.get(), 'hello from alice');
  assert.is(await carol.wait(), 'hello from alice');
  bob.send('hi, bob here');
  assert.is(await alice.wait(), 'hi, bob here');
  assert.is(await carol.wait(), 'hi, bob here');
  assert.is(got.qsize(), 0, 'nobody hears their own message');
  await alice.close();
  await carol.close();
  const closed = new Promise((res) => bob.once('close', res));
  bob.close();
  await wait(closed);
  await stop(r);
});

test.run();
