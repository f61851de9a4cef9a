// evy on the core workloads. Prints name<TAB>value<TAB>unit lines.
//   evy run bench/core.ts [switch|spawn]...
// Each figure is the median of five rounds in one process, after rounds that
// are not counted. The first two switch rounds run at half speed or less: V8
// is still tiering the hub up and deoptimizing it once on paths it had not
// seen, and the young generation is still small, so it scavenges two to three
// times as often. Counted among the five, they leave the median one round away
// from a slow one, so a single disturbed round halved the figure. Switches are
// also counted per CPU-second of the process (user + system), which other
// processes on a shared machine disturb less than the wall clock:
// switch_evy_cpu, beside the peers' switch_*_cpu.
import { LightQueue, spawn, waitall } from 'evy';

const ROUNDS = 200_000;

/** Two green threads ping-ponging through queues: 2 switches per round. [per second, per CPU-second] */
async function switchRate(): Promise<[number, number]> {
  const ping = new LightQueue<number>();
  const pong = new LightQueue<number>();
  const start = performance.now();
  const cpu = process.cpuUsage();
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
  const used = process.cpuUsage(cpu);
  return [(2 * ROUNDS) / ((performance.now() - start) / 1000), (2 * ROUNDS) / ((used.user + used.system) / 1e6)];
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
  for (let i = 0; i < 3; i++) await switchRate();
  const runs = [];
  for (let i = 0; i < 5; i++) runs.push(await switchRate());
  console.log(`switch_evy\t${median(runs.map((r) => r[0])).toFixed(0)}\tswitches/s`);
  console.log(`switch_evy_cpu\t${median(runs.map((r) => r[1])).toFixed(0)}\tswitches per CPU-second`);
}
if (all || what.includes('spawn')) {
  await spawnRate();
  const runs = [];
  for (let i = 0; i < 5; i++) runs.push(await spawnRate());
  console.log(`spawn_evy\t${median(runs).toFixed(0)}\tthreads/s`);
}
