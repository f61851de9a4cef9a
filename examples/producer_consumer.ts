// The crawler again, as producer and consumers around a queue: the producer
// puts every new same-site URL on the queue, a fixed number of fetcher threads
// take from it, and the queue's join() tells when the crawl is done.
//   npx evy run examples/producer_consumer.ts START_URL [fetchers]
import { Queue, spawn } from 'evy';
import { urlopen } from 'evy/patched/http';

const LINK = /href\s*=\s*["']([^"'#]+)/gi;

const [start, n] = process.argv.slice(2);
if (start === undefined) {
  console.error('usage: evy run examples/producer_consumer.ts START_URL [fetchers]');
  process.exit(2);
}
const origin = new URL(start).origin;
const queue = new Queue<string>();
const seen = new Set<string>([start]);

async function fetcher(): Promise<void> {
  for (;;) {
    const url = await queue.get();
    try {
      const res = await urlopen(url, { timeout: 10 });
      const html = (await res.read()).toString();
      console.log(`${res.status} ${url}`);
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
