// A WSGI app that fetches many feeds at once: POST a list of feed URLs, one
// per line, and get back each feed's title and item titles, fetched
// concurrently (a GreenPile bounded by a GreenPool), in the order posted.
//   npx evy run examples/feedscraper.ts [port]
//   curl --data-binary @urls.txt http://127.0.0.1:9010/
import { GreenPile, GreenPool, listen } from 'evy';
import { urlopen } from 'evy/patched/http';
import { server, type Environ, type StartResponse } from 'evy/web/wsgi';

const pool = new GreenPool(20); // at most 20 feeds fetched at once, whatever the requests

function titles(xml: string): string[] {
  return [...xml.matchAll(/<title>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?<\/title>/gs)].map((m) => m[1].trim());
}

async function fetchFeed(url: string): Promise<string> {
  try {
    const res = await urlopen(url, { timeout: 10 });
    const [feed, ...items] = titles((await res.read()).toString());
    return `${feed ?? url}\n${items.map((t) => `  - ${t}`).join('\n')}`;
  } catch (err) {
    return `${url}: ${(err as Error).message}`;
  }
}

async function app(environ: Environ, startResponse: StartResponse): Promise<string[]> {
  if (environ.REQUEST_METHOD !== 'POST') {
    startResponse('405 Method Not Allowed', [['Allow', 'POST'], ['Content-Type', 'text/plain']]);
    return ['POST feed URLs, one per line\n'];
  }
  const body = (await environ['wsgi.input'].read()).toString();
  const urls = body.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const pile = new GreenPile<string>(pool);
  for (const url of urls) await pile.spawn(fetchFeed, url);
  const out: string[] = [];
  for await (const text of pile) out.push(`${text}\n`);
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  return out;
}

const sock = listen(['127.0.0.1', Number(process.argv[2] ?? 9010)]);
console.log(`listening on http://127.0.0.1:${(sock.getsockname() as [string, number])[1]}/`);
await server(sock, app);
