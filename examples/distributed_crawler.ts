// The producer/consumer crawler spread over processes and hosts, its queue on
// ZeroMQ (evy/patched/zmq). The producer keeps the set of URLs seen and hands
// each new same-site URL out once, through a PUSH socket; fetcher processes,
// here or on other hosts, take URLs from their PULL socket, fetch them with
// green threads, and push back what they found (status, links) through a
// second PUSH/PULL pair. When no URL is out any more, the producer publishes
// `stop` (a PUB/SUB pair) and every fetcher ends. A subscriber that joins late
// misses what was published before (ZeroMQ's slow joiner), so the producer
// also publishes `alive` every second, and a fetcher holding no URL leaves
// once it has heard nothing for QUIET seconds: one that started after the
// crawl ended, or whose producer died, does not wait forever.
//
//   npx evy run examples/distributed_crawler.ts producer START_URL [HOST] [PORT]
//   npx evy run examples/distributed_crawler.ts fetcher PRODUCER_HOST [PORT] [FETCHERS]
//
// The producer binds HOST (127.0.0.1; 0.0.0.0 for every interface) on ports
// PORT, PORT+1 and PORT+2 (5557 on; 0: any free ones), and prints the command
// that starts fetchers against it. A fetcher process runs FETCHERS (5) green
// threads over one PULL socket.
import { Queue, sleep, spawn, withTimeout } from 'evy';
import * as zmq from 'evy/patched/zmq';
import { getPage } from './page.js';

/** seconds of silence from the producer after which an idle fetcher leaves */
const QUIET = 10;
const LINK = /href\s*=\s*["']([^"'#]+)/gi;

/** What a fetcher sends back for each URL. */
interface Result {
  url: string;
  status?: number;
  links?: string[];
  error?: string;
}

const [role, ...args] = process.argv.slice(2);
const usage = [
  'usage: evy run examples/distributed_crawler.ts producer START_URL [HOST] [PORT]',
  '       evy run examples/distributed_crawler.ts fetcher PRODUCER_HOST [PORT] [FETCHERS]',
].join('\n');
if ((role !== 'producer' && role !== 'fetcher') || args[0] === undefined) {
  console.error(usage);
  process.exit(2);
}
const ctx = new zmq.Context();

/**
 * The producer's sockets (URLs out, results in, control out), bound on
 * consecutive ports from `port`, or, for 0, from a free run of three (tried
 * at random until one is free). Returns them and the first port.
 */
function bindAll(host: string, port: number): { socks: zmq.Socket[]; base: number } {
  for (let tries = 0; ; tries++) {
    const socks = [ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL), ctx.socket(zmq.PUB)];
    const base = port !== 0 ? port : 20000 + Math.floor(Math.random() * 40000);
    try {
      socks.forEach((s, i) => s.bind(`tcp://${host}:${base + i}`));
      return { socks, base };
    } catch (err) {
      for (const s of socks) s.close(0);
      if (port !== 0 || tries === 50) throw err;
    }
  }
}

async function producer(start: string, host: string, port: number): Promise<void> {
  const origin = new URL(start).origin;
  const {
    socks: [urls, results, control],
    base,
  } = bindAll(host, port);
  console.log(`producer on ${host}:${base}-${base + 2}; start fetchers with:`);
  console.log(`  evy run examples/distributed_crawler.ts fetcher ${host} ${base}`);
  // A green thread feeds the URL socket from a local queue: sending may wait
  // (no fetcher yet, or the high-water mark), and results must keep coming in meanwhile.
  const out = new Queue<string>();
  const feeder = spawn(async () => {
    for (;;) await urls.send(await out.get());
  });
  const beat = spawn(async () => {
    for (;;) {
      await control.send('alive');
      await sleep(1);
    }
  });
  const seen = new Set<string>([start]);
  let outstanding = 1;
  out.putNowait(start);
  while (outstanding > 0) {
    const r = await results.recvJson<Result>();
    outstanding--;
    console.log(r.error !== undefined ? `ERR ${r.url}: ${r.error}` : `${r.status} ${r.url}`);
    for (const href of r.links ?? []) {
      const next = new URL(href, r.url);
      next.hash = '';
      if (next.origin !== origin || seen.has(next.href)) continue;
      seen.add(next.href);
      outstanding++;
      out.putNowait(next.href);
    }
  }
  console.log(`${seen.size} pages`);
  feeder.kill();
  beat.kill();
  await control.send('stop');
  urls.close(0);
  results.close(0);
  control.close(1000); // let `stop` reach the fetchers
  await ctx.term();
}

async function fetcher(host: string, port: number, n: number): Promise<void> {
  const urls = ctx.socket(zmq.PULL);
  const results = ctx.socket(zmq.PUSH);
  const control = ctx.socket(zmq.SUB);
  control.subscribe('stop');
  control.subscribe('alive');
  urls.connect(`tcp://${host}:${port}`);
  results.connect(`tcp://${host}:${port + 1}`);
  control.connect(`tcp://${host}:${port + 2}`);
  let fetched = 0;
  let busy = 0;
  const crawl = async (): Promise<void> => {
    for (;;) {
      const url = await urls.recvString();
      busy++;
      let result: Result;
      try {
        const { status, body } = await getPage(url);
        result = { url, status, links: [...body.toString().matchAll(LINK)].map((m) => m[1]) };
      } catch (err) {
        result = { url, error: (err as Error).message };
      }
      fetched++;
      await results.sendJson(result);
      busy--;
    }
  };
  const threads = Array.from({ length: n }, () => spawn(crawl));
  console.log(`${n} fetchers on ${host}:${port}`);
  // stop: every URL handed out came back; or a long silence with nothing in hand
  for (;;) {
    const said = await withTimeout(QUIET, () => control.recvString(), { timeoutValue: null });
    if (said === 'stop') break;
    if (said === null && busy === 0) {
      console.log(`no word from the producer for ${QUIET} s`);
      break;
    }
  }
  for (const t of threads) t.kill();
  console.log(`fetched ${fetched} pages`);
  results.close(1000);
  urls.close(0);
  control.close(0);
  await ctx.term();
}

if (role === 'producer') await producer(args[0], args[1] ?? '127.0.0.1', Number(args[2] ?? 5557));
else await fetcher(args[0], Number(args[1] ?? 5557), Number(args[2] ?? 5));
