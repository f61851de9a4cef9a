// evy's side of bench/zmq.sh: PUSH/PULL messages per second and REQ/REP round
// trips per second over tcp on loopback, both ends green threads of this one
// process. Prints `pushpull<TAB>N` and `reqrep<TAB>N`.
//   npx evy run bench/zmq_evy.ts [messages] [round_trips]
import { spawn } from 'evy';
import * as zmq from 'evy/patched/zmq';

const messages = Number(process.argv[2] ?? 200_000);
const trips = Number(process.argv[3] ?? 20_000);
const ctx = new zmq.Context();
const payload = Buffer.alloc(64, 'x');
/** µs of CPU (user + system, every thread of the process: libzmq's I/O thread too) per operation since `from`. */
function cpuPer(from: NodeJS.CpuUsage, n: number): string {
  const d = process.cpuUsage(from);
  return ((d.user + d.system) / n).toFixed(2);
}


const pull = ctx.socket(zmq.PULL);
const push = ctx.socket(zmq.PUSH);
push.connect(`tcp://127.0.0.1:${pull.bindToRandomPort('tcp://127.0.0.1')}`);
let t0 = performance.now();
let cpu0 = process.cpuUsage();
const receiver = spawn(async () => {
  for (let i = 0; i < messages; i++) await pull.recv();
});
for (let i = 0; i < messages; i++) await push.send(payload);
await receiver.wait();
console.log(`pushpull\t${Math.round(messages / ((performance.now() - t0) / 1000))}`);
console.log(`pushpull_cpu\t${cpuPer(cpu0, messages)}`);

const rep = ctx.socket(zmq.REP);
const req = ctx.socket(zmq.REQ);
req.connect(`tcp://127.0.0.1:${rep.bindToRandomPort('tcp://127.0.0.1')}`);
const server = spawn(async () => {
  for (let i = 0; i < trips; i++) await rep.send(await rep.recv());
});
t0 = performance.now();
cpu0 = process.cpuUsage();
for (let i = 0; i < trips; i++) {
  await req.send(payload);
  await req.recv();
}
await server.wait();
console.log(`reqrep\t${Math.round(trips / ((performance.now() - t0) / 1000))}`);
console.log(`reqrep_cpu\t${cpuPer(cpu0, trips)}`);
ctx.destroy(0);
