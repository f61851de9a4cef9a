// evy on the core workloads. Prints name<TAB>value<TAB>unit lines.
//   evy run bench/core.ts [switch|spawn]...
import { LightQueue, spawn, waitall } from 'evy';

const ROUNDS = 200_000;

/** Two green threads ping-ponging through queues: 2 switches per round. */
async function switchRate(): Promise<number> {
  const ping = new LightQueue<number>();
  const pong = new LightQueue<number>();
  const start = performance.now();
  const left = spawn(async () => {
    for (let i = 0; i < ROUNDS; i++) {
      await ping.put(i);
      await pong.get();
    }
  });
  const right = spawn(async () => {
    for (let i = 0; i < ROUNDS; i++) await pong.put(await ping.get());
  });
  await waitall(left, right);
  return (2 * ROUNDS) / ((performance.now() - start) / 1000);
}

/** spawn n green threads, then wait for each. */
async function spawnRate(n = 100_000): Promise<number> {
  const start = performance.now();
  const threads = [];
  for (let i = 0; i < n; i++) threads.push(spawn(Math.abs, i));
  for (const t of threads) await t.wait();
  return n / ((performance.now() - start) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const what = process.argv.slice(2);
const all = what.length === 0;
if (all || what.includes('switch')) {
  const runs = [];
  for (let i = 0; i < 5; i++) runs.push(await switchRate());
  console.log(`switch_evy\t${median(runs).toFixed(0)}\tswitches/s`);
}
if (all || what.includes('spawn')) {
  const runs = [];
  for (let i = 0; i < 5; i++) runs.push(await spawnRate());
  console.log(`spawn_evy\t${median(runs).toFixed(0)}\tthreads/s`);
}
