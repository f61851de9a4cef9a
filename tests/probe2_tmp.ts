import { GreenPool, GreenletExit, sleep, getHub, Event, Timeout } from 'evy';
class RuntimeError extends Error {}
const raiser = (e: unknown) => { throw e; };
process.on('beforeExit', () => { const h = getHub() as any; console.log('beforeExit', h.counts(), 'turn', h.turn?.id, 'inStep', h.inStep, 'stepQueued', h.stepQueued, 'stall', h.stallCheck, 'drain', h.drainScheduled, 'held', !!h.held, h.head, h.genEnd, h.tail, h.urgentHead, h.urgentTail); });
async function assertPoolHasFree(pool: GreenPool, numFree: number) {
  console.log(' check free', pool.free(), numFree);
  const waitLongTime = (e: Event<unknown>) => e.wait();
  const evt = new Event<unknown>();
  { const timer = new Timeout(1); try { for (let x = 0; x < numFree; x++) await pool.spawn(waitLongTime, evt); } finally { timer.cancel(); } }
  { const timer = new Timeout(0, RuntimeError); try { await pool.spawn(waitLongTime, evt); console.log('NOT THROWN'); } catch (e) { } finally { timer.cancel(); } }
  evt.send(null);
  await sleep(0);
  await sleep(0);
  console.log(' checked');
}
const p = new GreenPool(2);
for (const m of [p.spawn.bind(p), p.spawnN.bind(p)] as any[]) {
  await assertPoolHasFree(p, 2);
  await m(raiser, new RuntimeError());
  await assertPoolHasFree(p, 1);
  await p.waitall();
  console.log('waitall 1 done', p.free());
  await assertPoolHasFree(p, 2);
  await m(raiser, new GreenletExit());
  await assertPoolHasFree(p, 1);
  await p.waitall();
  console.log('waitall 2 done', p.free());
}
