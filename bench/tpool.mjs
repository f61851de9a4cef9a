// evy/tpool's execute() against Piscina's own run(), same tasks, same pool
// size, same run: sequential round trips (latency) and 64 calls in flight
// (throughput), on a no-op and on a 1 ms CPU task, three rounds in alternating
// order. Prints the best calls/s of each and evy/piscina.
import { createRequire } from 'node:module';
import { join } from 'node:path';
const require = createRequire(import.meta.url);
const { Piscina } = require('piscina');
const { spawn } = require('../dist/index.js');
const tpool = require('../dist/tpool.js');

const THREADS = 4;
const TASKS = join(import.meta.dirname, 'tpool_tasks.cjs');
tpool.setNumThreads(THREADS);
const piscina = new Piscina({ filename: TASKS, minThreads: THREADS, maxThreads: THREADS });

async function rate(n, inflight, call) {
  let next = 0;
  const t0 = process.hrtime.bigint();
  const workers = Array.from({ length: inflight }, async () => {
    while (next++ < n) await call();
  });
  await Promise.all(workers);
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** evy's calls each run in a green thread of their own, as an application's would. */
async function evyRate(n, inflight, name) {
  let next = 0;
  const t0 = process.hrtime.bigint();
  const gts = Array.from({ length: inflight }, () =>
    spawn(async () => {
      while (next++ < n) await tpool.execute([TASKS, name], 1);
    }),
  );
  for (const g of gts) await g.wait();
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

const cases = [
  ['no-op, 1 in flight', 'noop', false, 1, 5000],
  ['no-op, 64 in flight', 'noop', false, 64, 20000],
  ['1 ms CPU, 1 in flight', 'spin1ms', true, 1, 500],
  ['1 ms CPU, 64 in flight', 'spin1ms', true, 64, 2000],
];
// warm both pools
await evyRate(2000, 16, 'noop');
await rate(2000, 16, () => piscina.run({ x: 1 }));
console.log(`tpool: ${THREADS} worker threads each, node ${process.version} (noisy while other jobs share the machine)`);
for (const [label, name, spin, inflight, n] of cases) {
  // Rounds in alternating order, the best of each: the machine's noise hits both alike.
  let e = 0;
  let p = 0;
  let ps = 0;
  for (const evyFirst of [true, false, true]) {
    const runs = [
      async () => (e = Math.max(e, await evyRate(n, inflight, name))),
      async () => (p = Math.max(p, await rate(n, inflight, () => piscina.run({ x: 1, spin })))),
      // what execute() asks of Piscina: an abortable task (Timeout and kill end it)
      async () => (ps = Math.max(ps, await rate(n, inflight, () => piscina.run({ x: 1, spin }, { signal: new AbortController().signal })))),
    ];
    if (!evyFirst) runs.reverse();
    for (const r of runs) await r();
  }
  console.log(
    `${label.padEnd(24)} evy ${e.toFixed(0).padStart(6)}/s  piscina ${p.toFixed(0).padStart(6)}/s  piscina+signal ${ps.toFixed(0).padStart(6)}/s  evy/piscina = ${(e / p).toFixed(2)}  evy/(piscina+signal) = ${(e / ps).toFixed(2)}`,
  );
}
await piscina.destroy();
await tpool.killall();
