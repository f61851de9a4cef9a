// TLS echo load: C connections, each a 64-byte ping-pong for S seconds, over
// node:tls (the same client for every server). Prints "TRIPS trips/s".
//   node bench/tls_load.mjs PORT CONNS SECONDS
import tls from 'node:tls';

const [port, conns, secs] = process.argv.slice(2).map(Number);
const msg = Buffer.alloc(64, 'x');
let trips = 0;
let running = true;
const socks = [];
await Promise.all(
  Array.from({ length: conns }, () =>
    new Promise((resolve, reject) => {
      const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve());
      s.on('error', reject);
      socks.push(s);
    }),
  ),
);
const start = performance.now();
for (const s of socks) {
  let got = 0;
  s.on('data', (d) => {
    got += d.length;
    while (got >= msg.length) {
      got -= msg.length;
      trips++;
      if (running) s.write(msg);
    }
  });
  s.write(msg);
}
setTimeout(() => {
  running = false;
  const rate = trips / ((performance.now() - start) / 1000);
  console.log(`${Math.round(rate)} trips/s`);
  for (const s of socks) s.destroy();
  process.exit(0);
}, secs * 1000);
