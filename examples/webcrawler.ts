// Fetches many URLs at once through a GreenPool that bounds how many run
// together, and prints each one's size as results come in, in input order.
// With --fetch, through the global fetch instead of urlopen (page.ts).
//   npx evy run examples/webcrawler.ts [--fetch] URL [URL...]
import { GreenPool } from 'evy';
import { args, getPage } from './page.js';

async function size(url: string): Promise<string> {
  try {
    const { status, body } = await getPage(url);
    return `${url}: ${status}, ${body.length} bytes`;
  } catch (err) {
    return `${url}: ${(err as Error).message}`;
  }
}

const urls = args;
if (urls.length === 0) {
  console.error('usage: evy run examples/webcrawler.ts [--fetch] URL [URL...]');
  process.exit(2);
}
const pool = new GreenPool(20); // at most 20 fetches at a time
for await (const line of pool.imap(size, urls)) console.log(line);
