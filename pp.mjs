import * as evy from 'evy';
const { spawn, Queue } = evy;
for (let r = 0; r < 5; r++) {
const N = 500000;
const a = new Queue(), b = new Queue();
const t0 = performance.now();
const p1 = spawn(async () => { for (let i = 0; i < N; i++) { await a.put(i); await b.get(); } });
const p2 = spawn(async () => { for (let i = 0; i < N; i++) { await a.get(); await b.put(i); } });
await evy.waitall(p1, p2);
console.log('switches/s', Math.round(2 * N / (performance.now() - t0) * 1000));
}
