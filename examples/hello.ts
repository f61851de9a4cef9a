// A first evy script: green threads, sleep, a Timeout, and a GreenPool.
//   npx evy run examples/hello.ts [workers]
import { GreenPool, Timeout, sleep, spawn } from 'evy';

const workers = Number(process.argv[2] ?? 4);

// A green thread starts when the spawner yields; wait() gives its result.
const greeter = spawn(async (name: string) => {
  await sleep(0.01);
  return `hello, ${name}`;
}, 'world');
console.log(await greeter.wait());

// A Timeout interrupts whatever the thread is blocked in.
try {
  using _t = new Timeout(0.05);
  await sleep(10);
} catch (err) {
  if (!(err instanceof Timeout)) throw err;
  console.log(`interrupted: ${err.message}`);
}

// A pool bounds concurrency; imap keeps results in input order.
const pool = new GreenPool(workers);
let running = 0;
let peak = 0;
const squares: number[] = [];
for await (const sq of pool.imap(async (n: number) => {
  peak = Math.max(peak, ++running);
  await sleep(0.001 * ((n * 7) % 5));
  running--;
  return n * n;
}, Array.from({ length: 20 }, (_, i) => i))) {
  squares.push(sq);
}
console.log(`squares: ${squares.join(' ')}`);
console.log(`at most ${peak} of ${workers} workers ran at once`);
