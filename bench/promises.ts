// What greening costs the promise APIs users await most: the green fetch,
// fs/promises and events.once against the stock ones, in one process, rounds
// taking turns, medians of five. Prints ratios (green/stock of the time per
// call: 1.00 is free, above is slower).
//   node bin/evy run --no-patch bench/promises.ts
import { once as stockOnce, EventEmitter } from 'node:events';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { wait } from 'evy';
import { fetch as greenFetch } from 'evy/patched/fetch';
import { greenEvents } from '../dist/patched/events.js';
import { greenFsPromises } from '../dist/patched/fs.js';

// The builtins' own objects (an ES namespace is read-only), greened in place below.
const require = createRequire(import.meta.url);
const fsp = require('node:fs/promises') as typeof import('node:fs/promises');
const events = require('node:events') as { once: typeof stockOnce };
const stockFetch = globalThis.fetch;
const stockStat = fsp.stat;
greenFsPromises(fsp as unknown as Record<string, unknown>);
greenEvents(events);
const greenStat = fsp.stat;
const greenOnce = events.once;

const server = http.createServer((_req, res) => res.end('hello'));
server.listen(0, '127.0.0.1');
await wait(stockOnce(server, 'listening'));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

type Workload = (n: number) => Promise<void>;

/** n requests, 10 at a time, each body read with text(). */
function fetches(f: typeof fetch): Workload {
  return async (n) => {
    let left = n;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (left-- > 0) await (await f(url)).text();
      }),
    );
  };
}

function stats(stat: typeof fsp.stat): Workload {
  return async (n) => {
    for (let i = 0; i < n; i++) await stat(import.meta.filename ?? '.');
  };
}

function onces(once: typeof stockOnce): Workload {
  return async (n) => {
    const ee = new EventEmitter();
    for (let i = 0; i < n; i++) {
      const p = once(ee, 'x');
      ee.emit('x', i);
      await p;
    }
  };
}

async function seconds(w: Workload, n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  await w(n);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const cases: Array<[string, Workload, Workload, number]> = [
  ['fetch GET + text(), 10 at a time', fetches(greenFetch), fetches(stockFetch), 2000],
  ['fs/promises stat', stats(greenStat), stats(stockStat), 20000],
  ['events.once, emitted at once', onces(greenOnce), onces(stockOnce), 50000],
];
for (const [name, green, stock, n] of cases) {
  await seconds(green, n / 10); // warm up both
  await seconds(stock, n / 10);
  const g: number[] = [];
  const s: number[] = [];
  for (let round = 0; round < 5; round++) {
    g.push(await seconds(green, n));
    s.push(await seconds(stock, n));
  }
  const [gm, sm] = [median(g), median(s)];
  console.log(`${name}: green ${((gm / n) * 1e6).toFixed(1)} µs, stock ${((sm / n) * 1e6).toFixed(1)} µs per call (green/stock = ${(gm / sm).toFixed(2)})`);
}
server.closeAllConnections();
server.close();
