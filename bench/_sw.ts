import { LightQueue, spawn, waitall } from 'evy';
const ROUNDS = 200_000;
for (let r = 0; r < 8; r++) {
  const ping = new LightQueue<number>(), pong = new LightQueue<number>();
  const start = performance.now();
  const left = spawn(async () => { for (let i = 0; i < ROUNDS; i++) { await ping.put(i); await pong.get(); } });
  const right = spawn(async () => { for (let i = 0; i < ROUNDS; i++) await pong.put(await ping.get()); });
  await waitall(left, right);
  process.stdout.write(((2 * ROUNDS) / ((performance.now() - start) / 1000) / 1e6).toFixed(2) + 'M ');
}
console.log();
