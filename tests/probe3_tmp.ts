import { Queue, Timeout, sleep, spawn, getHub } from 'evy';
class RuntimeError extends Error {}
async function doBail(q: Queue<unknown>, name: string) {
  new Timeout(0, new RuntimeError('bail'));
  try { const v = await q.get(); console.log(name, 'got', v); return v; } catch (err) { console.log(name, 'caught', (err as Error).message); return 'timed out'; }
}
const q = new Queue<unknown>();
const gt1 = spawn(doBail, q, 'gt1');
const gt2 = spawn(doBail, q, 'gt2');
await sleep(0);
console.log('main put');
await q.put('sent');
console.log('main after put', (getHub() as any).counts());
console.log(await gt1.wait(), await gt2.wait(), q.qsize());
