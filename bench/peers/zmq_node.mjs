// zeromq.js's own async API in plain Node, the peer of bench/zmq_evy.ts: the
// same two figures, both ends async functions of this one process.
import * as zmq from 'zeromq';

const messages = Number(process.argv[2] ?? 200_000);
const trips = Number(process.argv[3] ?? 20_000);
const payload = Buffer.alloc(64, 'x');
/** µs of CPU (user + system, every thread of the process: libzmq's I/O thread too) per operation since `from`. */
function cpuPer(from, n) {
  const d = process.cpuUsage(from);
  return ((d.user + d.system) / n).toFixed(2);
}


const pull = new zmq.Pull();
const push = new zmq.Push();
await pull.bind('tcp://127.0.0.1:*');
push.connect(pull.lastEndpoint);
let t0 = performance.now();
let cpu0 = process.cpuUsage();
const receiver = (async () => {
  for (let i = 0; i < messages; i++) await pull.receive();
})();
for (let i = 0; i < messages; i++) await push.send(payload);
await receiver;
console.log(`pushpull\t${Math.round(messages / ((performance.now() - t0) / 1000))}`);
console.log(`pushpull_cpu\t${cpuPer(cpu0, messages)}`);

const rep = new zmq.Reply();
const req = new zmq.Request();
await rep.bind('tcp://127.0.0.1:*');
req.connect(rep.lastEndpoint);
const server = (async () => {
  for (let i = 0; i < trips; i++) {
    const [m] = await rep.receive();
    await rep.send(m);
  }
})();
t0 = performance.now();
cpu0 = process.cpuUsage();
for (let i = 0; i < trips; i++) {
  await req.send(payload);
  await req.receive();
}
await server;
console.log(`reqrep\t${Math.round(trips / ((performance.now() - t0) / 1000))}`);
console.log(`reqrep_cpu\t${cpuPer(cpu0, trips)}`);
for (const s of [pull, push, rep, req]) s.close();
