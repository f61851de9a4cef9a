// Crawls a site from a start URL: every page's links on the same host are
// fetched too, each page once, at most `concurrency` at a time. Prints each URL
// as it is fetched, then how many pages it found. With --fetch, through the
// global fetch instead of urlopen (page.ts).
//   npx evy run examples/recursive_crawler.ts [--fetch] START_URL [concurrency]
import { GreenPool } from 'evy';
import { args, getPage } from './page.js';

const LINK = /href\s*=\s*["']([^"'#]+)/gi;

async function crawl(start: string, concurrency: number): Promise<Set<string>> {
  const origin = new URL(start).origin;
  const seen = new Set<string>([start]);
  const pool = new GreenPool(concurrency);

  async function fetchPage(url: string): Promise<void> {
    let html: string;
    try {
      const { status, body } = await getPage(url);
      html = body.toString();
      console.log(`${status} ${url}`);
    } catch (err) {
      console.log(`ERR ${url}: ${(err as Error).message}`);
      return;
    }
    for (const [, href] of html.matchAll(LINK)) {
      const next = new URL(href, url);
      next.hash = '';
      if (next.origin !== origin || seen.has(next.href)) continue;
      seen.add(next.href);
      await pool.spawnN(fetchPage, next.href); // a full pool runs it inline: no deadlock
    }
  }

  await pool.spawnN(fetchPage, start);
  await pool.waitall();
  return seen;
}

const [start, n] = args;
if (start === undefined) {
  console.error('usage: evy run examples/recursive_crawler.ts [--fetch] START_URL [concurrency]');
  process.exit(2);
}
const pages = await crawl(start, Number(n ?? 10));
console.log(`${pages.size} pages`);
