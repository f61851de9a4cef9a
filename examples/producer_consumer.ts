// The crawler again, as producer and consumers around a queue: the producer
// puts every new same-site URL on the queue, a fixed number of fetcher threads
// take from it, and the queue's join() tells when the crawl is done. With
// --fetch, through the global fetch instead of urlopen (page.ts).
//   npx evy run examples/producer_consumer.ts [--fetch] START_URL [fetchers]
import { Queue, spawn } from 'evy';
import { args, getPage } from './page.js';

const LINK = /href\s*=\s*["']([^"'#]+)/gi;

const [start, n] = args;
if (start === undefined) {
  console.error('usage: evy run examples/producer_consumer.ts [--fetch] START_URL [fetchers]');
  process.exit(2);
}
const origin = new URL(start).origin;
const queue = new Queue<string>();
const seen = new Set<string>([start]);

async function fetcher(): Promise<void> {
  for (;;) {
    const url = await queue.get();
    try {
      const { status, body } = await getPage(url);
      const html = body.toString();
      console.log(`${status} ${url}`);
      for (const [, href] of html.matchAll(LINK)) produce(new URL(href, url));
    } catch (err) {
      console.log(`ERR ${url}: ${(err as Error).message}`);
    } finally {
      queue.taskDone();
    }
  }
}

function produce(next: URL): void {
  next.hash = '';
  if (next.origin !== origin || seen.has(next.href)) return;
  seen.add(next.href);
  queue.putNowait(next.href);
}

queue.putNowait(start);
const fetchers = Array.from({ length: Number(n ?? 5) }, () => spawn(fetcher));
await queue.join(); // every URL put was fetched
for (const f of fetchers) f.kill();
console.log(`${seen.size} pages`);
