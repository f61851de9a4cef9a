// Fetches many URLs at once through a GreenPool that bounds how many run
// together, and prints each one's size as results come in, in input order.
//   npx evy run examples/webcrawler.ts URL [URL...]
import { GreenPool } from 'evy';
import { urlopen } from 'evy/patched/http';

async function fetch(url: string): Promise<string> {
  try {
    const res = await urlopen(url, { timeout: 10 });
    const body = await res.read();
    return `${url}: ${res.status}, ${body.length} bytes`;
  } catch (err) {
    return `${url}: ${(err as Error).message}`;
  }
}

const urls = process.argv.slice(2);
if (urls.length === 0) {
  console.error('usage: evy run examples/webcrawler.ts URL [URL...]');
  process.exit(2);
}
const pool = new GreenPool(20); // at most 20 fetches at a time
for await (const line of pool.imap(fetch, urls)) console.log(line);
