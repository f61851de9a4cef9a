// The HTTPS storm of bench/https_storm.sh: HALF connections that never send a
// ClientHello, RATE garbage handshakes a second (connect, 64 random bytes,
// close), and meanwhile a good client making fresh-connection HTTPS GETs one
// after another for SECS seconds. Prints: answered, failed, p50 ms, p99 ms.
//   node bench/https_storm_load.mjs PORT CERT [HALF=300] [RATE=400] [SECS=10]
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';

const [port, certFile, half = '300', rate = '400', secs = '10'] = process.argv.slice(2);
const ca = readFileSync(certFile);
const open = [];
for (let i = 0; i < Number(half); i++) {
  const s = net.connect(Number(port), '127.0.0.1');
  s.on('error', () => {});
  open.push(s);
}
const garbage = setInterval(() => {
  for (let i = 0; i < Number(rate) / 20; i++) {
    const s = net.connect(Number(port), '127.0.0.1', () => s.end(randomBytes(64)));
    s.on('error', () => {});
    s.on('close', () => s.destroy());
  }
}, 50);
function get() {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = https.get({ host: '127.0.0.1', port: Number(port), ca, servername: 'localhost', agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - t0 : -1));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(-1));
  });
}
await new Promise((r) => setTimeout(r, 1000)); // the storm first
const times = [];
const end = performance.now() + Number(secs) * 1000;
while (performance.now() < end) times.push(await get());
clearInterval(garbage);
for (const s of open) s.destroy();
const ok = times.filter((t) => t >= 0).sort((a, b) => a - b);
const at = (q) => (ok.length ? ok[Math.min(ok.length - 1, Math.floor(q * ok.length))].toFixed(1) : 'nan');
console.log(`${ok.length} ${times.length - ok.length} ${at(0.5)} ${at(0.99)}`);
process.exit(0);
