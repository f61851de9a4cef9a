// TLS full-handshake load: C loops, each connecting over node:tls with no
// session to resume (a full handshake every time), echoing one byte so the
// server finished its side too, then closing. Prints "N handshakes/s".
//   node bench/tls_handshake_load.mjs PORT CONCURRENCY SECONDS
import tls from 'node:tls';

const [port, conc, secs] = process.argv.slice(2).map(Number);
let done = 0;
let running = true;
const one = () =>
  new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => s.write('x'));
    s.once('data', () => {
      if (s.isSessionReused()) reject(new Error('a session was resumed'));
      done++;
      s.destroy();
      resolve();
    });
    s.on('error', reject);
  });
const start = performance.now();
const loops = Array.from({ length: conc }, async () => {
  while (running) await one();
});
setTimeout(() => {
  running = false;
  console.log(`${Math.round(done / ((performance.now() - start) / 1000))} handshakes/s`);
  process.exit(0);
}, secs * 1000);
await Promise.all(loops).catch((err) => {
  console.error(err);
  process.exit(1);
});
