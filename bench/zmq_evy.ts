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

const pull = ctx.socket(zmq.PULL);
const push = ctx.socket(zmq.PUSH);
push.connect(`tcp://127.0.0.1:${pull.bindToRandomPort('tcp://127.0.0.1')}`);
let t0 = performance.now();
const receiver = spawn(async () => {
  for (let i = 0; i < messages; i++) await pull.recv();
});
for (let i = 0; i < messages; i++) await push.send(payload);
await receiver.wait();
console.log(`pushpull\t${Math.round(messages / ((performance.now() - t0) / 1000))}`);

const rep = ctx.socket(zmq.REP);
const req = ctx.socket(zmq.REQ);
req.connect(`tcp://127.0.0.1:${rep.bindToRandomPort('tcp://127.0.0.1')}`);
const server = spawn(async () => {
  for (let i = 0; i < trips; i++) await rep.send(await rep.recv());
});
t0 = performance.now();
for (let i = 0; i < trips; i++) {
  await req.send(payload);
  await req.recv();
}
await server.wait();
console.log(`reqrep\t${Math.round(trips / ((performance.now() - t0) / 1000))}`);
ctx.destroy(0);
